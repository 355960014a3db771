"""Tests of the synthetic face-video generator (sspd.data.synthetic); short clips, small configs."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import signal

from sspd.data.face import enlarge_box
from sspd.data.splits import load_split
from sspd.data.synthetic import (PRESETS, discover, get_preset, read_synthetic, render_video,
                                 write_video)
from sspd.data.synthetic.appearance import lab_to_linear_rgb, sample_skin
from sspd.data.synthetic.generator import draw_subject
from sspd.errors import DataError

# A quiet configuration: no motion, no light changes, no screen light, no BCG.
EASY = dataclasses.replace(
    PRESETS["still"], name="easy-test", motion_amplitude=0.0, drift=(0.0, 0.0), flicker=(0.0, 0.0),
    screen_amp=(0.0, 0.0), breathing_px=(0.0, 0.0), breathing_pitch_deg=(0.0, 0.0), bcg_px=(0.0, 0.0),
    blink_rate_per_min=(0.0, 0.0), A_G=(0.01, 0.01), auto_exposure=False)


def _srgb_decode(x):
    x = np.asarray(x, np.float64) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _face_trace(video):
    """(N, 3) linear RGB spatial mean over the central cheek/nose patch of the crop."""
    f = video.frames[:, 60:110, 45:105, ::-1]  # BGR -> RGB
    return _srgb_decode(f).mean(axis=(1, 2))


@pytest.fixture(scope="module")
def still_clip():
    return render_video("still", 3, seed=0, duration_s=3.0)


def test_determinism_byte_identical():
    a = render_video("still", 2, seed=5, duration_s=2.0)
    b = render_video("still", 2, seed=5, duration_s=2.0)
    assert a.frames.tobytes() == b.frames.tobytes()
    np.testing.assert_array_equal(a.ground_truth["bvp"], b.ground_truth["bvp"])
    c = render_video("still", 2, seed=6, duration_s=2.0)
    assert c.frames.tobytes() != a.frames.tobytes()
    h1 = render_video("hard", 1, seed=0, duration_s=1.5)  # the MJPEG round trip must be deterministic too
    h2 = render_video("hard", 1, seed=0, duration_s=1.5)
    assert h1.frames.tobytes() == h2.frames.tobytes()
    x264 = dataclasses.replace(PRESETS["hard"], codec="h264")  # and the (optional) H.264 one
    assert (render_video(x264, 1, seed=0, duration_s=1.0).frames.tobytes()
            == render_video(x264, 1, seed=0, duration_s=1.0).frames.tobytes())


def test_shapes_dtypes_and_label_lengths(still_clip):
    v = still_clip
    n = len(v.frames)
    assert v.frames.shape == (90, 151, 151, 3) and v.frames.dtype == np.uint8
    gt = v.ground_truth
    for k in ("bvp", "hr", "resp", "timestamps"):
        arr = v.timestamps if k == "timestamps" else gt[k]
        assert len(arr) == n, k
    assert gt["face_boxes"].shape == (n, 4) and gt["face_boxes_tight"].shape == (n, 4)
    assert abs(len(gt["bvp_hi"]) / gt["bvp_hi_fs"] - v.timestamps[-1]) < 2 / gt["bvp_hi_fs"]
    rec = v.to_recording()
    assert rec.dataset == "synthetic-still" and rec.subject == "3" and rec.face_boxes.shape == (n, 4)
    full = render_video("motion", 1, seed=0, output="full", duration_s=1.0)
    assert full.frames.shape == (30, 240, 320, 3)


def test_hr_range_and_mean_consistent_with_beats(still_clip):
    gt = still_clip.ground_truth
    bt = gt["beat_times"]
    assert np.isclose(gt["hr_mean"], np.mean(60.0 / np.diff(bt)))
    lo, hi = PRESETS["still"].hr_limits
    assert lo * 0.9 <= gt["hr_mean"] <= hi * 1.05
    assert np.all((gt["hr"] > 40) & (gt["hr"] < 160))
    # the stored label has one beat per IBI: its spectral peak sits at the mean HR
    f, pxx = signal.periodogram(signal.detrend(gt["bvp_hi"]), fs=gt["bvp_hi_fs"], nfft=2 ** 16)
    band = (f > 0.7) & (f < 3.0)
    assert abs(60 * f[band][np.argmax(pxx[band])] - gt["hr_mean"]) < 8


def test_hr_support_outside_60_100_for_every_preset():
    all_hr = []
    for name, p in PRESETS.items():
        hr = np.array([draw_subject(p, s, 0)["hr_base"] for s in p.subject_ids()])
        assert np.mean((hr < 60) | (hr > 100)) >= 0.08, name
        all_hr.append(hr)
    all_hr = np.concatenate(all_hr)
    assert all_hr.min() >= 45 and all_hr.max() <= 150


def test_sensor_noise_level_in_still_patch():
    v = render_video(EASY, 1, seed=1, duration_s=2.0, output="full")
    patch = v.frames[:, 5:35, 5:45, 1].astype(np.float64)  # static background corner, green
    assert 30 < patch.mean() < 220  # a mid-tone patch
    sigma = np.std(np.diff(patch, axis=0), axis=0).mean() / np.sqrt(2)  # temporal σ per pixel
    assert 0.5 <= sigma <= 3.0, sigma


def test_boxes_contain_face_and_first_box_is_frame0():
    for out, preset in (("full", "motion"), ("crop", "still")):
        v = render_video(preset, 4, seed=0, output=out, duration_s=1.5, with_masks=True)
        gt = v.ground_truth
        assert np.array_equal(gt["first_box"], gt["face_boxes"][0])
        if out == "crop":
            assert gt["first_box"].tolist() == [0, 151, 0, 151]
        for k in range(0, len(v.frames), 5):
            ys, xs = np.nonzero(gt["skin_mask"][k])
            assert len(ys) > 100
            t, b, l, r = gt["face_boxes"][k]
            assert ys.min() >= t and ys.max() < b and xs.min() >= l and xs.max() < r
            tt, tb, tl, tr = gt["face_boxes_tight"][k]
            inside = (ys >= tt) & (ys < tb) & (xs >= tl) & (xs < tr)
            assert inside.mean() > 0.6  # the tight box is the detector-like face core
    # SSPD enlargement rule (book/method_reference.md §1)
    assert enlarge_box([100, 220, 100, 220], (480, 640)).tolist() == [44, 260, 60, 260]
    assert enlarge_box([10, 40, 10, 40], (480, 640)).tolist() == [0, 80, 0, 80]


def _band_share(trace, fs, hr_bpm):
    x = signal.detrend(trace)
    f, pxx = signal.periodogram(x, fs=fs, nfft=4096)
    band = (f >= 0.7) & (f <= 3.5)
    near = band & (np.abs(f - hr_bpm / 60) <= 0.15)
    return pxx[near].sum() / pxx[band].sum()


def test_negative_control_and_colour_direction():
    with_pulse = render_video(EASY, 2, seed=0, duration_s=6.0)
    no_pulse = render_video(dataclasses.replace(EASY, A_G=(0.0, 0.0)), 2, seed=0, duration_s=6.0)
    hr = with_pulse.ground_truth["hr_mean"]
    fs = with_pulse.fps_nominal
    g_on = _face_trace(with_pulse)[:, 1]
    g_off = _face_trace(no_pulse)[:, 1]
    share_on, share_off = _band_share(g_on, fs, hr), _band_share(g_off, fs, hr)
    assert share_on > 0.4 and share_on > 4 * share_off, (share_on, share_off)
    # colour direction (book/synthetic_design.md §13.3): principal direction of the band-passed,
    # mean-normalised linear RGB trace lies along the camera's pulse signature u_p
    rgb = _face_trace(with_pulse)
    x = rgb / rgb.mean(0) - 1
    sos = signal.butter(2, [0.7, 3.5], "bandpass", fs=fs, output="sos")
    x = signal.sosfiltfilt(sos, x, axis=0)
    direction = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][0]
    u_p = np.asarray(with_pulse.params["u_p"])
    cos = abs(direction @ u_p) / np.linalg.norm(u_p)
    assert np.degrees(np.arccos(min(cos, 1.0))) < 10.0


def test_write_read_round_trip(tmp_path, still_clip):
    folder = write_video(still_clip, tmp_path / "still" / "3")
    rec = read_synthetic(folder)
    assert isinstance(rec.frames, np.memmap)
    np.testing.assert_array_equal(np.asarray(rec.frames), still_clip.frames)
    np.testing.assert_array_equal(rec.bvp, still_clip.ground_truth["bvp"])
    np.testing.assert_array_equal(rec.face_boxes, still_clip.ground_truth["face_boxes"])
    assert rec.dataset == "synthetic-still" and rec.subject == "3"
    refs = discover(tmp_path / "still")
    assert [r.subject for r in refs] == ["3"] and refs[0].dataset == "synthetic-still"
    (folder / "ground_truth.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="ground_truth.npz"):
        read_synthetic(folder)
    with pytest.raises(DataError, match="meta.json"):
        read_synthetic(tmp_path)


def test_generate_dataset_skips_complete(tmp_path):
    from sspd.data.synthetic import generate_dataset

    out = generate_dataset("motion", tmp_path, subjects=["2"], duration_s=1.0, progress=False)
    mtime = (out[0] / "frames.npy").stat().st_mtime_ns
    again = generate_dataset("motion", tmp_path, subjects=["2"], duration_s=1.0, progress=False)
    assert again == out and (out[0] / "frames.npy").stat().st_mtime_ns == mtime


def test_presets_differ():
    s, m, h = PRESETS["still"], PRESETS["motion"], PRESETS["hard"]
    assert s.ita_weights != h.ita_weights and s.codec == "none" and h.codec == "mjpeg"
    assert 25.0 in h.fps_choices and s.fps_choices == (30.0,)
    ups = [np.asarray(render_video(p, 1, duration_s=0.5).params["u_p"]) for p in ("still", "motion", "hard")]
    assert not np.allclose(ups[0], ups[1]) and not np.allclose(ups[0], ups[2])  # camera signatures
    hard = render_video("hard", 3, seed=0, duration_s=2.0)  # "dark" scenario: darker than still
    assert hard.frames.mean() < render_video("still", 3, seed=0, duration_s=2.0).frames.mean()
    assert hard.fps_nominal in (25.0, 30.0) and np.all(np.diff(hard.timestamps) > 0)
    assert np.std(np.diff(hard.timestamps)) > 1e-4  # jittered timing
    # skin-tone distributions differ in mean ITA over many draws
    rng = np.random.default_rng(0)
    ita = {n: np.mean([sample_skin(rng, PRESETS[n].ita_weights)["ita"] for _ in range(200)]) for n in ("still", "hard")}
    assert ita["still"] > ita["hard"] + 10


def test_skin_colour_science():
    # ITA 56° example of book/synthetic_design.md §5: linear ≈ (0.60, 0.40, 0.30)
    b = 15.0
    L = 50 + b * np.tan(np.radians(56))
    rgb = lab_to_linear_rgb(L, 12.0, b)
    assert np.allclose(rgb, [0.60, 0.40, 0.30], atol=0.06)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_splits_subject_exclusive_and_complete(name):
    split = load_split(name)
    assert split["preset"] == name
    assert not set(split["train"]) & set(split["test"])
    assert sorted(split["train"] + split["test"], key=int) == get_preset(name).subject_ids()


def test_exporters_round_trip(tmp_path):
    try:
        from sspd.data.ubfc import read_ubfc2
        from sspd.data.pure import read_pure
    except ImportError as err:
        pytest.skip(f"format readers not available yet: {err}")
    from sspd.data.synthetic import export_pure, export_ubfc2

    video = render_video("still", 1, seed=0, output="full", duration_s=0.5)
    rec = read_ubfc2(export_ubfc2(video, tmp_path / "ubfc" / "subject1"))
    np.testing.assert_array_equal(rec.frames, video.frames)
    np.testing.assert_allclose(rec.bvp, video.ground_truth["bvp"], rtol=1e-6, atol=1e-6)
    pure = read_pure(export_pure(video, tmp_path / "pure" / "01-01"))
    np.testing.assert_array_equal(pure.frames, video.frames)
    assert pure.n_frames == len(video.frames)
