"""UBFC-rPPG readers and writers (DATASET_2 "realistic" and DATASET_1 "simple").

DATASET_2 layout (book/evaluation_reference.md §6.1)::

    <root>/subject1/vid.avi            uncompressed 24-bit BGR AVI, ~29-30 fps
    <root>/subject1/ground_truth.txt   3 lines, one value per frame:
                                       PPG, device HR (bpm), timestamps (s)

DATASET_1 layout (§6.2)::

    <root>/5-gt/<any name>.avi
    <root>/5-gt/gtdump.xmp             CSV, no header: timestamp_ms, HR, SpO2, PPG (~62 Hz)

Frame times come from line 3 of ``ground_truth.txt`` (DATASET_2) or from the
container rate (DATASET_1). The device HR columns are kept in ``meta`` only: the
ground-truth HR is computed from the PPG like the prediction (book/evaluation_reference.md §5.3).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from sspd.data._labels import check_finite, check_increasing, interp_by_time, require_file
from sspd.data.recording import Recording, RecordingRef
from sspd.data.video import read_video, write_video_lossless
from sspd.errors import DataError
from sspd.io import atomic_write_text

# SSPD's hard-coded 30/12 split (book/method_reference.md §9).
UBFC2_SUBJECTS: tuple[str, ...] = tuple(str(s) for s in (
    1, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27,
    30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49))
UBFC2_TRAIN: tuple[str, ...] = tuple(s for s in UBFC2_SUBJECTS if int(s) <= 37)
UBFC2_TEST: tuple[str, ...] = tuple(s for s in UBFC2_SUBJECTS if int(s) >= 38)
# The readme forbids showing faces of these subjects in any publication.
UBFC2_NO_PUBLISH: tuple[str, ...] = ("21", "27")

# Relative gap between container fps and timestamp fps that earns a warning (real
# UBFC files differ by ~1 %: nominal 30 vs measured 28.7-29.8).
FPS_DISAGREEMENT = 0.05

_SUBJECT2 = re.compile(r"^subject(\d+)$")
_SUBJECT1 = re.compile(r"^(\d+)-gt$")


# --------------------------------------------------------------------------- DATASET_2

def _read_ground_truth(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse ``ground_truth.txt`` into (ppg, hr_bpm, timestamps_s), equal lengths."""
    require_file(path, "ground-truth file ground_truth.txt")
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(path, f"cannot read ground truth ({e})") from e
    if len(lines) < 3:
        raise DataError(path, f"expected 3 lines (PPG, HR, timestamps), found {len(lines)}")
    rows = []
    for i, ln in enumerate(lines[:3]):
        try:
            rows.append(np.array([float(v) for v in ln.split()], dtype=np.float64))
        except ValueError as e:
            raise DataError(path, f"line {i + 1} holds a non-numeric value ({e})") from e
    ppg, hr, t = rows
    if not (len(ppg) == len(hr) == len(t)):
        raise DataError(path, f"the 3 lines differ in length: PPG {len(ppg)}, HR {len(hr)}, "
                              f"timestamps {len(t)}")
    check_finite(path, ppg, "PPG (line 1)")
    check_increasing(path, t, "timestamps (line 3)")
    return ppg, hr, t


