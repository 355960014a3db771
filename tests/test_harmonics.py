"""The subharmonic evidence and the choice of its ratio (sspd.evaluate.harmonics)."""
import numpy as np
import pandas as pd
import pytest

from sspd.evaluate import harmonics


def _derivative_pulse(hr_bpm: float, seconds: float = 30.0, fs: float = 30.0) -> np.ndarray:
    t = np.arange(0, seconds, 1 / fs)
    f = hr_bpm / 60.0
    pulse = np.sin(2 * np.pi * f * t) + 0.6 * np.sin(2 * np.pi * 2 * f * t - 0.8)
    return np.gradient(pulse, 1 / fs)


def test_evidence_finds_the_fundamental_under_a_dominant_second_harmonic():
    ev = harmonics.subharmonic_evidence(_derivative_pulse(60.0), 30.0, "windowed")
    assert len(ev) == 21                                   # 10-s windows, 1-s stride, 30 s
    assert np.allclose(ev["hr_peak"], 120.0, atol=1.0)     # the plain peak is the harmonic
    assert np.allclose(ev["hr_half"], 60.0, atol=1.0)
    assert ev["share"].between(0.2, 1.0).all()
    fast = harmonics.subharmonic_evidence(_derivative_pulse(110.0), 30.0, "windowed")
    assert np.allclose(fast["hr_peak"], 110.0, atol=1.0)   # no harmonic wins at a high rate
    with pytest.raises(ValueError, match="spectral-peak"):
        harmonics.subharmonic_evidence(_derivative_pulse(60.0), 30.0, "authors")


def test_mae_by_ratio_and_choice():
    ev = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3,
                       "hr_peak": [120, 120, 80, 100, 100, 100], "hr_half": [60, 60, 40, 50, 50, np.nan],
                       "share": [0.5, 0.5, 0.1, 0.35, 0.05, 0.0], "hr_gt": [60, 60, 80, 100, 100, 100]})
    table = harmonics.mae_by_ratio(ev, [None, 0.3, 0.4])
    mae = table.set_index(["method", "ratio"])["MAE"]
    assert mae[("a", None)] == pytest.approx(40.0) and mae[("a", 0.4)] == pytest.approx(0.0)
    assert mae[("b", 0.3)] == pytest.approx(50 / 3) and mae[("b", 0.4)] == pytest.approx(0.0)
    assert harmonics.choose_ratio(table) == 0.4
    # a tie with the plain peak keeps the plain peak
    same = harmonics.mae_by_ratio(ev[ev.method == "b"].assign(share=0.0), [None, 0.3])
    assert harmonics.choose_ratio(same) is None


def test_second_harmonic_share_of_a_derivative_is_four_times_larger():
    fs, t = 30.0, np.arange(0, 30, 1 / 30.0)
    bvp = np.sin(2 * np.pi * t) + 0.5 * np.sin(4 * np.pi * t)     # 60 bpm
    plain = harmonics.second_harmonic_share(bvp, fs, 60.0)
    deriv = harmonics.second_harmonic_share(bvp, fs, 60.0, differentiate=True)
    assert plain == pytest.approx(0.25, rel=0.05) and deriv == pytest.approx(4 * plain, rel=0.1)


def test_integrating_a_differentiated_pulse_restores_its_fundamental():
    from sspd import signal as sig
    from sspd.evaluate.pulses import StoredPulses, integrate_pulse

    fs, t = 30.0, np.arange(0, 20, 1 / 30.0)
    pulse = np.sin(2 * np.pi * t) + 0.6 * np.sin(4 * np.pi * t - 0.8)          # 60 bpm
    derivative = np.gradient(pulse, 1 / fs)
    kw = dict(band=(0.667, 3.0), nfft=None, window="hamming", resolution_hz=1 / 180)
    assert sig.periodogram_hr(derivative, fs, **kw) == pytest.approx(120, abs=1)
    restored = integrate_pulse(derivative, fs)
    assert sig.periodogram_hr(restored, fs, **kw) == pytest.approx(60, abs=1)
    assert np.corrcoef(restored[30:-30], pulse[30:-30])[0, 1] > 0.98
    # served through StoredPulses on request only
    class Entry:
        frames = np.zeros((len(t) + 1, 2, 2, 3), np.uint8)
        subject = "1"
    from sspd.evaluate.pulses import recording_id
    e = Entry()
    stored = {recording_id(e): derivative}
    assert np.array_equal(StoredPulses(stored, [e])(e.frames, fs), derivative)
    assert np.allclose(StoredPulses(stored, [e], integrate=True)(e.frames, fs), restored)
