"""Illumination: directional lights, global gain E(t), mains flicker, screen light, shadows.

Directions are unit vectors in camera coordinates (x right, y up, z towards the camera).
E(t) = E0·(1 + d(t) + f(t) + Σ steps) is white (it multiplies every channel by the same factor,
along u_c); the screen light has its own colour e_s and is added as a separate diffuse term.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from .appearance import cct_to_rgb


def light_direction(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """Unit vector towards a light at ``elevation`` above and ``azimuth`` to the image right of the camera axis."""
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    return np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])


def flicker_alias_hz(mains_hz: float, fps: float) -> float:
    """Frequency (Hz) at which 2·mains flicker appears when sampled at ``fps``: min_m |2 f_mains − m·fps|."""
    f = 2.0 * mains_hz
    m = np.round(f / fps)
    return float(abs(f - m * fps))


def band_limited(t: np.ndarray, f_lo: float, f_hi: float, rng: np.random.Generator, fs: float = 50.0) -> np.ndarray:
    """Unit-std band-limited Gaussian noise in [f_lo, f_hi] Hz evaluated at times ``t`` (s).

    Filtered white noise on an ``fs``-Hz grid padded by 10 s each side (zero-phase 2nd-order Butterworth).
    """
    grid = np.arange(t[0] - 10.0, t[-1] + 10.0, 1.0 / fs)
    x = rng.standard_normal(len(grid))
    sos = signal.butter(2, [f_lo, f_hi], "bandpass", fs=fs, output="sos")
    y = signal.sosfiltfilt(sos, x)
    return np.interp(t, grid, y / (y.std() + 1e-12))


@dataclass
class Lighting:
    """Per-clip lights and time courses (all arrays per frame).

    dirs : (J, 3) directional light unit vectors; strengths : (J,); ambient : a_amb.
    e : (3,) illuminant RGB (G = 1), also the specular colour u_s.
    gain : (N,) E(t)/E0 (white); screen : (N,) screen-light strength s(t) in units of E0;
    e_screen : (3,) screen colour; l_screen : (3,) screen direction;
    flicker_rows : None or (N, 2) [amplitude, phase-per-row] for rolling-shutter banding.
    shadow : None or dict(t0, duration, depth, width, x0, x1) in normalised image coords.
    """

    dirs: np.ndarray
    strengths: np.ndarray
    ambient: float
    e: np.ndarray
    E0: float
    gain: np.ndarray
    screen: np.ndarray
    e_screen: np.ndarray
    l_screen: np.ndarray
    shininess: float
    shadow: dict | None
    params: dict


def make_lighting(t: np.ndarray, rng: np.random.Generator, *, n_lights: tuple[int, int] = (1, 2),
                  cct_k: tuple[float, float] = (3500, 4500), ambient: tuple[float, float] = (0.3, 0.5),
                  E0: tuple[float, float] = (0.8, 1.0), drift: tuple[float, float] = (0.0, 0.02),
                  flicker: tuple[float, float] = (0.0, 0.01), mains_hz: tuple[float, ...] = (50.0, 60.0),
                  screen_amp: tuple[float, float] = (0.0, 0.0), screen_dc: float = 0.15,
                  step_prob: float = 0.0, step_amp: tuple[float, float] = (0.2, 0.6),
                  shadow_prob: float = 0.0, side_light: bool = False,
                  shininess: tuple[float, float] = (5, 40)) -> Lighting:
    """Draw a clip's lighting (book/synthetic_design.md §7).

    Ranges are (lo, hi) drawn uniformly; ``t`` are frame times (s).

    screen_amp : fluctuation std of the screen light as a fraction of E0 (0.1–1 % realistic), band 0.1–3 Hz.
    screen_dc : mean screen irradiance as a fraction of E0 (carries its own colour into the DC skin tone).
    side_light : put the main light 40–70° to one side (PURE-like window light).
    """
    t = np.asarray(t, dtype=np.float64)
    J = int(rng.integers(n_lights[0], n_lights[1] + 1))
    el = rng.uniform(10, 60, J)
    az = rng.uniform(-60, 60, J)
    if side_light:
        az[0] = rng.choice([-1, 1]) * rng.uniform(40, 70)
    dirs = np.stack([light_direction(a, b) for a, b in zip(el, az)])
    strengths = rng.uniform(0.4, 1.0, J)
    strengths[0] = 1.0
    cct = rng.uniform(*cct_k)
    e = cct_to_rgb(cct)
    e0 = rng.uniform(*E0)

    d_amp = rng.uniform(*drift)
    f_lo = 0.005
    d = d_amp * band_limited(t, f_lo, 0.05, rng, fs=5.0) if d_amp > 0 else np.zeros_like(t)
    mains = float(rng.choice(mains_hz))
    f_amp = rng.uniform(*flicker)
    f = f_amp * np.sin(2 * np.pi * 2 * mains * t + rng.uniform(0, 2 * np.pi))  # sampling aliases it
    steps = np.zeros_like(t)
    step = None
    if rng.random() < step_prob and len(t) > 2:
        ts = rng.uniform(t[0] + 0.2 * (t[-1] - t[0]), t[-1] - 0.2 * (t[-1] - t[0]))
        a = rng.uniform(*step_amp) * rng.choice([-1, 1])
        a = max(a, -0.6)
        ramp = rng.uniform(0.05, 0.2)  # a lamp switching is quick; exposure settling is in the camera
        steps = a * np.clip((t - ts) / ramp, 0, 1)
        step = {"t": ts, "amp": a}
    gain = np.clip(1 + d + f + steps, 0.05, None)

    s_amp = rng.uniform(*screen_amp)
    e_s = cct_to_rgb(rng.uniform(6500, 9500)) * rng.uniform(0.85, 1.15, 3)  # bluish screen, its own colour
    e_s = e_s / e_s[1]
    screen = screen_dc * (s_amp > 0) + s_amp * band_limited(t, 0.1, 3.0, rng) if s_amp > 0 else np.zeros_like(t)
    l_s = light_direction(rng.uniform(-10, 5), rng.uniform(-15, 15))

    shadow = None
    if rng.random() < shadow_prob and t[-1] - t[0] > 1.5:
        dur = rng.uniform(1, 3)
        shadow = {"t0": float(rng.uniform(t[0], max(t[0], t[-1] - dur))), "duration": float(dur),
                  "depth": float(rng.uniform(0.2, 0.6)), "width": float(rng.uniform(0.1, 0.3)),
                  "direction": float(rng.choice([-1, 1]))}
    params = {"n_lights": J, "elevation_deg": el, "azimuth_deg": az, "strengths": strengths, "cct_k": cct,
              "e": e, "E0": e0, "ambient": None, "drift_amp": d_amp, "mains_hz": mains, "flicker_amp": f_amp,
              "step": step, "screen_amp": s_amp, "screen_dc": screen_dc if s_amp > 0 else 0.0, "e_screen": e_s,
              "l_screen": l_s, "shadow": shadow}
    amb = rng.uniform(*ambient)
    params["ambient"] = amb
    alpha = rng.uniform(*shininess)
    params["shininess"] = alpha
    return Lighting(dirs=dirs, strengths=strengths, ambient=amb, e=e, E0=e0, gain=gain.astype(np.float64),
                    screen=np.asarray(screen, np.float64), e_screen=e_s, l_screen=l_s, shininess=alpha,
                    shadow=shadow, params=params)


def shadow_profile(x_norm: np.ndarray, t: float, shadow: dict | None) -> np.ndarray | float:
    """Multiplicative attenuation (≤ 1) of a soft vertical occluder crossing the image at time ``t``.

    ``x_norm`` are image columns normalised to [0, 1]; the occluder crosses from one side to the
    other during [t0, t0 + duration].
    """
    if shadow is None:
        return 1.0
    s = (t - shadow["t0"]) / shadow["duration"]
    if s < 0 or s > 1:
        return 1.0
    centre = -0.3 + 1.6 * s
    if shadow["direction"] < 0:
        centre = 1 - centre
    return 1.0 - shadow["depth"] * np.exp(-0.5 * ((x_norm - centre) / shadow["width"]) ** 2)