def read_ubfc2(subject_folder: str | Path) -> Recording:
    """Read one UBFC-rPPG DATASET_2 subject folder (``vid.avi`` + ``ground_truth.txt``).

    Returns a :class:`Recording` with timestamps from line 3 (s, shifted to start at 0),
    ``bvp`` = line 1 (one value per frame), device HR (bpm) in ``meta["device_hr"]``.
    Raises :class:`DataError` naming the file on a missing/unreadable file, a truncated
    video, a label length different from the decoded frame count, NaNs or
    non-increasing timestamps.
    """
    folder = Path(subject_folder)
    if not folder.is_dir():
        raise DataError(folder, "UBFC-rPPG subject folder does not exist")
    video = require_file(folder / "vid.avi", "video vid.avi")
    gt = folder / "ground_truth.txt"
    ppg, hr, t = _read_ground_truth(gt)
    frames, container_fps = read_video(video)
    if len(frames) != len(ppg):
        raise DataError(gt, f"label length {len(ppg)} does not match the {len(frames)} frames "
                            f"decoded from {video.name}")
    measured = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else container_fps
    disagree = bool(container_fps > 0 and abs(container_fps - measured) > FPS_DISAGREEMENT * measured)
    if disagree:  # the timestamps win (book/evaluation_reference.md §5.1), but the user should know
        warnings.warn(f"{video}: container says {container_fps:.3f} fps but {gt.name} timestamps give "
                      f"{measured:.3f} fps; using the timestamps", stacklevel=2)
    m = _SUBJECT2.match(folder.name)
    return Recording(
        frames=frames, timestamps=t - t[0],
        fps_nominal=container_fps if container_fps > 0 else 30.0,
        bvp=ppg, bvp_raw=ppg.copy(), bvp_raw_timestamps=t - t[0],
        dataset="ubfc2", subject=m.group(1) if m else folder.name, session="",
        source=folder,
        meta={"device_hr": hr, "container_fps": container_fps, "fps_source": "ground_truth.txt line 3",
              "container_fps_disagrees": disagree, "channel_order": "BGR"},
    )


def discover_ubfc2(root: str | Path) -> list[RecordingRef]:
    """Find ``subjectN`` folders under ``root``, sorted by N (dataset "ubfc2", subject "N").

    Folders are listed even if a file inside is missing, so loading them fails loudly
    instead of a subject silently vanishing from an evaluation.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "UBFC-rPPG DATASET_2 root folder does not exist")
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if p.is_dir() and (m := _SUBJECT2.match(p.name))]
    return [RecordingRef("ubfc2", str(n), "", p, read_ubfc2) for n, p in sorted(found)]


def write_ubfc2_subject(folder: str | Path, frames_bgr: np.ndarray, bvp: np.ndarray, hr: np.ndarray,
                        timestamps: np.ndarray) -> Path:
    """Write a subject folder in the DATASET_2 layout; returns the folder.

    ``vid.avi`` is raw BGR (``rawvideo``/``bgr24``) AVI at the rate measured from
    ``timestamps`` (s); ``ground_truth.txt`` holds PPG, HR (bpm) and timestamps as three
    lines of ``%.7e`` values separated by two spaces, one value per frame.
    """
    folder = Path(folder)
    frames = np.asarray(frames_bgr)
    cols = [np.asarray(a, dtype=np.float64).ravel() for a in (bvp, hr, timestamps)]
    n = len(frames)
    if any(len(c) != n for c in cols):
        raise ValueError(f"bvp, hr and timestamps must each have {n} values (one per frame), got "
                         f"{[len(c) for c in cols]}")
    t = cols[2]
    if n > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("timestamps must be strictly increasing")
    fps = (n - 1) / (t[-1] - t[0]) if n > 1 else 30.0
    write_video_lossless(folder / "vid.avi", frames, fps)
    text = "\n".join("  ".join(f"{v:.7e}" for v in c) for c in cols) + "\n"
    atomic_write_text(folder / "ground_truth.txt", text)
    return folder


# --------------------------------------------------------------------------- DATASET_1

def _read_gtdump(path: Path) -> np.ndarray:
    """Parse ``gtdump.xmp`` into an (M, 4) array: timestamp_ms, HR, SpO2, PPG."""
    require_file(path, "ground-truth file gtdump.xmp")
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (ValueError, OSError) as e:
        raise DataError(path, f"cannot parse as CSV 'timestamp_ms,HR,SpO2,PPG' ({e})") from e
    if data.shape[0] < 2 or data.shape[1] < 4:
        raise DataError(path, f"expected >= 2 rows of 4 columns, got shape {data.shape}")
    return data


def read_ubfc1(folder: str | Path) -> Recording:
    """Read one UBFC-rPPG DATASET_1 folder (one ``*.avi`` of any name + ``gtdump.xmp``).

    Frame times are k / container fps (s). The ~62 Hz PPG is interpolated by time onto
    the frame times assuming the video and the dump start together (the dataset does
    not document the offset). Device HR/SpO2 and the raw PPG go into ``meta``/``bvp_raw``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "UBFC-rPPG DATASET_1 folder does not exist")
    videos = sorted(folder.glob("*.avi"))
    if len(videos) != 1:
        raise DataError(folder, f"expected exactly one *.avi video, found {len(videos)}"
                                + (f": {[v.name for v in videos]}" if videos else ""))
    gt = folder / "gtdump.xmp"
    dump = _read_gtdump(gt)
    frames, fps = read_video(videos[0])
    if not fps > 0:
        raise DataError(videos[0], f"container states no usable frame rate ({fps}); frame times unknown")
    t_frames = np.arange(len(frames), dtype=np.float64) / fps
    t_label = (dump[:, 0] - dump[0, 0]) / 1000.0  # common start assumed
    bvp = interp_by_time(gt, dump[:, 3], t_label, t_frames)
    m = _SUBJECT1.match(folder.name)
    return Recording(
        frames=frames, timestamps=t_frames, fps_nominal=fps, bvp=bvp,
        bvp_raw=dump[:, 3].copy(), bvp_raw_timestamps=t_label,
        dataset="ubfc1", subject=m.group(1) if m else folder.name, session="", source=folder,
        meta={"device_hr": dump[:, 1].copy(), "device_spo2": dump[:, 2].copy(),
              "label_times_s": t_label, "video_file": videos[0].name, "container_fps": fps,
              "fps_source": "container", "alignment": "common start assumed (undocumented)",
              "channel_order": "BGR"},
    )


