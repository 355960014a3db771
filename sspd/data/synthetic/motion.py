"""Head motion: 6-DoF rigid pose profiles, talking jaw, blinks, breathing and BCG motion.

All profiles are functions of the frame times ``t`` (s), so variable frame rates work.
Rotations are in degrees (yaw: turn to the image right is +; pitch: nod down is +; roll),
translations ``tx``, ``ty`` in fractions of the face height (image right / down positive),
``scale`` a multiplier of the head size. Magnitudes follow book/synthetic_design.md §6 (PURE
numbers as commonly quoted from Stricker et al. 2014; verify).
"""
from __future__ import annotations

import numpy as np

from .physiology import narrowband, ou_process

PROFILES = ("still", "talking", "slow_translation", "fast_translation", "small_rotation",
            "medium_rotation", "large")


def _ou_on(t: np.ndarray, tau: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """OU process evaluated at times t (s) via a 20-Hz grid."""
    dt = 0.05
    n = int(np.ceil((t[-1] - t[0]) / dt)) + 2
    grid = t[0] + dt * np.arange(n)
    return np.interp(t, grid, ou_process(n, dt, tau, sigma, rng))


def _smooth_steps(t: np.ndarray, times, sizes, durations) -> np.ndarray:
    """Sum of raised-cosine steps (posture shifts) starting at ``times`` with given sizes/durations."""
    out = np.zeros_like(t)
    for t0, a, d in zip(times, sizes, durations):
        s = np.clip((t - t0) / d, 0, 1)
        out += a * (0.5 - 0.5 * np.cos(np.pi * s))
    return out


def _triangle(t: np.ndarray, amp: float, speed: float, phase: float) -> np.ndarray:
    """Piecewise-linear back-and-forth between ±amp at ``speed`` units/s."""
    period = 4 * amp / speed
    x = ((t / period + phase) % 1.0) * 4  # 0..4
    return amp * np.where(x < 1, x, np.where(x < 3, 2 - x, x - 4))


def _random_targets(t: np.ndarray, limit: float, peak_speed: float, rng: np.random.Generator) -> np.ndarray:
    """Moves between random targets in [−limit, limit] with cosine velocity profiles (peak ``peak_speed``/s)."""
    out = np.zeros_like(t)
    cur, tc = 0.0, t[0] - rng.uniform(0, 1.0)
    knots_t, knots_v = [tc], [cur]
    while tc < t[-1]:
        tgt = rng.uniform(-limit, limit)
        dur = max(np.pi / 2 * abs(tgt - cur) / peak_speed, 0.15)
        hold = rng.uniform(0.3, 1.5)
        knots_t += [tc + dur, tc + dur + hold]
        knots_v += [tgt, tgt]
        cur, tc = tgt, tc + dur + hold
    kt, kv = np.asarray(knots_t), np.asarray(knots_v)
    k = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 2)
    s = np.clip((t - kt[k]) / np.maximum(kt[k + 1] - kt[k], 1e-9), 0, 1)
    out = kv[k] + (kv[k + 1] - kv[k]) * (0.5 - 0.5 * np.cos(np.pi * s))
    return out


