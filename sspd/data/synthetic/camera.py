"""Camera: pulse signature u_p, white balance, auto-exposure, sensor noise, tone curve, codec, timing.

Order of operations (book/synthetic_design.md §3, §8): linear scene radiance L → Poisson–Gaussian
sensor noise (in photo-electrons, before any gain) → white-balance and exposure gains →
sRGB tone curve → round to 8 bit → optional lossy codec round trip at camera resolution.
Noise before quantisation is what dithers the sub-DN pulse.
"""
from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from .appearance import srgb_encode

#: Blood-volume-pulse signature in normalised RGB (de Haan & van Leest 2014).
P_BV = np.array([0.33, 0.77, 0.53])

_LUT_LEVELS = 65536


def pulse_signature(rng: np.random.Generator, jitter: float = 0.15) -> np.ndarray:
    """Camera-specific u_p = normalise(P_bv ⊙ (1 + δ)), δ ~ U(−jitter, jitter) per channel (unit norm, RGB)."""
    u = P_BV * (1 + rng.uniform(-jitter, jitter, 3))
    return u / np.linalg.norm(u)


def white_balance(e: np.ndarray, rng: np.random.Generator, error: float = 0.1) -> np.ndarray:
    """Per-channel WB gains (RGB, G = 1) that neutralise illuminant ``e`` up to ±``error`` relative error."""
    g = (1.0 / np.asarray(e)) * (1 + rng.uniform(-error, error, 3))
    return g / g[1]


def srgb_lut() -> np.ndarray:
    """uint8 sRGB encoding of linear values i/(L−1), i = 0..L−1 (L = 65536): a fast tone curve + quantiser."""
    x = np.arange(_LUT_LEVELS, dtype=np.float64) / (_LUT_LEVELS - 1)
    return np.clip(np.round(255.0 * srgb_encode(x)), 0, 255).astype(np.uint8)


