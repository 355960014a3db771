"""Tiny, seeded toy clips for tests and benchmarks (no physics, no synthetic generator).

The synthetic generator (:mod:`sspd.data.synthetic`) renders realistic face videos; the
functions here draw the simplest pictures that still exercise a code path, in milliseconds:

- :func:`pulse_wave`: a unitless pulse, fundamental plus an optional second harmonic;
- :func:`skin_patch_clip`: a skin-coloured ellipse on grey whose colour follows the pulse
  along the blood-volume signature, for the classic rPPG methods;
- :func:`drawn_face`: a cartoon face that OpenCV's frontal Haar cascade detects, for the
  face detector and the cropping code.

Frames are uint8 BGR, (N, H, W, 3), as every reader returns them.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

__all__ = ["SKIN_RGB", "P_BV", "pulse_wave", "skin_patch_clip", "drawn_face"]

SKIN_RGB = np.array([0.7682, 0.5121, 0.3841])  # standardised skin tone (de Haan & Jeanne 2013)
P_BV = np.array([0.33, 0.77, 0.53])  # blood-volume signature, RGB (de Haan & van Leest 2014)


def pulse_wave(t, hr_bpm: float, harmonic: float = 0.0, phase2: float = 0.0) -> np.ndarray:
    """sin(2 pi f t) + harmonic * sin(4 pi f t + phase2) with f = hr_bpm / 60 Hz; unitless.

    t:        times in seconds (any shape).
    hr_bpm:   heart rate in beats per minute (> 0).
    harmonic: amplitude of the second harmonic relative to the fundamental.
    phase2:   phase of the second harmonic in radians.
    Returns float64 of the shape of ``t``.
    """
    if not hr_bpm > 0:
        raise ValueError(f"hr_bpm must be positive, got {hr_bpm}")
    t = np.asarray(t, dtype=np.float64)
    f = hr_bpm / 60.0
    return np.sin(2 * np.pi * f * t) + harmonic * np.sin(4 * np.pi * f * t + phase2)


def skin_patch_clip(hr_bpm: float = 72.0, duration_s: float = 11.0, fs: float = 30.0,
                    size: int = 48, amp_g: float = 0.005, harmonic: float = 0.3,
                    phase2: float = -0.8, gain: Callable | None = None, noise_dn: float = 1.0,
                    seed: int = 0, chunk: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A pulsing skin patch: (frames_bgr uint8 (N, size, size, 3), bvp float64 (N,)).

    N = round(duration_s * fs) frames at ``fs`` Hz. ``bvp`` is :func:`pulse_wave` at ``hr_bpm``
    with the given second harmonic, scaled to a peak magnitude of 1 (rises with blood volume).
    Skin pixels (an ellipse, 0.84 x 0.64 of the frame) are, in 8-bit levels (DN),
    200 * SKIN_RGB * (1 - amp_g * bvp * P_BV / P_BV[G]) * gain(t): ``amp_g`` is the relative
    pulse amplitude in green (0.5 %). The background is grey (110 DN, not skin) under the same
    gain. ``gain`` maps the (N,) times in s to an (N,) multiplicative global illumination gain
    (None: 1). Gaussian noise of ``noise_dn`` DN is added before rounding to uint8. The frames
    are built ``chunk`` at a time (memory only: the result does not depend on it).
    """
    if duration_s <= 0 or fs <= 0 or size < 4 or noise_dn < 0 or chunk < 1:
        raise ValueError(f"need duration_s > 0, fs > 0, size >= 4, noise_dn >= 0 and chunk >= 1; "
                         f"got {duration_s}, {fs}, {size}, {noise_dn}, {chunk}")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    bvp = pulse_wave(t, hr_bpm, harmonic, phase2)
    bvp /= np.abs(bvp).max()
    skin = 200.0 * SKIN_RGB[None, :] * (1.0 - amp_g * bvp[:, None] * P_BV[None, :] / P_BV[1])
    g = np.ones(n) if gain is None else np.asarray(gain(t), dtype=np.float64)
    if g.shape != (n,):
        raise ValueError(f"gain(t) must return shape ({n},), got {g.shape}")
    yy, xx = np.mgrid[:size, :size]
    face = ((yy - size / 2) / (0.42 * size)) ** 2 + ((xx - size / 2) / (0.32 * size)) ** 2 <= 1.0
    out = np.empty((n, size, size, 3), np.uint8)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        f = np.full((e - s, size, size, 3), 110.0, dtype=np.float32)  # grey background
        f[:, face, :] = skin[s:e, None, :].astype(np.float32)
        f *= g[s:e, None, None, None].astype(np.float32)
        f += rng.normal(0.0, noise_dn, f.shape).astype(np.float32)
        out[s:e] = np.clip(np.round(f), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[..., ::-1]), bvp  # RGB -> BGR


def drawn_face(h: int = 240, w: int = 320, dx: int = 0, dy: int = 0, level: int = 0,
               scale: float = 1.0) -> np.ndarray:
    """A frontal cartoon face on a dark grey (60 DN) image, uint8 BGR (h, w, 3).

    An ellipse of semi-axes 60 x 80 px (times ``scale``) centred ``dx``, ``dy`` px off the image
    centre, with eyes, brows, a nose and a mouth: OpenCV's frontal Haar cascade detects it at
    scale 1 in 320 x 240 and at scale 1.5 in 640 x 480. ``level`` (DN) is added to the skin's
    green, to make frames that differ without moving. Lengths are rounded half to even.
    """
    if h < 1 or w < 1 or scale <= 0:
        raise ValueError(f"need h, w >= 1 and scale > 0, got {h}, {w}, {scale}")

    def px(v):
        return int(round(v * scale))

    img = np.full((h, w, 3), 60, np.uint8)
    cx, cy = w // 2 + dx, h // 2 + dy
    cv2.ellipse(img, (cx, cy), (px(60), px(80)), 0, 0, 360, (150, 170 + level, 200), -1)
    for ex in (cx - px(25), cx + px(25)):
        cv2.ellipse(img, (ex, cy - px(15)), (px(12), px(6)), 0, 0, 360, (30, 30, 30), -1)
        cv2.line(img, (ex - px(15), cy - px(32)), (ex + px(15), cy - px(32)), (40, 40, 60), px(4))
    cv2.line(img, (cx, cy - px(10)), (cx, cy + px(20)), (110, 120, 150), px(3))
    cv2.ellipse(img, (cx, cy + px(40)), (px(22), px(7)), 0, 0, 360, (60, 60, 120), -1)
    return img
