"""Physiology: heart-rate trajectory, beat times with HRV, beat morphology, respiration.

Everything is a pure function of its arguments and a ``numpy.random.Generator``;
times are in seconds, rates in bpm or breaths/min, sampling rates in Hz.

Design (book/synthetic_design.md §4):
- HR0(t): constant + ramp + Ornstein–Uhlenbeck wander ("game"/"rest"), or an
  exponential post-exercise decay ("exercise").
- Beat times t_{n+1} = t_n + IBI_n with
  IBI_n = 60/HR0(t_n) · (1 − a_RSA·2r(t_n) + a_LF·m_LF(t_n) + σ_J·ε_n),
  r = respiration (peak-to-peak 1, inhale up), m_LF = unit-std Mayer-wave (≈0.1 Hz).
- Beat shape: two Gaussians in phase θ (Tang et al. 2020) with the systolic
  upstroke in absolute time (the first ``t_sys`` seconds of the 60-bpm template
  are not stretched; only diastole stretches to the IBI), then a 2nd-order
  zero-phase low-pass (skin microvasculature) and respiratory AM/baseline wander.
The returned pulse ``p`` is blood volume (up = more blood), zero-mean, unit
peak-to-peak (1st–99th percentile); pixels are modulated by −p.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

#: Tang et al. (Sci. Rep. 2020) "excellent" two-Gaussian template: a1, θ1, b1, a2, θ2, b2.
TEMPLATE_EXCELLENT = (1.0, -1.5161, 0.6303, 0.1999, 0.8186, 1.0225)


@dataclass
class Physiology:
    """Ground-truth physiological signals of one clip.

    t_hi : (M,) seconds, hi-rate time axis from 0 (the clip's first frame).
    bvp_hi : (M,) pulse at ``fs_hi`` Hz, zero-mean, unit peak-to-peak, up = more blood.
    dbvp_hi : (M,) time derivative of ``bvp_hi`` (1/s), for sub-frame region delays.
    resp_hi : (M,) respiration, peak-to-peak ≈ 1, up = inhaled.
    beat_times : (B,) beat onsets in seconds (may start before 0 and end after the clip).
    hr0_hi : (M,) the underlying HR trajectory HR0(t) in bpm.
    resp_rate : breaths per minute (mean over the clip).
    """

    fs_hi: float
    t_hi: np.ndarray
    bvp_hi: np.ndarray
    dbvp_hi: np.ndarray
    resp_hi: np.ndarray
    beat_times: np.ndarray
    hr0_hi: np.ndarray
    resp_rate: float

    def at(self, t: np.ndarray, name: str) -> np.ndarray:
        """Linear interpolation of a hi-rate track ``name`` at times ``t`` (s)."""
        return np.interp(np.asarray(t, dtype=np.float64), self.t_hi, getattr(self, name))

    def instantaneous_hr(self, t: np.ndarray) -> np.ndarray:
        """HR (bpm) at times ``t``: 60 / the inter-beat interval containing each time."""
        bt = self.beat_times
        idx = np.clip(np.searchsorted(bt, t, side="right") - 1, 0, len(bt) - 2)
        return 60.0 / (bt[idx + 1] - bt[idx])

    def mean_hr(self, t0: float, t1: float) -> float:
        """Mean of 60/IBI over the beat intervals lying inside [t0, t1] (bpm)."""
        bt = self.beat_times
        inside = bt[(bt >= t0) & (bt <= t1)]
        if len(inside) < 2:  # clip shorter than one beat: fall back to the covering interval
            return float(np.mean(self.instantaneous_hr(np.array([0.5 * (t0 + t1)]))))
        return float(np.mean(60.0 / np.diff(inside)))


def ou_process(n: int, dt: float, tau: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Ornstein–Uhlenbeck path (n samples, step ``dt`` s, time constant ``tau`` s, std ``sigma``).

    Exact discretisation, so the statistics do not depend on ``dt``.
    """
    if n <= 0 or dt <= 0 or tau <= 0:
        raise ValueError(f"ou_process needs n>0, dt>0, tau>0 (got {n}, {dt}, {tau})")
    a = np.exp(-dt / tau)
    eps = rng.standard_normal(n) * sigma * np.sqrt(1 - a * a)
    x = np.empty(n)
    x[0] = rng.standard_normal() * sigma
    for i in range(1, n):  # n is small (coarse grid), a Python loop is fine
        x[i] = a * x[i - 1] + eps[i]
    return x


def narrowband(t: np.ndarray, f_lo: float, f_hi: float, rng: np.random.Generator, n_tones: int = 4) -> np.ndarray:
    """Unit-std narrow-band noise on times ``t`` (s): a sum of random tones in [f_lo, f_hi] Hz.

    A sum of tones (not filtered white noise) works for clips of any length and any sampling.
    """
    f = rng.uniform(f_lo, f_hi, n_tones)
    ph = rng.uniform(0, 2 * np.pi, n_tones)
    amp = rng.uniform(0.5, 1.0, n_tones)
    x = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * t[None, :] + ph[:, None])).sum(0)
    return x / np.sqrt(0.5 * np.sum(amp ** 2))


