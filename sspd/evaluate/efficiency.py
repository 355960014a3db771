"""Compute cost of SSPD inference and of the end-to-end peer networks, measured side by side.

The paper claims SSPD "maintains the lowest inference time and computation cost among end-to-end
models". This module measures, for the SSPD inference network and every open-rppg peer
architecture (:mod:`sspd.evaluate.peers`), in one run on one machine:

==========================  =====================================================================
column                      what and how
==========================  =====================================================================
``params``                  parameter count (elements; torch: ``count_parameters``, Keras:
                            ``model.count_params()`` of the network inside the jitted function)
``gflop_per_frame``         **conv + matmul FLOPs** per input frame, 2 FLOPs per multiply-add, the
                            full kernel counted at every output position (zero padding included).
                            torch: ``torch.utils.flop_counter.FlopCounterMode``; JAX: the same rule
                            applied to ``conv_general_dilated`` / ``dot_general`` in the function's
                            jaxpr (:func:`jaxpr_conv_matmul_flops`). The one cross-framework
                            comparable count.
``gflop_per_frame_xla``     JAX only: ``flops`` of XLA's ``compiled.cost_analysis()`` per frame.
                            XLA counts 2 FLOPs per multiply-add too (checked in the tests), but
                            skips padded taps of a convolution and also counts elementwise
                            operations (1 per element), reductions etc.; transcendentals (exp,
                            tanh, ...) are counted separately and are not included. A ``while``
                            loop's body may be counted once, not per iteration (flagged in notes).
``latency_ms_1t/_2t``       CPU wall time per frame, median over repeats, at 1 and 2 threads;
                            ``*_min`` the fastest repeat (least disturbed by other load).
``cpu_ms_1t/_2t``           process CPU time per frame during the timed calls (all threads summed):
                            insensitive to other processes taking the CPU away, so on a loaded
                            machine ``cpu_ms_1t`` is the better estimate of undisturbed latency.
``cpu_util_1t/_2t``         process CPU time / wall time during the timed calls: the parallelism
                            actually obtained (about 1 at one thread, up to 2 at two; far below 1
                            means other load took the CPU and the wall latencies are inflated).
``peak_mem_mib``            peak RSS above the RSS after the framework was imported: weights,
                            compilation, input and activations of the warm-up and timed calls.
``peak_mem_infer_mib``      peak RSS above the RSS just before the timed calls (after warm-up):
                            the working memory of inference alone.
==========================  =====================================================================

Each (model, threads) measurement runs in a **fresh subprocess** (``python -m
sspd.evaluate.efficiency --worker JSON``): thread pools are fixed when torch / XLA start, and a
fresh process gives a clean memory baseline. The parent sets, before the child starts: its CPU
affinity to the first ``threads`` CPUs (``os.sched_setaffinity``; XLA sizes its thread pool from
the CPUs it may use), ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``, and
for one thread ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` (XLA's Eigen convolutions and
matmuls single-threaded). The child calls ``torch.set_num_threads(threads)``. Costs (params,
FLOPs) are computed once, in the one-thread child, after its memory has been measured.

Peak memory: Linux ``/proc/self/status`` ``VmHWM`` (the resident high-water mark), reset with
``echo 5 > /proc/self/clear_refs`` before each measured section; where the reset is not allowed the
difference of ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is used (a lower bound when the
process had already peaked higher earlier).

What one "frame" is: SSPD runs on ``sspd_frames`` frame differences of 128x128 (one clip,
batch 1, float32 ``(1, 3, T, 128, 128)``); a chunk peer on its own input ``meta['input']`` (T
frames, uint8 RGB); a frame-by-frame recurrent peer (ME-flow, FacePhys) on ``recurrent_steps``
consecutive frames, the state carried. Latency and FLOPs are divided by the frames of one call.
Face detection, cropping and resizing are outside all measurements.

SSPD's optimised inference paths: ``sspd_backends`` names backends of
:class:`sspd.model.fast.InferenceEngine` (``"eager"`` is the float32 reference, ``SSPD(s3m=False)``
under the study's BatchNorm rule "batch"). Each name gives one row ``sspd[<backend>]``; a name the
engine does not know gives a row saying so instead of failing.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["count_flops", "torch_cost", "jax_cost", "jaxpr_conv_matmul_flops", "measure_latency",
           "peak_memory", "current_rss_mib", "peer_architectures", "run_worker", "measure_all",
           "efficiency_table", "rebuild", "ratios_to_sspd", "verdict", "run_efficiency", "PUBLISHED_COSTS",
           "TABLE_COLUMNS", "load_accuracy", "RESULT_TAG"]

#: The stdout line prefix a worker writes its JSON result behind.
RESULT_TAG = "EFFICIENCY_RESULT "

TABLE_COLUMNS = ["model", "framework", "precision", "input", "frames_per_call", "params",
                 "gflop_per_frame", "gflop_per_frame_xla", "latency_ms_1t", "latency_ms_2t",
                 "latency_ms_1t_min", "latency_ms_2t_min", "cpu_ms_1t", "cpu_ms_2t", "cpu_util_1t", "cpu_util_2t",
                 "peak_mem_mib", "peak_mem_infer_mib", "peer_names", "notes"]

_MIB = 1024.0 * 1024.0


# ----------------------------------------------------------------------------------------- memory


def current_rss_mib() -> float:
    """Resident set size of this process now, MiB (``/proc/self/status`` VmRSS; 0.0 if unreadable)."""
    return _status_kib("VmRSS") / 1024.0


def _status_kib(key: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_mib() -> float:
    """``ru_maxrss`` of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_memory(fn: Callable[[], Any]) -> tuple[Any, float, str]:
    """Run ``fn()`` and return (its result, peak RSS increase in MiB during the call, method).

    The increase is the resident high-water mark during the call minus the RSS just before it.
    method "vmhwm": VmHWM reset before the call (exact on Linux); "ru_maxrss": the growth of
    ``ru_maxrss`` (a lower bound: 0 if the process had peaked higher before). Memory released back
    to the system is not subtracted: the value is what the call needed at its worst moment.
    """
    before = current_rss_mib()
    if _reset_peak():
        out = fn()
        return out, max(0.0, _status_kib("VmHWM") / 1024.0 - before), "vmhwm"
    base = _maxrss_mib()
    out = fn()
    return out, max(0.0, _maxrss_mib() - base), "ru_maxrss"


