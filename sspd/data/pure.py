"""PURE reader and writer (Stricker et al., RO-MAN 2014; book/evaluation_reference.md §7).

Layout::

    <root>/01-01/01-01/Image1392643993642815000.png   one PNG per frame, name = capture time (ns)
    <root>/01-01/01-01.json                           {"/Image": [{"Timestamp": ns}, ...],
                                                       "/FullPackage": [{"Timestamp": ns,
                                                                         "Value": {"waveform": int, ...}}]}

The ~59.5 Hz oximeter waveform is interpolated **by time** onto the ~30 Hz frame
times (both on the same ns clock), not stretched by index as common loaders do.
Frames are sorted by the *numeric* timestamp (lexical order breaks when the
number of digits changes). PNGs store RGB; OpenCV decodes them to BGR.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import cv2
import numpy as np

from sspd.data._labels import check_finite, interp_by_time
from sspd.data.recording import Recording, RecordingRef
from sspd.errors import DataError
from sspd.io import atomic_path, atomic_write_json

PURE_SUBJECTS: tuple[str, ...] = tuple(f"{s:02d}" for s in range(1, 11))
PURE_TASKS: dict[str, str] = {"01": "steady", "02": "talking", "03": "slow translation",
                              "04": "fast translation", "05": "small rotation", "06": "medium rotation"}
PURE_FPS_NOMINAL = 30.0

_NAME = re.compile(r"^(\d{2})-(\d{2})$")
_IMAGE = re.compile(r"^Image(\d+)\.png$")


def pure_fold(subject: str | int, k: int) -> bool:
    """True if ``subject`` belongs to test fold ``k`` of the subject-mod-5 protocol (SiNC).

    Fold k (0-4) holds the subjects with ID mod 5 == k, two subjects per fold.
    """
    if not 0 <= int(k) < 5:
        raise ValueError(f"PURE fold must be 0-4, got {k}")
    return int(subject) % 5 == int(k)


def pure_fold_subjects(k: int) -> list[str]:
    """The two subject ids ("SS") of subject-mod-5 fold ``k``."""
    return [s for s in PURE_SUBJECTS if pure_fold(s, k)]


def _is_empty_recording(folder: Path) -> bool:
    """True if the recording holds no frames (e.g. 06-02 in the public release)."""
    frame_dir = folder / folder.name
    has_png = frame_dir.is_dir() and any(frame_dir.glob("Image*.png"))
    return not has_png and not (folder / f"{folder.name}.json").is_file()


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(path, "missing PURE label file")
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(path, f"unreadable JSON ({e})") from e
    if not isinstance(obj, dict) or "/Image" not in obj or "/FullPackage" not in obj:
        raise DataError(path, "JSON lacks the '/Image' and '/FullPackage' lists")
    return obj


def read_pure(recording_folder: str | Path) -> Recording:
    """Read one PURE recording folder ``SS-TT``.

    Returns a :class:`Recording`: frames (N, H, W, 3) uint8 BGR sorted by numeric capture
    time; timestamps (s) relative to the first frame; ``bvp`` = oximeter ``waveform``
    interpolated by time onto the frames; ``bvp_raw``/``bvp_raw_timestamps`` the waveform at
    its own times (s, same origin; may start slightly before 0); device pulse rate (bpm) and
    SpO2 (%) in ``meta``.

    Raises :class:`DataError` naming the folder or file for an empty recording, a missing
    or unreadable JSON, ``/Image`` timestamps that differ from the file names, an
    unreadable PNG, non-increasing label times or a label that does not cover the video.
    """
    folder = Path(recording_folder)
    if not folder.is_dir():
        raise DataError(folder, "PURE recording folder does not exist")
    name = folder.name
    frame_dir = folder / name
    if _is_empty_recording(folder):
        raise DataError(folder, "empty PURE recording (no frames, no JSON; 06-02 is empty in the "
                                "public release)")
    json_path = folder / f"{name}.json"
    obj = _load_json(json_path)

    # Frames: sort by the integer ns in the name.
    files = []
    for p in frame_dir.glob("Image*.png") if frame_dir.is_dir() else []:
        m = _IMAGE.match(p.name)
        if m:
            files.append((int(m.group(1)), p))
    if not files:
        raise DataError(frame_dir, "no Image<ns>.png frames found")
    files.sort()
    file_ns = np.array([ns for ns, _ in files], dtype=np.int64)

    try:
        image_ns = np.array([int(e["Timestamp"]) for e in obj["/Image"]], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(json_path, f"malformed '/Image' entry ({e!r})") from e
    if len(image_ns) != len(file_ns):
        raise DataError(json_path, f"'/Image' lists {len(image_ns)} timestamps but {frame_dir.name}/ "
                                   f"holds {len(file_ns)} frames")
    if not np.array_equal(image_ns, file_ns):
        i = int(np.argmax(image_ns != file_ns))
        raise DataError(json_path, f"'/Image' timestamp {i} ({image_ns[i]}) does not match the file "
                                   f"name Image{file_ns[i]}.png")

    try:
        pkg = obj["/FullPackage"]
        wave_ns = np.array([int(e["Timestamp"]) for e in pkg], dtype=np.int64)
        vals = [e["Value"] for e in pkg]
        wave = np.array([np.nan if v.get("waveform") is None else float(v["waveform"]) for v in vals])
        pulse = np.array([np.nan if v.get("pulseRate") is None else float(v["pulseRate"]) for v in vals])
        spo2 = np.array([np.nan if v.get("o2saturation") is None else float(v["o2saturation"])
                         for v in vals])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(json_path, f"malformed '/FullPackage' entry ({e!r})") from e
    if len(wave) < 2:
        raise DataError(json_path, f"'/FullPackage' holds {len(wave)} samples; need >= 2")
    check_finite(json_path, wave, "'/FullPackage' waveform")

    # Subtract in integer ns before converting, so float64 keeps sub-microsecond precision.
    t0 = int(file_ns[0])
    t_frames = (file_ns - t0).astype(np.float64) / 1e9
    t_wave = (wave_ns - t0).astype(np.float64) / 1e9
    bvp = interp_by_time(json_path, wave, t_wave, t_frames)

    frames = None
    for i, (_, p) in enumerate(files):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(p, "cannot decode PNG frame")
        if frames is None:
            frames = np.empty((len(files), *img.shape), dtype=np.uint8)
        elif img.shape != frames.shape[1:]:
            raise DataError(p, f"frame size {img.shape} differs from the first frame's {frames.shape[1:]}")
        frames[i] = img

    m = _NAME.match(name)
    wave_rate = (len(t_wave) - 1) / (t_wave[-1] - t_wave[0]) if t_wave[-1] > t_wave[0] else float("nan")
    return Recording(
        frames=frames, timestamps=t_frames, fps_nominal=PURE_FPS_NOMINAL, bvp=bvp,
        bvp_raw=wave, bvp_raw_timestamps=t_wave, dataset="pure",
        subject=m.group(1) if m else name, session=m.group(2) if m else "", source=folder,
        meta={"device_hr": pulse, "device_spo2": spo2, "t0_ns": t0, "label_rate_hz": wave_rate,
              "fps_source": "/Image timestamps", "channel_order": "BGR (PNG stores RGB)"},
    )


def discover_pure(root: str | Path) -> list[RecordingRef]:
    """Find ``SS-TT`` recordings under ``root`` (dataset "pure", subject "SS", session "TT").

    Empty recordings (06-02 in the public release) are skipped with a warning.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "PURE root folder does not exist")
    refs = []
    for p in sorted(root.iterdir()):
        m = _NAME.match(p.name)
        if not (p.is_dir() and m):
            continue
        if _is_empty_recording(p):
            warnings.warn(f"{p}: empty PURE recording skipped", stacklevel=2)
            continue
        refs.append(RecordingRef("pure", m.group(1), m.group(2), p, read_pure))
    return refs