def hr_trajectory(t: np.ndarray, kind: str, hr_base: float, rng: np.random.Generator, *,
                  ramp_bpm_per_min: float = 0.0, ou_sigma: float = 2.0, ou_tau: float = 20.0,
                  hr_peak: float = 140.0, decay_tau: float = 60.0,
                  hr_limits: tuple[float, float] = (45.0, 150.0)) -> np.ndarray:
    """HR0(t) in bpm on times ``t`` (s).

    kind "game"/"rest": hr_base + ramp·t/60 + OU(σ=ou_sigma bpm, τ=ou_tau s);
    kind "exercise": hr_base + (hr_peak − hr_base)·exp(−t/decay_tau) + OU.
    The trajectory is clipped to ``hr_limits``.
    """
    dt = 0.1
    n = int(np.ceil((t[-1] - t[0]) / dt)) + 2
    grid = t[0] + dt * np.arange(n)
    wander = ou_process(n, dt, ou_tau, ou_sigma, rng)
    if kind in ("game", "rest"):
        hr = hr_base + ramp_bpm_per_min * (grid - max(grid[0], 0.0)) / 60.0 + wander
    elif kind == "exercise":
        hr = hr_base + (hr_peak - hr_base) * np.exp(-np.maximum(grid, 0.0) / decay_tau) + wander
    else:
        raise ValueError(f"unknown HR trajectory kind {kind!r}")
    return np.clip(np.interp(t, grid, hr), *hr_limits)


def respiration(t: np.ndarray, rate_bpm: float, rng: np.random.Generator, *, jitter: float = 0.1,
                inhale_fraction: float = 0.4) -> tuple[np.ndarray, float]:
    """Respiration r(t) (peak-to-peak 1, zero-mean-ish, up = inhaled) on times ``t`` (s).

    Breath by breath: cycle length 60/rate · (1 + jitter·ε); a half-cosine rise over the
    inhale fraction (inhale:exhale ≈ 1:1.5) and a half-cosine fall over the rest.
    Returns (r, mean rate in breaths/min over the generated cycles).
    """
    if not 3 <= rate_bpm <= 60:
        raise ValueError(f"respiration rate {rate_bpm} breaths/min is implausible")
    start = t[0] - rng.uniform(0, 60.0 / rate_bpm)
    onsets = [start]
    while onsets[-1] < t[-1]:
        onsets.append(onsets[-1] + 60.0 / rate_bpm * max(0.5, 1 + jitter * rng.standard_normal()))
    onsets = np.asarray(onsets)
    k = np.clip(np.searchsorted(onsets, t, side="right") - 1, 0, len(onsets) - 2)
    phase = (t - onsets[k]) / (onsets[k + 1] - onsets[k])  # 0..1 within the breath
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip(phase / inhale_fraction, 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((phase - inhale_fraction) / (1 - inhale_fraction), 0, 1))
    r = np.where(phase < inhale_fraction, rise, fall) - 0.5
    return r, float(60.0 / np.mean(np.diff(onsets)))


