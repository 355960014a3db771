"""Training configuration: one dataclass, saved as JSON with every run.

Recipes (``TrainConfig.from_recipe(name, **overrides)``; ``RECIPES`` lists them):

- ``paper``: the authors' released schedule (book/method_reference.md §7.1): 12 clips of
  T = 300 frame differences per optimiser step, 30 epochs of one random window per training
  video, Adam at a constant 1e-3, EMA m0 = 0.9 -> 1 (cosine per step), fp16 autocast on CUDA.
  On UBFC-rPPG's 30 training videos: 3 steps per epoch, 90 in total. Minutes on a GPU.
- ``study``: what the study trains on a 2-core CPU in at most 45 minutes (issue "Make
  label-free training learn"; the cost is measured by ``benchmarks/bench_train.py``). What
  differs from ``paper``, and why:
    * T = 160 differences (5.3 s at 30 fps): the step cost is linear in T; 160 still spans
      2.6 beats at 30 bpm and far exceeds the network's +-16-frame receptive field;
    * the paper's effective batch of 12 clips, reached by accumulating 6 micro-batches of 2
      (BatchNorm sees 2 clips at a time): with 2 clips per step the backbone gradients of two
      batches agree in sign only half the time, and training does not learn;
    * bf16 autocast for the networks (1.5x faster on a CPU with native bf16; the losses stay in
      float32). A CPU without native bf16 (AVX2-only, say) trains in float32 instead, since
      emulated bf16 is 20-40x slower there (``benchmarks/bench_train.py``);
    * a fixed budget of 40 optimiser steps with the EMA schedule spanning it (the first run,
      70 steps on easy-full, made most of its validation gain in the first 10-20 steps and ran
      past the 45 minutes); the windows are drawn epoch by epoch, one per video per epoch, as
      in the paper;
    * validation on the held-out training subjects every ``val_every`` steps (first 20 s).
  The 128x128 input is not reduced (the backbone needs it).
- ``smoke``: seconds, for tests and CI: T = 32 differences, 2 clips, 2 steps. The TS blocks
  shorten the token sequence by 8 + 6 + 4 = 18 and L_freq needs one cardiac-band bin, so
  T >= 28 (``MIN_T``); T = 32 leaves 24/18/14 tokens.

Loss balance and T: the diagonal regulariser's weights (N-d)/20 and the width of the FFT bins
both depend on the clip length, so at T = 160 the regulariser counts about half as much as at
T = 300 and each band bin is twice as wide. ``LossConfig.reg_reference_n`` rescales the
regulariser to a reference length when set (``None`` = the released formula).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sspd.augment import AugmentConfig
from sspd.losses import LossConfig

__all__ = ["TrainConfig", "RECIPES", "MIN_T", "recipe"]

# The TS blocks (kernels 9, 7, 5) leave N_3 = T - 18 tokens; L_freq needs floor(3 N_3 / 30) >= 1
# (measured: T = 26 fails in the loss at 30 fps, T = 28 trains).
MIN_T = 28
RELEASED_S3M_KERNELS = (9, 7, 5)


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved to ``config.json`` and in every checkpoint).

    data:              a synthetic preset ("still", "easy-full", ...) or a clip-cache folder;
                       resolved by :func:`sspd.data.splits.dataset_entries`.
    split:             the training split ("train": every training subject, of which
                       ``val_fraction`` are held out for validation; "all": every video, no
                       validation).
    val_fraction:      share of the training subjects held out for validation (when the split
                       file does not list them); 0 = no validation fold.
    val_every:         validate teacher and student every this many optimiser steps (and at
                       step 0 and at the end); None = never.
    val_seconds:       seconds of each validation video used (None = all of it).
    T:                 frame differences per clip (the network sees T+1 frames).
    batch_size:        clips per forward pass (micro-batch), over all processes (DDP divides it).
    accum_steps:       micro-batches whose gradients are summed per optimiser step; the
                       effective batch is batch_size x accum_steps clips.
    epochs:            passes over the training windows (one epoch = windows_per_video
                       windows of every training video).
    windows_per_video: random windows drawn per video per epoch (paper: 1).
    max_steps:         stop after this many optimiser steps in total (None: as many as the
                       epochs need); the EMA schedule spans the steps actually run.
    lr, weight_decay:  Adam learning rate (constant) and weight decay (no decay ever on
                       biases and 1-D norm parameters).
    ema_m0:            initial EMA momentum; cosine schedule to 1 over all iterations.
    amp:               "auto" (fp16 autocast + GradScaler on CUDA, off on CPU), "on" (fp16,
                       CUDA only), "bf16" (bfloat16 autocast, CPU or CUDA; float32 on a CPU
                       that would only emulate bf16) or "off".
    seed:              seeds Python, numpy, torch, the clip sampler and the augmentations.
    num_workers:       DataLoader worker processes (0 = load in the main process).
    device:            "auto" (CUDA when available), "cpu" or "cuda[:k]".
    evaluate_weights:  which network ``model_inference.pt`` holds: "target" (EMA teacher) or "online".
    init_from:         start the online network and the teacher from this state dict of the
                       full network with its S3M (e.g. a published ``model_target_s3m.pt``)
                       instead of the seeded initialisation, for a curriculum; None = seeded.
    s3m_kernels:       kernel sizes of the S3M's TS blocks, one per pyramid level (None = the
                       released (9, 7, 5); e.g. (9,) or (9, 7) for a shallower pyramid). The
                       inference network does not depend on it.
    """

    recipe: str = "paper"
    data: str = "still"
    split: str = "train"
    val_fraction: float = 0.2
    val_every: int | None = None
    val_seconds: float | None = 30.0
    T: int = 300
    batch_size: int = 12
    accum_steps: int = 1
    epochs: int = 30
    windows_per_video: int = 1
    max_steps: int | None = None
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    ema_m0: float = 0.9
    amp: str = "auto"
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    evaluate_weights: str = "target"
    s3m_kernels: tuple[int, ...] | None = None
    init_from: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if isinstance(self.loss, dict):
            self.loss = LossConfig(**self.loss)
        if self.s3m_kernels is not None:
            self.s3m_kernels = tuple(int(k) for k in self.s3m_kernels)
        self.validate()

    def validate(self) -> None:
        if self.T < MIN_T:
            raise ValueError(f"T={self.T} differences is too short: the TS blocks (kernels 9, 7, 5) "
                             f"and the cardiac-band losses need T >= {MIN_T} (at 30 fps)")
        for name in ("batch_size", "accum_steps", "epochs", "windows_per_video"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.optimizer != "adam":
            raise ValueError(f"only optimizer='adam' (the released setting) is implemented, "
                             f"got {self.optimizer!r}")
        if not 0.0 <= self.ema_m0 <= 1.0:
            raise ValueError(f"ema_m0 must be in [0, 1], got {self.ema_m0}")
        if self.amp not in ("auto", "on", "off", "bf16"):
            raise ValueError(f"amp must be 'auto', 'on', 'bf16' or 'off', got {self.amp!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.val_every is not None and self.val_every < 1:
            raise ValueError(f"val_every must be >= 1 or None, got {self.val_every}")
        if self.evaluate_weights not in ("target", "online"):
            raise ValueError(f"evaluate_weights must be 'target' or 'online', got {self.evaluate_weights!r}")
        if self.s3m_kernels is not None and (not self.s3m_kernels or min(self.s3m_kernels) < 1):
            raise ValueError(f"s3m_kernels must be None or positive kernel sizes, got {self.s3m_kernels}")

    # ------------------------------------------------------------------ recipes / io

    @property
    def s3m_pyramid(self) -> tuple[int, ...]:
        """Kernel sizes of the S3M's TS blocks: ``s3m_kernels``, or the released (9, 7, 5)."""
        return self.s3m_kernels if self.s3m_kernels is not None else RELEASED_S3M_KERNELS

    @property
    def effective_batch(self) -> int:
        """Clips per optimiser step."""
        return self.batch_size * self.accum_steps

    @classmethod
    def from_recipe(cls, name: str, **overrides: Any) -> "TrainConfig":
        """A named recipe ("paper", "study", "smoke") with optional field overrides."""
        if name not in RECIPES:
            raise ValueError(f"unknown training recipe {name!r}; choose from {sorted(RECIPES)}")
        values = {**RECIPES[name], "recipe": name, **overrides}
        for section, kind in (("augment", AugmentConfig), ("loss", LossConfig)):
            if isinstance(values.get(section), dict):
                values[section] = kind(**values[section])
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_json(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def with_overrides(self, assignments: list[str]) -> "TrainConfig":
        """Apply ``key=value`` strings (``augment.crop=topleft``, ``T=200``); values parsed as JSON
        when possible (numbers, true/false, null), else kept as strings."""
        d = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ValueError(f"--set expects key=value, got {item!r}")
            key, raw = item.split("=", 1)
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            node, parts = d, key.strip().split(".")
            for p in parts[:-1]:
                if not isinstance(node.get(p), dict):
                    raise ValueError(f"--set {key}: {p!r} is not a config section")
                node = node[p]
            if parts[-1] not in node:
                raise ValueError(f"--set {key}: unknown field {parts[-1]!r}; known: {sorted(node)}")
            node[parts[-1]] = value
        return TrainConfig.from_dict(d)


RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(T=300, batch_size=12, accum_steps=1, epochs=30, windows_per_video=1, amp="auto",
                  val_fraction=0.0),
    "study": dict(T=160, batch_size=2, accum_steps=6, epochs=1000, windows_per_video=1, max_steps=40,
                  amp="bf16", device="cpu", val_every=10, val_seconds=20.0),
    "smoke": dict(T=32, batch_size=2, epochs=2, windows_per_video=1, max_steps=2, amp="off",
                  device="cpu", val_fraction=0.0),
}


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """Shorthand for ``TrainConfig.from_recipe(name, **overrides)``."""
    return TrainConfig.from_recipe(name, **overrides)