def pose_profile(t: np.ndarray, profile: str, rng: np.random.Generator, amplitude: float = 1.0) -> dict:
    """Rigid pose per frame for a named profile (:data:`PROFILES`); ``amplitude`` scales all motion.

    Every profile includes the "still" micro-motion (OU rotation σ 0.5–1.5°, τ 2–5 s; OU translation
    σ 0.5–1 %, plus 1–2 posture shifts per minute of 2–5 % over 0.3–0.8 s).
    Returns {"yaw", "pitch", "roll", "tx", "ty", "scale"}, each (N,) float64.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown motion profile {profile!r}; choose from {PROFILES}")
    t = np.asarray(t, dtype=np.float64)
    dur = max(t[-1] - t[0], 1e-3)
    pose = {}
    for k in ("yaw", "pitch", "roll"):
        pose[k] = _ou_on(t, rng.uniform(2, 5), rng.uniform(0.5, 1.5), rng)
    for k in ("tx", "ty"):
        pose[k] = _ou_on(t, rng.uniform(2, 5), rng.uniform(0.005, 0.01), rng)
    n_shift = rng.poisson(rng.uniform(1, 2) * dur / 60.0)
    for k in ("tx", "ty"):
        pose[k] += _smooth_steps(t, rng.uniform(t[0], t[-1], n_shift),
                                 rng.uniform(0.02, 0.05, n_shift) * rng.choice([-1, 1], n_shift),
                                 rng.uniform(0.3, 0.8, n_shift))
    pose["scale"] = 1.0 + _ou_on(t, 5.0, 0.005, rng)

    if profile == "talking":  # in-band nods 0.5–2 Hz, ±2–6°
        pose["pitch"] += rng.uniform(2, 6) / 2 * narrowband(t, 0.5, 2.0, rng)
        pose["yaw"] += rng.uniform(1, 3) / 2 * narrowband(t, 0.3, 1.5, rng)
        pose["ty"] += rng.uniform(0.01, 0.02) / 2 * narrowband(t, 0.5, 2.0, rng)
    elif profile in ("slow_translation", "fast_translation"):
        speed = 0.07 if profile == "slow_translation" else 0.14  # face heights per second
        amp = 0.15 if profile == "slow_translation" else 0.25
        pose["tx"] += _triangle(t, amp, speed, rng.uniform())
        pose["ty"] += _triangle(t, amp * 0.3, speed * 0.3, rng.uniform())
    elif profile in ("small_rotation", "medium_rotation"):
        yaw_amp = 20.0 if profile == "small_rotation" else 35.0
        f = rng.uniform(0.1, 0.3)
        pose["yaw"] += yaw_amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        pose["pitch"] += rng.uniform(5, 10) * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.3))
    elif profile == "large":  # random targets up to ±30°, peak 30–60°/s, translation ±10 %
        pose["yaw"] += _random_targets(t, 30.0, rng.uniform(30, 60), rng)
        pose["pitch"] += _random_targets(t, 15.0, rng.uniform(20, 40), rng)
        pose["roll"] += _random_targets(t, 10.0, rng.uniform(10, 30), rng)
        pose["tx"] += _random_targets(t, 0.10, 0.2, rng)
        pose["ty"] += _random_targets(t, 0.05, 0.1, rng)
    for k in ("yaw", "pitch", "roll", "tx", "ty"):
        pose[k] = pose[k] * amplitude
    return pose


def talking_jaw(t: np.ndarray, rng: np.random.Generator, amplitude: float = 0.08) -> np.ndarray:
    """Jaw opening (texture v units, ≥ 0) for speech: syllables 3–6 Hz under a 0.5–2 Hz envelope."""
    syl = 0.5 + 0.5 * np.sin(2 * np.pi * np.cumsum(np.r_[0, np.diff(t)] * rng.uniform(3, 6)
                                                   * (1 + 0.2 * narrowband(t, 0.2, 0.8, rng))) + rng.uniform(0, 6.3))
    env = np.clip(0.6 + 0.5 * narrowband(t, 0.5, 2.0, rng), 0, 1)
    return amplitude * syl * env


def blinks(t: np.ndarray, rng: np.random.Generator, rate_per_min: float = 15.0) -> np.ndarray:
    """Eyelid closure in [0, 1] per frame: Poisson blinks at ``rate_per_min``, 100–400 ms each."""
    out = np.zeros_like(np.asarray(t, dtype=np.float64))
    n = rng.poisson(rate_per_min * max(t[-1] - t[0], 0) / 60.0 + 1e-9)
    for t0 in rng.uniform(t[0], t[-1], n):
        d = rng.uniform(0.1, 0.4)
        s = np.clip((t - t0) / d, 0, 1)
        out = np.maximum(out, np.sin(np.pi * s) ** 0.7 * (s > 0) * (s < 1))
    return out
