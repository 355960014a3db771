"""Face boxes, crops, the clip cache, resampling and the training-clip dataset."""
from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
import pytest

from sspd.data.cache import (ClipCache, PreprocessConfig, load_cache, needs_resampling,
                             resample_to_fps)
from sspd.data.dataset import ClipDataset
from sspd.data.face import FaceDetector, crop_faces, enlarge_box, first_frame_box, tracked_boxes
from sspd.data.recording import Recording, RecordingRef
from sspd.data.toy import drawn_face  # a cartoon face the Haar cascade detects (test_detector_fires)
from sspd.errors import ClipTooShortError, NoFaceError

from conftest import random_frames


# --------------------------------------------------------------------------- fixtures

def textured_recording(n=40, h=120, w=160, fps=30.0, seed=0, **kw):
    """Full frames with a textured patch and a ground-truth box; bvp a 1.2 Hz sinusoid."""
    t = np.arange(n) / fps
    frames = random_frames((n, h, w, 3), seed)
    boxes = np.tile([30, 90, 50, 110], (n, 1))
    return Recording(frames=frames, timestamps=t, fps_nominal=fps, bvp=np.sin(2 * np.pi * 1.2 * t),
                     dataset="toy", subject=kw.pop("subject", "1"), session="", face_boxes=boxes, **kw)


def crop_recording(n, fps=30.0, size=151, subject="1", timestamps=None, f_hz=1.2):
    """A 151x151 'crop' whose brightness follows a sinusoid, the label the same sinusoid."""
    t = np.arange(n) / fps if timestamps is None else np.asarray(timestamps)
    pulse = np.sin(2 * np.pi * f_hz * t)
    frames = np.broadcast_to(np.rint(128 + 100 * pulse).astype(np.uint8)[:, None, None, None],
                             (len(t), size, size, 3)).copy()
    return Recording(frames=frames, timestamps=t, fps_nominal=fps, bvp=pulse, dataset="toy",
                     subject=subject, session="")


GT = PreprocessConfig(box_mode="gt")


# --------------------------------------------------------------------------- boxes and crops

@pytest.mark.parametrize("box, shape, expected", [
    # h=150 -> add_h=50: top-70, bottom+50; w=120 -> add_w=max(40, 40)=40
    ([100, 250, 200, 320], (480, 640), [30, 300, 160, 360]),
    # a 30 px face: the 40 px minimum applies to both axes; top clipped at 0
    ([50, 80, 60, 90], (480, 640), [0, 120, 20, 130]),
    # bottom and right clipped to the image (exclusive ends = H, W)
    ([400, 470, 580, 630], (480, 640), [344, 480, 540, 640]),
    # non-integer thirds: add_h=66.67 -> floor(93.3)=93 up, 66 down; add_w=100; left clipped
    ([100, 300, 100, 400], (480, 640), [7, 366, 0, 500]),
])
def test_enlarge_box_hand_computed(box, shape, expected):
    assert enlarge_box(box, shape).tolist() == expected


def test_enlarge_box_rejects_empty():
    with pytest.raises(ValueError):
        enlarge_box([10, 10, 0, 5], (100, 100))


def test_crop_shape_dtype_and_bilinear():
    frames = random_frames((3, 100, 120, 3), seed=1)
    box = np.array([10, 70, 20, 100])
    crops = crop_faces(frames, box)
    assert crops.shape == (3, 151, 151, 3) and crops.dtype == np.uint8
    expected = cv2.resize(frames[1, 10:70, 20:100], (151, 151), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crops[1], expected)
    per_frame = crop_faces(frames, np.stack([box, box + [5, 5, 5, 5], box]))
    np.testing.assert_array_equal(per_frame[0], crops[0])
    assert not np.array_equal(per_frame[1], crops[1])


def test_no_face_error_names_source():
    black = np.zeros((4, 120, 160, 3), np.uint8)
    with pytest.raises(NoFaceError, match="subject7/vid.avi"):
        first_frame_box(black, source="data/subject7/vid.avi")
    with pytest.raises(NoFaceError, match="vid.avi"):
        tracked_boxes(black, source="vid.avi")