# ----------------------------------------------------------------------------------------- torch


def count_flops(model, x, **kw) -> int:
    """FLOPs of one forward ``model(x, **kw)`` (no grad), as ``FlopCounterMode`` counts them:
    conv / linear / matmul / attention only, 2 FLOPs per multiply-add. Works on meta tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, **kw)
    return int(counter.get_total_flops())


def torch_cost(model, input_shape: Sequence[int], frames: int | None = None) -> dict:
    """Parameters and FLOPs of one forward pass of a torch model.

    model:       a ``torch.nn.Module``; it is copied onto the meta device (shapes only, no
                 arithmetic, no memory), so its own weights and device are left alone.
    input_shape: the input tensor shape, e.g. ``(1, 3, 160, 128, 128)``.
    frames:      frames per input (default ``input_shape[2]``, the time axis of a video tensor).
    Returns {"params": elements, "flops": FLOPs per call, "flops_per_frame": FLOPs / frames}.
    """
    import copy

    import torch

    params = int(sum(p.numel() for p in model.parameters()))
    meta_model = copy.deepcopy(model).to("meta")
    flops = count_flops(meta_model, torch.empty(*input_shape, device="meta"))
    frames = int(frames if frames is not None else input_shape[2])
    return {"params": params, "flops": flops, "flops_per_frame": flops / frames}


# ----------------------------------------------------------------------------------------- jax


def _sub_jaxprs(value) -> list:
    """The jaxprs held in one equation parameter (a ClosedJaxpr, a Jaxpr, or a tuple of them)."""
    if isinstance(value, (list, tuple)):
        return [j for v in value for j in _sub_jaxprs(v)]
    if hasattr(value, "eqns"):
        return [value]
    if hasattr(value, "jaxpr") and hasattr(value, "consts"):
        return [value.jaxpr]
    return []


def _jaxpr_flops(jaxpr, found_while: list) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            k = int(np.prod([lhs[i] for i in lhs_contract], dtype=np.int64)) if lhs_contract else 1
            total += 2 * int(np.prod(eqn.outvars[0].aval.shape, dtype=np.int64)) * k
        elif name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            rhs_spec = eqn.params["dimension_numbers"].rhs_spec   # (out feature, in feature, spatial...)
            taps = rhs[rhs_spec[1]] * int(np.prod([rhs[i] for i in rhs_spec[2:]], dtype=np.int64))
            total += 2 * int(np.prod(eqn.outvars[0].aval.shape, dtype=np.int64)) * int(taps)
        elif name == "scan":
            total += int(eqn.params["length"]) * sum(_jaxpr_flops(j, found_while)
                                                     for j in _sub_jaxprs(eqn.params["jaxpr"]))
        elif name == "cond":
            total += max((_jaxpr_flops(j, found_while) for j in _sub_jaxprs(eqn.params["branches"])),
                         default=0)
        else:
            if name == "while":
                found_while.append(True)    # trip count unknown: body counted once
            for value in eqn.params.values():
                for sub in _sub_jaxprs(value):
                    total += _jaxpr_flops(sub, found_while)
    return total


def jaxpr_conv_matmul_flops(fn: Callable, *args) -> tuple[int, bool]:
    """(conv + matmul FLOPs of ``fn(*args)``, whether a ``while`` loop was met).

    The same rule as torch's ``FlopCounterMode``: 2 FLOPs per multiply-add; a convolution counts
    its full kernel (input features per group x kernel volume) at every output element, padding
    included; a ``dot_general`` counts output elements x contracted size. ``scan`` bodies are
    multiplied by their length, ``cond`` takes its dearest branch, a ``while`` body is counted once
    (its trip count is not known statically; the flag says so).
    """
    import jax

    closed = jax.make_jaxpr(fn)(*args)
    found: list = []
    return _jaxpr_flops(closed.jaxpr, found), bool(found)


def jax_cost(fn: Callable, *args, frames: int = 1) -> dict:
    """Cost of one call ``fn(*args)`` of a JAX function, two ways.

    Returns {"flops": conv+matmul FLOPs (:func:`jaxpr_conv_matmul_flops`, comparable with
    :func:`torch_cost`), "flops_per_frame", "xla_flops": ``flops`` of XLA's cost analysis of the
    compiled function (2 FLOPs per multiply-add, elementwise operations included, padded taps and
    transcendentals not), "xla_flops_per_frame", "xla_transcendentals", "xla_bytes_accessed",
    "has_while": a while loop in the jaxpr or HLO (XLA may then count its body once)}.
    ``fn`` may be jitted already or not; it is compiled again here (seconds for a large model).
    """
    import jax

    flops, has_while = jaxpr_conv_matmul_flops(fn, *args)
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    compiled = jitted.lower(*args).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):        # older jax: one dict per device
        analysis = analysis[0] if analysis else {}
    analysis = dict(analysis or {})
    try:
        has_while = has_while or " while(" in compiled.as_text()
    except Exception:  # noqa: BLE001 -- the HLO text is a diagnostic only
        pass
    xla = float(analysis.get("flops", float("nan")))
    return {"flops": flops, "flops_per_frame": flops / frames, "xla_flops": xla,
            "xla_flops_per_frame": xla / frames,
            "xla_transcendentals": float(analysis.get("transcendentals", float("nan"))),
            "xla_bytes_accessed": float(analysis.get("bytes accessed", float("nan"))),
            "has_while": bool(has_while)}


# ----------------------------------------------------------------------------------------- latency


def measure_latency(fn: Callable[[], Any], frames: int, repeats: int = 5, warmup: int = 1) -> dict:
    """Wall time of ``fn()`` per frame.

    fn:      one call, returning only when its result is computed (block on JAX arrays inside).
    frames:  frames one call processes; the times are divided by it.
    Returns {"ms_per_frame": median over repeats, "ms_per_frame_min": the fastest repeat,
    "ms_per_call": median per call, "repeats", "cpu_util": process CPU seconds / wall seconds over
    the timed calls (the parallelism obtained; all threads of the process count), "cpu_ms_per_frame":
    process CPU time per frame over the timed calls (robust to other load taking the CPU away: at one
    thread it approximates the undisturbed latency)}. ``warmup`` calls
    first (compilation, caches), untimed.
    """
    for _ in range(warmup):
        fn()
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    med = statistics.median(times)
    return {"ms_per_frame": med * 1e3 / frames, "ms_per_frame_min": min(times) * 1e3 / frames,
            "ms_per_call": med * 1e3, "repeats": len(times), "cpu_util": cpu / wall if wall > 0 else float("nan"),
            "cpu_ms_per_frame": cpu * 1e3 / (frames * len(times))}


# ----------------------------------------------------------------------------------------- models


def peer_architectures(names: Iterable[str] | None = None) -> dict[str, dict]:
    """{architecture: {"model_id": the id measured, "peer_names": every peer name sharing it}}.

    An architecture is the model id without its training set (``PhysNet.pure`` and ``PhysNet.rlap``
    -> ``PhysNet``): the trained variants differ in weights only, which do not change cost. ME-chunk
    and ME-flow share weights but run differently (160-frame chunks vs frame by frame), so both are
    kept. The ``pure`` variant is measured where there is one.
    """
    from sspd.evaluate.peers import PEER_NAMES, PREFIX

    out: dict[str, dict] = {}
    for name in (PEER_NAMES if names is None else names):
        model_id = name[len(PREFIX):] if name.startswith(PREFIX) else name
        arch = model_id.rpartition(".")[0]
        entry = out.setdefault(arch, {"model_id": model_id, "peer_names": []})
        entry["peer_names"].append(PREFIX + model_id)
        if model_id.endswith(".pure"):
            entry["model_id"] = model_id
    return out


def _rppg_loader(model_id: str):
    """The open-rppg loader function for a model id (``load_PhysNet_pure``, ``load_ME_rlap`` for
    ``ME-flow.rlap``, ...): it builds the network, reads the weights and returns
    ``(jitted call(x, state), initial state, meta)`` without the package's face detector or threads."""
    from sspd.evaluate.peers import _import_rppg

    _import_rppg()
    import rppg.models as models

    arch, _, dataset = model_id.rpartition(".")
    arch = {"ME-flow": "ME", "ME-chunk": "ME_chunk"}.get(arch, arch)
    return getattr(models, f"load_{arch}_{dataset}")


