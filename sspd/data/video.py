"""Video reading and writing.

Reading goes through OpenCV (BGR uint8 frames, the layout every module of this
package expects). Writing goes through PyAV, which can write the *real*
uncompressed UBFC-rPPG layout (AVI, ``rawvideo`` codec, ``bgr24``) that OpenCV
reads back bit-exact; OpenCV's own "uncompressed" writer (fourcc 0 / I420)
silently converts to YUV 4:2:0 and is never used.

Trap this module guards against: a truncated AVI decodes *without an error* in
OpenCV, it simply stops early (UBFC-rPPG subject 33 is partly corrupt). Every
reader therefore compares the frames decoded with the frame count the container
declares and fails loudly, naming the file, when they disagree.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from sspd.errors import DataError
from sspd.io import atomic_path

__all__ = ["read_video", "iter_video_chunks", "write_video_lossless", "write_video", "video_info"]


# --------------------------------------------------------------------------- info

def _declared_frames(path: Path) -> int | None:
    """Frame count written in the container header (AVI ``dwTotalFrames``/MP4 ``stts``).

    Returns None when the container does not store one (e.g. Matroska), because an
    estimate from duration x fps is not precise enough to detect truncation.
    """
    try:
        import av

        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            n = int(c.streams.video[0].frames or 0)
            return n if n > 0 else None
    except Exception:  # PyAV missing or cannot parse: fall back to "unknown"
        return None


def _codec_name(path: Path) -> str | None:
    try:
        import av

        with av.open(str(path)) as c:
            return c.streams.video[0].codec_context.name if c.streams.video else None
    except Exception:
        return None


def _open_capture(path: str | Path) -> tuple[cv2.VideoCapture, Path]:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "video file does not exist")
    if not path.is_file():
        raise DataError(path, "expected a video file, found a folder")
    if path.stat().st_size == 0:
        raise DataError(path, "video file is empty (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(path, "cannot open video (unreadable or corrupt container)")
    return cap, path


def video_info(path: str | Path) -> dict:
    """Container facts of a video without decoding it.

    Returns
    -------
    dict with ``frame_count`` (int; the container's declared count when it has one,
    else OpenCV's estimate), ``frame_count_exact`` (bool: True when declared in the
    header), ``fps`` (container rate, Hz), ``width``, ``height`` (pixels), ``fourcc``
    (4-character string; "" for raw DIB video whose fourcc reads as 0) and ``codec``
    (FFmpeg decoder name, e.g. "rawvideo", "ffv1", "h264"; None if unknown).
    """
    cap, path = _open_capture(path)
    try:
        fcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        fourcc = "".join(chr((fcc >> (8 * i)) & 0xFF) for i in range(4)) if fcc else ""
        declared = _declared_frames(path)
        estimate = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        return {
            "path": str(path),
            "frame_count": declared if declared is not None else max(estimate, 0),
            "frame_count_exact": declared is not None,
            "fps": float(cap.get(cv2.CAP_PROP_FPS)),
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fourcc": fourcc.strip("\x00"),
            "codec": _codec_name(path),
        }
    finally:
        cap.release()


# --------------------------------------------------------------------------- read

def _check_count(path: Path, n_read: int, declared: int | None, expected: int | None) -> None:
    if n_read == 0:
        raise DataError(path, "video decoded zero frames (corrupt or empty stream)")
    if declared is not None and n_read < declared:
        raise DataError(path, f"video is truncated or corrupt: decoded {n_read} of {declared} frames "
                              "declared by the container")
    if expected is not None and n_read != expected:
        raise DataError(path, f"video has {n_read} frames but {expected} were expected "
                              "(label length or timestamp count)")


def read_video(path: str | Path, expected_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a whole video into memory.

    Parameters
    ----------
    path : video file (any container/codec OpenCV's FFmpeg backend reads).
    expected_frames : if given, the number of frames the caller's labels/timestamps
        describe; a different decoded count raises :class:`DataError`.

    Returns
    -------
    frames : (N, H, W, 3) uint8, BGR.
    fps : the frame rate the container states, in Hz (may be wrong: VIPL-HR says 25
        for every video; readers take the true rate from per-frame timestamps).

    Raises
    ------
    DataError naming the file: missing, unopenable, zero frames, fewer frames than the
    container declares (truncated: "decoded k of n"), or count != ``expected_frames``.
    """
    cap, path = _open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        declared = _declared_frames(path)
        # Preallocate from the declared count so a 1-2 GB UBFC video is not held twice.
        buf: np.ndarray | None = None
        extra: list[np.ndarray] = []
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame.ndim == 2:  # grey codecs: make 3 identical channels
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            if buf is None:
                size = declared if declared else 1
                buf = np.empty((size, *frame.shape), dtype=np.uint8)
            if n < len(buf):
                buf[n] = frame
            else:
                extra.append(frame)
            n += 1
    finally:
        cap.release()
    _check_count(path, n, declared, expected_frames)
    frames = buf[:n] if not extra else np.concatenate([buf, np.stack(extra)], axis=0)
    return frames, fps


