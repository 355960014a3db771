"""Face detection, the authors' box enlargement, and 151x151 face crops.

The authors (book/method_reference.md §1) run dlib's CNN face detector frame by frame
until the first frame with a face, enlarge that single box by a fixed rule and
resize every frame's crop to 151x151 with bilinear interpolation, keeping BGR.
dlib's model file is not shipped in any wheel, so this project uses OpenCV's
Haar cascade ``haarcascade_frontalface_default.xml`` that ships inside the
``opencv-python-headless`` 4.x wheel (no download at run time). A different
detector gives slightly different boxes than the authors' (decision 14.8 in
book/method_reference.md); the box mode is recorded in every cache entry.

Boxes everywhere are integer arrays ``[top, bottom, left, right]`` in
full-frame pixels, bottom/right exclusive, so ``frame[top:bottom, left:right]``
is the crop.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from sspd.errors import DataError, NoFaceError

__all__ = [
    "FaceDetector", "enlarge_box", "enlargement_margins", "first_frame_box", "tracked_boxes", "crop_faces",
    "HAAR_CASCADE",
]

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


class FaceDetector:
    """One-face detector for BGR frames (OpenCV Haar cascade).

    Parameters
    ----------
    kind : only ``"haar"`` (the cascade shipped in the OpenCV wheel).
    min_size_frac : smallest face accepted, as a fraction of the frame's shorter
        side (0.1 -> a 48 px face in a 640x480 frame); smaller detections are
        usually false positives in rPPG recordings, where the face is large.
    pick : which face to return when several are found: ``"largest"`` (default:
        rPPG recordings show one subject close to the camera, and Haar false
        positives are small) or ``"center"`` (nearest the image centre, what the
        authors' script intends).
    scale_factor, min_neighbors : ``cv2.CascadeClassifier.detectMultiScale`` settings.
    """

    def __init__(self, kind: str = "haar", min_size_frac: float = 0.1, pick: str = "largest",
                 scale_factor: float = 1.1, min_neighbors: int = 5):
        if kind != "haar":
            raise ValueError(f"unknown face detector {kind!r}; available: 'haar'")
        if pick not in ("largest", "center"):
            raise ValueError(f"pick must be 'largest' or 'center', got {pick!r}")
        if not 0.0 <= min_size_frac < 1.0:
            raise ValueError(f"min_size_frac must be in [0, 1), got {min_size_frac}")
        haar_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
        path = Path(haar_dir or "cv2.data.haarcascades") / HAAR_CASCADE
        if haar_dir is None or not path.is_file():
            raise DataError(path, "OpenCV Haar cascade file is missing (OpenCV 5 wheels ship none; "
                                  "install opencv-python-headless 4.x, as pinned in requirements.txt)")
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise DataError(path, "OpenCV could not load the Haar cascade")
        self.kind, self.min_size_frac, self.pick = kind, float(min_size_frac), pick
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)

    def detect_all(self, frame_bgr: np.ndarray) -> np.ndarray:
        """All faces in one (H, W, 3) uint8 BGR frame as a (K, 4) int array [top, bottom, left, right]."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[-1] != 3:
            raise ValueError(f"expected an (H, W, 3) BGR frame, got shape {frame_bgr.shape}")
        gray = cv2.cvtColor(np.ascontiguousarray(frame_bgr), cv2.COLOR_BGR2GRAY)
        m = max(1, int(round(self.min_size_frac * min(gray.shape))))
        rects = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                              minNeighbors=self.min_neighbors, minSize=(m, m))
        if len(rects) == 0:
            return np.zeros((0, 4), dtype=np.int64)
        rects = np.asarray(rects, dtype=np.int64)  # (K, 4) x, y, w, h
        x, y, w, h = rects.T
        return np.stack([y, y + h, x, x + w], axis=1)

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray | None:
        """The one face of a BGR frame as [top, bottom, left, right], or None if there is none."""
        boxes = self.detect_all(frame_bgr)
        if len(boxes) == 0:
            return None
        if self.pick == "largest":
            area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
            return boxes[int(np.argmax(area))]
        H, W = frame_bgr.shape[:2]
        cy, cx = (boxes[:, 0] + boxes[:, 1]) / 2.0, (boxes[:, 2] + boxes[:, 3]) / 2.0
        return boxes[int(np.argmin((cy - H / 2.0) ** 2 + (cx - W / 2.0) ** 2))]


def enlargement_margins(height: float, width: float) -> tuple[float, float]:
    """(add_h, add_w) = (max(h/3, 40), max(w/3, 40)) px: the margins of :func:`enlarge_box`.

    Exposed on their own for code that must know the enlarged box's size before any box
    exists (the synthetic generator places the head so that this box fits the frame).
    """
    return max(height / 3.0, 40.0), max(width / 3.0, 40.0)