def beat_times(t_start: float, t_end: float, hr0: callable, resp: callable, rng: np.random.Generator, *,
               a_rsa: float = 0.03, a_lf: float = 0.015, sigma_j: float = 0.01,
               hr_support: tuple[float, float] = (40.0, 160.0)) -> np.ndarray:
    """Beat onset times (s) from ``t_start`` until past ``t_end`` (parametric IBI model, §4).

    hr0(t) -> bpm and resp(t) -> r (peak-to-peak 1) are callables on scalar/array times.
    RSA shortens beats during inhalation; Mayer waves via unit-std narrow-band noise at 0.08–0.12 Hz.
    Every IBI is kept inside ``hr_support`` (bpm).
    """
    lf_f = rng.uniform(0.08, 0.12, 3)
    lf_ph = rng.uniform(0, 2 * np.pi, 3)

    def m_lf(x):
        return np.sin(2 * np.pi * lf_f * x + lf_ph).sum() / np.sqrt(1.5)

    t = t_start
    out = [t]
    while t < t_end:
        ibi = 60.0 / float(hr0(t)) * (1 - a_rsa * 2 * float(resp(t)) + a_lf * m_lf(t)
                                      + sigma_j * rng.standard_normal())
        ibi = float(np.clip(ibi, 60.0 / hr_support[1], 60.0 / hr_support[0]))
        t += ibi
        out.append(t)
    return np.asarray(out)


def sample_morphology(rng: np.random.Generator) -> tuple[float, ...]:
    """Per-subject two-Gaussian beat parameters (a1, θ1, b1, a2, θ2, b2) inside the §4 ranges."""
    theta1 = rng.uniform(-1.7, -1.3)
    return (1.0, theta1, rng.uniform(0.45, 0.8), rng.uniform(0.1, 0.6),
            theta1 + rng.uniform(1.8, 2.8), rng.uniform(0.7, 1.3))


def beat_waveform(t: np.ndarray, beats: np.ndarray, morph: tuple[float, ...], rng: np.random.Generator, *,
                  t_sys: float = 0.3, amp_jitter: float = 0.03) -> np.ndarray:
    """Blood-volume waveform (arbitrary units, up = more blood) on times ``t`` from beat onsets.

    The template is defined at 60 bpm (1-s beat, θ = 2π·τ − π). Its first ``t_sys`` seconds
    (the systolic upstroke) keep absolute duration (shortened only at very high HR), the rest
    stretches to the IBI. A linear baseline per beat removes the step between beats.
    """
    a1, th1, b1, a2, th2, b2 = morph

    def b(theta):
        return (a1 * np.exp(-(theta - th1) ** 2 / (2 * b1 ** 2))
                + a2 * np.exp(-(theta - th2) ** 2 / (2 * b2 ** 2)))

    b_start, b_end = b(-np.pi), b(np.pi)
    k = np.clip(np.searchsorted(beats, t, side="right") - 1, 0, len(beats) - 2)
    ibi = beats[k + 1] - beats[k]
    tau = t - beats[k]  # seconds since beat onset
    ts = np.minimum(t_sys, 0.55 * ibi)  # systole duration in this beat (s)
    # template time (s at 60 bpm): [0, ts] -> [0, t_sys] linearly, [ts, ibi] -> [t_sys, 1]
    tt = np.where(tau < ts, tau / ts * t_sys, t_sys + (tau - ts) / (ibi - ts) * (1 - t_sys))
    theta = 2 * np.pi * np.clip(tt, 0, 1) - np.pi
    shape = b(theta) - (b_start + (b_end - b_start) * (theta + np.pi) / (2 * np.pi))
    gains = 1 + amp_jitter * rng.standard_normal(len(beats))
    return shape * gains[k]


