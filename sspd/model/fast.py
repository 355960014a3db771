"""Fast inference for the SSPD network: BatchNorm rules, BatchNorm folding, bf16 and torch.compile.

The eager float32 network is the reference. :class:`InferenceEngine` runs a *copy* of it in one of
four backends (:data:`BACKENDS`), chosen by name:

============  =========  =======================  =================================================
backend       precision  torch.compile (Inductor)  what it is for
============  =========  =======================  =================================================
``eager``     float32    no                       the reference; what validation during training uses
``bf16``      bfloat16   no                       no compile latency; BatchNorm folded under "running"
``fast``      bfloat16   yes                      the default of ``predict`` and the evaluation runner
``fast-fp32`` float32    yes                      equals ``eager`` within 1e-4 relative (tested): the check
                                                  that compiling keeps the function
============  =========  =======================  =================================================

BatchNorm. Under the "running" rule (stored statistics) every BatchNorm that follows a convolution
is an affine map per channel, which the ``bf16`` backend folds into that convolution's weights and
bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``). The compiled backends leave the BatchNorm layers
to Inductor, which fuses them itself: folding before compiling measured slower here. The input BatchNorm is kept: it comes *before* a
convolution whose temporal zero padding would see the shifted input, so folding it there is not
exact at the first and last frame. Under the "batch" rule (each clip's own statistics, the study's
rule, :func:`set_batchnorm_rule`) the statistics are unknown until the clip arrives, so nothing can
be folded; the speed then comes from bf16 and compilation alone.

bfloat16 runs through CPU autocast (convolutions in bf16 with float32 accumulation, everything else
as autocast decides). It is used only where the CPU has native bf16 arithmetic
(``torch.backends.mkldnn`` reports it); elsewhere bf16 would be emulated and slower, so the engine
falls back to float32 and says so in :attr:`InferenceEngine.precision`.

Compilation costs seconds per new input length (about 13 s on a 2-core machine; torch marks the
time axis dynamic after the second length, which costs one more, longer compile). It pays off on
long videos and evaluation runs, not on one short clip. If Inductor cannot compile (no C++
compiler), the engine warns once and runs uncompiled.
"""
from __future__ import annotations

import copy
import warnings

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["BACKENDS", "BATCHNORM_RULES", "InferenceEngine", "bf16_supported", "fold_batchnorm",
           "set_batchnorm_rule"]

#: backend name -> (precision, compiled)
BACKENDS: dict[str, tuple[str, bool]] = {
    "eager": ("fp32", False),
    "bf16": ("bf16", False),
    "fast": ("bf16", True),
    "fast-fp32": ("fp32", True),
}

BATCHNORM_RULES = ("batch", "running")


def set_batchnorm_rule(model: nn.Module, rule: str) -> nn.Module:
    """Put ``model`` in eval mode with its BatchNorm layers normalising as ``rule`` says.

    "running": the stored running statistics (ordinary eval mode).
    "batch":   the statistics of the clip being processed, as the network sees them in
               training; the stored statistics are neither used nor updated
               (``track_running_stats`` off), so the rule can be switched back.
    The study scores every network (trained, initial and the authors' weights) with "batch":
    a network's running statistics depend on how it was trained (the initial network's are
    (0, 1), the student's come from masked views), a clip's own statistics do not. The
    authors' test script runs eval mode, i.e. "running"; their weights are also reported so.
    """
    if rule not in BATCHNORM_RULES:
        raise ValueError(f"batchnorm rule must be one of {BATCHNORM_RULES}, got {rule!r}")
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train(rule == "batch")
            m.track_running_stats = rule == "running"
    return model


def bf16_supported() -> bool:
    """Whether this CPU does bfloat16 arithmetic natively (oneDNN), so that bf16 is faster, not emulated."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every Conv3d -> BatchNorm3d pair folded into the conv.

    Pairs are found by module attribute order inside each block (a convolution followed by the
    BatchNorm registered right after it: ``Conv_Layer1``/``BN1``, ``conv1``/``bn1``, ...); the
    folded BatchNorm becomes ``nn.Identity``. Valid only under the "running" rule: the folded
    network uses the stored statistics. The input BatchNorm (``model.BN``, before any
    convolution) is left as it is. ``model`` itself is not changed.
    """
    folded = copy.deepcopy(model).eval()
    n_folded = 0
    for parent in folded.modules():
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d):
                if not bn.track_running_stats or bn.running_mean is None:
                    raise ValueError(f"{bn_name} has no running statistics to fold")
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(parent, bn_name, nn.Identity())
                n_folded += 1
    folded.n_folded_batchnorms = n_folded
    return folded


class _Waveform(nn.Module):
    """The network's inference call as a module with a tensor output (what torch.compile traces).

    The bf16 autocast region is entered inside ``forward``, so that it is part of the compiled
    graph rather than global state the compiled code would have to guard on (and recompile for).
    """

    def __init__(self, net: nn.Module, bf16: bool):
        super().__init__()
        self.net, self.bf16 = net, bf16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            y = self.net(x, with_s3m=False).rppg
        return y.float()


class InferenceEngine:
    """An SSPD network prepared for inference: frame differences in, waveform out.

    model:     an ``SSPD`` (its S3M is never run); copied, so later changes to it are not seen.
    batchnorm: "batch" or "running" (see :func:`set_batchnorm_rule`); "running" lets the bf16 backend fold BatchNorm.
    backend:   one of :data:`BACKENDS`.

    ``engine(x)``: x float32 (B, 3, T, 128, 128) frame differences -> float32 (B, 2*floor(T/2)).
    Attributes: ``precision`` actually used ("bf16" or "fp32"), ``compiled`` (False after a
    failed compile), ``folded`` (number of BatchNorm layers folded).
    """

    def __init__(self, model: nn.Module, batchnorm: str = "batch", backend: str = "fast"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
        if batchnorm not in BATCHNORM_RULES:
            raise ValueError(f"batchnorm rule must be one of {BATCHNORM_RULES}, got {batchnorm!r}")
        precision, compiled = BACKENDS[backend]
        self.backend, self.batchnorm = backend, batchnorm
        if batchnorm == "running" and backend == "bf16":
            net = fold_batchnorm(model)
            self.folded = net.n_folded_batchnorms
        else:
            # eager: the reference, as it is. Compiled: Inductor fuses eval-mode BatchNorm itself, and
            # folding first was measured slower (benchmarks/bench_inference.py: 1.2-1.3x eager with
            # folding against 2.1x without, 1-2 threads); "batch" statistics cannot be folded at all.
            net = copy.deepcopy(model)
            self.folded = 0
        set_batchnorm_rule(net, batchnorm)
        for p in net.parameters():
            p.requires_grad_(False)
        if precision == "bf16" and not bf16_supported():
            warnings.warn("this CPU has no native bfloat16; running the network in float32", stacklevel=2)
            precision = "fp32"
        self.precision = precision
        self.module = _Waveform(net, bf16=precision == "bf16")
        self.compiled = compiled
        self._call = torch.compile(self.module) if compiled else self.module

    def __repr__(self) -> str:
        return (f"InferenceEngine(backend={self.backend}, precision={self.precision}, compiled={self.compiled}, "
                f"batchnorm={self.batchnorm}, folded={self.folded})")

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.compiled:
            return self.module(x)
        try:
            return self._call(x)
        except Exception as exc:  # Inductor needs a working C++ toolchain; without one, run uncompiled
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); "
                          f"running the {self.precision} network uncompiled", stacklevel=2)
            self.compiled, self._call = False, self.module
            return self.module(x)