def enlarge_box(box: Sequence[int], frame_shape: Sequence[int]) -> np.ndarray:
    """The authors' box enlargement (book/method_reference.md §1, step 3), clipped to the image.

    With h = bottom - top and w = right - left (pixels):
    add_h = max(h/3, 40), add_w = max(w/3, 40);
    top -= floor(1.4 add_h), bottom += floor(add_h), left -= floor(add_w), right += floor(add_w).
    The extra 0.4 add_h above keeps the forehead (and some hair) in the crop.

    ``frame_shape`` is (H, W, ...); the result satisfies 0 <= top < bottom <= H, 0 <= left < right <= W.
    """
    t, b, l, r = (int(v) for v in box)
    H, W = int(frame_shape[0]), int(frame_shape[1])
    if b <= t or r <= l:
        raise ValueError(f"empty box [top, bottom, left, right] = {[t, b, l, r]}")
    add_h, add_w = enlargement_margins(b - t, r - l)
    t -= math.floor(1.4 * add_h)
    b += math.floor(add_h)
    l -= math.floor(add_w)
    r += math.floor(add_w)
    out = np.array([max(t, 0), min(b, H), max(l, 0), min(r, W)], dtype=np.int64)
    if out[1] <= out[0] or out[3] <= out[2]:
        raise ValueError(f"box {list(box)} lies outside a frame of shape {(H, W)}")
    return out


def _frame_count(frames) -> int:
    return len(frames)


def first_frame_box(frames: np.ndarray, source: str | Path | None = None, max_frames: int | None = None,
                    detector: FaceDetector | None = None, enlarge: bool = True) -> np.ndarray:
    """The authors' single box: detect frame by frame until the first face, use it for the whole video.

    Parameters
    ----------
    frames : (N, H, W, 3) uint8 BGR frames (any indexable sequence of frames).
    source : the video file, named in the error.
    max_frames : give up after this many frames (None: try every frame).
    detector : a :class:`FaceDetector` (default settings if None).
    enlarge : return the box enlarged by :func:`enlarge_box` (what the crop uses);
        False returns the raw detection.

    Returns a (4,) int array [top, bottom, left, right]. Raises :class:`NoFaceError`
    naming ``source`` when no frame holds a face.
    """
    detector = detector or FaceDetector()
    n = _frame_count(frames)
    limit = n if max_frames is None else min(n, int(max_frames))
    for i in range(limit):
        box = detector.detect(frames[i])
        if box is not None:
            return enlarge_box(box, frames[i].shape) if enlarge else box
    raise NoFaceError(source, f"no face found in the first {limit} of {n} frames")


def tracked_boxes(frames: np.ndarray, source: str | Path | None = None, detector: FaceDetector | None = None,
                  window: int = 15, detect_every: int = 1, enlarge: bool = True) -> np.ndarray:
    """Per-frame face boxes, smoothed over time (for moving subjects: PURE motion tasks, VIPL-HR).

    Detection runs on every ``detect_every``-th frame. A frame without a detection
    takes the last detected box (frames before the first detection take the first
    one). Each coordinate is then smoothed with a centred running median over
    ``window`` frames, which removes detector jitter and isolated false
    positives without lagging behind real motion the way an EMA would. Boxes are
    enlarged per frame after smoothing.

    Returns an (N, 4) int array [top, bottom, left, right]. Raises
    :class:`NoFaceError` naming ``source`` when no frame holds a face.
    """
    from scipy.ndimage import median_filter

    if window < 1 or detect_every < 1:
        raise ValueError("window and detect_every must be >= 1")
    detector = detector or FaceDetector()
    n = _frame_count(frames)
    raw = np.full((n, 4), -1, dtype=np.int64)
    for i in range(0, n, detect_every):
        box = detector.detect(frames[i])
        if box is not None:
            raw[i] = box
    found = np.flatnonzero(raw[:, 0] >= 0)
    if len(found) == 0:
        raise NoFaceError(source, f"no face found in any of {n} frames")
    # carry the last detection forward over misses; leading misses take the first detection
    idx = np.maximum.accumulate(np.where(raw[:, 0] >= 0, np.arange(n), -1))
    idx[idx < 0] = found[0]
    filled = raw[idx].astype(np.float64)
    smooth = median_filter(filled, size=(min(window, n), 1), mode="nearest") if window > 1 else filled
    boxes = np.round(smooth).astype(np.int64)
    if enlarge:
        shape = frames[0].shape
        boxes = np.stack([enlarge_box(b, shape) for b in boxes])
    return boxes


def crop_faces(frames: np.ndarray, boxes_or_box: np.ndarray, size: int = 151,
               source: str | Path | None = None) -> np.ndarray:
    """Crop each frame to its box and resize to size x size (cv2 bilinear, aspect not kept, as the authors).

    Parameters
    ----------
    frames : (N, H, W, 3) uint8 BGR.
    boxes_or_box : one box (4,) for the whole video or (N, 4) boxes, [top, bottom, left, right].
    size : output side in pixels (151 = the authors' 131 + margin 20).

    Returns (N, size, size, 3) uint8 BGR. A crop that already has the requested
    size is copied without resampling.
    """
    n = _frame_count(frames)
    boxes = np.asarray(boxes_or_box, dtype=np.int64)
    if boxes.shape == (4,):
        boxes = np.broadcast_to(boxes, (n, 4))
    if boxes.shape != (n, 4):
        raise DataError(source, f"need one box or {n} boxes of 4 values, got shape {boxes.shape}")
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        t, b, l, r = (int(v) for v in boxes[i])
        crop = frames[i][max(t, 0):b, max(l, 0):r]
        if crop.shape[0] == 0 or crop.shape[1] == 0:
            raise DataError(source, f"frame {i}: box {[t, b, l, r]} is empty inside a frame of shape "
                                    f"{frames[i].shape[:2]}")
        if crop.shape[:2] == (size, size):
            out[i] = crop
        else:
            out[i] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return out
