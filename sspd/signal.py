"""Signal processing for pulse signals: filters, spectra, heart-rate estimators, SNR, HRV.

Every function takes the sampling rate ``fs`` (Hz) explicitly; nothing assumes
30 fps (the authors' code hard-codes it, book/method_reference.md §13.5). Frequencies are
in Hz, heart rates in beats per minute (bpm), times in seconds.

Inputs are validated: a signal holding NaN/inf raises :class:`~sspd.errors.DataError`
(a ``ValueError``); a signal too short for the operation raises
:class:`~sspd.errors.ClipTooShortError`.

Estimators
----------
- :func:`periodogram_hr` — peak of a (zero-padded) periodogram inside a band (rPPG-Toolbox, SiNC);
- :func:`welch_hr` — peak of a Welch spectrum (pyVHR);
- :func:`peak_interval_hr` — mean of 60·fs / peak interval with the authors' peak rule;
- :func:`authors_hr` — the authors' test-time estimator: band-pass → CWT ridge filter → peak interval
  (book/method_reference.md §8.2).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.signal
import scipy.sparse
import scipy.sparse.linalg

from sspd.errors import ClipTooShortError, DataError

__all__ = [
    "detrend_smoothness_priors", "bandpass", "bandpass_sos", "filtfilt_min_samples", "periodogram_hr",
    "welch_hr", "peak_interval_hr", "find_peaks_authors", "morlet_cwt", "cwt_ridge_filter", "authors_hr",
    "beat_hr", "snr_db", "hrv_from_pulse", "respiration_rate", "power_spectrum", "sliding_windows",
    "resolve_nfft", "AUTHORS_CWT_FREQS",
]

# The authors' CWT analysis grid (book/method_reference.md §8.2): bins 128 down to 22 of a 1024-point FFT at
# 30 fps, i.e. 3.75 Hz down to 0.6445 Hz in steps of 30/1024 Hz. Stored in Hz so that it means the
# same physiological frequencies at any frame rate.
AUTHORS_CWT_FREQS = np.arange(128, 21, -1) * (30.0 / 1024.0)  # (107,) Hz, descending
MORLET_W0 = 6.0


# --------------------------------------------------------------------------- validation

def _check_fs(fs: float) -> float:
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"sampling rate fs must be a number in Hz, got {fs!r}") from None
    if not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling rate fs must be a positive finite number in Hz, got {fs}")
    return fs


def _check_signal(x, fs: float, min_len: int = 2, what: str = "signal") -> tuple[np.ndarray, float]:
    """Return ``(x as float64 1-D, fs as float)`` or raise a clear error."""
    fs = _check_fs(fs)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        x = np.squeeze(x)
        if x.ndim != 1:
            raise ValueError(f"{what} must be one-dimensional, got shape {np.shape(x)}")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise DataError(None, f"{what} holds {bad} NaN/inf value(s) out of {len(x)}")
    if len(x) < min_len:
        raise ClipTooShortError(None, f"{what} has {len(x)} samples ({len(x) / fs:.2f} s at "
                                      f"{fs:g} Hz); at least {min_len} are needed")
    return x, fs


def _check_band(band, fs: float) -> tuple[float, float]:
    lo, hi = (float(b) for b in band)
    if not (0 < lo < hi):
        raise ValueError(f"band must satisfy 0 < low < high (Hz), got {band}")
    if hi >= fs / 2:
        raise ValueError(f"band upper edge {hi} Hz must be below the Nyquist frequency {fs / 2:g} Hz")
    return lo, hi


# --------------------------------------------------------------------------- filters

def detrend_smoothness_priors(x, fs: float | None = None, lam: float = 100.0) -> np.ndarray:
    """Remove slow trends with the smoothness-priors method (Tarvainen et al., IEEE TBME 2002).

    ``z_stat = (I - (I + lam² D2ᵀ D2)⁻¹) z`` with D2 the second-difference matrix; solved as a
    sparse banded system (O(n)). ``lam`` is dimensionless and acts per *sample*, so its cut-off
    frequency depends on ``fs`` (λ = 100 at 30 fps ≈ 0.03 Hz cut-off, the toolbox default).

    Parameters
    ----------
    x : (n,) signal, any unit.
    fs : sampling rate in Hz (validated; the filter itself is defined per sample).
    lam : regularisation λ (dimensionless).

    Returns
    -------
    (n,) detrended signal, same unit as ``x``.
    """
    x, _ = _check_signal(x, 1.0 if fs is None else fs, min_len=3)
    n = len(x)
    # D2: (n-2, n) second differences [1, -2, 1]
    d2 = scipy.sparse.diags([np.ones(n - 2), -2 * np.ones(n - 2), np.ones(n - 2)], [0, 1, 2],
                            shape=(n - 2, n), format="csc")
    a = scipy.sparse.identity(n, format="csc") + (lam ** 2) * (d2.T @ d2)
    trend = scipy.sparse.linalg.spsolve(a.tocsc(), x)
    return x - trend


def bandpass_sos(fs: float, low: float = 0.5, high: float = 3.0, order: int = 4) -> np.ndarray:
    """Second-order sections of the Butterworth band-pass that :func:`bandpass` runs.

    Designed once and applied with ``scipy.signal.sosfiltfilt`` by code that filters many
    signals (or an (N, C) array along an axis) at one rate. Raises ValueError for a band outside
    (0, fs/2).
    """
    fs = _check_fs(fs)
    lo, hi = _check_band((low, high), fs)
    return scipy.signal.butter(int(order), [lo, hi], btype="bandpass", fs=fs, output="sos")


def filtfilt_min_samples(sos: np.ndarray) -> int:
    """Fewest samples ``scipy.signal.sosfiltfilt(sos, x)`` accepts: its default edge padding + 1."""
    # sosfiltfilt pads 3 x (the number of filter taps) samples at each end
    return 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())) + 1


def bandpass(x, fs: float, low: float = 0.5, high: float = 3.0, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass (second-order sections, forward-backward).

    Parameters
    ----------
    x : (n,) signal.
    fs : sampling rate in Hz.
    low, high : pass-band edges in Hz (−3 dB points of the single-pass filter).
    order : Butterworth order of the single-pass design (the forward-backward result has twice
        the attenuation slope and zero phase).

    Returns
    -------
    (n,) filtered signal.

    Raises ClipTooShortError when ``x`` is shorter than the filter's edge padding.
    """
    sos = bandpass_sos(fs, low, high, order)
    x, fs = _check_signal(x, fs, min_len=filtfilt_min_samples(sos))
    return scipy.signal.sosfiltfilt(sos, x)


