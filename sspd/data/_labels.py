"""Small helpers shared by the dataset readers: parsing numbers and aligning labels by time."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sspd.errors import DataError

# How far (seconds) frame times may lie outside the label's time span before the
# reader refuses to extrapolate. PURE's oximeter starts/stops within ~40 ms of the
# camera; a gap much larger than that means the label does not cover the video.
LABEL_EDGE_TOLERANCE_S = 0.5


def require_file(path: Path, what: str) -> Path:
    """Raise :class:`DataError` naming ``path`` if it is not an existing file."""
    if not path.is_file():
        raise DataError(path, f"missing {what}")
    return path


def check_increasing(path: Path, t: np.ndarray, what: str) -> None:
    """Raise :class:`DataError` naming ``path`` unless ``t`` is finite and strictly increasing."""
    if not np.all(np.isfinite(t)):
        raise DataError(path, f"{what} contain {int(np.sum(~np.isfinite(t)))} NaN/inf values")
    d = np.diff(t)
    if np.any(d <= 0):
        i = int(np.argmax(d <= 0))
        kind = "duplicated" if d[i] == 0 else "decreasing"
        raise DataError(path, f"{what} are not strictly increasing: {kind} at index {i} -> {i + 1} "
                              f"({t[i]!r} -> {t[i + 1]!r})")


def check_finite(path: Path, x: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(x)
    if np.any(bad):
        raise DataError(path, f"{what} contains {int(bad.sum())} NaN/inf values (first at index "
                              f"{int(np.argmax(bad))})")


def interp_by_time(path: Path, label: np.ndarray, label_t: np.ndarray, frame_t: np.ndarray,
                   tolerance_s: float = LABEL_EDGE_TOLERANCE_S) -> np.ndarray:
    """Linearly interpolate ``label`` sampled at ``label_t`` (s) onto ``frame_t`` (s).

    Both time axes must be on the same clock. Frames up to ``tolerance_s`` outside the
    label's span take the edge value; further out raises :class:`DataError` naming
    ``path`` (the label does not cover the video).
    """
    check_increasing(path, label_t, "label timestamps")
    check_finite(path, label, "label")
    before = label_t[0] - frame_t[0]
    after = frame_t[-1] - label_t[-1]
    if before > tolerance_s or after > tolerance_s:
        raise DataError(path, f"label covers {label_t[0]:.3f}-{label_t[-1]:.3f} s but frames span "
                              f"{frame_t[0]:.3f}-{frame_t[-1]:.3f} s (more than {tolerance_s} s uncovered)")
    return np.interp(frame_t, label_t, label).astype(np.float64)
