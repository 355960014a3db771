"""The preprocessed-clip cache: one 151x151 BGR face-crop array per recording.

Layout of a cache folder (one pair of files per recording and configuration)::

    <out>/<recording key>__<cache key>.npy    (N, 151, 151, 3) uint8 BGR, memory-mappable
    <out>/<recording key>__<cache key>.json   sidecar: timestamps, bvp, fps, ids, box(es),
                                              config, source fingerprint, manifest

The cache key is a hash of the *source identity* (path, size and modification
time of every file of the recording; for synthetic recordings, which are a pure
function of their parameters, the content of ``meta.json`` and the file sizes;
for an in-memory :class:`Recording`, a hash of its arrays) and of the
:class:`PreprocessConfig`. Change either and the key changes, so the entry is
rebuilt under a new name. **Old entries are never deleted**: a stale entry is
simply not used (``load_cache(out, config=...)`` selects by configuration and,
without one, takes the newest entry per recording and warns). Delete stale files
by hand if disk space matters.

Both files are written atomically (temporary file, then rename; ``sspd.io``),
the array first and the sidecar last: an entry counts as present only when its
sidecar exists and agrees with the array, so a crash leaves no half entry that
would be used.

Frame rate (book/evaluation_reference.md §5.4, book/method_reference.md §14.6): SSPD assumes
30 fps. A recording whose timestamps are not a uniform grid at ``target_fps``
(measured rate off by more than ``fps_tolerance``, or a gap longer than 1.5
frame periods: VIPL-HR's 25 fps, variable frame rate, dropped frames) is
resampled by time onto the grid t_k = k / target_fps, k = 0 ... floor(duration *
target_fps), so its duration is kept. ``resample="linear"`` blends the two
neighbouring frames in float and rounds; ``"nearest"`` takes the closer frame.
The bvp label is interpolated linearly onto the same grid times. The sidecar
records whether, how and from which rate a recording was resampled.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from sspd.data.face import FaceDetector, crop_faces, enlarge_box, first_frame_box, tracked_boxes
from sspd.data.recording import Recording, RecordingRef
from sspd.errors import DataError
from sspd.io import atomic_path, atomic_write_json, manifest

__all__ = [
    "PreprocessConfig", "CacheEntry", "ClipCache", "build_cache", "load_cache",
    "needs_resampling", "resample_to_fps", "source_fingerprint", "preprocess_recording",
]

CACHE_FORMAT = "sspd-clip-cache"
BOX_MODES = ("first", "tracked", "gt", "gt-first")


# --------------------------------------------------------------------------- config

@dataclass(frozen=True)
class PreprocessConfig:
    """How recordings become cached face crops (every field enters the cache key).

    box_mode : ``"first"`` (authors: detector box of the first frame with a face, for the
        whole video), ``"tracked"`` (per-frame detection, median-smoothed over
        ``track_window`` frames), ``"gt"`` (the recording's per-frame ``face_boxes``,
        synthetic full frames) or ``"gt-first"`` (the ground-truth box of frame 0 for the
        whole video: the authors' fixed box without detector error).
        Ground-truth boxes are used as the crop boxes (the generator stores them already
        enlarged by the authors' rule); boxes marked ``recording.meta["face_boxes_kind"] ==
        "tight"`` are enlarged like a detection first.
        Input that is already ``size`` x ``size`` (the generator's crop output) is taken
        as a face crop and stored as is, in every box mode, without detection or resizing
        (unless its meta says ``output == "full"``).
    size : crop side in pixels (151, the authors' 131 + 20 margin).
    detector, min_size_frac : the :class:`~sspd.data.face.FaceDetector` settings.
    target_fps : frame rate the cache is resampled to (Hz); None keeps the native timing.
    resample : ``"linear"`` or ``"nearest"`` frame interpolation when resampling.
    fps_tolerance : relative rate error accepted as "already at target_fps" (0.005 = 0.5 %).
    track_window : median window of ``"tracked"`` boxes, frames.
    version : bump when the preprocessing code changes meaningfully (invalidates caches).
    """

    box_mode: str = "first"
    size: int = 151
    detector: str = "haar"
    min_size_frac: float = 0.1
    target_fps: float | None = 30.0
    resample: str = "linear"
    fps_tolerance: float = 0.005
    track_window: int = 15
    version: int = 1

    def __post_init__(self):
        if self.box_mode not in BOX_MODES:
            raise ValueError(f"box_mode must be one of {BOX_MODES}, got {self.box_mode!r}")
        if self.resample not in ("linear", "nearest"):
            raise ValueError(f"resample must be 'linear' or 'nearest', got {self.resample!r}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 px, got {self.size}")
        if self.target_fps is not None and not (np.isfinite(self.target_fps) and self.target_fps > 0):
            raise ValueError(f"target_fps must be positive or None, got {self.target_fps}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        return _hash(json.dumps(self.to_dict(), sort_keys=True))


def _hash(text: str | bytes, n: int = 16) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=16).hexdigest()[:n]


# --------------------------------------------------------------------------- resampling

def needs_resampling(timestamps: np.ndarray, fs: float, tolerance: float = 0.005) -> bool:
    """True unless ``timestamps`` (s) form a uniform grid at ``fs`` Hz.

    Uniform means: measured rate (n - 1) / (t_last - t_first) within ``tolerance``
    (relative) of ``fs`` and no interval longer than 1.5 / fs (a dropped frame).
    Ordinary capture jitter (intervals 0.5 ... 1.5 periods) is accepted.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    if len(t) < 2:
        return False
    measured = (len(t) - 1) / (t[-1] - t[0])
    if abs(measured / fs - 1.0) > tolerance:
        return True
    return bool(np.max(np.diff(t)) > 1.5 / fs)


def resample_to_fps(frames: np.ndarray, timestamps: np.ndarray, fs: float, bvp: np.ndarray | None = None,
                    method: str = "linear") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Resample frames (and label) by time onto the uniform grid t0 + k / fs, keeping the duration.

    Parameters
    ----------
    frames : (N, H, W, C) uint8.
    timestamps : (N,) s, strictly increasing.
    fs : target frame rate, Hz.
    bvp : optional (N,) label at the frame times; interpolated linearly onto the grid.
    method : ``"linear"`` (blend the two neighbours in float32, round) or ``"nearest"``.

    Returns (frames (M, H, W, C) uint8, grid times (M,) s, bvp (M,) or None) with
    M = floor((t_last - t0) * fs) + 1.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    if len(t) != len(frames):
        raise ValueError(f"{len(t)} timestamps for {len(frames)} frames")
    if method not in ("linear", "nearest"):
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}")
    t0 = t[0]
    m = int(np.floor((t[-1] - t0) * fs + 1e-9)) + 1
    grid = t0 + np.arange(m) / fs  # (M,)
    # i = last source frame at or before each grid time; w = position between i and i+1
    i = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)
    j = np.minimum(i + 1, len(t) - 1)
    span = np.where(j > i, t[j] - t[i], 1.0)
    w = np.clip((grid - t[i]) / span, 0.0, 1.0)
    out = np.empty((m,) + frames.shape[1:], dtype=np.uint8)
    for k in range(m):
        if method == "nearest":
            out[k] = frames[j[k] if w[k] >= 0.5 else i[k]]
        elif w[k] < 1e-6:  # on a source frame: copy, no rounding noise
            out[k] = frames[i[k]]
        elif w[k] > 1 - 1e-6:
            out[k] = frames[j[k]]
        else:
            a = frames[i[k]].astype(np.float32)
            b = frames[j[k]].astype(np.float32)
            out[k] = np.clip(np.rint(a + np.float32(w[k]) * (b - a)), 0, 255).astype(np.uint8)
    grid = grid - t0
    new_bvp = None if bvp is None else np.interp(grid + t0, t, np.asarray(bvp, dtype=np.float64))
    return out, grid, new_bvp


# --------------------------------------------------------------------------- fingerprints

def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    # a single file: it and its siblings (labels and timestamps live beside the video)
    return sorted(p for p in path.parent.iterdir() if p.is_file())


def source_fingerprint(path: str | Path) -> dict:
    """Identity of a recording on disk, cheap to compute without decoding it.

    Every file of the recording (the folder's files recursively, or a file and its
    siblings) contributes its relative path, size and modification time (ns). If the
    recording holds a ``meta.json`` (synthetic data, a pure function of its
    parameters), its content hash replaces the modification times, so regenerating
    the same data does not invalidate the cache.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "recording not found")
    base = path if path.is_dir() else path.parent
    files = _files_of(path)
    meta_json = next((p for p in files if p.name == "meta.json"), None)
    h = hashlib.blake2b(digest_size=16)
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(base)}\0{st.st_size}\0".encode())
        if meta_json is None:
            h.update(f"{st.st_mtime_ns}\0".encode())
    out = {"path": str(path.resolve()), "n_files": len(files), "files_hash": h.hexdigest()}
    if meta_json is not None:
        out["meta_json_hash"] = _hash(meta_json.read_bytes(), 32)
    return out


def recording_fingerprint(rec: Recording) -> dict:
    """Identity of an in-memory recording: a hash of its arrays and identifiers."""
    h = hashlib.blake2b(digest_size=16)
    for name in ("frames", "timestamps", "bvp", "face_boxes"):
        a = getattr(rec, name)
        if a is None:
            h.update(f"{name}:none".encode())
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype}:{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    h.update(f"{rec.fps_nominal!r}|{rec.dataset}|{rec.subject}|{rec.session}".encode())
    return {"path": None if rec.source is None else str(rec.source), "content_hash": h.hexdigest()}


# --------------------------------------------------------------------------- preprocessing

def _gt_boxes(rec: Recording, first_only: bool) -> np.ndarray:
    if rec.face_boxes is None:
        raise DataError(rec.source, "box_mode 'gt' needs ground-truth face_boxes, and this recording has none")
    boxes = np.asarray(rec.face_boxes, dtype=np.int64)
    if first_only:
        boxes = boxes[:1]
    if rec.meta.get("face_boxes_kind") == "tight":
        shape = rec.frames.shape[1:3]
        boxes = np.stack([enlarge_box(b, shape) for b in boxes])
    return boxes[0] if first_only else boxes


def preprocess_recording(rec: Recording, config: PreprocessConfig,
                         detector: FaceDetector | None = None) -> tuple[np.ndarray, dict]:
    """Face crops of one recording, resampled if needed.

    Returns (crops (M, size, size, 3) uint8 BGR, info) where info holds
    ``timestamps`` (M,) s, ``bvp`` (M,) or None, ``boxes`` (the box or per-frame
    boxes, full-frame pixels [top, bottom, left, right], None for crop input),
    ``box_source`` and ``resampling``.
    """
    size = config.size
    H, W = rec.frames.shape[1:3]
    output = rec.meta.get("output") or (rec.meta.get("params") or {}).get("output")
    if (H, W) == (size, size) and output != "full":
        # already a face crop (e.g. the generator's fast crop path): no detection, no resize
        crops, boxes, box_source = np.asarray(rec.frames), None, "input is already a face crop"
    else:
        if config.box_mode == "first":
            detector = detector or FaceDetector(config.detector, config.min_size_frac)
            boxes = first_frame_box(rec.frames, source=rec.source, detector=detector)
        elif config.box_mode == "tracked":
            detector = detector or FaceDetector(config.detector, config.min_size_frac)
            boxes = tracked_boxes(rec.frames, source=rec.source, detector=detector, window=config.track_window)
        else:
            boxes = _gt_boxes(rec, first_only=config.box_mode == "gt-first")
        box_source = config.box_mode
        crops = crop_faces(rec.frames, boxes, size=size, source=rec.source)
    t, bvp = rec.timestamps, rec.bvp
    resampling = {"applied": False, "source_fps_measured": rec.fps, "source_fps_nominal": rec.fps_nominal,
                  "source_n_frames": rec.n_frames}
    if config.target_fps is not None and needs_resampling(t, config.target_fps, config.fps_tolerance):
        crops, t, bvp = resample_to_fps(crops, t, config.target_fps, bvp=bvp, method=config.resample)
        resampling.update(applied=True, method=config.resample, target_fps=config.target_fps,
                          label_method="linear")
    info = {"timestamps": np.asarray(t, dtype=np.float64), "bvp": bvp, "boxes": boxes,
            "box_source": box_source, "resampling": resampling}
    return crops, info


# --------------------------------------------------------------------------- entries

@dataclass
class CacheEntry:
    """One cached recording: a memory-mapped crop array and its sidecar.

    ``frames`` is opened lazily with ``np.load(mmap_mode="r")``, so a training window
    reads only its own frames; the memmap is not pickled (DataLoader workers reopen it).
    """

    path: Path  # the .npy file
    meta: dict = field(repr=False)
    reused: bool = False
    _frames: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.path = Path(self.path)
        self.timestamps = np.asarray(self.meta["timestamps"], dtype=np.float64)
        b = self.meta.get("bvp")
        self.bvp = None if b is None else np.asarray(b, dtype=np.float64)

    @property
    def frames(self) -> np.ndarray:
        """(N, size, size, 3) uint8 BGR, read-only memmap."""
        if self._frames is None:
            self._frames = np.load(self.path, mmap_mode="r")
        return self._frames

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_frames"] = None
        return state

    key = property(lambda self: self.meta["key"], doc="the cache key (source + config hash)")
    recording_key = property(lambda self: self.meta["recording_key"])
    fps = property(lambda self: float(self.meta["fps"]), doc="frame rate of the cached frames, Hz")
    dataset = property(lambda self: self.meta["dataset"])
    subject = property(lambda self: self.meta["subject"])
    session = property(lambda self: self.meta["session"])
    n_frames = property(lambda self: int(self.meta["n_frames"]))
    source = property(lambda self: self.path)

    def __len__(self) -> int:
        return self.n_frames

    def to_recording(self) -> Recording:
        """The cached crops as a :class:`Recording` (frames memory-mapped, source = the .npy file)."""
        return Recording(frames=self.frames, timestamps=self.timestamps, fps_nominal=self.fps, bvp=self.bvp,
                         dataset=self.dataset, subject=self.subject, session=self.session, source=self.path,
                         meta={"cache": {k: v for k, v in self.meta.items() if k not in ("timestamps", "bvp")}})


def _sidecar(npy: Path) -> Path:
    return npy.with_suffix(".json")


def _read_entry(npy: Path, key: str | None = None) -> CacheEntry | None:
    """The entry stored at ``npy`` if it is complete and consistent (and has ``key``), else None."""
    side = _sidecar(npy)
    if not (npy.is_file() and side.is_file()):
        return None
    try:
        meta = json.loads(side.read_text())
        if meta.get("format") != CACHE_FORMAT or (key is not None and meta.get("key") != key):
            return None
        arr = np.load(npy, mmap_mode="r")
        size = meta["config"]["size"]
        if arr.dtype != np.uint8 or arr.shape != (meta["n_frames"], size, size, 3):
            return None
        if len(meta["timestamps"]) != meta["n_frames"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CacheEntry(npy, meta)


class ClipCache:
    """A folder of preprocessed recordings (see the module docstring for the layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _paths(self, rec_key: str, key: str) -> Path:
        return self.root / f"{rec_key}__{key}.npy"

    def key_for(self, item: RecordingRef | Recording, config: PreprocessConfig) -> tuple[str, str, dict]:
        """(recording key, cache key, source fingerprint) of a reference or recording."""
        if isinstance(item, RecordingRef):
            fp = source_fingerprint(item.path)
        elif isinstance(item, Recording):
            fp = recording_fingerprint(item)
        else:
            raise TypeError(f"expected a RecordingRef or Recording, got {type(item).__name__}")
        rec_key = item.key or "recording"
        ident = {"recording": rec_key, "source": fp, "config": config.to_dict(), "cache_format": CACHE_FORMAT}
        return rec_key, _hash(json.dumps(ident, sort_keys=True)), fp

    def lookup(self, item: RecordingRef | Recording, config: PreprocessConfig) -> CacheEntry | None:
        """The valid entry for this source and config, or None."""
        rec_key, key, _ = self.key_for(item, config)
        return _read_entry(self._paths(rec_key, key), key)

    def build(self, item: RecordingRef | Recording, config: PreprocessConfig = PreprocessConfig(),
              detector: FaceDetector | None = None) -> CacheEntry:
        """Preprocess one recording into the cache, or return the valid entry already there.

        A reference is loaded only if its entry is missing or stale. Returns the
        :class:`CacheEntry` (``entry.reused`` says whether nothing was written).
        """
        rec_key, key, fp = self.key_for(item, config)
        npy = self._paths(rec_key, key)
        found = _read_entry(npy, key)
        if found is not None:
            found.reused = True
            return found
        rec = item.load() if isinstance(item, RecordingRef) else item
        crops, info = preprocess_recording(rec, config, detector=detector)
        t = info["timestamps"]
        fps = float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 else float(rec.fps_nominal)
        meta = {
            "format": CACHE_FORMAT, "key": key, "recording_key": rec_key,
            "dataset": rec.dataset, "subject": rec.subject, "session": rec.session,
            "source": None if rec.source is None else str(rec.source),
            "n_frames": int(len(crops)), "fps": fps, "fps_nominal": float(rec.fps_nominal),
            "timestamps": t, "bvp": info["bvp"], "has_bvp": info["bvp"] is not None,
            "boxes": info["boxes"], "box_source": info["box_source"], "resampling": info["resampling"],
            "channel_order": "BGR", "config": config.to_dict(), "source_fingerprint": fp,
            "manifest": manifest(config),
        }
        self.root.mkdir(parents=True, exist_ok=True)
        # the array first, the sidecar last: the sidecar's presence marks a complete entry
        with atomic_path(npy) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(crops))
        try:
            atomic_write_json(_sidecar(npy), meta)
        except BaseException:
            npy.unlink(missing_ok=True)  # our own array, just written, unusable without its sidecar
            raise
        entry = _read_entry(npy, key)
        if entry is None:  # pragma: no cover - would mean the filesystem lost our write
            raise DataError(npy, "cache entry unreadable right after writing it")
        return entry


# --------------------------------------------------------------------------- whole datasets

def _subject_filter(subjects: Iterable[str] | None):
    if subjects is None:
        return lambda s: True
    wanted = {str(s) for s in subjects}
    return lambda s: str(s) in wanted


def build_cache(root: str | Path, fmt: str, out: str | Path, config: PreprocessConfig = PreprocessConfig(),
                subjects: Sequence[str] | None = None, progress: bool = True,
                skip_errors: bool = False) -> list[CacheEntry]:
    """Preprocess every recording of dataset folder ``root`` (format ``fmt``) into cache folder ``out``.

    ``subjects`` restricts to those subject ids. Entries already valid are reused.
    With ``skip_errors`` a recording that fails (no face, corrupt video) is reported
    as a warning naming its file and skipped; otherwise the first failure raises.
    """
    from tqdm import tqdm

    from sspd.data.readers import discover

    keep = _subject_filter(subjects)
    refs = [r for r in discover(root, fmt) if keep(r.subject)]
    if not refs:
        raise DataError(root, f"no {fmt} recordings" + (f" for subjects {list(subjects)}" if subjects else ""))
    cache, detector = ClipCache(out), None
    if config.box_mode in ("first", "tracked"):
        detector = FaceDetector(config.detector, config.min_size_frac)
    entries = []
    for ref in tqdm(refs, desc=f"preprocess {fmt}", unit="video", disable=not progress):
        try:
            entries.append(cache.build(ref, config, detector=detector))
        except DataError as err:
            if not skip_errors:
                raise
            warnings.warn(f"skipped: {err}", stacklevel=2)
    return entries


def load_cache(out: str | Path, subjects: Sequence[str] | None = None,
               config: PreprocessConfig | None = None) -> list[CacheEntry]:
    """All valid entries of cache folder ``out``, one per recording, sorted by recording key.

    ``config`` keeps only entries built with that configuration. Without it, a
    recording cached under several keys (stale entries are never deleted) yields its
    newest entry, with a warning.
    """
    out = Path(out)
    if not out.is_dir():
        raise DataError(out, "cache folder does not exist (run `python -m sspd preprocess` first)")
    keep = _subject_filter(subjects)
    want = None if config is None else config.to_dict()
    by_rec: dict[str, list[CacheEntry]] = {}
    for side in sorted(out.glob("*.json")):
        entry = _read_entry(side.with_suffix(".npy"))
        if entry is None or not keep(entry.subject) or (want is not None and entry.meta["config"] != want):
            continue
        by_rec.setdefault(entry.recording_key, []).append(entry)
    entries = []
    for rec_key in sorted(by_rec):
        group = sorted(by_rec[rec_key], key=lambda e: (e.meta["manifest"].get("created", ""),
                                                       os.path.getmtime(_sidecar(e.path))))
        if len(group) > 1:
            warnings.warn(f"{out}: {len(group)} cache entries for {rec_key} (different sources or configs); "
                          f"using the newest, {group[-1].path.name}; pass config= to choose", stacklevel=2)
        entries.append(group[-1])
    return entries
