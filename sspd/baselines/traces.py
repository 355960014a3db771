"""Colour traces: the spatial mean of skin pixels per frame, and their validation.

Every classic rPPG method starts from c(t) = [R(t), G(t), B(t)]^T, the mean colour
of the skin pixels of frame t (book/evaluation_reference.md §4). This module turns
a (N, H, W, 3) uint8 **BGR** video (OpenCV's order, what every reader of this
package returns) into that (N, 3) float64 **RGB** trace, and checks a trace
before a method uses it.

Skin mask (``skin="ycrcb"``): a pixel is skin when its chroma lies in the box
Cr in [133, 173], Cb in [77, 127] of the full-range YCrCb space (Chai & Ngan,
"Face segmentation using skin-color map in videophone applications", IEEE TCSVT
9(4), 1999), it is not too dark (Y >= 30, where sensor noise dominates the
pulse), and no channel is clipped at 255 (a clipped pixel carries no pulse).
The mask is computed per frame, so it follows a moving face inside the box.
A frame whose mask holds fewer than ``min_skin_fraction`` of the ROI's pixels
(dark skin under coloured light, a hand over the face, a non-face crop) falls
back to the central region of the ROI (the middle half in each direction: the
nose, cheeks and lower forehead of a face crop); ``return_info=True`` says which
frames fell back, so an evaluation can report it instead of hiding it.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from sspd.errors import ClipTooShortError, DataError

# Chai & Ngan (1999) skin-chroma box in OpenCV's 8-bit YCrCb (offset 128).
CR_RANGE = (133, 173)
CB_RANGE = (77, 127)
Y_MIN = 30

# Shortest clip any classic method accepts: one 1.6-s POS/CHROM window (Wang et al. 2017).
MIN_DURATION_S = 1.6

# Frames processed at once: bounds the uint8 temporaries to ~32 MB whatever the clip length.
_CHUNK_BYTES = 32 * 2**20


def _roi_boxes(roi, n: int, h: int, w: int, source) -> np.ndarray:
    """(N, 4) int boxes [top, bottom, left, right], clipped to the frame."""
    if roi is None:
        return np.tile(np.array([0, h, 0, w], dtype=np.int64), (n, 1))
    boxes = np.asarray(roi)
    if boxes.shape == (4,):
        boxes = np.tile(boxes, (n, 1))
    if boxes.shape != (n, 4) or not np.all(np.isfinite(boxes)):
        raise DataError(source, f"roi must be None, a [top, bottom, left, right] box or an ({n}, 4) "
                                f"array of finite boxes; got shape {boxes.shape}")
    boxes = np.round(boxes).astype(np.int64)
    boxes[:, :2] = np.clip(boxes[:, :2], 0, h)
    boxes[:, 2:] = np.clip(boxes[:, 2:], 0, w)
    if np.any(boxes[:, 1] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 2]):
        raise DataError(source, "roi holds an empty box (bottom <= top or right <= left) inside the frame")
    return boxes


def _box_masks(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """(n*H, W) uint8 masks (0/255) of per-frame boxes, stacked like the frames (no loop per frame)."""
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 1:2])  # (n, H)
    in_cols = (cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])  # (n, W)
    return ((in_rows[:, :, None] & in_cols[:, None, :]) * np.uint8(255)).reshape(-1, w)


def _central_boxes(boxes: np.ndarray) -> np.ndarray:
    """The middle half (in height and width) of each box."""
    top, bottom, left, right = boxes.T
    dh, dw = (bottom - top) // 4, (right - left) // 4
    return np.stack([top + dh, np.maximum(bottom - dh, top + dh + 1),
                     left + dw, np.maximum(right - dw, left + dw + 1)], axis=1)


def _skin_mask(flat_bgr: np.ndarray) -> np.ndarray:
    """(n*H, W) uint8 (0/255) YCrCb skin mask of frames stacked vertically, (n*H, W, 3) uint8 BGR."""
    ycc = cv2.cvtColor(flat_bgr, cv2.COLOR_BGR2YCrCb)
    skin = cv2.inRange(ycc, (Y_MIN, CR_RANGE[0], CB_RANGE[0]), (255, CR_RANGE[1], CB_RANGE[1]))
    unclipped = cv2.inRange(flat_bgr, (0, 0, 0), (254, 254, 254))
    return cv2.bitwise_and(skin, unclipped)


def _masked_sums(flat_bgr: np.ndarray, mask: np.ndarray | None, n: int) -> np.ndarray:
    """(n, 3) float64 per-frame sums of B, G, R over the mask (exact: OpenCV sums in float64)."""
    if mask is not None:
        flat_bgr = cv2.bitwise_and(flat_bgr, flat_bgr, mask=mask)
    return cv2.reduce(flat_bgr.reshape(n, -1, 3), 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F).reshape(n, 3)


def rgb_traces(frames_bgr: np.ndarray, skin: str = "ycrcb", roi=None, *,
               min_skin_fraction: float = 0.05, fs: float | None = None,
               source: str | Path | None = None, return_info: bool = False):
    """Spatial mean colour of the skin pixels of every frame.

    Parameters
    ----------
    frames_bgr : (N, H, W, 3) uint8 video, BGR channel order.
    skin : ``"ycrcb"`` (per-frame YCrCb skin mask inside the ROI, see module
        docstring) or ``"none"`` (every pixel of the ROI).
    roi : None (whole frame), a box ``[top, bottom, left, right]`` in pixels, or an
        (N, 4) array of per-frame boxes (``Recording.face_boxes``).
    min_skin_fraction : a frame whose skin mask covers less than this fraction of
        its ROI uses the central region of the ROI instead.
    fs : frame rate in Hz; when given, clips shorter than 1.6 s are rejected here.
    source : file the frames came from, named in errors.
    return_info : also return a dict with ``skin_fraction`` (N,) and ``fallback`` (N,) bool.

    Returns
    -------
    rgb : (N, 3) float64, mean **R, G, B** (in that order) in digital numbers (0-255).
    info : dict, only when ``return_info``.

    Raises
    ------
    DataError : wrong shape or dtype, unknown ``skin``, an empty ROI, a channel without variance
        (a frozen, black or saturated video).
    ClipTooShortError : fewer frames than 1.6 s at ``fs`` (only when ``fs`` is given).
    """
    frames = np.asarray(frames_bgr)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise DataError(source, f"frames must be an (N, H, W, 3) BGR video; got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise DataError(source, f"frames must be uint8 (8-bit video); got dtype {frames.dtype}")
    if skin not in ("ycrcb", "none"):
        raise DataError(source, f"skin must be 'ycrcb' or 'none'; got {skin!r}")
    if not 0.0 <= min_skin_fraction <= 1.0:
        raise DataError(source, f"min_skin_fraction must lie in [0, 1]; got {min_skin_fraction}")
    n, h, w, _ = frames.shape
    if fs is not None:
        _check_fs(fs, source)
        if n < math.ceil(MIN_DURATION_S * fs):
            raise ClipTooShortError(source, f"{n} frames at {fs:g} Hz is {n / fs:.2f} s; the classic "
                                            f"methods need at least {MIN_DURATION_S} s")
    boxes = _roi_boxes(roi, n, h, w, source)
    if np.all(boxes == boxes[0]):  # one box for the whole clip: crop once, then no box masks
        top, bottom, left, right = boxes[0]
        frames = frames[:, top:bottom, left:right]
        n, h, w, _ = frames.shape
        boxes = np.tile(np.array([0, h, 0, w]), (n, 1))
        whole = True
    else:
        whole = False
    centres = _central_boxes(boxes)

    rgb = np.empty((n, 3), dtype=np.float64)
    frac = np.ones(n, dtype=np.float64)
    fallback = np.zeros(n, dtype=bool)
    step = max(1, _CHUNK_BYTES // (h * w * 3))
    for s in range(0, n, step):  # a loop over chunks of frames, vectorised inside
        e = min(n, s + step)
        flat = np.ascontiguousarray(frames[s:e]).reshape((e - s) * h, w, 3)  # frames stacked vertically
        box = None if whole else _box_masks(boxes[s:e], h, w)  # (n*H, W) uint8
        area = (boxes[s:e, 1] - boxes[s:e, 0]) * (boxes[s:e, 3] - boxes[s:e, 2])  # (n,)
        mask, count = box, area
        if skin == "ycrcb":
            mask = _skin_mask(flat) if box is None else cv2.bitwise_and(_skin_mask(flat), box)
            count = np.count_nonzero(mask.reshape(e - s, -1), axis=1)
            frac[s:e] = count / area
            bad = count < np.maximum(min_skin_fraction * area, 1)
            if bad.any():
                mask3 = mask.reshape(e - s, h, w)
                mask3[bad] = _box_masks(centres[s:e][bad], h, w).reshape(-1, h, w)
                c = centres[s:e][bad]
                count = count.copy()
                count[bad] = (c[:, 1] - c[:, 0]) * (c[:, 3] - c[:, 2])
                fallback[s:e] = bad
        sums = _masked_sums(flat, mask, e - s)  # (n, 3) B, G, R
        rgb[s:e] = sums[:, ::-1] / count[:, None]  # BGR -> RGB
    validate_traces(rgb, fs, source=source, min_duration_s=0.0 if fs is None else MIN_DURATION_S)
    if return_info:
        return rgb, {"skin_fraction": frac, "fallback": fallback}
    return rgb


def _check_fs(fs, source) -> None:
    if not (isinstance(fs, (int, float, np.integer, np.floating)) and math.isfinite(fs) and fs > 0):
        raise DataError(source, f"sampling rate fs must be a finite positive number of Hz; got {fs!r}")


def validate_traces(rgb: np.ndarray, fs: float | None, *, min_samples: int = 0,
                    min_duration_s: float = MIN_DURATION_S,
                    source: str | Path | None = None) -> np.ndarray:
    """Check an (N, 3) RGB trace and return it as float64.

    Raises :class:`DataError` for a wrong shape, NaN/inf values, a channel with
    zero variance (a saturated or blacked-out channel carries no pulse, and the
    methods divide by its spread) or a non-positive channel mean (the methods
    divide by it), and :class:`ClipTooShortError` when the trace is shorter than
    ``min_samples`` or than ``min_duration_s`` seconds at ``fs`` Hz.
    """
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise DataError(source, f"RGB traces must have shape (N, 3); got {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
        raise DataError(source, f"RGB traces hold NaN or infinite values in {len(bad)} frame(s), "
                                f"first at frame {bad[0]}")
    need = int(min_samples)
    if fs is not None:
        _check_fs(fs, source)
        need = max(need, math.ceil(min_duration_s * fs))
    if len(x) < max(need, 2):
        dur = f" ({len(x) / fs:.2f} s at {fs:g} Hz)" if fs is not None else ""
        raise ClipTooShortError(source, f"clip of {len(x)} frames{dur} is too short: this method needs "
                                        f"at least {max(need, 2)} frames")
    flat = np.ptp(x, axis=0) == 0
    if flat.any():
        names = ", ".join("RGB"[i] for i in np.flatnonzero(flat))
        raise DataError(source, f"RGB trace channel(s) {names} have zero variance (constant value "
                                f"{x[0, flat][0]:g}): saturated, black or frozen video")
    if np.any(x.mean(axis=0) <= 0):
        raise DataError(source, "RGB traces must have positive channel means (they are pixel intensities)")
    return x
