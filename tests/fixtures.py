"""Tiny, seeded fixtures in the real datasets' on-disk layouts (book/evaluation_reference.md §9).

Every writer produces a few dozen 64x48 frames of a textured "face" patch whose
skin brightness follows a known sinusoidal pulse, plus ground truth in the
dataset's own format. Other test modules import these helpers; they write only
under the folder they are given (use pytest's ``tmp_path``). In-memory toy signals and clips
are in ``conftest.py`` and :mod:`sspd.data.toy`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sspd.data.pure import write_pure_recording
from sspd.data.ubfc import write_ubfc1, write_ubfc2_subject
from sspd.data.vipl import write_vipl_source

H, W = 48, 64
HR_HZ = 1.2  # 72 bpm


def pulse_wave(t: np.ndarray, hr_hz: float = HR_HZ) -> np.ndarray:
    """The fixtures' ground-truth pulse at times ``t`` (s): sin(2*pi*hr_hz*t), unitless."""
    return np.sin(2 * np.pi * hr_hz * np.asarray(t, dtype=np.float64))


def make_face_frames(n: int = 60, h: int = H, w: int = W, fs: float = 30.0, hr_hz: float = HR_HZ,
                     seed: int = 0) -> np.ndarray:
    """(n, h, w, 3) uint8 BGR frames: textured background, elliptical skin patch whose
    brightness follows ``pulse_wave(k / fs, hr_hz)`` (about +-3 grey levels, strongest in
    green as blood absorption is), plus seeded sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    face = ((yy - h / 2) / (0.38 * h)) ** 2 + ((xx - w / 2) / (0.28 * w)) ** 2 <= 1.0  # (h, w)
    background = rng.integers(30, 90, size=(h, w, 3)).astype(np.float64)
    skin_bgr = np.array([120.0, 150.0, 200.0])
    texture = 10.0 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 4.0)[..., None]  # fixed skin texture
    base = np.where(face[..., None], skin_bgr + texture, background)  # (h, w, 3)
    amp = np.array([1.5, 3.0, 1.0])  # B, G, R pulse amplitude in grey levels
    p = pulse_wave(np.arange(n) / fs, hr_hz)  # (n,)
    frames = base[None] + face[None, ..., None] * p[:, None, None, None] * amp
    frames = frames + rng.normal(0.0, 0.8, size=frames.shape)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def truncate_file(path: str | Path, keep_fraction: float = 0.5, offset_bytes: int = 1234) -> Path:
    """Cut a file (in place, test fixtures only) to ``keep_fraction`` of its size plus
    ``offset_bytes`` so the cut lands mid-frame, like a partial download."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction) + offset_bytes])
    return path


# --------------------------------------------------------------------------- UBFC

def write_ubfc2_fixture(root: str | Path, subjects=("1", "38"), n: int = 60, fs: float = 30.0,
                        hr_hz: float = HR_HZ, seed: int = 0, h: int = H, w: int = W) -> Path:
    """``root/subjectN/{vid.avi, ground_truth.txt}`` for each subject; returns ``root``.

    Line 1 = ``pulse_wave(k / fs)``, line 2 = 60 * hr_hz bpm, line 3 = k / fs s.
    """
    root = Path(root)
    for s in subjects:
        t = np.arange(n) / fs
        frames = make_face_frames(n, h, w, fs, hr_hz, seed + int(s))
        write_ubfc2_subject(root / f"subject{s}", frames, pulse_wave(t, hr_hz),
                            np.full(n, 60.0 * hr_hz), t)
    return root


def write_ubfc1_fixture(root: str | Path, name: str = "5-gt", video_name: str = "vid_5gt.avi",
                        n: int = 60, fs: float = 30.0, label_fs: float = 62.0, hr_hz: float = HR_HZ,
                        seed: int = 0) -> Path:
    """``root/5-gt/{vid_5gt.avi, gtdump.xmp}``; the ~62 Hz PPG (100 * pulse_wave) spans the
    clip from the common start; returns ``root``."""
    root = Path(root)
    frames = make_face_frames(n, H, W, fs, hr_hz, seed)
    m = int(np.ceil((n / fs) * label_fs)) + 1
    t_label = np.round(np.arange(m) / label_fs * 1000.0) / 1000.0  # whole ms, as a device log
    write_ubfc1(root / name, frames, fs, 100.0 * pulse_wave(t_label, hr_hz), t_label, video_name,
                hr=60.0 * hr_hz, spo2=98)
    return root


