"""Shared toy signals and clips for the tests.

pytest loads this file before the test modules and puts ``tests/`` on ``sys.path``, so a test
imports the factories with ``from conftest import ...``. Everything is seeded: the same call
gives the same array.

Where the shared helpers live:

- here: in-memory toy arrays that only tests use (plain factory functions);
- ``fixtures.py``: files in the real datasets' on-disk layouts (UBFC, PURE, VIPL-HR);
- :mod:`sspd.data.toy`: toy clips the benchmarks need too (``skin_patch_clip``,
  ``drawn_face``, ``pulse_wave``); benchmarks cannot import from ``tests/``.
"""
from __future__ import annotations

import numpy as np

from sspd.data.toy import pulse_wave


def pulse_signal(hr_bpm: float, fs: float, seconds: float = 30.0, harmonic: float = 0.5,
                 phase2: float = 1.0, noise: float = 0.2, seed: int = 0) -> np.ndarray:
    """A pulse-like 1-D signal sampled at ``fs`` Hz for ``seconds`` s, unitless.

    :func:`sspd.data.toy.pulse_wave` (fundamental at ``hr_bpm`` + ``harmonic`` * 2nd harmonic at
    phase ``phase2`` rad) plus ``noise`` * standard-normal white noise (seeded).
    """
    t = np.arange(int(round(seconds * fs))) / fs
    rng = np.random.default_rng(seed)
    return pulse_wave(t, hr_bpm, harmonic, phase2) + noise * rng.standard_normal(len(t))


def random_frames(shape, seed: int = 0) -> np.ndarray:
    """Uniform random uint8 frames of ``shape`` (e.g. (N, H, W, 3)): texture with no pulse."""
    return np.random.default_rng(seed).integers(0, 256, size=tuple(shape), dtype=np.uint8)


def noisy_pulse_frames(n: int = 121, size: int = 128, fs: float = 30.0, hr_hz: float = 1.3,
                       amp: float = 3.0, noise: float = 2.0, base=(60, 200),
                       seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 frames: a random still picture whose every pixel brightens by
    ``amp`` * sin(2 pi hr_hz t) DN (t = k / fs s), plus Gaussian noise of ``noise`` DN.

    The picture is uniform random in [base[0], base[1]) DN per pixel and channel; it is drawn
    before the noise from one generator seeded with ``seed``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    picture = rng.integers(base[0], base[1], (size, size, 3)).astype(np.float32)
    pulse = amp * np.sin(2 * np.pi * hr_hz * t)
    f = picture[None] + pulse[:, None, None, None] + rng.normal(0, noise, (n, size, size, 3))
    return np.clip(f, 0, 255).astype(np.uint8)