def _keras_params(call) -> int | None:
    """Parameter count of the Keras model a package's jitted ``call`` closes over (None if not found)."""
    import inspect

    inner = getattr(call, "__wrapped__", call)
    try:
        model = inspect.getclosurevars(inner).nonlocals.get("model")
    except (TypeError, ValueError):
        return None
    return int(model.count_params()) if model is not None and hasattr(model, "count_params") else None


def _measure_peer(spec: dict, threads: int, repeats: int, with_cost: bool) -> dict:
    import jax

    res: dict = {"framework": f"jax {jax.__version__} (XLA CPU)"}
    loader = _rppg_loader(spec["model_id"])
    before_build = current_rss_mib()
    (call, state0, meta), build_mib, _ = peak_memory(loader)   # builds, loads weights, compiles once
    t = int(meta["input"][0])
    steps = int(spec.get("recurrent_steps", 30)) if t == 1 else 1
    rng = np.random.default_rng(0)
    frames_in = rng.integers(0, 256, size=(steps,) + tuple(meta["input"]), dtype=np.uint8)

    def once():
        state = state0
        for k in range(steps):
            out, state = call(frames_in[k], state)
        jax.block_until_ready((out, state))

    after_build = current_rss_mib()
    lat, infer_mib, method = peak_memory(lambda: measure_latency(once, t * steps, repeats=repeats))
    res.update(input="x".join(str(v) for v in meta["input"][:3]), frames_per_call=t * steps,
               precision="mixed float16 (Keras policy)", latency=lat,
               peak_mem_mib=max(before_build + build_mib, after_build + infer_mib) - spec["_base_rss"],
               peak_mem_infer_mib=infer_mib, mem_method=method, stateful=t == 1,
               recurrent_steps=steps if t == 1 else None)
    if with_cost:
        cost = jax_cost(call, frames_in[0], state0, frames=t)
        res.update(params=_keras_params(call), cost=cost)
    return res