def test_detector_fires_on_drawn_face_and_first_box_logic():
    face = drawn_face()
    det = FaceDetector()
    raw = det.detect(face)
    assert raw is not None, "Haar cascade did not fire on the drawn face"
    t, b, l, r = raw
    assert t < 120 < b and l < 160 < r  # contains the face centre
    assert det.detect(np.zeros_like(face)) is None
    # the authors' rule: frames before the first detection are skipped, that box is used
    frames = np.stack([np.zeros_like(face), np.zeros_like(face), face, drawn_face(dx=30)])
    assert first_frame_box(frames, detector=det).tolist() == enlarge_box(raw, face.shape).tolist()
    assert first_frame_box(frames, detector=det, enlarge=False).tolist() == raw.tolist()
    with pytest.raises(NoFaceError):
        first_frame_box(frames, detector=det, max_frames=2)


def test_tracked_boxes_carry_over_misses_and_follow_motion():
    det = FaceDetector()
    face, moved = drawn_face(), drawn_face(dx=30)
    frames = np.stack([np.zeros_like(face), face, np.zeros_like(face), moved, moved, moved])
    boxes = tracked_boxes(frames, detector=det, window=1, enlarge=False)
    assert boxes.shape == (6, 4)
    a, m = det.detect(face), det.detect(moved)
    assert boxes[0].tolist() == a.tolist()  # leading miss takes the first detection
    assert boxes[2].tolist() == a.tolist()  # a miss keeps the last box
    assert boxes[5].tolist() == m.tolist()


# --------------------------------------------------------------------------- cache

def test_cache_round_trip_memmap(tmp_path):
    rec = textured_recording()
    entry = ClipCache(tmp_path).build(rec, GT)
    assert not entry.reused
    assert isinstance(entry.frames, np.memmap)
    expected = crop_faces(rec.frames, rec.face_boxes)  # ground-truth boxes are crop boxes as given
    np.testing.assert_array_equal(np.asarray(entry.frames), expected)
    np.testing.assert_array_equal(entry.timestamps, rec.timestamps)
    np.testing.assert_array_equal(entry.bvp, rec.bvp)
    assert entry.fps == pytest.approx(30.0) and entry.subject == "1" and entry.dataset == "toy"
    assert entry.meta["resampling"]["applied"] is False and entry.meta["channel_order"] == "BGR"
    # boxes marked tight are enlarged by the authors' rule first
    tight = ClipCache(tmp_path / "tight").build(
        textured_recording(meta={"face_boxes_kind": "tight"}), PreprocessConfig(box_mode="gt-first"))
    assert tight.meta["boxes"] == enlarge_box(rec.face_boxes[0], rec.frames.shape[1:]).tolist()
    np.testing.assert_array_equal(np.asarray(tight.frames),
                                  crop_faces(rec.frames, enlarge_box(rec.face_boxes[0], rec.frames.shape[1:])))
    # reload from disk and as a Recording
    (loaded,) = load_cache(tmp_path)
    assert loaded.key == entry.key
    np.testing.assert_array_equal(loaded.to_recording().frames, expected)
    # the memmap is not pickled (DataLoader workers reopen it)
    assert len(pickle.dumps(loaded)) < expected.nbytes / 10


def _npz_ref(folder, rec):
    folder.mkdir(exist_ok=True)
    np.savez(folder / "rec.npz", frames=rec.frames, t=rec.timestamps, bvp=rec.bvp, boxes=rec.face_boxes)

    def loader(path):
        z = np.load(path / "rec.npz")
        return Recording(frames=z["frames"], timestamps=z["t"], fps_nominal=30.0, bvp=z["bvp"],
                         dataset="toy", subject="1", session="", source=path, face_boxes=z["boxes"])

    return RecordingRef("toy", "1", "", folder, loader)


