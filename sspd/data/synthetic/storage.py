"""Storing synthetic videos: the native layout, dataset generation, and real-format exporters.

Native layout of one video (``<root>/<preset>/<subject>/``)::

    frames.npy          (N, H, W, 3) uint8 BGR (memory-mapped on read)
    ground_truth.npz    timestamps, bvp, bvp_hi, beat_times, hr, resp, face boxes, ...
    meta.json           every parameter, the seed, the generator version, the request

``meta.json`` is written last, so its presence (with a matching request) marks a complete video.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from sspd.data.recording import Recording, RecordingRef
from sspd.errors import DataError
from sspd.io import atomic_path, atomic_save_npy, atomic_write_json

from .generator import GENERATOR_VERSION, SyntheticVideo, render_video
from .presets import Preset, get_preset

_GT_ARRAYS = ("bvp", "bvp_hi", "beat_times", "hr", "resp", "face_boxes", "face_boxes_tight", "first_box",
              "face_boxes_camera", "face_boxes_tight_camera", "jaw", "blink", "illum_gain", "screen",
              "exposure_gain")


def _request(preset: Preset, subject: str, seed: int, duration_s: float | None, output: str) -> dict:
    """What identifies a stored video: same request => same bytes."""
    return {"preset": preset.name, "preset_fingerprint": preset.fingerprint(), "subject": str(subject),
            "seed": int(seed), "duration_s": float(preset.duration_s if duration_s is None else duration_s),
            "output": output, "generator_version": GENERATOR_VERSION}


def write_video(video: SyntheticVideo, folder: str | Path) -> Path:
    """Write ``video`` to ``folder`` (frames.npy, ground_truth.npz, meta.json), each atomically; returns folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(folder / "frames.npy", np.ascontiguousarray(video.frames))
    gt = video.ground_truth
    arrays = {k: np.asarray(gt[k]) for k in _GT_ARRAYS if k in gt}
    arrays.update({f"pose_{k}": np.asarray(v) for k, v in gt.get("pose", {}).items()})
    arrays["timestamps"] = np.asarray(video.timestamps, np.float64)
    scalars = {"fps_nominal": float(video.fps_nominal), "bvp_hi_fs": float(gt["bvp_hi_fs"]),
               "hr_mean": float(gt["hr_mean"]), "resp_rate": float(gt["resp_rate"])}
    for k, v in scalars.items():
        arrays[k] = np.asarray(v)
    with atomic_path(folder / "ground_truth.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    p = video.params
    preset = Preset.from_dict(p["preset_config"])
    meta = {"request": _request(preset, p["subject"], p["seed"], p["duration_s"], p["output"]),
            "generator_version": GENERATOR_VERSION, "seed": p["seed"], "params": p, **scalars,
            "n_frames": int(len(video.frames)), "frame_shape": list(video.frames.shape[1:])}
    atomic_write_json(folder / "meta.json", meta)
    return folder


def _load_meta(folder: Path) -> dict:
    path = folder / "meta.json"
    if not path.is_file():
        raise DataError(path, "missing meta.json (incomplete or not a synthetic video folder)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(path, f"unreadable meta.json ({err})") from None


def read_synthetic(folder: str | Path) -> Recording:
    """Read a folder written by :func:`write_video` as a :class:`Recording` (frames memory-mapped).

    Raises :class:`DataError` naming the folder/file if a file is missing or corrupt.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "synthetic video folder does not exist")
    meta = _load_meta(folder)
    fpath = folder / "frames.npy"
    if not fpath.is_file():
        raise DataError(fpath, "missing frames.npy")
    try:
        frames = np.load(fpath, mmap_mode="r")
    except (ValueError, OSError) as err:
        raise DataError(fpath, f"corrupt frames.npy ({err})") from None
    gpath = folder / "ground_truth.npz"
    if not gpath.is_file():
        raise DataError(gpath, "missing ground_truth.npz")
    try:
        with np.load(gpath) as z:
            gt = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(gpath, f"corrupt ground_truth.npz ({err})") from None
    for k in ("timestamps", "bvp", "face_boxes", "bvp_hi", "bvp_hi_fs"):
        if k not in gt:
            raise DataError(gpath, f"ground truth lacks {k!r}")
    if len(frames) != meta.get("n_frames", len(frames)):
        raise DataError(fpath, f"{len(frames)} frames but meta.json says {meta.get('n_frames')}")
    p = meta["params"]
    return Recording(
        frames=frames, timestamps=gt["timestamps"], fps_nominal=float(gt["fps_nominal"]), bvp=gt["bvp"],
        bvp_raw=gt["bvp_hi"], bvp_raw_timestamps=np.arange(len(gt["bvp_hi"])) / float(gt["bvp_hi_fs"]),
        dataset=f"synthetic-{p['preset']}", subject=str(p["subject"]), session="", source=folder,
        face_boxes=gt["face_boxes"],
        meta={"hr_mean": float(gt["hr_mean"]), "resp_rate": float(gt["resp_rate"]), "hr": gt.get("hr"),
              "beat_times": gt.get("beat_times"), "first_box": gt.get("first_box"),
              "face_boxes_tight": gt.get("face_boxes_tight"), "params": p})


def discover(root: str | Path) -> list[RecordingRef]:
    """Complete synthetic videos under a preset folder ``root/<subject>/`` (sorted by subject number)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "synthetic preset folder does not exist")
    refs = []
    for sub in root.iterdir():
        if sub.is_dir() and (sub / "meta.json").is_file():
            preset = _load_meta(sub)["params"]["preset"]
            refs.append(RecordingRef(f"synthetic-{preset}", sub.name, "", sub, read_synthetic))
    return sorted(refs, key=lambda r: (int(r.subject) if r.subject.isdigit() else 1 << 30, r.subject))


def is_complete(folder: Path, request: dict) -> bool:
    """True if ``folder`` holds a finished video made for exactly ``request``."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (meta.get("request") == request and (folder / "frames.npy").is_file()
            and (folder / "ground_truth.npz").is_file())


def generate_dataset(preset: str | Preset, out_dir: str | Path, subjects=None, seed: int = 0,
                     duration_s: float | None = None, output: str = "crop", progress: bool = True) -> list[Path]:
    """Render a preset's subjects into ``out_dir/<preset>/<subject>/``; returns the folders.

    subjects : None (all ``preset.n_subjects``), an int N (the first N), or an iterable of ids.
    Subjects already complete for the same request are skipped, so re-runs are cheap.
    """
    from tqdm import tqdm

    preset = get_preset(preset)
    ids = _subject_list(preset, subjects)
    root = Path(out_dir) / preset.name
    folders = []
    for sid in tqdm(ids, desc=f"synthetic {preset.name}", disable=not progress, unit="video"):
        folder = root / sid
        if not is_complete(folder, _request(preset, sid, seed, duration_s, output)):
            write_video(render_video(preset, sid, seed=seed, output=output, duration_s=duration_s), folder)
        folders.append(folder)
    return folders


def _subject_list(preset: Preset, subjects) -> list[str]:
    if subjects is None:
        return preset.subject_ids()
    if isinstance(subjects, (int, np.integer)):
        if subjects < 1:
            raise ValueError(f"subjects must be ≥ 1, got {subjects}")
        return [str(i) for i in range(1, int(subjects) + 1)]
    return [str(s) for s in subjects]


def _full_video(video: SyntheticVideo) -> SyntheticVideo:
    """The same clip as full camera frames (re-rendered from its parameters if it is a crop)."""
    p = video.params
    if p["output"] == "full":
        return video
    return render_video(Preset.from_dict(p["preset_config"]), p["subject"], seed=p["seed"], output="full",
                        duration_s=p["duration_s"])


def export_ubfc2(video: SyntheticVideo, subject_folder: str | Path) -> Path:
    """Write ``video`` as a UBFC-rPPG DATASET_2 subject (full frames: ``vid.avi`` raw BGR24 + ``ground_truth.txt``).

    Line 1 = bvp at frame times, line 2 = instantaneous HR (bpm), line 3 = timestamps (s).
    A ``synthetic_meta.json`` beside them records the generator parameters.
    """
    from sspd.data.ubfc import write_ubfc2_subject  # the format writer lives with the reader

    full = _full_video(video)
    gt = full.ground_truth
    folder = write_ubfc2_subject(subject_folder, full.frames, gt["bvp"], gt["hr"], full.timestamps)
    atomic_write_json(Path(folder) / "synthetic_meta.json", {"params": full.params, "hr_mean": gt["hr_mean"],
                                                              "face_boxes": gt["face_boxes"]})
    return Path(folder)


def export_pure(video: SyntheticVideo, recording_folder: str | Path, label_fs: float = 60.0) -> Path:
    """Write ``video`` as a PURE recording ``<root>/<SS-TT>/`` (PNG frames + ``<SS-TT>.json``).

    ``recording_folder``'s name must be "SS-TT". The label is the pulse resampled to ``label_fs`` Hz
    (≈ 60 Hz like the CMS50E) and integer-scaled to 0–100 like the oximeter's ``waveform`` values.
    """
    from sspd.data.pure import write_pure_recording

    recording_folder = Path(recording_folder)
    full = _full_video(video)
    gt = full.ground_truth
    t_hi = np.arange(len(gt["bvp_hi"])) / gt["bvp_hi_fs"]
    t_lab = np.arange(0.0, t_hi[-1] + 1e-9, 1.0 / label_fs)
    lab = np.interp(t_lab, t_hi, gt["bvp_hi"])
    lab = np.round(5 + 90 * (lab - lab.min()) / max(lab.max() - lab.min(), 1e-9))
    hr_lab = np.round(np.interp(t_lab, full.timestamps, gt["hr"])).astype(int)
    # no extra file inside the recording folder: PURE readers may glob it
    folder = write_pure_recording(recording_folder.parent, recording_folder.name, full.frames, full.timestamps,
                                  lab, t_lab, pulse_rate=hr_lab, spo2=98)
    return Path(folder)
