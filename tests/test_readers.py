"""Readers and writers of the real datasets' layouts, on tiny seeded fixtures."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sspd.data import readers
from sspd.data.pure import discover_pure, pure_fold, pure_fold_subjects, read_pure, write_pure_recording
from sspd.data.ubfc import (UBFC2_SUBJECTS, UBFC2_TEST, UBFC2_TRAIN, discover_ubfc1, discover_ubfc2,
                            read_ubfc2)
from sspd.data.video import iter_video_chunks, read_video, video_info, write_video, write_video_lossless
from sspd.data.vipl import discover_vipl, read_vipl, write_vipl_source
from sspd.errors import DataError

from fixtures import (HR_HZ, make_face_frames, pulse_wave, pure_frame_times, truncate_file,
                      vipl_time_ms, write_pure_fixture, write_ubfc1_fixture, write_ubfc2_fixture,
                      write_vipl_fixture)


def _names(err: pytest.ExceptionInfo, path: Path) -> None:
    """The error must name the offending file in its message and its .path."""
    assert err.value.path == Path(path)
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------- video

def test_face_frames_carry_the_pulse():
    frames = make_face_frames(60, 48, 64, 30.0, HR_HZ, seed=1)
    assert frames.shape == (60, 48, 64, 3) and frames.dtype == np.uint8
    green = frames[:, 20:28, 28:36, 1].mean(axis=(1, 2))
    assert np.corrcoef(green, pulse_wave(np.arange(60) / 30.0))[0, 1] > 0.9
    assert np.array_equal(frames, make_face_frames(60, 48, 64, 30.0, HR_HZ, seed=1))  # seeded


def test_lossless_avi_round_trip_is_bit_exact(tmp_path):
    frames = make_face_frames(20, 48, 64, 30.0, HR_HZ, 0)
    path = write_video_lossless(tmp_path / "v.avi", frames, 29.76)
    out, fps = read_video(path, expected_frames=20)
    assert out.dtype == np.uint8 and np.array_equal(out, frames)
    assert fps == pytest.approx(29.76, abs=1e-3)
    info = video_info(path)
    assert (info["frame_count"], info["width"], info["height"]) == (20, 64, 48)
    assert info["frame_count_exact"] and info["codec"] == "rawvideo" and info["fourcc"] == ""
    # exact raw size: 48*64*3 bytes per frame are all stored
    assert path.stat().st_size > 20 * 48 * 64 * 3
    assert [p.name for p in tmp_path.iterdir()] == ["v.avi"]  # no temp file left behind


def test_chunked_reading_matches_whole_read(tmp_path):
    frames = make_face_frames(23, 48, 64, 30.0, HR_HZ, 0)
    path = write_video_lossless(tmp_path / "v.avi", frames, 30)
    chunks = list(iter_video_chunks(path, 10))
    assert [s for s, _ in chunks] == [0, 10, 20] and [len(c) for _, c in chunks] == [10, 10, 3]
    assert np.array_equal(np.concatenate([c for _, c in chunks]), frames)


def test_other_codecs(tmp_path):
    frames = make_face_frames(12, 48, 64, 30.0, HR_HZ, 0)
    out, fps = read_video(write_video(tmp_path / "f.mkv", frames, 25, codec="ffv1"))
    assert np.array_equal(out, frames) and fps == 25  # FFV1 is lossless
    out, _ = read_video(write_video(tmp_path / "h.mp4", frames, 30, codec="h264", crf=0))
    assert out.shape == frames.shape
    lossy, _ = read_video(write_video(tmp_path / "m.avi", frames, 30, codec="mjpeg"))
    assert lossy.shape == frames.shape and not np.array_equal(lossy, frames)
    assert np.abs(lossy.astype(int) - frames).mean() < 20
    with pytest.raises(ValueError):
        write_video(tmp_path / "x.avi", frames, 30, codec="nope")


def test_video_faults(tmp_path):
    with pytest.raises(DataError) as e:
        read_video(tmp_path / "missing.avi")
    _names(e, tmp_path / "missing.avi")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video" * 50)
    with pytest.raises(DataError) as e:
        read_video(junk)
    _names(e, junk)
    path = write_video_lossless(tmp_path / "v.avi", make_face_frames(10, 48, 64, 30, HR_HZ, 0), 30)
    with pytest.raises(DataError, match="10 frames but 11"):
        read_video(path, expected_frames=11)


def test_truncated_avi_is_detected(tmp_path):
    path = write_video_lossless(tmp_path / "v.avi", make_face_frames(40, 48, 64, 30, HR_HZ, 0), 30)
    truncate_file(path, 0.5)
    with pytest.raises(DataError, match=r"truncated.* of 40 frames") as e:
        read_video(path)
    _names(e, path)
    with pytest.raises(DataError, match="truncated"):
        for _ in iter_video_chunks(path, 8):
            pass


# --------------------------------------------------------------------------- UBFC

def test_ubfc2_round_trip_and_discovery(tmp_path):
    root = write_ubfc2_fixture(tmp_path, subjects=("1", "38"), n=30)
    refs = discover_ubfc2(root)
    assert [(r.dataset, r.subject) for r in refs] == [("ubfc2", "1"), ("ubfc2", "38")]
    rec = refs[1].load()
    t = np.arange(30) / 30.0
    assert np.array_equal(rec.frames, make_face_frames(30, 48, 64, 30.0, HR_HZ, 38))
    lines = (root / "subject38" / "ground_truth.txt").read_text().splitlines()
    assert len(lines) == 3 and all(len(ln.split("  ")) == 30 for ln in lines)
    assert lines[2].split("  ")[1] == "3.3333333e-02"
    written_t = np.array([float(f"{x:.7e}") for x in t])
    assert np.array_equal(rec.timestamps, written_t)
    assert np.allclose(rec.bvp, pulse_wave(t), atol=1e-6)
    assert np.allclose(rec.meta["device_hr"], 72.0)
    assert rec.fps == pytest.approx(30.0, rel=1e-6)


def test_ubfc2_container_fps_disagreement_warns(tmp_path):
    root = write_ubfc2_fixture(tmp_path, subjects=("9",), n=12, fs=20.0)
    vid = root / "subject9" / "vid.avi"
    frames, _ = read_video(vid)
    write_video_lossless(vid, frames, 30.0)  # header now disagrees with line 3 (20 fps)
    with pytest.warns(UserWarning, match="container says 30.000 fps"):
        rec = read_ubfc2(root / "subject9")
    assert rec.fps == pytest.approx(20.0) and rec.meta["container_fps_disagrees"]


def test_failed_write_leaves_existing_file_untouched(tmp_path):
    path = write_video_lossless(tmp_path / "v.avi", make_face_frames(5, 48, 64, 30, HR_HZ, 0), 30)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_video_lossless(path, np.zeros((5, 48, 64, 3), np.float32), 30)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["v.avi"]


def test_ubfc2_split_constants():
    assert len(UBFC2_SUBJECTS) == 42 and len(set(UBFC2_SUBJECTS)) == 42
    assert len(UBFC2_TRAIN) == 30 and UBFC2_TEST == tuple(str(s) for s in range(38, 50))
    assert not set(UBFC2_TRAIN) & set(UBFC2_TEST)
    assert "2" not in UBFC2_SUBJECTS and "21" not in UBFC2_SUBJECTS


def test_ubfc1_interpolates_label_by_time(tmp_path):
    root = write_ubfc1_fixture(tmp_path, n=45)
    (ref,) = discover_ubfc1(root)
    assert (ref.dataset, ref.subject) == ("ubfc1", "5")
    rec = ref.load()
    assert rec.meta["video_file"] == "vid_5gt.avi"
    assert np.array_equal(rec.frames, make_face_frames(45, 48, 64, 30.0, HR_HZ, 0))
    t = np.arange(45) / 30.0
    assert np.array_equal(rec.timestamps, t)
    # linear interpolation of a 1.2 Hz sine sampled at 62 Hz: error << 1 % of the amplitude
    assert np.max(np.abs(rec.bvp - 100 * pulse_wave(t))) < 0.3
    assert rec.bvp_raw_timestamps[1] == pytest.approx(0.016, abs=1e-9)


def test_ubfc_fault_fixtures(tmp_path):
    root = write_ubfc2_fixture(tmp_path, subjects=("1", "3", "4", "5", "8"), n=20)
    # truncated video: cut mid-frame, detected through the declared frame count
    vid = truncate_file(root / "subject1" / "vid.avi", 0.6)
    with pytest.raises(DataError, match="of 20 frames") as e:
        read_ubfc2(root / "subject1")
    _names(e, vid)

    def edit(subject, fn):
        gt = root / f"subject{subject}" / "ground_truth.txt"
        rows = [ln.split("  ") for ln in gt.read_text().splitlines()]
        gt.write_text("\n".join("  ".join(r) for r in fn(rows)) + "\n")
        return gt

    gt = edit("3", lambda rows: [r[:-1] for r in rows])  # 19 labels for 20 frames
    with pytest.raises(DataError, match="label length 19 .* 20 frames") as e:
        read_ubfc2(root / "subject3")
    _names(e, gt)
    gt = edit("4", lambda rows: [rows[0][:5] + ["nan"] + rows[0][6:], rows[1], rows[2]])
    with pytest.raises(DataError, match="NaN") as e:
        read_ubfc2(root / "subject4")
    _names(e, gt)
    gt = edit("5", lambda rows: [rows[0], rows[1], rows[2][:3] + [rows[2][4], rows[2][3]] + rows[2][5:]])
    with pytest.raises(DataError, match="not strictly increasing") as e:
        read_ubfc2(root / "subject5")
    _names(e, gt)
    (root / "subject8" / "ground_truth.txt").unlink()
    with pytest.raises(DataError, match="missing") as e:
        read_ubfc2(root / "subject8")
    _names(e, root / "subject8" / "ground_truth.txt")


# --------------------------------------------------------------------------- PURE

def test_pure_round_trip_and_time_alignment(tmp_path):
    root = write_pure_fixture(tmp_path, names=("01-01", "02-03"), n=45, label_offset_s=-0.02)
    with pytest.warns(UserWarning, match="06-02"):
        refs = discover_pure(root)
    assert [(r.dataset, r.subject, r.session) for r in refs] == [("pure", "01", "01"), ("pure", "02", "03")]
    rec = refs[0].load()
    t = pure_frame_times(45)
    assert np.array_equal(rec.frames, make_face_frames(45, 48, 64, 30.0, HR_HZ, 0))
    assert np.array_equal(rec.timestamps, t)
    assert rec.bvp_raw_timestamps[0] == pytest.approx(-0.02, abs=1e-9)
    # 60 Hz integer waveform starting 20 ms before the camera, interpolated onto 30 fps by time
    truth = 128 + 100 * pulse_wave(t)
    assert np.max(np.abs(rec.bvp - truth)) < 0.8
    # stretching the label by index over the frames (the common loaders' shortcut) is much worse
    by_index = np.interp(np.linspace(0, 1, 45), np.linspace(0, 1, len(rec.bvp_raw)), rec.bvp_raw)
    assert np.max(np.abs(by_index - truth)) > 5
    assert rec.meta["label_rate_hz"] == pytest.approx(60.0, rel=1e-6)
    doc = json.loads((root / "01-01" / "01-01.json").read_text())
    assert set(doc["/FullPackage"][0]["Value"]) == {
        "waveform", "pulseRate", "o2saturation", "signalStrength", "barGraph", "beep",
        "droppingo2Sat", "probeError", "searching", "searchingToLong"}
    assert isinstance(doc["/FullPackage"][0]["Value"]["waveform"], int)
    # the PNG holds RGB like the release (an independent PNG decoder returns RGB)
    import matplotlib.image

    png = sorted((root / "01-01" / "01-01").glob("Image*.png"))[0]
    rgb = np.rint(matplotlib.image.imread(png)[..., :3] * 255).astype(np.uint8)
    assert np.array_equal(rgb, rec.frames[0][..., ::-1])


def test_pure_sorts_frames_numerically(tmp_path):
    # ns names cross a power of ten, so lexical order differs from time order
    frames = make_face_frames(12, 48, 64, 30.0, HR_HZ, 3)
    t = pure_frame_times(12)
    write_pure_recording(tmp_path, "03-01", frames, t, np.arange(30.0), np.arange(30) / 60 - 0.01,
                         t0_ns=10**9 - 150_000_000)
    names = sorted(p.name for p in (tmp_path / "03-01" / "03-01").iterdir())
    assert names[0] != f"Image{10**9 - 150_000_000}.png"  # lexical order is wrong here
    rec = read_pure(tmp_path / "03-01")
    assert np.array_equal(rec.frames, frames) and np.array_equal(rec.timestamps, t)


def test_pure_folds():
    assert [pure_fold_subjects(k) for k in range(5)] == [["05", "10"], ["01", "06"], ["02", "07"],
                                                         ["03", "08"], ["04", "09"]]
    assert pure_fold("07", 2) and not pure_fold(7, 1)


def test_pure_fault_fixtures(tmp_path):
    root = write_pure_fixture(tmp_path, names=("01-01", "01-02", "01-03", "01-04"), n=40)
    with pytest.raises(DataError, match="empty") as e:
        read_pure(root / "06-02")
    _names(e, root / "06-02")
    bad = root / "01-01" / "01-01.json"
    bad.write_text('{"/Image": [')
    with pytest.raises(DataError, match="unreadable JSON") as e:
        read_pure(root / "01-01")
    _names(e, bad)
    js = root / "01-02" / "01-02.json"
    doc = json.loads(js.read_text())
    doc["/Image"][3]["Timestamp"] += 1
    js.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="does not match the file") as e:
        read_pure(root / "01-02")
    _names(e, js)
    js = root / "01-03" / "01-03.json"
    doc = json.loads(js.read_text())
    doc["/FullPackage"][5]["Timestamp"] = doc["/FullPackage"][4]["Timestamp"]
    js.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="duplicated") as e:
        read_pure(root / "01-03")
    _names(e, js)
    js = root / "01-04" / "01-04.json"
    doc = json.loads(js.read_text())
    doc["/FullPackage"] = doc["/FullPackage"][:10]  # label stops long before the video
    js.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="uncovered") as e:
        read_pure(root / "01-04")
    _names(e, js)


# --------------------------------------------------------------------------- VIPL-HR

def test_vipl_true_fps_from_time_txt(tmp_path):
    root = write_vipl_fixture(tmp_path, n=60, true_fps=29.9)
    src = root / "p1" / "v1" / "source1"
    assert video_info(src / "video.avi")["fps"] == 25.0  # the container lies, as in the real data
    rec = read_vipl(src)
    t_ms = vipl_time_ms(60, 29.9)
    assert np.array_equal(rec.timestamps, (t_ms - t_ms[0]) / 1000.0)
    assert rec.fps_nominal == 25.0 and rec.fps == pytest.approx(29.9, abs=0.05)
    assert rec.meta["fps_source"] == "time.txt"
    assert np.array_equal(rec.frames, make_face_frames(60, 48, 64, 29.9, HR_HZ, 0))
    assert rec.meta["wave_rate_hz"] == pytest.approx(60.0, abs=0.5) and not rec.meta["wave_rate_flag"]
    assert np.corrcoef(rec.bvp, pulse_wave(rec.timestamps))[0, 1] > 0.99
    spo2 = rec.meta["device_spo2"]
    assert rec.meta["spo2_masked"] == 1 and np.isnan(spo2[-1]) and np.all(spo2[:-1] == 97)
    assert (rec.subject, rec.session) == ("p1", "v1/source1")


def test_vipl_source2_and_discovery(tmp_path):
    root = write_vipl_fixture(tmp_path, n=30)
    refs = discover_vipl(root)  # source4 (NIR) and the Missing_data.txt triple are skipped
    assert [(r.subject, r.session) for r in refs] == [("p1", "v1/source1"), ("p1", "v1/source2")]
    assert len(discover_vipl(root, rgb_only=False)) == 3
    with pytest.warns(UserWarning, match="no time.txt"):
        rec = refs[1].load()
    assert rec.fps == pytest.approx(30.0) and rec.meta["fps_assumed"]


def test_vipl_raw_writer_and_rate_flag(tmp_path):
    frames = make_face_frames(30, 48, 64, 30.0, HR_HZ, 5)
    src = write_vipl_source(tmp_path / "p2" / "v3" / "source3", frames, vipl_time_ms(30, 30.0),
                            np.arange(50.0), [70], [98], codec="raw")  # 50 samples / 1 s: 50 Hz
    with pytest.warns(UserWarning, match="far from 60"):
        rec = read_vipl(src)
    assert np.array_equal(rec.frames, frames) and rec.meta["wave_rate_flag"]


def test_vipl_fault_fixtures(tmp_path):
    root = write_vipl_fixture(tmp_path, n=20)
    src = root / "p1" / "v1" / "source1"
    time_txt = src / "time.txt"
    good = time_txt.read_text().split()
    time_txt.write_text("\n".join(good[:-1]) + "\n")
    with pytest.raises(DataError, match="19 timestamps for the 20 frames") as e:
        read_vipl(src)
    _names(e, time_txt)
    time_txt.write_text("\n".join(good[:4] + [good[5], good[4]] + good[6:]) + "\n")
    with pytest.raises(DataError, match="not strictly increasing") as e:
        read_vipl(src)
    _names(e, time_txt)
    time_txt.unlink()
    with pytest.raises(DataError, match="missing per-frame timestamps") as e:
        read_vipl(src)
    _names(e, time_txt)
    wave = root / "p1" / "v1" / "source2" / "wave.csv"
    wave.write_text("Wave\n1\nnan\n3\n")
    with pytest.raises(DataError, match="NaN") as e:
        read_vipl(wave.parent)
    _names(e, wave)


# --------------------------------------------------------------------------- dispatch

def test_readers_dispatch(tmp_path):
    assert set(readers.FORMATS) == {"ubfc", "ubfc1", "pure", "vipl", "synthetic"}
    write_ubfc2_fixture(tmp_path / "u", subjects=("38",), n=8)
    write_ubfc1_fixture(tmp_path / "u1", n=8)
    write_pure_fixture(tmp_path / "p", n=8, empty=())
    write_vipl_fixture(tmp_path / "v", n=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt, sub, dataset in (("ubfc", "u", "ubfc2"), ("ubfc1", "u1", "ubfc1"),
                                  ("pure", "p", "pure"), ("vipl", "v", "vipl")):
            refs = readers.discover(tmp_path / sub, fmt)
            rec = readers.read_recording(refs[0].path, fmt)
            assert rec.dataset == dataset and rec.n_frames == 8 and rec.bvp.shape == (8,)
    with pytest.raises(ValueError, match="unknown dataset format"):
        readers.discover(tmp_path, "mmpd")


@pytest.mark.parametrize("fmt", ["ubfc", "ubfc1", "pure", "vipl"])
def test_empty_dataset_folder(tmp_path, fmt):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"format '{fmt}'") as e:
        readers.discover(empty, fmt)
    _names(e, empty)
    with pytest.raises(DataError) as e:
        readers.discover(tmp_path / "nope", fmt)
    _names(e, tmp_path / "nope")