def iter_video_chunks(path: str | Path, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video ``chunk`` frames at a time so memory stays flat on long videos.

    Yields ``(start_index, frames)`` with frames (k, H, W, 3) uint8 BGR, k <= chunk
    (only the last chunk is shorter). After the last chunk the decoded total is
    compared with the container's declared count; a truncated file raises
    :class:`DataError` (chunks already yielded were genuine frames).
    """
    if int(chunk) < 1:
        raise ValueError(f"chunk must be >= 1 frame, got {chunk}")
    chunk = int(chunk)
    cap, path = _open_capture(path)
    declared = _declared_frames(path)
    n = 0
    try:
        block: list[np.ndarray] = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            block.append(frame)
            if len(block) == chunk:
                yield n, np.stack(block)
                n += len(block)
                block = []
        if block:
            yield n, np.stack(block)
            n += len(block)
    finally:
        cap.release()
    _check_count(path, n, declared, None)


# --------------------------------------------------------------------------- write

def _check_frames(frames_bgr: np.ndarray, fps: float) -> np.ndarray:
    frames = np.asarray(frames_bgr)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8 BGR, got {frames.shape} {frames.dtype}")
    if len(frames) == 0:
        raise ValueError("cannot write a video with zero frames")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of Hz, got {fps}")
    return frames


def _rate(fps: float) -> Fraction:
    # Exact for integer and common NTSC-like rates; AVI stores rate/scale as integers.
    return Fraction(float(fps)).limit_denominator(1001 * 100)


_MUXERS = {".avi": "avi", ".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}


def _encode(path: Path, frames: np.ndarray, fps: float, codec: str, pix_fmt: str,
            options: dict[str, str]) -> Path:
    import av

    fmt = _MUXERS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported video suffix {path.suffix!r}; use one of {sorted(_MUXERS)}")
    h, w = frames.shape[1:3]
    with atomic_path(path, suffix=path.suffix or ".avi") as tmp:
        with av.open(str(tmp), mode="w", format=fmt) as container:
            stream = container.add_stream(codec, rate=_rate(fps))
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            if options:
                stream.options = options
            for frame in frames:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():  # flush delayed packets
                container.mux(packet)
    return path


def write_video_lossless(path: str | Path, frames_bgr: np.ndarray, fps: float) -> Path:
    """Write an uncompressed AVI (``rawvideo``, ``bgr24``) like UBFC-rPPG's ``vid.avi``.

    Parameters
    ----------
    path : destination ``.avi`` (written atomically: temp file, then rename).
    frames_bgr : (N, H, W, 3) uint8 BGR.
    fps : container frame rate in Hz.

    OpenCV reads the file back bit-exact. Size is N*H*W*3 bytes plus headers.
    """
    path = Path(path)
    frames = _check_frames(frames_bgr, fps)
    if path.suffix.lower() != ".avi":
        raise ValueError(f"{path}: the raw BGR layout is written as AVI; use a .avi name")
    return _encode(path, frames, fps, "rawvideo", "bgr24", {})


def write_video(path: str | Path, frames_bgr: np.ndarray, fps: float, codec: str = "h264",
                crf: int | None = None) -> Path:
    """Write a video with another codec through PyAV (atomic).

    Parameters
    ----------
    path : destination; the suffix picks the container (.avi, .mp4, .mkv, .mov).
    frames_bgr : (N, H, W, 3) uint8 BGR.
    fps : container frame rate in Hz.
    codec : "h264" (libx264, yuv420p, lossy; H and W must be even), "mjpeg"
        (yuvj420p, lossy) or "ffv1" (bgr0, lossless and bit-exact).
    crf : H.264 constant rate factor (0-51, lower = better; default 23), or the
        MJPEG quantiser (2-31, lower = better). Ignored for FFV1.
    """
    path = Path(path)
    frames = _check_frames(frames_bgr, fps)
    codec = codec.lower()
    if codec == "h264":
        if frames.shape[1] % 2 or frames.shape[2] % 2:
            raise ValueError(f"H.264 with 4:2:0 chroma needs even width and height, got "
                             f"{frames.shape[2]}x{frames.shape[1]}")
        opts = {"crf": str(23 if crf is None else int(crf))}
        return _encode(path, frames, fps, "libx264", "yuv420p", opts)
    if codec == "mjpeg":
        opts = {"qmin": str(crf), "qmax": str(crf)} if crf is not None else {}
        return _encode(path, frames, fps, "mjpeg", "yuvj420p", opts)
    if codec == "ffv1":
        return _encode(path, frames, fps, "ffv1", "bgr0", {})
    raise ValueError(f"unknown codec {codec!r}; use 'h264', 'mjpeg' or 'ffv1'")
