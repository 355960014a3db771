"""VIPL-HR (V1) reader and writer (Niu et al.; book/evaluation_reference.md §8).

Layout::

    VIPL-HR-V1/Missing_data.txt
    VIPL-HR-V1/[data/]pN/vK/sourceS/
        video.avi     face crop; the container says 25 fps for EVERY video (wrong)
        time.txt      one integer ms timestamp per frame (sources 1, 3, 4 only)
        wave.csv      header "Wave"; contact BVP at 60 Hz, no timestamps
        gt_HR.csv     header "HR"; one value per second
        gt_SpO2.csv   header "SpO2"; one value per second

Traps handled: the true frame rate comes from ``time.txt`` (container 25 fps can be
20 % off); source2 has no ``time.txt`` and is taken as 30 fps (recorded in
``meta`` with a warning); ``wave.csv`` is assumed to span the video uniformly, its
rate is derived as n_wave / video duration and flagged when far from 60 Hz;
SpO2 values outside 80-100 % are device fault codes and become NaN.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from sspd.data._labels import check_finite, check_increasing, require_file
from sspd.data.recording import Recording, RecordingRef
from sspd.data.video import read_video, write_video, write_video_lossless
from sspd.errors import DataError
from sspd.io import atomic_write_text

VIPL_CONTAINER_FPS = 25.0  # what every VIPL-HR AVI header says
VIPL_SOURCE2_FPS = 30.0  # Huawei P9 front camera, no time.txt
VIPL_WAVE_FS = 60.0  # CONTEC CMS60C, measured 2,084 samples / 34.7 s
WAVE_RATE_TOLERANCE = 0.10  # relative deviation from 60 Hz that gets flagged
SPO2_VALID = (80.0, 100.0)
VIPL_NIR_SOURCE = "4"

_SRC = re.compile(r"^source(\d+)$")
_P = re.compile(r"^p(\d+)$")
_V = re.compile(r"^v(\d+)(-\d+)?$")


def _read_column(path: Path, header: str) -> np.ndarray:
    """Read a one-column CSV with a header line (e.g. ``Wave``) into float64."""
    require_file(path, f"'{header}' CSV")
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(path, f"cannot read ({e})") from e
    if not lines or lines[0].split(",")[0].strip().lower() != header.lower():
        raise DataError(path, f"expected header '{header}' on the first line, got "
                              f"{lines[0][:40] if lines else 'an empty file'!r}")
    try:
        return np.array([float(ln.split(",")[0]) for ln in lines[1:]], dtype=np.float64)
    except ValueError as e:
        raise DataError(path, f"non-numeric value ({e})") from e


def _read_time_ms(path: Path) -> np.ndarray:
    try:
        vals = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        t = np.array([float(v) for v in vals], dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(path, f"cannot parse per-frame ms timestamps ({e})") from e
    check_increasing(path, t, "frame timestamps")
    return t


def read_vipl(source_folder: str | Path) -> Recording:
    """Read one VIPL-HR ``pN/vK/sourceS`` folder.

    Returns a :class:`Recording` with timestamps (s) from ``time.txt`` (or k/30 for
    source2), ``fps_nominal`` = the container's (wrong) 25 fps, ``bvp`` = ``wave.csv``
    interpolated onto the frame times assuming uniform sampling over the video, and in
    ``meta``: device HR (bpm, 1 Hz), SpO2 (%, 1 Hz, faults masked as NaN), the derived
    wave rate and flags saying which rates were assumed.

    Raises :class:`DataError` naming the file: missing video/wave/time.txt (required
    except for source2), time.txt count != frame count, non-increasing times, NaN labels.
    """
    folder = Path(source_folder)
    if not folder.is_dir():
        raise DataError(folder, "VIPL-HR source folder does not exist")
    m = _SRC.match(folder.name)
    source = m.group(1) if m else ""
    video = require_file(folder / "video.avi", "video video.avi")
    wave_path = folder / "wave.csv"
    wave = _read_column(wave_path, "Wave")
    if len(wave) < 2:
        raise DataError(wave_path, f"holds {len(wave)} samples; need >= 2")
    check_finite(wave_path, wave, "BVP wave")
    time_path = folder / "time.txt"
    t_ms = _read_time_ms(time_path) if time_path.is_file() else None
    if t_ms is None and source != "2":
        raise DataError(time_path, "missing per-frame timestamps (required for every source but "
                                   "source2; the container's 25 fps is not the true rate)")

    frames, container_fps = read_video(video)
    n = len(frames)
    meta: dict = {"container_fps": container_fps, "channel_order": "BGR", "source": source}
    if t_ms is not None:
        if len(t_ms) != n:
            raise DataError(time_path, f"{len(t_ms)} timestamps for the {n} frames decoded from "
                                       f"{video.name}")
        t = (t_ms - t_ms[0]) / 1000.0
        meta["fps_source"] = "time.txt"
    else:
        warnings.warn(f"{folder}: no time.txt (source2); assuming {VIPL_SOURCE2_FPS:g} fps", stacklevel=2)
        t = np.arange(n, dtype=np.float64) / VIPL_SOURCE2_FPS
        meta["fps_source"] = f"assumed {VIPL_SOURCE2_FPS:g} fps (no time.txt)"
        meta["fps_assumed"] = True
    fps_true = (n - 1) / t[-1] if n > 1 else VIPL_SOURCE2_FPS

    # wave.csv spans the clip uniformly from the first frame: N frames last N / fps seconds.
    duration = n / fps_true
    wave_fs = len(wave) / duration
    meta["wave_rate_hz"] = wave_fs
    meta["wave_rate_flag"] = bool(abs(wave_fs - VIPL_WAVE_FS) > WAVE_RATE_TOLERANCE * VIPL_WAVE_FS)
    if meta["wave_rate_flag"]:
        warnings.warn(f"{wave_path}: derived wave rate {wave_fs:.1f} Hz is far from {VIPL_WAVE_FS:g} Hz "
                      "(label may not span the video)", stacklevel=2)
    t_wave = np.arange(len(wave), dtype=np.float64) / wave_fs
    bvp = np.interp(t, t_wave, wave)

    hr_path, spo2_path = folder / "gt_HR.csv", folder / "gt_SpO2.csv"
    meta["device_hr"] = _read_column(hr_path, "HR") if hr_path.is_file() else None
    if spo2_path.is_file():
        spo2 = _read_column(spo2_path, "SpO2")
        bad = (spo2 < SPO2_VALID[0]) | (spo2 > SPO2_VALID[1]) | ~np.isfinite(spo2)
        meta["device_spo2"] = np.where(bad, np.nan, spo2)
        meta["spo2_masked"] = int(bad.sum())
    else:
        meta["device_spo2"] = None

    parts = folder.parts
    subject = parts[-3] if len(parts) >= 3 else ""
    session = f"{parts[-2]}/{folder.name}" if len(parts) >= 2 else folder.name
    return Recording(frames=frames, timestamps=t, fps_nominal=container_fps if container_fps > 0
                     else VIPL_CONTAINER_FPS, bvp=bvp, bvp_raw=wave, bvp_raw_timestamps=t_wave,
                     dataset="vipl", subject=subject, session=session, source=folder, meta=meta)


def read_missing_list(path: str | Path) -> set[tuple[str, str, str]]:
    """Parse ``Missing_data.txt`` into {("p1", "v2", "source3"), ...}.

    The exact line format is not documented here, so any line naming a ``pN``, a
    ``vK`` and a ``sourceS`` (separated by spaces, tabs, commas or slashes) counts.
    """
    out = set()
    for ln in Path(path).read_text(errors="replace").splitlines():
        toks = re.split(r"[\s,/\\]+", ln.strip())
        p = next((x for x in toks if _P.match(x)), None)
        v = next((x for x in toks if _V.match(x)), None)
        s = next((x for x in toks if _SRC.match(x)), None)
        if p and v and s:
            out.add((p, v, s))
    return out


def discover_vipl(root: str | Path, rgb_only: bool = True) -> list[RecordingRef]:
    """Find ``pN/vK/sourceS`` folders under ``root`` (or ``root/data``).

    Triples listed in ``root/Missing_data.txt`` are skipped; source4 (NIR) is skipped
    when ``rgb_only``. Dataset "vipl", subject "pN", session "vK/sourceS"; sorted by
    subject, scenario, source number.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "VIPL-HR root folder does not exist")
    missing_file = root / "Missing_data.txt"
    missing = read_missing_list(missing_file) if missing_file.is_file() else set()
    base = root if any(root.glob("p*/v*/source*")) else root / "data"
    refs = []
    for src in base.glob("p*/v*/source*"):
        v, p = src.parent, src.parent.parent
        mp, mv, ms = _P.match(p.name), _V.match(v.name), _SRC.match(src.name)
        if not (src.is_dir() and mp and mv and ms):
            continue
        if (p.name, v.name, src.name) in missing:
            continue
        if rgb_only and ms.group(1) == VIPL_NIR_SOURCE:
            continue
        order = (int(mp.group(1)), int(mv.group(1)), v.name, int(ms.group(1)))
        refs.append((order, RecordingRef("vipl", p.name, f"{v.name}/{src.name}", src, read_vipl)))
    return [r for _, r in sorted(refs, key=lambda x: x[0])]