# --------------------------------------------------------------------------- spectra

def resolve_nfft(n: int, fs: float, nfft=None, resolution_hz: float | None = None) -> int:
    """The FFT length for ``n`` samples.

    ``nfft`` None → n; "pow2" → next power of two ≥ n (rPPG-Toolbox); an int → that value
    (must be ≥ n). ``resolution_hz`` (a fixed frequency grid, e.g. 1/180 Hz = SiNC's nfft 5400
    at 30 fps) overrides ``nfft``: nfft = max(n, ceil(fs / resolution_hz)).
    """
    if resolution_hz is not None:
        if resolution_hz <= 0:
            raise ValueError(f"resolution_hz must be positive, got {resolution_hz}")
        return max(int(n), int(math.ceil(fs / resolution_hz - 1e-9)))
    if nfft is None:
        return int(n)
    if isinstance(nfft, str):
        if nfft != "pow2":
            raise ValueError(f"nfft must be None, 'pow2' or an int, got {nfft!r}")
        return 1 << int(math.ceil(math.log2(max(n, 1))))
    nfft = int(nfft)
    if nfft < n:
        raise ValueError(f"nfft={nfft} is shorter than the signal ({n} samples)")
    return nfft


def power_spectrum(x, fs: float, nfft=None, window: str | None = "hamming",
                   resolution_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram of a mean-removed signal.

    Returns ``(freqs, psd)``: frequencies in Hz and power spectral density in (unit of x)²/Hz.
    ``nfft``/``resolution_hz`` as in :func:`resolve_nfft`; ``window`` a scipy window name or
    None (rectangular).
    """
    x, fs = _check_signal(x, fs, min_len=4)
    n_fft = resolve_nfft(len(x), fs, nfft, resolution_hz)
    return scipy.signal.periodogram(x, fs=fs, window=window or "boxcar", nfft=n_fft,
                                    detrend="constant", scaling="density")


def _peak_in_band(freqs: np.ndarray, psd: np.ndarray, band, fs: float,
                  subharmonic_ratio: float | None = None) -> float:
    """HR (bpm) at the spectral maximum in ``band``; optionally preferring its subharmonic.

    With ``subharmonic_ratio`` = rho, when the band also holds f_p / 2 (f_p the maximum) and the
    largest power within +-8 % of f_p / 2 is at least rho times the power at f_p, that lower
    peak is returned instead: the maximum was the second harmonic. See :func:`subharmonic_peak`.
    """
    lo, hi = _check_band(band, fs)
    sel = (freqs >= lo) & (freqs <= hi)
    if not sel.any():
        raise ClipTooShortError(None, f"no spectral bin falls in {lo}-{hi} Hz; the window is too "
                                      "short for this frequency grid")
    f_sel, p_sel = freqs[sel], psd[sel]
    f_peak = float(f_sel[np.argmax(p_sel)])
    if subharmonic_ratio is not None:
        f_peak = subharmonic_peak(f_sel, p_sel, f_peak, subharmonic_ratio)
    return f_peak * 60.0


SUBHARMONIC_TOLERANCE = 0.08   # search half-width around f/2, relative (HR varies within a window)


def subharmonic_peak(freqs: np.ndarray, psd: np.ndarray, f_peak: float, ratio: float) -> float:
    """``f_peak``, or the peak near ``f_peak / 2`` when that one carries >= ``ratio`` of its power.

    freqs, psd: an in-band spectrum (Hz, power). A pulse's spectrum has its fundamental at the
    heart rate f and harmonics at 2f, 3f...; a signal whose second harmonic outweighs the
    fundamental (a differentiated pulse at low heart rates, whose harmonic k is weighted by k)
    peaks at 2f. Nothing periodic at f/2 exists in a pulse, so real power there, relative to
    the maximum, marks the maximum as a harmonic. ``ratio`` is chosen on validation data.
    """
    if not ratio > 0:
        raise ValueError(f"subharmonic ratio must be positive, got {ratio}")
    half = f_peak / 2.0
    near = np.abs(freqs - half) <= SUBHARMONIC_TOLERANCE * half
    if not near.any():
        return f_peak
    p_peak = float(psd[np.argmin(np.abs(freqs - f_peak))])
    k = np.flatnonzero(near)[np.argmax(psd[near])]
    # a local maximum, not the shoulder of the main peak's own leakage
    is_peak = 0 < k < len(psd) - 1 and psd[k] >= psd[k - 1] and psd[k] >= psd[k + 1]
    return float(freqs[k]) if is_peak and psd[k] >= ratio * p_peak else f_peak


def periodogram_hr(x, fs: float, band=(0.75, 2.5), nfft="pow2", window: str | None = "hamming",
                   resolution_hz: float | None = None, subharmonic_ratio: float | None = None) -> float:
    """Heart rate (bpm) at the periodogram maximum inside ``band`` (Hz).

    No interpolation between bins: the error is at most half a bin, 30·fs/nfft bpm. Use
    ``nfft`` ('pow2' = toolbox) or ``resolution_hz`` (a fixed zero-padded grid) to set the bin.
    ``subharmonic_ratio``: prefer the peak at half the maximum's frequency when it holds at
    least this share of the maximum's power (:func:`subharmonic_peak`); None = plain maximum.
    """
    freqs, psd = power_spectrum(x, fs, nfft=nfft, window=window, resolution_hz=resolution_hz)
    return _peak_in_band(freqs, psd, band, fs, subharmonic_ratio)


def welch_hr(x, fs: float, band=(0.65, 4.0), segment_s: float = 8.0, overlap: float = 0.5,
             resolution_hz: float = 1.0 / 120.0, window: str = "hann") -> float:
    """Heart rate (bpm) at the Welch-spectrum maximum inside ``band`` (Hz).

    Segments of ``segment_s`` seconds (clipped to the signal length) with fractional
    ``overlap``, each zero-padded so the grid spacing is ``resolution_hz`` (default 0.5 bpm).
    """
    x, fs = _check_signal(x, fs, min_len=4)
    nperseg = min(len(x), int(round(segment_s * fs)))
    nfft = max(nperseg, int(math.ceil(fs / resolution_hz)))
    freqs, psd = scipy.signal.welch(x, fs=fs, window=window, nperseg=nperseg,
                                    noverlap=int(overlap * nperseg), nfft=nfft, detrend="constant")
    return _peak_in_band(freqs, psd, band, fs)


# --------------------------------------------------------------------------- peaks

def find_peaks_authors(x) -> np.ndarray:
    """Indices i (1 ≤ i ≤ n−2) with ``x[i] >= x[i-1]`` and ``x[i] > x[i+1]`` (authors' rule).

    The asymmetric test counts a flat-topped maximum once (at its last sample).
    """
    a = np.asarray(x, dtype=np.float64)
    if len(a) < 3:
        return np.zeros(0, dtype=int)
    is_peak = (a[1:-1] >= a[:-2]) & (a[1:-1] > a[2:])
    return np.flatnonzero(is_peak) + 1


def peak_interval_hr(x, fs: float) -> float:
    """Mean over consecutive peaks of 60·fs / (p[k+1] − p[k]), in bpm (authors' estimator).

    Peaks follow :func:`find_peaks_authors`; no smoothing is applied here, so pass a band-limited
    signal (raw network outputs with a dicrotic shoulder double the rate). Returns **NaN** with
    fewer than two peaks (the authors' code returns 0, which would enter an average as a
    60-bpm-sized error without notice).
    """
    x, fs = _check_signal(x, fs, min_len=3)
    peaks = find_peaks_authors(x)
    if len(peaks) < 2:
        return float("nan")
    return float(np.mean(60.0 * fs / np.diff(peaks)))


# --------------------------------------------------------------------------- CWT (authors' ridge filter)

def _morlet_scales(freqs_hz: np.ndarray, w0: float = MORLET_W0) -> np.ndarray:
    # Torrence & Compo (1998) Table 1: Fourier period of the Morlet = 4πs / (w0 + sqrt(2 + w0²)).
    return (w0 + np.sqrt(2.0 + w0 ** 2)) / (4.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64))


def morlet_cwt(x, fs: float, freqs_hz=AUTHORS_CWT_FREQS, w0: float = MORLET_W0) -> np.ndarray:
    """Continuous wavelet transform with the analytic Morlet ψ(t) = π^(−1/4) e^(iω₀t) e^(−t²/2).

    Computed in the Fourier domain (Torrence & Compo 1998, eq. 4) with the wavelet normalised to
    unit energy at every scale; the signal is zero-padded to the next power of two.

    Parameters
    ----------
    x : (n,) signal.
    fs : sampling rate in Hz.
    freqs_hz : (J,) analysis frequencies in Hz (converted to scales with the Morlet Fourier factor).
    w0 : Morlet centre frequency ω₀ (dimensionless).

    Returns
    -------
    (J, n) complex coefficients W(j, t).
    """
    x, fs = _check_signal(x, fs, min_len=4)
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    if np.any(freqs_hz >= fs / 2):
        raise ValueError(f"CWT analysis frequencies up to {freqs_hz.max():.3f} Hz need fs > "
                         f"{2 * freqs_hz.max():.2f} Hz, got {fs:g} Hz")
    n = len(x)
    dt = 1.0 / fs
    n_pad = 1 << int(math.ceil(math.log2(n)))
    x_hat = np.fft.fft(x - x.mean(), n=n_pad)                        # (n_pad,)
    omega = 2.0 * np.pi * np.fft.fftfreq(n_pad, d=dt)                 # (n_pad,) rad/s
    scales = _morlet_scales(freqs_hz, w0)[:, None]                    # (J, 1) s
    # ψ̂(sω) = π^(−1/4) H(ω) exp(−(sω − ω0)²/2), times sqrt(2πs/dt) for unit energy (T&C eq. 6)
    psi_hat = (np.pi ** -0.25) * np.exp(-0.5 * (scales * omega[None, :] - w0) ** 2)
    psi_hat *= (omega[None, :] > 0)
    psi_hat *= np.sqrt(2.0 * np.pi * scales / dt)
    w = np.fft.ifft(x_hat[None, :] * np.conj(psi_hat), axis=1)       # (J, n_pad)
    return w[:, :n]


def cwt_ridge_filter(x, fs: float, freqs_hz=AUTHORS_CWT_FREQS, width_frac: float = 0.08,
                     w0: float = MORLET_W0, dj: float = 1.0 / 12.0) -> np.ndarray:
    """The authors' CWT ridge filter (book/method_reference.md §8.2, step 2).

    1. W = Morlet CWT (ω₀ = 6) over ``freqs_hz`` (default 107 rows, 3.75 → 0.6445 Hz);
    2. dominant row j* = argmax_j mean_t |W(j, t)|;
    3. row weights g_j = exp(−((j − j*) / (width_frac · J))²) applied to Re(W);
    4. inverse CWT (Torrence & Compo 1998 eq. 11): x̂(t) = dj·√dt / (C_δ ψ₀(0)) · Σ_j g_j Re W(j,t)/√s_j,
       with the library default dj = 1/12 and C_δ = 0.776 (the constant only sets the scale).

    Returns the (n,) reconstructed, narrow-band pulse (arbitrary amplitude; its peaks are what
    matter).
    """
    x, fs = _check_signal(x, fs, min_len=4)
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    w = morlet_cwt(x, fs, freqs_hz, w0)                               # (J, n)
    n_rows = len(freqs_hz)
    j_star = int(np.argmax(np.abs(w).mean(axis=1)))
    j = np.arange(n_rows)
    g = np.exp(-(((j - j_star) / (width_frac * n_rows)) ** 2))        # (J,)
    scales = _morlet_scales(freqs_hz, w0)                             # (J,)
    c_delta, psi0 = 0.776, np.pi ** -0.25                             # Morlet ω0 = 6 constants (T&C Table 2)
    dt = 1.0 / fs
    return (dj * np.sqrt(dt) / (c_delta * psi0)) * np.sum(
        g[:, None] * w.real / np.sqrt(scales)[:, None], axis=0)


def authors_hr(x, fs: float, low: float = 0.5, high: float = 3.0, order: int = 4) -> float:
    """The authors' whole-video HR (bpm): 4th-order zero-phase Butterworth 0.5–3 Hz →
    :func:`cwt_ridge_filter` → :func:`peak_interval_hr` (NaN with fewer than two peaks)."""
    y = bandpass(x, fs, low, high, order)
    return peak_interval_hr(cwt_ridge_filter(y, fs), fs)


# --------------------------------------------------------------------------- beats, SNR, HRV

def _beat_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """Systolic peak indices of a PPG-like pulse (neurokit2: 0.5–8 Hz clean, Elgendi peaks)."""
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = nk.ppg_clean(x, sampling_rate=fs)
        info = nk.ppg_findpeaks(cleaned, sampling_rate=fs)
    return np.asarray(info["PPG_Peaks"], dtype=int)


def beat_hr(x, fs: float) -> float:
    """Beat-based mean HR (bpm) = 60 / mean inter-beat interval, beats found by neurokit2.

    Used as the "beat-based mean" ground-truth definition on a contact PPG. NaN with fewer than
    two beats.
    """
    x, fs = _check_signal(x, fs, min_len=int(2 * fs))
    peaks = _beat_peaks(x, fs)
    if len(peaks) < 2:
        return float("nan")
    return float(60.0 * fs / np.mean(np.diff(peaks)))


def snr_db(x, fs: float, hr_bpm: float) -> float:
    """Pulse SNR in dB, de Haan & Jeanne (IEEE TBME 2013), iPhys-Toolbox ``bvpsnr`` variant.

    Hamming-windowed periodogram with nfft = 120·fs (0.5-bpm bins; more if the signal is longer
    than 120 s). Signal power S = power in [f−0.1, f+0.1] ∪ [2f−0.2, 2f+0.2] Hz with f = hr_bpm/60
    (the *reference* HR); total T = power in [0.5, 4] Hz; SNR = 10·log10(S / (T − S)).
    """
    x, fs = _check_signal(x, fs, min_len=4)
    if not (np.isfinite(hr_bpm) and hr_bpm > 0):
        return float("nan")
    f = hr_bpm / 60.0
    freqs, psd = power_spectrum(x, fs, nfft=max(len(x), int(math.ceil(120 * fs))), window="hamming")
    sig = ((freqs >= f - 0.1) & (freqs <= f + 0.1)) | ((freqs >= 2 * f - 0.2) & (freqs <= 2 * f + 0.2))
    total = (freqs >= 0.5) & (freqs <= 4.0)
    s = psd[sig & total].sum()
    noise = psd[total].sum() - s
    if s <= 0 or noise <= 0:
        return float("inf") if noise <= 0 < s else float("nan")
    return float(10.0 * np.log10(s / noise))


def hrv_from_pulse(x, fs: float) -> dict:
    """Basic HRV from a pulse signal via neurokit2 (beats: 0.5–8 Hz clean + Elgendi peaks).

    Returns a dict: ``n_beats``, ``hr_bpm`` (beat-based mean), ``rmssd_ms``, ``sdnn_ms`` and
    ``lf_hf`` (LF 0.04–0.15 Hz / HF 0.15–0.4 Hz power ratio). LF/HF needs at least 60 s of signal
    and is NaN otherwise; the time-domain indices need ≥ 3 beats. Camera-derived HRV is only as
    good as the beat timing (±1 frame = ±33 ms at 30 fps).
    """
    x, fs = _check_signal(x, fs, min_len=int(2 * fs))
    import neurokit2 as nk

    out = {"n_beats": 0, "hr_bpm": float("nan"), "rmssd_ms": float("nan"),
           "sdnn_ms": float("nan"), "lf_hf": float("nan"), "duration_s": len(x) / fs}
    peaks = _beat_peaks(x, fs)
    out["n_beats"] = int(len(peaks))
    if len(peaks) >= 2:
        out["hr_bpm"] = float(60.0 * fs / np.mean(np.diff(peaks)))
    if len(peaks) < 3:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        td = nk.hrv_time(peaks, sampling_rate=fs)
        out["rmssd_ms"] = float(td["HRV_RMSSD"].iloc[0])
        out["sdnn_ms"] = float(td["HRV_SDNN"].iloc[0])
        if len(x) / fs >= 60.0:
            fd = nk.hrv_frequency(peaks, sampling_rate=fs)
            out["lf_hf"] = float(fd["HRV_LFHF"].iloc[0])
    return out


def respiration_rate(x, fs: float, source: str = "baseline", band=(0.1, 0.5),
                     resolution_hz: float = 1.0 / 240.0) -> float:
    """Respiration rate (breaths/min) from a pulse or a respiration signal.

    source
        "baseline" — respiratory-induced intensity variation: the pulse's slow baseline,
        band-passed to ``band``; "amplitude" — respiratory-induced amplitude variation: the
        beat-peak amplitudes (neurokit2 beats) interpolated onto a 4 Hz grid; "respiration" — ``x``
        is already a respiration signal.
    The rate is the periodogram peak in ``band`` (Hz; default 6–30 breaths/min) on a grid of
    ``resolution_hz``. Needs at least two periods of the slowest rate (2/band[0] s).
    """
    x, fs = _check_signal(x, fs, min_len=4)
    lo, hi = band
    min_s = 2.0 / lo
    if len(x) / fs < min_s:
        raise ClipTooShortError(None, f"respiration needs ≥ {min_s:.0f} s of signal, got {len(x) / fs:.1f} s")
    if source in ("baseline", "respiration"):
        y, fy = x, fs
    elif source == "amplitude":
        peaks = _beat_peaks(x, fs)
        if len(peaks) < 4:
            return float("nan")
        fy = 4.0
        t = np.arange(peaks[0] / fs, peaks[-1] / fs, 1.0 / fy)
        y = np.interp(t, peaks / fs, x[peaks])
        if len(y) < 4:
            return float("nan")
    else:
        raise ValueError(f"source must be 'baseline', 'amplitude' or 'respiration', got {source!r}")
    y = bandpass(y, fy, lo, hi, order=2)
    return periodogram_hr(y, fy, band=(lo, hi), window="hamming", nfft=None, resolution_hz=resolution_hz)


# --------------------------------------------------------------------------- windows

def sliding_windows(n: int, fs: float, window_s: float | None, stride_s: float | None = None
                    ) -> list[tuple[int, int]]:
    """Sample ranges ``[(start, stop), ...]`` of windows over ``n`` samples.

    ``window_s`` None → one window, the whole signal. Window k starts at round(k·stride_s·fs)
    (no drift at non-integer frame rates) and holds round(window_s·fs) samples; only complete
    windows are returned (a trailing partial window is dropped). ``stride_s`` None → window_s
    (non-overlapping). Raises ClipTooShortError when ``n`` is shorter than one window.
    """
    fs = _check_fs(fs)
    n = int(n)
    if window_s is None:
        if n < 1:
            raise ClipTooShortError(None, "empty signal")
        return [(0, n)]
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    stride_s = window_s if stride_s is None else stride_s
    if stride_s <= 0:
        raise ValueError(f"stride_s must be positive, got {stride_s}")
    w = int(round(window_s * fs))
    if n < w:
        raise ClipTooShortError(None, f"signal of {n} samples ({n / fs:.2f} s) is shorter than one "
                                      f"{window_s:g}-s window ({w} samples at {fs:g} Hz)")
    out = []
    k = 0
    while True:
        start = int(round(k * stride_s * fs))
        if start + w > n:
            break
        out.append((start, start + w))
        k += 1
    return out
