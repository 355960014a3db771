"""Training configuration: one dataclass, saved as JSON with every run.

Presets (``TrainConfig.preset_config(name, **overrides)``):

- ``paper``: the authors' released schedule (sspd-method.md §7): batch 12, T = 300
  frame differences (301 frames, 10 s at 30 fps), 30 epochs of one random window
  per training video, Adam at a constant 1e-3, EMA m0 = 0.9 -> 1 (cosine per
  iteration), AMP on CUDA. On UBFC-rPPG's 30 training videos this is 3
  iterations per epoch, 90 in total. About 5 hours on a 2-core CPU; minutes on a GPU.
- ``cpu``: reductions for a 2-core CPU machine. The appendix of sspd-method.md
  measured about 18 s per self-distillation step of 2 clips x 160 differences
  (online forward + backward + teacher forward), so a paper step (12 x 300)
  costs ~3.7 min. What is reduced, and why:
    * batch 12 -> 2 and T 300 -> 160 differences (5.3 s at 30 fps, still >= 2.6
      beats at 30 bpm and far longer than the network's temporal receptive field,
      under +-16 frames as measured by chunked inference; the TS-block pyramid becomes 152/146/142 tokens) — the per-step
      cost is the bottleneck;
    * the schedule: 8 epochs of 2 random windows per video, capped at 120
      iterations (``max_steps``). On the synthetic ``still`` preset's 14
      training videos that is 14 iterations per epoch, 112 in total; on a
      30-video split (UBFC-rPPG) the cap stops it after 4 epochs. 120 steps is
      a little more than the paper's 90 optimiser steps, but each step sees 6x
      fewer clips and ~11x fewer frames. Measured here: 11-17 s per step on
      the shared 2-core machine, i.e. about 25-35 minutes;
    * AMP off (no fp16 speed-up on CPU).
  The 128x128 input is NOT reduced: the backbone's valid convolutions and the
  8x8 global pooling need 128x128. Everything else (LGA/MDM, losses, EMA,
  optimiser, learning rate) is as in ``paper``.
- ``smoke``: a seconds-long run for tests and CI: T = 32 differences, batch 2,
  2 epochs, at most 2 iterations in total. Checked minimum: the three TS blocks
  shorten the token sequence by 8 + 6 + 4 = 18, so the network runs from T = 19,
  but the losses need more: L_reg needs N_3 >= 3 tokens and L_freq needs one
  cardiac-band bin, floor(3 N_3 / fs) >= 1, i.e. N_3 >= 10 at 30 fps, so
  T >= 28 (``MIN_T``). T = 32 leaves 24/18/14 tokens.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sspd.augment import AugmentConfig
from sspd.losses import LossConfig

__all__ = ["TrainConfig", "PRESETS", "MIN_T", "preset_config"]

# The TS blocks (kernels 9, 7, 5) leave N_3 = T - 18 tokens; L_freq needs floor(3 N_3 / 30) >= 1
# (measured: T = 26 fails in the loss at 30 fps, T = 28 trains).
MIN_T = 28


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved to ``config.json`` and in every checkpoint).

    data:              a clip-cache folder, or a name whose cache is ``data/cache/<name>``
                       (e.g. the synthetic preset "still": build it with
                       ``python -m sspd preprocess data/synthetic/still --format synthetic
                       --out data/cache/still``).
    split:             which subjects to train on ("train", "test") from the committed split
                       file ``data/splits/<name>.json``, or "all" (every cached video).
    T:                 frame differences per clip (the network sees T+1 frames).
    batch_size:        clips per optimiser step, over all processes (DDP divides it).
    epochs:            passes over the training windows.
    windows_per_video: random windows drawn per video per epoch (paper: 1).
    max_steps:         stop after this many iterations in total (None: epochs x steps/epoch);
                       the EMA schedule spans the iterations actually run.
    lr, weight_decay:  Adam learning rate (constant) and weight decay (no decay ever on
                       biases and 1-D norm parameters).
    ema_m0:            initial EMA momentum; cosine schedule to 1 over all iterations.
    amp:               "auto" (fp16 autocast + GradScaler on CUDA only), "on" or "off".
    seed:              seeds Python, numpy, torch, the clip sampler and the augmentations.
    num_workers:       DataLoader worker processes (0 = load in the main process).
    device:            "auto" (CUDA when available), "cpu" or "cuda[:k]".
    evaluate_weights:  which network is exported/evaluated: "target" (EMA teacher) or "online".
    """

    preset: str = "paper"
    data: str = "still"
    split: str = "train"
    T: int = 300
    batch_size: int = 12
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
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if isinstance(self.loss, dict):
            self.loss = LossConfig(**self.loss)
        self.validate()

    def validate(self) -> None:
        if self.T < MIN_T:
            raise ValueError(f"T={self.T} differences is too short: the TS blocks (kernels 9, 7, 5) "
                             f"and the cardiac-band losses need T >= {MIN_T} (at 30 fps)")
        for name in ("batch_size", "epochs", "windows_per_video"):
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
        if self.amp not in ("auto", "on", "off"):
            raise ValueError(f"amp must be 'auto', 'on' or 'off', got {self.amp!r}")
        if self.evaluate_weights not in ("target", "online"):
            raise ValueError(f"evaluate_weights must be 'target' or 'online', got {self.evaluate_weights!r}")

    # ------------------------------------------------------------------ presets / io

    @classmethod
    def preset_config(cls, name: str, **overrides: Any) -> "TrainConfig":
        """A named preset ("paper", "cpu", "smoke") with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown training preset {name!r}; choose from {sorted(PRESETS)}")
        values = {**PRESETS[name], "preset": name, **overrides}
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


PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(T=300, batch_size=12, epochs=30, windows_per_video=1, amp="auto"),
    "cpu": dict(T=160, batch_size=2, epochs=8, windows_per_video=2, max_steps=120, amp="off",
                device="cpu"),
    "smoke": dict(T=32, batch_size=2, epochs=2, windows_per_video=1, max_steps=2, amp="off",
                  device="cpu"),
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """Shorthand for ``TrainConfig.preset_config(name, **overrides)``."""
    return TrainConfig.preset_config(name, **overrides)