def quantise(linear: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Linear [0, 1] float array -> uint8 through the tone-curve LUT (same shape)."""
    idx = linear * np.float32(_LUT_LEVELS - 1) + np.float32(0.5)
    np.clip(idx, 0, _LUT_LEVELS - 1, out=idx)
    return lut[idx.astype(np.uint16)]


class AutoExposure:
    """First-order auto-exposure: gain tracks target/mean with time constant ``tau`` (s) and a dead band.

    ``update(mean_linear, dt)`` returns the gain to use for the *next* frame. With ``enabled`` False
    the gain stays at its initial value.
    """

    def __init__(self, gain0: float, target: float, tau: float, dead_band: float = 0.03,
                 enabled: bool = True, max_gain: float = 16.0):
        self.gain, self.target, self.tau = float(gain0), float(target), float(tau)
        self.dead_band, self.enabled, self.max_gain = dead_band, enabled, max_gain

    def update(self, mean_linear_after_gain: float, dt: float) -> float:
        if not self.enabled or mean_linear_after_gain <= 0:
            return self.gain
        ratio = self.target / mean_linear_after_gain
        if abs(np.log(ratio)) > np.log1p(self.dead_band):
            a = 1 - np.exp(-dt / self.tau)
            self.gain = float(np.clip(self.gain * ratio ** a, 1.0 / self.max_gain, self.max_gain))
        return self.gain


def frame_times(duration_s: float, fps: float, rng: np.random.Generator, *, jitter_ms: float = 0.0,
                drop_rate: float = 0.0) -> np.ndarray:
    """Capture times (s, first = 0) of a clip of ``duration_s`` at nominal ``fps``.

    Jitter: per-frame Gaussian σ ``jitter_ms``; dropped frames: each frame lost with ``drop_rate``
    (never frame 0). Times stay strictly increasing.
    """
    if duration_s <= 0 or fps <= 0:
        raise ValueError(f"duration_s and fps must be positive (got {duration_s}, {fps})")
    n = int(round(duration_s * fps))
    t = np.arange(n) / fps
    if jitter_ms > 0:
        t = t + rng.normal(0, jitter_ms / 1000.0, n)
        t[0] = 0.0
        t = np.maximum.accumulate(t)
        t = t + np.arange(n) * 1e-6  # strictly increasing even after clipping
        t -= t[0]
    if drop_rate > 0:
        keep = rng.random(n) >= drop_rate
        keep[0] = True
        t = t[keep]
    return t


def compress_roundtrip(frames_bgr: np.ndarray, fps: float, codec: str, *, crf: int = 23,
                       quality: int = 80, isolate: bool = True) -> np.ndarray:
    """Lossy codec round trip of uint8 BGR frames (N, H, W, 3); see :func:`_compress_roundtrip_inproc`.

    With ``isolate`` (default) the codec runs in a fresh Python process: this libx264 build gives
    run-to-run different bitstreams inside a long-lived process (its output depends on the process's
    memory state), but a fresh process reproduces the same bytes, which keeps videos deterministic.
    """
    if not isolate:
        return _compress_roundtrip_inproc(frames_bgr, fps, codec, crf=crf, quality=quality)
    import subprocess
    import sys

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(frames_bgr))
    cmd = [sys.executable, "-c", "import sys; from sspd.data.synthetic.camera import _codec_main; _codec_main()",
           codec, repr(float(fps)), str(int(crf)), str(int(quality))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[3])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    res = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, env=env, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"codec subprocess failed: {res.stderr.decode(errors='replace')[-2000:]}")
    return np.load(io.BytesIO(res.stdout))


def _codec_main() -> None:
    """Subprocess entry: frames .npy on stdin, args codec fps crf quality, decoded .npy on stdout."""
    import sys

    codec, fps, crf, quality = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    frames = np.load(io.BytesIO(sys.stdin.buffer.read()))
    out = io.BytesIO()
    np.save(out, _compress_roundtrip_inproc(frames, fps, codec, crf=crf, quality=quality))
    sys.stdout.buffer.write(out.getvalue())
    sys.stdout.buffer.flush()


def _compress_roundtrip_inproc(frames_bgr: np.ndarray, fps: float, codec: str, *, crf: int = 23,
                               quality: int = 80) -> np.ndarray:
    """Encode and decode uint8 BGR frames (N, H, W, 3) in memory with PyAV ("h264" or "mjpeg").

    H.264: libx264, yuv420p, CRF ``crf``, preset "medium"; MJPEG: yuvj420p at a qscale mapped from
    ``quality`` (0–100). Bare codec contexts with one thread (no container): deterministic output.
    Returns decoded frames of the same shape.
    """
    import av

    n, h, w, _ = frames_bgr.shape
    if h % 2 or w % 2:
        raise ValueError(f"frame size {w}x{h} must be even for 4:2:0 codecs")
    rate = Fraction(int(round(fps * 1000)), 1000)
    if codec == "h264":
        enc = av.CodecContext.create("libx264", "w")
        enc.pix_fmt = "yuv420p"
        enc.options = {"crf": str(int(crf)), "preset": "medium",
                       "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0:bframes=0:no-mbtree=1:rc-lookahead=0:psy=0"}
        # conservative x264 settings (no B-frames, mb-tree, lookahead or psy): with them on, this build
        # produced run-to-run different bitstreams inside one process
        dec = av.CodecContext.create("h264", "r")
    elif codec == "mjpeg":
        enc = av.CodecContext.create("mjpeg", "w")
        enc.pix_fmt = "yuvj420p"
        q = int(np.clip(round(31 - quality / 100 * 29), 2, 31))
        enc.options = {"qmin": str(q), "qmax": str(q)}
        dec = av.CodecContext.create("mjpeg", "r")
    else:
        raise ValueError(f"unknown codec {codec!r}")
    enc.width, enc.height = w, h
    enc.time_base = 1 / rate
    enc.framerate = rate
    enc.thread_count = 1
    dec.thread_count = 1
    dec.thread_type = "NONE"
    packets = []  # encode everything first, as bytes (the encoder may reuse its packet buffers)
    for i, f in enumerate(frames_bgr):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="bgr24").reformat(format=enc.pix_fmt)
        vf.pts = i
        packets += [bytes(p) for p in enc.encode(vf)]
    packets += [bytes(p) for p in enc.encode(None)]
    decoded = []
    for b in packets + [None]:
        for fr in dec.decode(None if b is None else av.Packet(b)):
            decoded.append(np.array(fr.to_ndarray(format="bgr24"), copy=True))
    out_arr = np.stack(decoded)
    if out_arr.shape != frames_bgr.shape:
        raise RuntimeError(f"codec round trip returned {out_arr.shape}, expected {frames_bgr.shape}")
    return out_arr