def write_pure_recording(folder: str | Path, name: str, frames_bgr: np.ndarray, timestamps_s: np.ndarray,
                         bvp_raw: np.ndarray, bvp_raw_timestamps_s: np.ndarray,
                         t0_ns: int = 1392643993642815000, pulse_rate: np.ndarray | int = 0,
                         spo2: np.ndarray | int = 0) -> Path:
    """Write a recording ``<folder>/<name>/`` in the PURE layout; returns that folder.

    Parameters
    ----------
    folder : dataset root; name : "SS-TT".
    frames_bgr : (N, H, W, 3) uint8 BGR; written as PNG (OpenCV stores RGB, as the release).
    timestamps_s : (N,) frame times in s; file names are ``Image{t0_ns + round(t*1e9)}.png``.
    bvp_raw : (M,) oximeter waveform, stored as int (pass integer values for an exact round trip).
    bvp_raw_timestamps_s : (M,) its times in s on the same clock (may start before 0).
    t0_ns : epoch ns of time 0.
    pulse_rate, spo2 : device pulse rate (bpm) and SpO2 (%), scalar or (M,); 0 = not recorded.
    """
    if not _NAME.match(name):
        raise ValueError(f"PURE recording names look like 'SS-TT', got {name!r}")
    frames = np.asarray(frames_bgr)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8 BGR, got {frames.shape} {frames.dtype}")
    t = np.asarray(timestamps_s, dtype=np.float64).ravel()
    wt = np.asarray(bvp_raw_timestamps_s, dtype=np.float64).ravel()
    wave = np.asarray(bvp_raw, dtype=np.float64).ravel()
    if len(t) != len(frames) or len(wave) != len(wt):
        raise ValueError(f"need one timestamp per frame ({len(frames)} vs {len(t)}) and per waveform "
                         f"sample ({len(wave)} vs {len(wt)})")
    frame_ns = [int(t0_ns) + int(round(x * 1e9)) for x in t]
    wave_ns = [int(t0_ns) + int(round(x * 1e9)) for x in wt]
    if np.any(np.diff(frame_ns) <= 0) or np.any(np.diff(wave_ns) <= 0):
        raise ValueError("timestamps must be strictly increasing (after rounding to ns)")
    pulse = np.broadcast_to(np.asarray(pulse_rate), wave.shape)
    sat = np.broadcast_to(np.asarray(spo2), wave.shape)

    rec = Path(folder) / name
    frame_dir = rec / name
    frame_dir.mkdir(parents=True, exist_ok=True)
    for ns, frame in zip(frame_ns, frames):
        ok, buf = cv2.imencode(".png", frame)
        if not ok:
            raise RuntimeError(f"OpenCV failed to encode a PNG for frame {ns}")
        with atomic_path(frame_dir / f"Image{ns}.png") as tmp:
            tmp.write_bytes(buf.tobytes())
    package = [{"Timestamp": ns, "Value": {
        "waveform": int(np.rint(w)), "pulseRate": int(p), "o2saturation": int(s),
        "signalStrength": 4, "barGraph": 0, "beep": False, "droppingo2Sat": False,
        "probeError": False, "searching": False, "searchingToLong": False}}
        for ns, w, p, s in zip(wave_ns, wave, pulse, sat)]
    atomic_write_json(rec / f"{name}.json",
                      {"/FullPackage": package, "/Image": [{"Timestamp": ns} for ns in frame_ns]})
    return rec