def simulate(duration_s: float, fs_hi: float, rng: np.random.Generator, *, hr_kind: str, hr_base: float,
             ramp_bpm_per_min: float = 0.0, ou_sigma: float = 2.0, hr_peak: float = 140.0,
             decay_tau: float = 60.0, hr_limits: tuple[float, float] = (45.0, 150.0),
             resp_rate: float = 15.0, a_rsa: float = 0.03, a_lf: float = 0.015, sigma_j: float = 0.01,
             morph: tuple[float, ...] = TEMPLATE_EXCELLENT, t_sys: float = 0.3, lowpass_hz: float = 5.0,
             m_am: float = 0.1, m_bw: float = 0.15, pad_s: float = 3.0) -> Physiology:
    """Simulate one clip's physiology over [0, duration_s] seconds at ``fs_hi`` Hz.

    Signals are generated over [−pad_s, duration_s + pad_s] so that filtering and the first
    beat have no edge effects, then cut to the clip. Returns a :class:`Physiology`.
    """
    if duration_s <= 0 or fs_hi <= 0:
        raise ValueError(f"duration_s and fs_hi must be positive (got {duration_s}, {fs_hi})")
    if fs_hi < 4 * lowpass_hz:
        raise ValueError(f"fs_hi={fs_hi} Hz is too low for a {lowpass_hz}-Hz pulse low-pass")
    t_pad = np.arange(-pad_s, duration_s + pad_s, 1.0 / fs_hi)
    hr0 = hr_trajectory(t_pad, hr_kind, hr_base, rng, ramp_bpm_per_min=ramp_bpm_per_min, ou_sigma=ou_sigma,
                        hr_peak=hr_peak, decay_tau=decay_tau, hr_limits=hr_limits)
    resp, rr = respiration(t_pad, resp_rate, rng)
    beats = beat_times(t_pad[0] + rng.uniform(0, 60.0 / hr0[0]) - 60.0 / hr0[0], t_pad[-1] + 1.0,
                       lambda x: np.interp(x, t_pad, hr0), lambda x: np.interp(x, t_pad, resp), rng,
                       a_rsa=a_rsa, a_lf=a_lf, sigma_j=sigma_j)
    bvp = beat_waveform(t_pad, beats, morph, rng, t_sys=t_sys)
    sos = signal.butter(2, lowpass_hz, "low", fs=fs_hi, output="sos")
    bvp = signal.sosfiltfilt(sos, bvp)  # zero-phase: the label stays synchronous with the skin
    bvp = bvp / (np.percentile(bvp, 99) - np.percentile(bvp, 1))
    bvp = (1 + m_am * resp) * bvp + m_bw * resp  # respiratory AM and baseline wander
    keep = (t_pad >= -1e-9) & (t_pad <= duration_s + 1.0 / fs_hi)
    t = t_pad[keep] - t_pad[keep][0]
    p = bvp[keep]
    p = (p - p.mean()) / max(np.percentile(p, 99) - np.percentile(p, 1), 1e-9)
    dp = np.gradient(p, 1.0 / fs_hi)
    return Physiology(fs_hi=fs_hi, t_hi=t, bvp_hi=p, dbvp_hi=dp, resp_hi=resp[keep], beat_times=beats - t_pad[keep][0],
                      hr0_hi=hr0[keep], resp_rate=rr)


def hrv_time(beat_times_s: np.ndarray) -> dict:
    """SDNN and RMSSD (ms) and mean HR (bpm) of a beat series, plain numpy."""
    ibi = np.diff(np.asarray(beat_times_s, dtype=np.float64)) * 1000.0
    if len(ibi) < 3:
        raise ValueError("need at least 4 beats for HRV statistics")
    return {"sdnn_ms": float(np.std(ibi, ddof=1)), "rmssd_ms": float(np.sqrt(np.mean(np.diff(ibi) ** 2))),
            "hr_mean_bpm": float(np.mean(60000.0 / ibi))}
