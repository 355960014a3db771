"""Versioned evaluation protocols: how a pulse signal becomes heart rates.

The protocol (window, estimator, band, detrend, filter, frequency grid, ground-truth definition)
moves MAE by more than many model changes (book/evaluation_reference.md §1), so it is one explicit,
frozen object written into every result file. Change a preset's behaviour → bump its ``version``.

Pipeline of :func:`hr_from_signal` (identical for prediction and ground truth):

1. detrend the whole signal (optional smoothness priors, λ per protocol);
2. zero-phase Butterworth band-pass of the whole signal (``filter_order`` 0 = none);
3. cut windows (:func:`sspd.signal.sliding_windows`; ``window_s`` None = whole signal);
4. one HR per window with the estimator.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sspd import signal as sig

__all__ = ["Protocol", "PROTOCOLS", "PROTOCOL_ALIASES", "get_protocol", "preprocess", "hr_from_signal", "estimate_hr"]

ESTIMATORS = ("fft", "welch", "peak", "authors")
GT_DEFINITIONS = ("same", "beat")


@dataclass(frozen=True)
class Protocol:
    """Every setting that turns a pulse signal into heart rates.

    Attributes
    ----------
    name, version : preset identity; results name both.
    window_s, stride_s : window length and hop in seconds; ``window_s=None`` = whole video.
    estimator : "fft" (periodogram peak), "welch" (Welch peak), "peak" (peak interval on the
        filtered signal), "authors" (CWT ridge filter then peak interval, book/method_reference.md §8.2).
    band : (low, high) Hz — the band-pass pass-band and the spectral search band.
    filter_order : Butterworth order of the band-pass (0 = no band-pass).
    detrend : None or "smoothness" (Tarvainen 2002 with ``detrend_lambda``).
    nfft : None (= window length), "pow2" (next power of two) or an int; FFT estimators only.
    resolution_hz : fixed zero-padded frequency grid (overrides ``nfft``); None = off.
    spectral_window : taper of the periodogram ("hamming", "hann") or None (rectangular).
    gt_definition : "same" — the same pipeline and estimator on the contact BVP (default);
        "beat" — beat-based mean HR (neurokit2 beats) on the contact BVP window.
    waveform_sign : "per-recording" — the prediction's sign is flipped once per recording when its
        band-passed correlation with the contact BVP is negative (the losses do not fix
        polarity, book/method_reference.md §14.12), then waveform r is computed per window; "none".
    subharmonic_ratio : None (the spectral maximum), or rho: prefer the peak at half the
        maximum's frequency when it holds at least rho of its power ("fft" only; see
        :func:`sspd.signal.subharmonic_peak`). Applied to prediction and ground truth alike.
    """

    name: str
    version: str
    window_s: float | None
    stride_s: float | None
    estimator: str
    band: tuple[float, float]
    filter_order: int = 4
    detrend: str | None = None
    detrend_lambda: float = 100.0
    nfft: str | int | None = None
    resolution_hz: float | None = None
    spectral_window: str | None = "hamming"
    gt_definition: str = "same"
    waveform_sign: str = "per-recording"
    subharmonic_ratio: float | None = None
    description: str = ""

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.gt_definition not in GT_DEFINITIONS:
            raise ValueError(f"gt_definition must be one of {GT_DEFINITIONS}, got {self.gt_definition!r}")
        if self.detrend not in (None, "smoothness"):
            raise ValueError(f"detrend must be None or 'smoothness', got {self.detrend!r}")
        if self.subharmonic_ratio is not None and self.estimator != "fft":
            raise ValueError("subharmonic_ratio applies to the 'fft' estimator only")
        if self.waveform_sign not in ("per-recording", "none"):
            raise ValueError(f"waveform_sign must be 'per-recording' or 'none', got {self.waveform_sign!r}")
        lo, hi = self.band
        if not 0 < lo < hi:
            raise ValueError(f"band must satisfy 0 < low < high, got {self.band}")
        object.__setattr__(self, "band", (float(lo), float(hi)))

    def to_dict(self) -> dict:
        """All fields as a JSON-ready dict (written into every summary.json)."""
        d = dataclasses.asdict(self)
        d["band"] = list(self.band)
        return d

    def replace(self, **changes) -> "Protocol":
        """A copy with some fields changed (give it a new name/version if you publish it)."""
        return dataclasses.replace(self, **changes)


PROTOCOLS: dict[str, Protocol] = {
    "authors": Protocol(
        name="authors", version="1", window_s=None, stride_s=None, estimator="authors",
        band=(0.5, 3.0), filter_order=4, detrend=None, spectral_window=None,
        description="SSPD authors' released estimator: whole video, 4th-order zero-phase Butterworth "
                    "0.5-3 Hz, Morlet (w0=6) CWT ridge filter over 0.6445-3.75 Hz, mean peak-interval HR"),
    "toolbox": Protocol(
        name="toolbox", version="1", window_s=None, stride_s=None, estimator="fft",
        band=(0.75, 2.5), filter_order=1, detrend="smoothness", detrend_lambda=100.0, nfft="pow2",
        spectral_window=None,
        description="rPPG-Toolbox paper setting: whole video, smoothness-prior detrend lambda=100, "
                    "1st-order zero-phase Butterworth 0.75-2.5 Hz, rectangular periodogram peak, "
                    "nfft = next power of 2"),
    "windowed": Protocol(
        name="windowed", version="1", window_s=10.0, stride_s=1.0, estimator="fft",
        band=(0.667, 3.0), filter_order=4, detrend=None, resolution_hz=1.0 / 180.0,
        spectral_window="hamming",
        description="SiNC-style: 10-s windows, 1-s stride, 4th-order zero-phase Butterworth "
                    "0.667-3 Hz, Hamming periodogram zero-padded to a 1/180-Hz grid (SiNC nfft 5400 "
                    "at 30 fps, 0.33-bpm bins)"),
    # rho chosen on training/validation subjects only, for every method alike (book chapter
    # "Low heart rates and the second harmonic", which re-derives it and checks it matches).
    "windowed-harmonic": Protocol(
        name="windowed-harmonic", version="1", window_s=10.0, stride_s=1.0, estimator="fft",
        band=(0.667, 3.0), filter_order=4, detrend=None, resolution_hz=1.0 / 180.0,
        spectral_window="hamming", subharmonic_ratio=0.3,
        description="windowed, but a spectral peak whose half frequency holds a local peak with at "
                    "least 30 % of its power is taken as the second harmonic (sspd.signal."
                    "subharmonic_peak)"),
}
#: Other names of the presets, accepted wherever a protocol name is.
PROTOCOL_ALIASES = {"sspd-official": "authors", "windowed-10s": "windowed"}


def get_protocol(name: str | Protocol) -> Protocol:
    """A preset by name (aliases: sspd-official → authors, windowed-10s → windowed)."""
    if isinstance(name, Protocol):
        return name
    key = PROTOCOL_ALIASES.get(name, name)
    if key not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; presets: {', '.join(PROTOCOLS)} "
                         f"(aliases: {', '.join(PROTOCOL_ALIASES)})")
    return PROTOCOLS[key]


def preprocess(x, fs: float, protocol: Protocol) -> np.ndarray:
    """Steps 1–2 of the pipeline on the whole signal: optional detrend, then band-pass."""
    x = np.asarray(x, dtype=np.float64)
    if protocol.detrend == "smoothness":
        x = sig.detrend_smoothness_priors(x, fs, lam=protocol.detrend_lambda)
    if protocol.filter_order > 0:
        x = sig.bandpass(x, fs, *protocol.band, order=protocol.filter_order)
    return x


def estimate_hr(x, fs: float, protocol: Protocol) -> float:
    """Step 4: one HR (bpm) from one already pre-processed window (NaN when undefined)."""
    if protocol.estimator == "fft":
        return sig.periodogram_hr(x, fs, band=protocol.band, nfft=protocol.nfft,
                                  window=protocol.spectral_window, resolution_hz=protocol.resolution_hz,
                                  subharmonic_ratio=protocol.subharmonic_ratio)
    if protocol.estimator == "welch":
        kw = {} if protocol.resolution_hz is None else {"resolution_hz": protocol.resolution_hz}
        return sig.welch_hr(x, fs, band=protocol.band, **kw)
    if protocol.estimator == "peak":
        return sig.peak_interval_hr(x, fs)
    # "authors": the band-pass already happened on the whole signal in preprocess()
    return sig.peak_interval_hr(sig.cwt_ridge_filter(x, fs), fs)


def hr_from_signal(x, fs: float, protocol: Protocol | str, beat_based: bool = False
                   ) -> list[tuple[float, float, float]]:
    """Heart rates of a pulse signal under a protocol: ``[(t_start, t_end, hr_bpm), ...]``.

    Times are seconds from the first sample (``t_end`` exclusive, = stop/fs). ``beat_based``
    replaces step 4 with :func:`sspd.signal.beat_hr` on the *raw* window (the "beat" ground-truth
    definition). Raises ClipTooShortError if the signal is shorter than one window.
    """
    protocol = get_protocol(protocol)
    x = np.asarray(x, dtype=np.float64)
    windows = sig.sliding_windows(len(x), fs, protocol.window_s, protocol.stride_s)
    y = x if beat_based else preprocess(x, fs, protocol)
    out = []
    for start, stop in windows:
        seg = y[start:stop]
        hr = sig.beat_hr(seg, fs) if beat_based else estimate_hr(seg, fs, protocol)
        out.append((start / fs, stop / fs, float(hr)))
    return out
