"""sspd.signal: estimators on known signals at several frame rates, SNR, windows, validation."""
import numpy as np
import pytest

from sspd import signal as sig
from sspd.errors import ClipTooShortError, DataError

from conftest import pulse_signal as pulse  # fundamental + 2nd harmonic + white noise


@pytest.mark.parametrize("fs", [25.0, 30.0, 29.97])
@pytest.mark.parametrize("hr", [52.0, 75.0, 128.0])
def test_estimators_within_1_bpm(fs, hr):
    x = pulse(hr, fs)
    assert abs(sig.periodogram_hr(x, fs, band=(0.75, 2.5), nfft="pow2") - hr) < 1.0
    assert abs(sig.periodogram_hr(x, fs, band=(0.667, 3.0), resolution_hz=1 / 180) - hr) < 1.0
    assert abs(sig.welch_hr(x, fs, band=(0.65, 4.0)) - hr) < 1.0
    assert abs(sig.authors_hr(x, fs) - hr) < 1.0
    assert abs(sig.peak_interval_hr(sig.cwt_ridge_filter(sig.bandpass(x, fs), fs), fs) - hr) < 1.0


def test_authors_hr_does_not_double_on_dicrotic_notch():
    fs, hr = 30.0, 72.0
    # a strong 2nd harmonic a quarter-period out of phase gives two local maxima per beat
    x = pulse(hr, fs, harmonic=0.8, phase2=np.pi / 2, noise=0.0)
    naive = sig.peak_interval_hr(sig.bandpass(x, fs), fs)
    assert naive > 1.8 * hr  # the trap the CWT ridge filter exists for
    assert abs(sig.authors_hr(x, fs) - hr) < 1.0


def test_authors_frequency_grid_is_in_hz():
    f = sig.AUTHORS_CWT_FREQS
    assert len(f) == 107
    assert f[0] == pytest.approx(3.75) and f[-1] == pytest.approx(0.64453125)
    assert np.allclose(np.diff(f), -30 / 1024)


def test_peak_rule_and_too_few_peaks():
    a = np.array([0, 1, 1, 0, 2, 0, 0])
    # plateau [1, 1]: a[1] >= a[0] but a[1] == a[2] -> not a peak; a[2] >= a[1] and a[2] > a[3] -> peak
    assert list(sig.find_peaks_authors(a)) == [2, 4]
    assert sig.peak_interval_hr(a, 30.0) == pytest.approx(60 * 30 / 2)
    assert np.isnan(sig.peak_interval_hr(np.linspace(0, 1, 50), 30.0))


def test_bandpass_keeps_passband_and_removes_drift():
    fs = 30.0
    t = np.arange(600) / fs
    x = np.sin(2 * np.pi * 1.2 * t)
    y = sig.bandpass(x + 5 * t / t[-1] + np.sin(2 * np.pi * 8 * t), fs, 0.5, 3.0)
    inner = slice(60, -60)  # away from edge transients
    assert np.corrcoef(x[inner], y[inner])[0, 1] > 0.99
    assert np.std(y[inner] - x[inner]) < 0.1


def test_detrend_smoothness_priors_removes_slow_trend():
    fs = 30.0
    t = np.arange(900) / fs
    x = np.sin(2 * np.pi * 1.2 * t)
    trend = 3 * (t / t[-1]) ** 2
    y = sig.detrend_smoothness_priors(x + trend, fs, lam=100)
    assert abs(np.polyfit(t, y, 1)[0]) < 0.01
    assert np.corrcoef(x[100:-100], y[100:-100])[0, 1] > 0.99


def test_snr_clean_higher_than_noisy():
    fs, hr = 30.0, 80.0
    clean = pulse(hr, fs, noise=0.05)
    noisy = pulse(hr, fs, noise=1.5)
    s_clean, s_noisy = sig.snr_db(clean, fs, hr), sig.snr_db(noisy, fs, hr)
    assert s_clean > s_noisy + 10
    # the SNR is measured at the reference HR: a wrong reference gives a low value
    assert sig.snr_db(clean, fs, hr + 30) < s_noisy