def _sspd_runner(backend: str, frames: int):
    """(callable x -> output, model, precision, note) for SSPD inference with one backend."""
    import torch

    from sspd.inference import load_inference_model

    model, _ = load_inference_model(None)
    try:
        from sspd.model.fast import BACKENDS, InferenceEngine
    except ImportError:                 # no engine: only the plain eager network exists
        if backend != "eager":
            raise ValueError(f"SSPD backend {backend!r}: sspd.model.fast.InferenceEngine is not available")

        def plain(x):
            with torch.inference_mode():
                return model(x)
        return plain, model, "fp32", "plain eval-mode network (no InferenceEngine)"
    if backend not in BACKENDS:
        raise ValueError(f"SSPD backend {backend!r} unknown; InferenceEngine has {sorted(BACKENDS)}")
    engine = InferenceEngine(model, batchnorm="batch", backend=backend)
    return engine, model, engine.precision, repr(engine)


def _measure_sspd(spec: dict, threads: int, repeats: int, with_cost: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    t = int(spec.get("frames", 160))
    shape = (1, 3, t, 128, 128)
    before_build = current_rss_mib()
    (run, model, precision, note), build_mib, _ = peak_memory(lambda: _sspd_runner(spec["backend"], t))
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 3   # frame differences
    after_build = current_rss_mib()
    lat, infer_mib, method = peak_memory(lambda: measure_latency(lambda: run(x), t, repeats=repeats))
    res = {"framework": f"torch {torch.__version__}", "input": f"{t}x128x128", "frames_per_call": t,
           "precision": precision, "latency": lat, "peak_mem_infer_mib": infer_mib, "mem_method": method,
           "engine": note, "torch_threads": torch.get_num_threads(),
           "peak_mem_mib": max(before_build + build_mib, after_build + infer_mib) - spec["_base_rss"]}
    if with_cost:
        from sspd.model.network import SSPD

        cost = torch_cost(SSPD(s3m=False).eval(), shape)
        res.update(params=cost["params"], cost={"flops": cost["flops"], "flops_per_frame": cost["flops_per_frame"]})
    return res


def run_worker(spec: dict) -> dict:
    """One measurement in this process (meant for a fresh subprocess; see the module docstring).

    spec: {"kind": "sspd" | "peer", "name": row name, "threads", "repeats", "cost": bool, and
    "backend"/"frames" (sspd) or "model_id"/"recurrent_steps" (peer)}. The framework is imported
    first; the memory baseline is the RSS after that.
    """
    threads, repeats, with_cost = int(spec["threads"]), int(spec["repeats"]), bool(spec.get("cost"))
    t0 = time.perf_counter()
    if spec["kind"] == "sspd":
        import torch  # noqa: F401  (the baseline includes the framework)

        import sspd.inference  # noqa: F401
        spec = dict(spec, _base_rss=current_rss_mib())
        res = _measure_sspd(spec, threads, repeats, with_cost)
    elif spec["kind"] == "peer":
        from sspd.evaluate.peers import _import_rppg

        _import_rppg()
        import rppg.models  # noqa: F401
        spec = dict(spec, _base_rss=current_rss_mib())
        res = _measure_peer(spec, threads, repeats, with_cost)
    else:
        raise ValueError(f"unknown worker kind {spec['kind']!r}")
    res.update(name=spec["name"], kind=spec["kind"], threads=threads, base_rss_mib=spec["_base_rss"],
               affinity=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
               xla_flags=os.environ.get("XLA_FLAGS", ""), worker_s=time.perf_counter() - t0)
    return res


# ----------------------------------------------------------------------------------------- driver


def _child_env(threads: int) -> dict:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    if threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    env["XLA_FLAGS"] = " ".join(flags)
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "2")
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _spawn(spec: dict, timeout: float, nice: int = 0) -> dict:
    """Run :func:`run_worker` on ``spec`` in a fresh Python process pinned to ``spec['threads']`` CPUs."""
    threads = int(spec["threads"])
    cpus = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else None

    def preexec():
        if cpus:
            os.sched_setaffinity(0, cpus)
        if nice:
            os.nice(nice)

    cmd = [sys.executable, "-m", "sspd.evaluate.efficiency", "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, env=_child_env(threads), capture_output=True, text=True,
                              timeout=timeout, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        return {"name": spec["name"], "threads": threads, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"name": spec["name"], "threads": threads, "error": f"worker exit {proc.returncode}: {' | '.join(tail)}"}


def measure_all(threads: Sequence[int] = (1, 2), repeats: int = 5, sspd_backends: Sequence[str] = ("eager",),
                sspd_frames: int = 160, peers: Iterable[str] | None = None, recurrent_steps: int = 30,
                timeout: float = 1800.0, nice: int = 0, progress: bool = True,
                on_result: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """Every (model, threads) measurement, each in its own subprocess; the raw worker results.

    sspd_backends: SSPD rows, one per :class:`sspd.model.fast.InferenceEngine` backend name
                   (``("eager",)``: the float32 reference only; e.g. ``("eager", "bf16", "fast")``).
    peers:         peer names (default every :data:`sspd.evaluate.peers.PEER_NAMES`), reduced to one
                   per architecture (:func:`peer_architectures`).
    Costs (params, FLOPs) are computed in the run at the smallest thread count. ``on_result(results
    so far)`` is called after every measurement (e.g. to write a partial table). ``nice``: niceness
    added to each worker (0: as the caller).
    """
    specs = [{"kind": "sspd", "name": f"sspd[{b}]", "backend": b, "frames": sspd_frames} for b in sspd_backends]
    for arch, info in peer_architectures(peers).items():
        specs.append({"kind": "peer", "name": arch, "model_id": info["model_id"],
                      "peer_names": info["peer_names"], "recurrent_steps": recurrent_steps})
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    results = []
    # thread counts outermost: a stopped run still has every model at the first thread count
    for n in threads:
        for spec in specs:
            if n > usable:
                results.append({"name": spec["name"], "threads": n, "error": f"only {usable} CPUs usable"})
                continue
            t0 = time.perf_counter()
            res = _spawn(dict(spec, threads=n, repeats=repeats, cost=n == min(threads)), timeout, nice)
            res.setdefault("peer_names", spec.get("peer_names"))
            res.setdefault("model_id", spec.get("model_id"))
            results.append(res)
            if on_result is not None:
                on_result(results)
            if progress:
                what = res.get("error") or f"{res['latency']['ms_per_frame']:.3f} ms/frame"
                print(f"  {spec['name']:<14} {n} thread(s): {what} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return results


def efficiency_table(results: Sequence[dict], threads: Sequence[int] = (1, 2)) -> pd.DataFrame:
    """The tidy table (one row per model, :data:`TABLE_COLUMNS`) from :func:`measure_all`'s results.

    Units: params in elements, FLOPs in GFLOP per frame (2 per multiply-add), latency in ms per
    frame, memory in MiB. Missing measurements are NaN and explained in ``notes``.
    """
    rows: dict[str, dict] = {}
    for res in results:
        name = res["name"]
        row = rows.setdefault(name, {c: np.nan for c in TABLE_COLUMNS} | {"model": name, "notes": []})
        n = int(res["threads"])
        if "error" in res:
            row["notes"].append(f"{n} thread(s): {res['error']}")
            continue
        for key in ("framework", "precision", "input", "frames_per_call"):
            row[key] = res.get(key, row[key])
        if res.get("peer_names"):
            row["peer_names"] = " ".join(res["peer_names"])
        lat = res["latency"]
        if n in (1, 2):
            row[f"latency_ms_{n}t"] = lat["ms_per_frame"]
            row[f"latency_ms_{n}t_min"] = lat["ms_per_frame_min"]
            row[f"cpu_util_{n}t"] = lat["cpu_util"]
            # CPU time per frame; results written before the key existed: median wall x utilisation
            row[f"cpu_ms_{n}t"] = lat.get("cpu_ms_per_frame", lat["ms_per_frame"] * lat["cpu_util"])
        if n == min(threads) or pd.isna(row["peak_mem_mib"]):
            row["peak_mem_mib"] = res.get("peak_mem_mib", np.nan)
            row["peak_mem_infer_mib"] = res.get("peak_mem_infer_mib", np.nan)
        if "cost" in res:
            row["params"] = res.get("params", np.nan)
            row["gflop_per_frame"] = res["cost"]["flops_per_frame"] / 1e9
            if "xla_flops_per_frame" in res["cost"]:
                row["gflop_per_frame_xla"] = res["cost"]["xla_flops_per_frame"] / 1e9
                if res["cost"].get("has_while"):
                    row["notes"].append("while loop in HLO: XLA may count its body once")
        if res.get("stateful"):
            note = f"recurrent, frame by frame ({res.get('recurrent_steps')} steps per timed call)"
            if note not in row["notes"]:
                row["notes"].append(note)
        if res.get("kind") == "sspd" and res.get("engine") and n == min(threads):
            row["notes"].append(res["engine"])
    table = pd.DataFrame([r | {"notes": "; ".join(r["notes"])} for r in rows.values()], columns=TABLE_COLUMNS)
    table["params"] = table["params"].astype("Int64")
    table["frames_per_call"] = table["frames_per_call"].astype("Int64")
    return table


def ratios_to_sspd(table: pd.DataFrame, reference: str = "sspd[eager]") -> pd.DataFrame:
    """Each model's params, GFLOP/frame, latencies and peak memory divided by the reference row's
    (above 1: the model costs more than SSPD). The reference row must be in the table."""
    cols = ["params", "gflop_per_frame", "latency_ms_1t", "latency_ms_2t", "cpu_ms_1t", "peak_mem_mib"]
    ref = table.set_index("model").loc[reference, cols].astype(float)
    out = table[["model"]].copy()
    for c in cols:
        out[c + "_x"] = table[c].astype(float) / ref[c]
    return out


def verdict(table: pd.DataFrame, reference: str = "sspd[eager]") -> str:
    """A plain-text verdict on the claim "lowest inference time and computation cost among end-to-end
    models", computed from ``table`` (each criterion: the cheapest model and SSPD's rank)."""
    lines = []
    criteria = {"gflop_per_frame": "conv+matmul GFLOP/frame", "params": "parameters",
                "latency_ms_1t": "CPU latency, 1 thread (ms/frame)",
                "latency_ms_2t": "CPU latency, 2 threads (ms/frame)",
                "cpu_ms_1t": "process CPU time, 1 thread (ms/frame)", "peak_mem_mib": "peak memory (MiB)"}
    lowest_all = True
    for col, label in criteria.items():
        sub = table[["model", col]].dropna()
        if reference not in set(sub["model"]):
            lines.append(f"{label}: no SSPD value measured")
            lowest_all = False
            continue
        sub = sub.assign(v=sub[col].astype(float)).sort_values("v")
        rank = int(list(sub["model"]).index(reference)) + 1
        best = sub.iloc[0]
        ref_v = float(sub.loc[sub["model"] == reference, "v"].iloc[0])
        cheaper = [m for m, v in zip(sub["model"], sub["v"]) if v < ref_v]
        lowest_all &= rank == 1
        text = (f"{label}: SSPD {ref_v:.4g}, rank {rank} of {len(sub)}; lowest {best['model']} ({best['v']:.4g})")
        if cheaper:
            text += f"; cheaper than SSPD: {', '.join(cheaper)}"
        lines.append(text)
    head = ("The claim holds on every measured criterion." if lowest_all else
            "The claim does not hold as measured here: SSPD is not the lowest on every criterion.")
    neutral = [ln for ln in lines if ln.startswith(("conv+matmul", "parameters"))]
    tail = ("Framework-neutral criteria (FLOPs, parameters): SSPD is "
            + ("the lowest on both." if all("rank 1 " in ln for ln in neutral) else "not the lowest on both.")
            + " Latency and memory compare implementations (PyTorch eager vs XLA-compiled JAX), not architectures;"
            " every model runs at its own native input size.")
    return head + "\n" + "\n".join("  - " + s for s in lines) + "\n" + tail


def rebuild(out_dir: str | Path, threads: Sequence[int] = (1, 2)) -> pd.DataFrame:
    """Rewrite ``efficiency.csv`` in ``out_dir`` from its ``raw.json`` with the current table builder
    (e.g. after a stopped run, or after a column was added); ``manifest.json`` is left as it is."""
    from sspd.io import atomic_write_text

    out_dir = Path(out_dir)
    table = efficiency_table(json.loads((out_dir / "raw.json").read_text()), threads=threads)
    atomic_write_text(out_dir / "efficiency.csv", table.to_csv(index=False, float_format="%.6g"))
    return table


def run_efficiency(out_dir: str | Path | None = None, quick: bool = False, **kw) -> tuple[pd.DataFrame, list[dict]]:
    """Measure everything (:func:`measure_all`), build the table and, with ``out_dir``, write
    ``efficiency.csv``, ``raw.json`` and ``manifest.json`` there. quick: 1 repeat and 4 recurrent
    steps (a smoke test, not a measurement). Returns (table, raw results)."""
    from sspd.io import atomic_write_json, atomic_write_text, git_sha, manifest

    if quick:
        kw.setdefault("repeats", 1)
        kw.setdefault("recurrent_steps", 4)
    threads = tuple(kw.get("threads", (1, 2)))
    load_start = os.getloadavg()
    sha_start = git_sha()       # the code measured: commits made while it runs do not change it
    t0 = time.perf_counter()

    def write(raw: list[dict], complete: bool) -> pd.DataFrame:
        table = efficiency_table(raw, threads=threads)
        if out_dir is None:
            return table
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "efficiency.csv", table.to_csv(index=False, float_format="%.6g"))
        atomic_write_json(out / "raw.json", raw)
        settings = {k: v for k, v in kw.items() if k != "on_result"} | {"quick": quick, "threads": threads}
        atomic_write_json(out / "manifest.json", manifest(
            config=settings, git_sha=sha_start, git_sha_at_write=git_sha(), complete=complete,
            measurements=len(raw),
            loadavg_start=load_start, loadavg_end=os.getloadavg(),
            wall_s=time.perf_counter() - t0,
            thread_control=("per (model, threads) subprocess: CPU affinity to the first N CPUs, "
                            "OMP/MKL/OPENBLAS_NUM_THREADS=N, torch.set_num_threads(N), "
                            "XLA_FLAGS=--xla_cpu_multi_thread_eigen=false at N=1"),
            memory_method="VmHWM reset via /proc/self/clear_refs (fallback ru_maxrss growth)",
            flop_convention="2 FLOPs per multiply-add; gflop_per_frame conv+matmul only (torch "
                            "FlopCounterMode / jaxpr rule); gflop_per_frame_xla XLA cost_analysis"))
        return table

    raw = measure_all(on_result=lambda r: write(r, complete=False), **kw)
    return write(raw, complete=True), raw


# ----------------------------------------------------------------------------------------- context

#: Costs from outside this run, each row naming where it comes from (``source``):
#: measured there from each repository's model definition with FlopCounterMode (2 FLOPs per
#: multiply-add, conv/linear/matmul only), 2 CPU threads on another machine; plus the PhysBench
#: README table. Context only: never mixed with this run's numbers.
PUBLISHED_COSTS = pd.DataFrame([
    # model, source, input, params (M), GFLOP/frame, CPU s/clip, frames
    ("PhysNet", "rPPG-Toolbox model definition", "3x128x72x72", 0.77, 0.27, 1.48, 128),
    ("PhysNet", "rPPG-Toolbox model definition", "3x128x128x128", 0.77, 0.87, 2.51, 128),
    ("TS-CAN", "rPPG-Toolbox model definition", "180x6x72x72", 2.23, 0.45, 6.23, 180),
    ("DeepPhys", "rPPG-Toolbox model definition", "180x6x72x72", 2.23, 0.45, 5.10, 180),
    ("EfficientPhys", "rPPG-Toolbox model definition", "181x3x72x72", 2.16, 0.23, 3.05, 180),
    ("PhysFormer", "rPPG-Toolbox model definition", "3x160x128x128", 7.38, 0.64, 3.34, 160),
    ("iBVPNet", "rPPG-Toolbox model definition", "3x161x72x72", 1.43, 0.54, 1.86, 160),
    ("RhythmFormer", "rPPG-Toolbox model definition", "160x3x128x128", 3.33, 0.49, 8.51, 160),
    ("FactorizePhys FSAM", "rPPG-Toolbox model definition", "3x161x72x72", 0.052, 0.037, 0.69, 160),
    ("Contrast-Phys PhysNet", "Contrast-Phys repository", "3x300x128x128", 0.86, 1.70, 11.96, 300),
    ("SiNC PhysNet", "SiNC repository", "3x120x64x64", 1.39, 0.83, 3.84, 120),
    ("SSPD inference", "SSPD model definition", "3x300x128x128", 0.79, 0.56, 10.07, 300),
    ("DeepPhys", "PhysBench README (fork Snopylz/PhysBench_lz)", "36x36", 0.532, 0.052, np.nan, np.nan),
    ("TS-CAN", "PhysBench README (fork Snopylz/PhysBench_lz)", "36x36", 0.532, 0.052, np.nan, np.nan),
    ("PhysNet", "PhysBench README (fork Snopylz/PhysBench_lz)", "32x32", 0.770, 0.054, np.nan, np.nan),
    ("PhysFormer", "PhysBench README (fork Snopylz/PhysBench_lz)", "128x128", 7.03, 0.324, np.nan, np.nan),
    ("Seq-rPPG (1D CNN)", "PhysBench README (fork Snopylz/PhysBench_lz)", "8x8", 0.196, 0.000261, np.nan, np.nan),
], columns=["model", "source", "input", "params_M", "gflop_per_frame", "cpu_s_per_clip_2t", "frames"])


def load_accuracy(root: str | Path, presets: Sequence[str] | None = None) -> pd.DataFrame:
    """Accuracy tables of the peer evaluation (``<root>/<preset>/*.csv`` holding the columns preset,
    method and MAE; protocol, split, ... where present), concatenated; an empty frame with columns
    preset, method, protocol, MAE where none exist yet. Unreadable files and tables without those
    columns (e.g. ablation tables) are skipped, listed in the result's ``attrs['skipped']``."""
    root = Path(root)
    frames, skipped = [], []
    dirs = [root / p for p in presets] if presets else (sorted(p for p in root.iterdir() if p.is_dir())
                                                       if root.is_dir() else [])
    for d in dirs:
        for f in sorted(d.glob("*.csv")) if d.is_dir() else []:
            try:
                df = pd.read_csv(f)
            except Exception as err:  # noqa: BLE001 -- a partly written table must not stop the chapter
                skipped.append(f"{f}: {type(err).__name__}")
                continue
            if {"preset", "method", "MAE"} <= set(df.columns):
                frames.append(df)
            else:
                skipped.append(f"{f}: no preset/method/MAE columns")
    out = (pd.concat(frames, ignore_index=True) if frames
           else pd.DataFrame(columns=["preset", "method", "protocol", "MAE"]))
    out.attrs["skipped"] = skipped
    return out


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="efficiency worker (internal; see benchmarks/bench_efficiency.py)")
    ap.add_argument("--worker", required=True, help="JSON measurement spec")
    args = ap.parse_args(argv)
    res = run_worker(json.loads(args.worker))
    print(RESULT_TAG + json.dumps(res, default=float), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