# --------------------------------------------------------------------------- PURE

def pure_frame_times(n: int, fs: float = 30.0) -> np.ndarray:
    """Frame times (s) the PURE fixture uses: round(k * 1e9 / fs) ns."""
    return np.round(np.arange(n) * 1e9 / fs) / 1e9


def write_pure_fixture(root: str | Path, names=("01-01",), n: int = 60, fs: float = 30.0,
                       label_fs: float = 60.0, label_offset_s: float = -0.02, hr_hz: float = HR_HZ,
                       seed: int = 0, empty=("06-02",)) -> Path:
    """PURE recordings ``root/SS-TT`` plus empty folders ``empty``; returns ``root``.

    Waveform = round(128 + 100 * pulse_wave(t)) sampled at ``label_fs`` from
    ``label_offset_s`` (oximeter starting slightly before the camera) to past the last frame.
    """
    root = Path(root)
    t = pure_frame_times(n, fs)
    m = int(np.ceil((t[-1] - label_offset_s) * label_fs)) + 2
    t_label = label_offset_s + np.arange(m) / label_fs
    wave = np.rint(128 + 100 * pulse_wave(t_label, hr_hz))
    for i, name in enumerate(names):
        frames = make_face_frames(n, H, W, fs, hr_hz, seed + i)
        write_pure_recording(root, name, frames, t, wave, t_label, pulse_rate=int(60 * hr_hz), spo2=98)
    for name in empty:
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


# --------------------------------------------------------------------------- VIPL-HR

def vipl_time_ms(n: int, true_fps: float, seed: int = 0, start_ms: int = 1000, jitter_ms: float = 2.0):
    """Integer ms frame times at ``true_fps`` with +-jitter (first and last unjittered)."""
    rng = np.random.default_rng(seed)
    t = start_ms + np.arange(n) * 1000.0 / true_fps
    j = rng.uniform(-jitter_ms, jitter_ms, size=n)
    j[0] = j[-1] = 0.0
    return np.rint(t + j).astype(np.int64)


def write_vipl_fixture(root: str | Path, n: int = 60, true_fps: float = 29.9, hr_hz: float = HR_HZ,
                       seed: int = 0, wave_fs: float = 60.0) -> Path:
    """VIPL-HR layout under ``root``; returns ``root``.

    - ``p1/v1/source1``: time.txt at ``true_fps`` (container says 25), 60 Hz wave,
      1 Hz HR and SpO2 (one fault value 127);
    - ``p1/v1/source2``: no time.txt (30 fps assumed);
    - ``p1/v1/source4``: NIR source (skipped for RGB);
    - ``p1/v2/source1``: present on disk but listed in ``Missing_data.txt``.
    """
    root = Path(root)
    for src, fps, has_time in (("source1", true_fps, True), ("source2", 30.0, False),
                               ("source4", true_fps, True)):
        frames = make_face_frames(n, H, W, fps, hr_hz, seed)
        t_ms = vipl_time_ms(n, fps, seed) if has_time else None
        duration = n / (((n - 1) / ((t_ms[-1] - t_ms[0]) / 1000.0)) if has_time else fps)
        m = int(round(wave_fs * duration))
        wave = np.rint(2000 + 500 * pulse_wave(np.arange(m) / (m / duration), hr_hz))
        secs = int(np.ceil(duration))
        spo2 = np.full(secs, 97)
        spo2[-1] = 127  # device fault code
        write_vipl_source(root / "p1" / "v1" / src, frames, t_ms, wave, np.full(secs, int(60 * hr_hz)),
                          spo2)
    write_vipl_source(root / "p1" / "v2" / "source1", make_face_frames(8, H, W, 30.0, hr_hz, seed),
                      vipl_time_ms(8, 30.0, seed), np.zeros(16), [72], [97])
    (root / "Missing_data.txt").write_text("p1 v2 source1\n")
    return root