def test_cache_reuse_and_rebuild_on_config_or_source_change(tmp_path):
    cache = ClipCache(tmp_path / "cache")
    ref = _npz_ref(tmp_path / "rec1", textured_recording())
    e1 = cache.build(ref, GT)
    mtime = os.stat(e1.path).st_mtime_ns
    e2 = cache.build(ref, GT)
    assert e2.reused and e2.key == e1.key and os.stat(e1.path).st_mtime_ns == mtime
    # another config -> another key and file; the old entry stays on disk
    e3 = cache.build(ref, PreprocessConfig(box_mode="gt", size=64))
    assert not e3.reused and e3.key != e1.key and e3.frames.shape[1:] == (64, 64, 3)
    assert e1.path.exists()
    # modified source -> rebuilt under a new key
    _npz_ref(tmp_path / "rec1", textured_recording(seed=5))
    st = os.stat(tmp_path / "rec1" / "rec.npz")
    os.utime(tmp_path / "rec1" / "rec.npz", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    e4 = cache.build(ref, GT)
    assert not e4.reused and e4.key != e1.key and e1.path.exists()
    assert not np.array_equal(np.asarray(e4.frames), np.asarray(e1.frames))
    # load_cache: choose by config; without one, the newest entry per recording (warned)
    assert load_cache(tmp_path / "cache", config=PreprocessConfig(box_mode="gt", size=64))[0].key == e3.key
    with pytest.warns(UserWarning, match="cache entries"):
        assert load_cache(tmp_path / "cache")[0].key == e4.key


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    import sspd.data.cache as cache_mod

    def broken_save(f, arr, *a, **k):
        f.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ClipCache(tmp_path).build(textured_recording(), GT)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    def broken_json(path, obj):
        raise OSError("sidecar failed")

    monkeypatch.setattr(cache_mod, "atomic_write_json", broken_json)
    with pytest.raises(OSError, match="sidecar failed"):
        ClipCache(tmp_path).build(textured_recording(), GT)
    assert list(tmp_path.iterdir()) == []


def test_resample_25_to_30_fps_keeps_duration_and_label(tmp_path):
    rec = crop_recording(100, fps=25.0)  # 3.96 s
    assert needs_resampling(rec.timestamps, 30.0)
    entry = ClipCache(tmp_path).build(rec, PreprocessConfig(box_mode="gt"))
    assert entry.meta["box_source"] == "input is already a face crop"
    res = entry.meta["resampling"]
    assert res["applied"] and res["source_fps_measured"] == pytest.approx(25.0)
    assert entry.n_frames == 119 and entry.fps == pytest.approx(30.0)
    np.testing.assert_allclose(entry.timestamps, np.arange(119) / 30.0, atol=1e-12)
    assert rec.duration - 1 / 30 < entry.timestamps[-1] <= rec.duration
    truth = np.sin(2 * np.pi * 1.2 * entry.timestamps)
    np.testing.assert_allclose(entry.bvp, truth, atol=0.012)  # linear-interpolation error bound
    brightness = np.asarray(entry.frames, dtype=np.float64).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(brightness, 128 + 100 * truth, atol=1.7)
    # nearest: every output frame is one of the input frames
    frames_n, t_n, _ = resample_to_fps(rec.frames, rec.timestamps, 30.0, method="nearest")
    assert len(t_n) == 119 and set(np.unique(frames_n[:, 0, 0, 0])) <= set(np.unique(rec.frames[:, 0, 0, 0]))


def test_needs_resampling_rules():
    assert not needs_resampling(np.arange(300) / 30.0, 30.0)
    assert not needs_resampling(np.arange(300) / 29.95, 30.0)  # within 0.5 %
    assert needs_resampling(np.arange(300) / 29.76, 30.0)  # UBFC's typical rate is 0.8 % off
    dropped = np.delete(np.arange(300) / 30.0, 150)
    assert needs_resampling(dropped, 30.0, tolerance=0.01)
    rec = crop_recording(90, fps=30.0)
    entry_frames, t, _ = resample_to_fps(rec.frames, rec.timestamps, 30.0)
    np.testing.assert_array_equal(entry_frames, rec.frames)  # on-grid: copied exactly


# --------------------------------------------------------------------------- dataset

def small_recording(n, subject="1"):
    frames = (np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8))
    t = np.arange(n) / 30.0
    return Recording(frames=frames, timestamps=t, fps_nominal=30.0, bvp=np.arange(n, dtype=float),
                     dataset="toy", subject=subject, session="")