def _int_text(header: str, values) -> str:
    vals = np.asarray(values, dtype=np.float64).ravel()
    fmt = (lambda x: str(int(x))) if np.all(vals == np.round(vals)) else (lambda x: f"{x:.10g}")
    return header + "\n" + "".join(fmt(x) + "\n" for x in vals)


def write_vipl_source(folder: str | Path, frames_bgr: np.ndarray, time_ms: np.ndarray | None,
                      wave: np.ndarray, gt_hr: np.ndarray, gt_spo2: np.ndarray,
                      codec: str = "ffv1") -> Path:
    """Write a ``pN/vK/sourceS`` folder in the VIPL-HR layout; returns the folder.

    ``video.avi`` always says 25 fps in its header (as the real files do), whatever the
    true rate given by ``time_ms`` (integer ms per frame; None omits ``time.txt`` as in
    source2). ``codec`` "ffv1" (lossless, compact) or "raw" (rawvideo bgr24). ``wave``
    (BVP, ~60 Hz over the clip), ``gt_hr`` (bpm) and ``gt_spo2`` (%) one value per second.
    """
    folder = Path(folder)
    frames = np.asarray(frames_bgr)
    if time_ms is not None:
        t = np.asarray(time_ms).ravel()
        if len(t) != len(frames):
            raise ValueError(f"time_ms needs one value per frame ({len(frames)}), got {len(t)}")
        if np.any(np.asarray(t) != np.round(t)):
            raise ValueError("time_ms holds integer milliseconds")
    if len(np.ravel(gt_hr)) != len(np.ravel(gt_spo2)):
        raise ValueError("gt_hr and gt_spo2 must have the same number of rows (one per second)")
    video = folder / "video.avi"
    if codec == "raw":
        write_video_lossless(video, frames, VIPL_CONTAINER_FPS)
    elif codec == "ffv1":
        write_video(video, frames, VIPL_CONTAINER_FPS, codec="ffv1")
    else:
        raise ValueError(f"codec must be 'ffv1' or 'raw', got {codec!r}")
    if time_ms is not None:
        atomic_write_text(folder / "time.txt", "".join(f"{int(x)}\n" for x in np.ravel(time_ms)))
    atomic_write_text(folder / "wave.csv", _int_text("Wave", wave))
    atomic_write_text(folder / "gt_HR.csv", _int_text("HR", gt_hr))
    atomic_write_text(folder / "gt_SpO2.csv", _int_text("SpO2", gt_spo2))
    return folder
