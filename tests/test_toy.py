"""Toy clips (sspd.data.toy) and the tests' shared factories (conftest.py)."""
import numpy as np
import pytest

from sspd.data.face import FaceDetector
from sspd.data.toy import P_BV, SKIN_RGB, drawn_face, pulse_wave, skin_patch_clip

from conftest import noisy_pulse_frames, pulse_signal, random_frames


def _peak_bpm(x, fs):
    spec = np.abs(np.fft.rfft(x - x.mean(), 8 * len(x)))
    return 60 * np.fft.rfftfreq(8 * len(x), 1 / fs)[np.argmax(spec)]


def test_pulse_wave_formula():
    t = np.array([0.0, 0.125, 0.25])                     # s; 120 bpm = 2 Hz
    np.testing.assert_allclose(pulse_wave(t, 120.0), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(pulse_wave(t, 120.0, harmonic=0.5, phase2=np.pi / 2),
                               [0.5, 0.5, 0.5], atol=1e-12)
    assert pulse_wave(np.zeros((2, 3)), 60.0).shape == (2, 3)
    with pytest.raises(ValueError, match="hr_bpm"):
        pulse_wave(t, 0.0)


def test_skin_patch_clip_colour_pulse_and_gain():
    clean, _ = skin_patch_clip(hr_bpm=90.0, duration_s=4.0, fs=25.0, size=40, noise_dn=0.0)
    assert (clean[:, 0, 0] == 110).all()                 # grey corner (background)
    np.testing.assert_allclose(clean[:, 20, 20, ::-1].mean(axis=0), 200 * SKIN_RGB, atol=0.6)
    frames, bvp = skin_patch_clip(hr_bpm=90.0, duration_s=4.0, fs=25.0, size=40)
    assert frames.shape == (100, 40, 40, 3) and frames.dtype == np.uint8 and bvp.shape == (100,)
    assert np.abs(bvp).max() == pytest.approx(1.0)
    # more blood, darker green: the centre's green falls as bvp rises (about 1 DN, 0.5 %)
    green = frames[:, 15:25, 15:25, 1].reshape(100, -1).mean(axis=1)
    assert np.corrcoef(green, bvp)[0, 1] < -0.9
    assert _peak_bpm(green, 25.0) == pytest.approx(90.0, abs=2.0)
    bright, _ = skin_patch_clip(hr_bpm=90.0, duration_s=4.0, fs=25.0, size=40, noise_dn=0.0,
                                gain=lambda t: np.full(len(t), 1.2))
    assert bright[0, 0, 0, 0] == 132                     # 110 DN * 1.2
    assert P_BV[1] == max(P_BV)


def test_skin_patch_clip_seeded_and_chunk_free():
    a, _ = skin_patch_clip(duration_s=2.0, seed=3)
    b, _ = skin_patch_clip(duration_s=2.0, seed=3, chunk=7)
    c, _ = skin_patch_clip(duration_s=2.0, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="gain"):
        skin_patch_clip(duration_s=1.0, gain=lambda t: np.ones(3))
    with pytest.raises(ValueError):
        skin_patch_clip(duration_s=0.0)


def test_drawn_face_is_detected_where_drawn():
    det = FaceDetector()
    small, moved = drawn_face(), drawn_face(dx=30)
    assert small.shape == (240, 320, 3) and small.dtype == np.uint8
    box, box_moved = det.detect(small), det.detect(moved)
    assert box is not None and box_moved is not None
    assert box_moved[2] - box[2] == pytest.approx(30, abs=4)   # (top, bottom, left, right)
    big = drawn_face(480, 640, scale=1.5)
    assert det.detect(big) is not None
    assert (big[..., 0] == 150).sum() > 2 * (small[..., 0] == 150).sum()   # skin area grows
    assert drawn_face(level=2)[135, 205, 1] == small[135, 205, 1] + 2 == 172  # green of a cheek
    with pytest.raises(ValueError):
        drawn_face(scale=0)


def test_conftest_factories():
    x = pulse_signal(75.0, 30.0, seconds=20.0, noise=0.1)
    assert x.shape == (600,) and _peak_bpm(x, 30.0) == pytest.approx(75.0, abs=1.0)
    assert np.array_equal(x, pulse_signal(75.0, 30.0, seconds=20.0, noise=0.1))
    np.testing.assert_allclose(pulse_signal(75.0, 30.0, seconds=2.0, noise=0.0),
                               pulse_wave(np.arange(60) / 30.0, 75.0, 0.5, 1.0))
    f = random_frames((2, 4, 5, 3), seed=1)
    assert f.shape == (2, 4, 5, 3) and f.dtype == np.uint8
    assert np.array_equal(f, random_frames(f.shape, 1)) and not np.array_equal(f, random_frames(f.shape))
    v = noisy_pulse_frames(90, size=16, hr_hz=1.5, noise=0.5)
    assert v.shape == (90, 16, 16, 3) and v.dtype == np.uint8
    assert v.min() >= 60 - 3 - 3 and v.max() <= 199 + 3 + 3   # picture +- pulse +- 6 sigma noise
    assert _peak_bpm(v.reshape(90, -1).mean(axis=1), 30.0) == pytest.approx(90.0, abs=2.0)