def discover_ubfc1(root: str | Path) -> list[RecordingRef]:
    """Find DATASET_1 folders (``N-gt`` and any other folder holding ``gtdump.xmp``).

    Subject is N for ``N-gt`` folders, the folder name otherwise (e.g. "after-exercise").
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "UBFC-rPPG DATASET_1 root folder does not exist")
    found = []
    for p in root.iterdir():
        if not p.is_dir():
            continue
        m = _SUBJECT1.match(p.name)
        if m:
            found.append(((0, int(m.group(1)), ""), m.group(1), p))
        elif (p / "gtdump.xmp").is_file():
            found.append(((1, 0, p.name), p.name, p))
    return [RecordingRef("ubfc1", subj, "", p, read_ubfc1) for _, subj, p in sorted(found)]


def write_ubfc1(folder: str | Path, frames_bgr: np.ndarray, fps: float, ppg: np.ndarray,
                ppg_times_s: np.ndarray, video_name: str = "vid.avi", hr: np.ndarray | float = 0,
                spo2: np.ndarray | float = 0) -> Path:
    """Write a DATASET_1 folder: raw BGR AVI ``video_name`` at ``fps`` Hz + ``gtdump.xmp``.

    ``gtdump.xmp`` rows are ``timestamp_ms,HR,SpO2,PPG`` with timestamp_ms =
    ppg_times_s * 1000 (3 decimals). ``hr`` (bpm) and ``spo2`` (%) may be scalars or
    per-sample arrays; 0 means "not recorded". Returns the folder.
    """
    folder = Path(folder)
    ppg = np.asarray(ppg, dtype=np.float64).ravel()
    t = np.asarray(ppg_times_s, dtype=np.float64).ravel()
    if len(ppg) != len(t) or len(t) < 2:
        raise ValueError(f"ppg and ppg_times_s need the same length >= 2, got {len(ppg)}, {len(t)}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("ppg_times_s must be strictly increasing")
    hr = np.broadcast_to(np.asarray(hr, dtype=np.float64), t.shape)
    spo2 = np.broadcast_to(np.asarray(spo2, dtype=np.float64), t.shape)
    if not video_name.lower().endswith(".avi"):
        raise ValueError(f"video_name must end in .avi, got {video_name!r}")
    write_video_lossless(folder / video_name, frames_bgr, fps)
    rows = [f"{ms:.3f},{h:g},{s:g},{p:.10g}" for ms, h, s, p in zip(t * 1000.0, hr, spo2, ppg)]
    atomic_write_text(folder / "gtdump.xmp", "\n".join(rows) + "\n")
    return folder
