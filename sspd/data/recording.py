"""The one recording type every reader returns.

A :class:`Recording` is a face video with its timing and (optionally) its
contact ground truth, already aligned by time onto the frames. Readers of real
datasets (UBFC-rPPG, PURE, VIPL-HR) and of the synthetic generator all return
it, so preprocessing, baselines and training never care where a video came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sspd.errors import DataError


@dataclass
class Recording:
    """One face video and its ground truth.

    Attributes
    ----------
    frames : (N, H, W, 3) uint8 array, **BGR** channel order (OpenCV's), possibly memory-mapped.
    timestamps : (N,) float64, seconds since the first frame (first value 0), strictly increasing.
    fps_nominal : the frame rate the container or dataset documentation states, in Hz.
    bvp : (N,) float64 contact blood-volume pulse interpolated onto ``timestamps``
        (up = more blood), or None for unlabelled video.
    bvp_raw, bvp_raw_timestamps : the label at its own sampling times (seconds on the
        same clock as ``timestamps``), kept for HRV and cross-checks; None if absent.
    dataset, subject, session : identifiers ("ubfc2", "38", "1"); splits refer to ``subject``.
    source : the file or folder the recording was read from (named in every error).
    face_boxes : optional (N, 4) int array of ground-truth boxes [top, bottom, left, right]
        in full-frame pixels (the synthetic generator provides them).
    meta : free-form extras (device HR column, generator parameters, ...).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps_nominal: float
    bvp: np.ndarray | None = None
    bvp_raw: np.ndarray | None = None
    bvp_raw_timestamps: np.ndarray | None = None
    dataset: str = ""
    subject: str = ""
    session: str = ""
    source: Path | None = None
    face_boxes: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    @property
    def n_frames(self) -> int:
        return int(len(self.frames))

    @property
    def fps(self) -> float:
        """Measured frame rate, (n - 1) / (t_last - t_first), in Hz."""
        t = self.timestamps
        if len(t) < 2:
            return float(self.fps_nominal)
        return float((len(t) - 1) / (t[-1] - t[0]))

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return float(self.timestamps[-1] - self.timestamps[0]) if len(self.timestamps) else 0.0

    @property
    def key(self) -> str:
        """A file-name-safe identifier, unique within a dataset."""
        parts = [p for p in (self.dataset, self.subject, self.session) if p]
        return "_".join(parts).replace("/", "-") or "recording"

    def validate(self) -> None:
        """Raise :class:`DataError` naming ``source`` if shapes, timing or labels disagree."""
        where = self.source
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise DataError(where, f"frames must be (N, H, W, 3) uint8 BGR, got {f.shape} {f.dtype}")
        n = len(f)
        if n == 0:
            raise DataError(where, "video has no frames")
        t = np.asarray(self.timestamps, dtype=np.float64)
        self.timestamps = t
        if t.shape != (n,):
            raise DataError(where, f"{t.shape[0] if t.ndim else 0} timestamps for {n} frames")
        if not np.all(np.isfinite(t)):
            raise DataError(where, "timestamps contain NaN or infinity")
        if n > 1 and np.any(np.diff(t) <= 0):
            bad = int(np.argmax(np.diff(t) <= 0))
            raise DataError(where, f"timestamps are not strictly increasing (frame {bad} -> {bad + 1})")
        if not (np.isfinite(self.fps_nominal) and self.fps_nominal > 0):
            raise DataError(where, f"invalid nominal frame rate {self.fps_nominal}")
        if self.bvp is not None:
            b = np.asarray(self.bvp, dtype=np.float64)
            self.bvp = b
            if b.shape != (n,):
                raise DataError(where, f"ground truth has {b.shape[0] if b.ndim else 0} samples for {n} frames")
            if not np.all(np.isfinite(b)):
                raise DataError(where, f"ground truth contains {int(np.sum(~np.isfinite(b)))} NaN/inf values")
        if self.face_boxes is not None and np.shape(self.face_boxes) != (n, 4):
            raise DataError(where, f"face_boxes must be ({n}, 4), got {np.shape(self.face_boxes)}")


@dataclass(frozen=True)
class RecordingRef:
    """A recording found on disk but not yet loaded (datasets are too big to load at once).

    ``discover(root)`` functions of every format return a list of these; ``ref.load()``
    reads the video and ground truth and returns a :class:`Recording`.
    """

    dataset: str
    subject: str
    session: str
    path: Path
    loader: Any = field(repr=False, compare=False)

    def load(self) -> Recording:
        return self.loader(self.path)

    @property
    def key(self) -> str:
        parts = [p for p in (self.dataset, self.subject, self.session) if p]
        return "_".join(parts).replace("/", "-")