def test_sliding_windows_at_25_fps():
    w = sig.sliding_windows(25 * 12, 25.0, 10.0, 1.0)
    assert w == [(0, 250), (25, 275), (50, 300)]
    assert sig.sliding_windows(100, 25.0, None) == [(0, 100)]
    # non-integer fps: starts follow k*stride*fs without drift
    w = sig.sliding_windows(int(29.97 * 60), 29.97, 10.0, 1.0)
    assert w[50][0] == round(50 * 29.97) and all(b - a == round(10 * 29.97) for a, b in w)
    with pytest.raises(ClipTooShortError):
        sig.sliding_windows(200, 25.0, 10.0, 1.0)


def test_validation_errors():
    x = pulse(70, 30.0, seconds=5)
    x[10] = np.nan
    with pytest.raises(DataError, match="NaN"):
        sig.periodogram_hr(x, 30.0)
    with pytest.raises(ClipTooShortError):
        sig.bandpass(np.ones(10), 30.0)
    with pytest.raises(ValueError, match="Nyquist"):
        sig.bandpass(pulse(70, 5.0), 5.0, 0.5, 3.0)
    with pytest.raises(ValueError, match="sampling rate"):
        sig.periodogram_hr(np.ones(100), 0)


def test_hrv_and_respiration():
    fs = 30.0
    t = np.arange(int(70 * fs)) / fs
    beat = np.sin(2 * np.pi * 1.1 * t) ** 3                       # 66 bpm, one peak per beat
    h = sig.hrv_from_pulse(beat, fs)
    assert abs(h["hr_bpm"] - 66) < 1.5 and np.isfinite(h["rmssd_ms"]) and np.isfinite(h["lf_hf"])
    assert np.isnan(sig.hrv_from_pulse(beat[: int(30 * fs)], fs)["lf_hf"])  # < 60 s: no LF/HF
    resp = 0.25  # Hz = 15 breaths/min, as baseline and amplitude modulation
    x = (1 + 0.2 * np.sin(2 * np.pi * resp * t)) * np.sin(2 * np.pi * 1.1 * t) + 0.3 * np.sin(2 * np.pi * resp * t)
    assert abs(sig.respiration_rate(x, fs, source="baseline") - 15) < 0.5
    assert abs(sig.respiration_rate(x, fs, source="amplitude") - 15) < 0.5


def test_subharmonic_rule_recovers_a_low_heart_rate_from_a_differentiated_pulse():
    """A 60-bpm pulse, differentiated (as frame differences do), peaks at its second harmonic."""
    from sspd import signal as sig

    fs, t = 30.0, np.arange(0, 10, 1 / 30.0)
    f = 1.0
    pulse = np.sin(2 * np.pi * f * t) + 0.6 * np.sin(2 * np.pi * 2 * f * t - 0.8)
    derivative = np.gradient(pulse, 1 / fs)                 # harmonic k weighted by 2 pi k f
    kw = dict(band=(0.667, 3.0), nfft=None, window="hamming", resolution_hz=1 / 180)
    assert sig.periodogram_hr(derivative, fs, **kw) == pytest.approx(120, abs=1)
    assert sig.periodogram_hr(derivative, fs, subharmonic_ratio=0.3, **kw) == pytest.approx(60, abs=1)
    # a pulse whose maximum is its fundamental is left alone, even with a strong 2nd harmonic ...
    assert sig.periodogram_hr(pulse, fs, subharmonic_ratio=0.3, **kw) == pytest.approx(60, abs=1)
    # ... and so is a fast pulse whose half frequency holds only noise
    rng = np.random.default_rng(0)
    fast = np.sin(2 * np.pi * 2.0 * t) + 0.05 * rng.standard_normal(len(t))
    assert sig.periodogram_hr(fast, fs, subharmonic_ratio=0.3, **kw) == pytest.approx(120, abs=1)
    # the threshold decides: a ratio above the subharmonic's share keeps the maximum
    assert sig.periodogram_hr(derivative, fs, subharmonic_ratio=0.99, **kw) == pytest.approx(120, abs=1)
    with pytest.raises(ValueError, match="positive"):
        sig.subharmonic_peak(np.array([1.0, 2.0]), np.array([1.0, 2.0]), 2.0, 0.0)