def test_clip_dataset_windows_and_full_start_range():
    recs = [small_recording(50, "a"), small_recording(60, "b")]
    ds = ClipDataset(recs, n_frames=11, windows_per_video=400, seed=3)
    assert len(ds) == 800
    item = ds[5]
    assert item["frames"].shape == (11, 4, 4, 3) and str(item["frames"].dtype) == "torch.uint8"
    s = item["start"]
    assert item["frames"][:, 0, 0, 0].tolist() == list(range(s, s + 11))  # consecutive frames
    assert item["bvp"].tolist() == list(range(s, s + 11)) and item["subject"] == "a"
    starts_a = {ds.start_of(i) for i in range(400)}
    starts_b = {ds.start_of(i) for i in range(400, 800)}
    assert starts_a == set(range(40)) and starts_b == set(range(50))  # includes the last start N - 11


def test_clip_dataset_determinism_per_seed_and_epoch():
    recs = [small_recording(80, str(k)) for k in range(5)]
    a, b = ClipDataset(recs, n_frames=11, seed=1), ClipDataset(recs, n_frames=11, seed=1)
    starts = lambda ds: [ds[i]["start"] for i in range(len(ds))]  # noqa: E731
    assert starts(a) == starts(b)
    e0 = starts(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert starts(a) == starts(b) != e0
    a.set_epoch(0)
    assert starts(a) == e0
    assert starts(ClipDataset(recs, n_frames=11, seed=2)) != e0


def test_clip_dataset_deterministic_windows():
    rec = small_recording(50)
    ds = ClipDataset([rec], n_frames=11, random_start=False, stride=10)
    assert [ds[i]["start"] for i in range(len(ds))] == [0, 10, 20, 30]
    ds = ClipDataset([rec], n_frames=11, random_start=False, windows_per_video=3)
    assert [ds[i]["start"] for i in range(3)] == [0, 20, 39]


def test_clip_too_short():
    short = Recording(frames=np.zeros((5, 4, 4, 3), np.uint8), timestamps=np.arange(5) / 30.0,
                      fps_nominal=30.0, subject="9", source="data/subject9")
    with pytest.raises(ClipTooShortError, match="subject9"):
        ClipDataset([short], n_frames=11)
    with pytest.warns(UserWarning, match="subject9"):
        ds = ClipDataset([short, small_recording(20)], n_frames=11, skip_short=True)
    assert len(ds) == 1


def test_dataset_on_cache_entries(tmp_path):
    entry = ClipCache(tmp_path).build(crop_recording(40), GT)
    ds = ClipDataset([entry], n_frames=31)
    item = ds[0]
    s = item["start"]
    np.testing.assert_array_equal(item["frames"].numpy(), np.asarray(entry.frames[s:s + 31]))
    assert item["fps"] == pytest.approx(30.0)


# --------------------------------------------------------------------------- command line

def test_preprocess_command_on_ubfc_fixture(tmp_path, capsys):
    ubfc = pytest.importorskip("sspd.data.ubfc")
    from sspd.cli import main

    n = 12
    t = np.arange(n) / 30.0
    frames = np.stack([drawn_face(level=k % 3) for k in range(n)])
    ubfc.write_ubfc2_subject(tmp_path / "data" / "subject3", frames, np.sin(t), np.full(n, 70.0), t)
    out = tmp_path / "cache"
    assert main(["preprocess", str(tmp_path / "data"), "--format", "ubfc", "--out", str(out),
                 "--no-progress"]) == 0
    assert "1 built" in capsys.readouterr().out
    (entry,) = load_cache(out)
    assert entry.frames.shape == (n, 151, 151, 3) and entry.meta["box_source"] == "first"
    assert main(["preprocess", str(tmp_path / "data"), "--format", "ubfc", "--out", str(out),
                 "--no-progress"]) == 0
    assert "1 reused" in capsys.readouterr().out
