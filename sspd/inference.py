"""A trained SSPD model on any face video (book/method_reference.md §8).

- :class:`SSPDMethod`: 151x151 BGR face crops (N frames) -> pulse (N-1 samples,
  aligned to frames[1:]). Every frame is resized to 128x128 with the same
  interpolation as the training teacher view (area, the released behaviour),
  differenced, and run through the inference model in eval mode. Long videos
  run in overlapping chunks so memory stays flat; the result equals a
  whole-video pass (the network's temporal receptive field is finite and chunk
  starts stay at even frame offsets so the stride-2 temporal pooling pairs the
  same frames).
- :func:`predict_video`: a video file -> face crop -> pulse -> heart rate for the
  whole video and per window, with CSV/JSON outputs.

The command line (``python -m sspd predict VIDEO``) is :mod:`sspd.inference_cli`.

Weights accepted by ``SSPDMethod(checkpoint=...)``: ``None`` (an untrained,
seeded network: the "sspd-untrained" control), our ``model_inference.pt``, a
full training ``checkpoint.pt`` (its EMA target is used), or the authors'
released plain state_dict (``ubfc.pth``).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sspd.augment import frame_differences, resize_frames
from sspd.data.face import FaceDetector, crop_faces, first_frame_box, tracked_boxes
from sspd.data.video import iter_video_chunks, read_video, video_info
from sspd.errors import DataError, NoFaceError
from sspd.io import atomic_write_json, atomic_write_text, manifest
from sspd.model import SSPD, bgr_to_rgb_state_dict, load_inference_state
from sspd.model.fast import BACKENDS, BATCHNORM_RULES, InferenceEngine, set_batchnorm_rule
from sspd.signal import authors_hr, periodogram_hr, sliding_windows

__all__ = ["SSPDMethod", "predict_video", "load_inference_model", "set_batchnorm_rule", "BATCHNORM_RULES",
           "BACKENDS", "DEFAULT_BACKEND", "BOX_MODES", "DEFAULT_CHUNK", "CHUNK_MARGIN"]

DEFAULT_CHUNK = 256   # differences per chunk core (even)
CHUNK_MARGIN = 32     # extra differences each side (even; > the ~±16-frame receptive field)
DEFAULT_BACKEND = "fast"  # bf16 + torch.compile (sspd.model.fast); "eager" is the float32 reference


def _seeded_untrained(seed: int = 0):
    # Seed a private copy of the RNG so the caller's torch RNG is not disturbed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SSPD(s3m=False)


def load_inference_model(checkpoint: str | Path | None = None, colour: str = "bgr", weights: str = "target"):
    """The inference model (``SSPD(s3m=False)``, eval mode, CPU) and a name for it.

    checkpoint: None (untrained, seed 0), a plain inference state_dict (ours or the
                authors'), or a training checkpoint (``weights`` = "target" or "online").
    colour:     "bgr" (as trained) or "rgb" (input-channel axes permuted).
    Returns (model, name). Loading is strict; a mismatch is a DataError naming the file.
    """
    if colour not in ("bgr", "rgb"):
        raise ValueError(f"colour must be 'bgr' or 'rgb', got {colour!r}")
    if checkpoint is None:
        model = _seeded_untrained()
        if colour == "rgb":
            model.load_state_dict(bgr_to_rgb_state_dict(model.state_dict()))
        return model.eval(), "sspd-untrained"
    path = Path(checkpoint)
    if not path.is_file():
        raise DataError(path, "checkpoint file does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(path, f"cannot read as a PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, Mapping) and "target" in obj and "online" in obj:
        # A full training checkpoint: one network's inference entries, loaded strictly.
        if weights not in ("target", "online"):
            raise ValueError(f"weights must be 'target' or 'online', got {weights!r}")
        state = {k: v for k, v in obj[weights].items() if not k.startswith("s3m.")}
        try:
            model = load_inference_state(state, colour=colour, source=path)
        except DataError as err:
            raise DataError(path, f"{weights} weights: {err.problem}") from err
        return model.eval(), f"sspd[{path.name}:{weights}]"
    model = load_inference_state(obj, colour=colour, source=path)
    return model.eval(), f"sspd[{path.name}]"


class SSPDMethod:
    """SSPD as an rPPG method: face crops in, pulse out.

    checkpoint: see :func:`load_inference_model` (None = untrained, "sspd-untrained"), or an
                ``SSPD`` module in memory (used as it is, e.g. during validation).
    device:     torch device for the network.
    colour:     channel order of the frames given to ``__call__`` ("bgr" or "rgb").
    chunk:      differences per forward pass (core, made even); None = one
                whole-video pass (the authors' test script). Each chunk is padded
                by ``margin`` differences on both sides, whose outputs are discarded.
    interp:     128x128 resize interpolation, as in training ("area" for the released weights).
    size:       network input side (128).
    batchnorm:  "batch" (default; each chunk's own statistics, see :func:`set_batchnorm_rule`)
                or "running" (stored statistics; then chunked equals whole-video output).
    backend:    how the network runs (:data:`sspd.model.fast.BACKENDS`): "fast" (default; bf16 and
                torch.compile), "bf16" (no compile; BatchNorm folded under "running"), "fast-fp32", or "eager"
                (float32 as written: the reference, and what validation during training uses).
                The network is copied on the first call, so an in-memory module's weights are
                read then.
    """

    def __init__(self, checkpoint: "str | Path | SSPD | None" = None, device: str = "cpu",
                 colour: str = "bgr", chunk: int | None = DEFAULT_CHUNK, margin: int = CHUNK_MARGIN,
                 interp: str = "area", size: int = 128, batchnorm: str = "batch",
                 backend: str = DEFAULT_BACKEND):
        if chunk is not None and chunk < 2:
            raise ValueError(f"chunk must be >= 2 differences or None, got {chunk}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
        if batchnorm not in BATCHNORM_RULES:
            raise ValueError(f"batchnorm rule must be one of {BATCHNORM_RULES}, got {batchnorm!r}")
        if isinstance(checkpoint, torch.nn.Module):
            if colour != "bgr":
                raise ValueError("colour='rgb' applies to weights loaded from a file")
            self.model, self.name = checkpoint, "sspd[in-memory]"
            self.checkpoint = None
        else:
            self.model, self.name = load_inference_model(checkpoint, colour=colour)
            self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.device = torch.device(device)
        self.batchnorm, self.backend = batchnorm, backend
        self.engine: InferenceEngine | None = None   # built on the first call
        self.model.to(self.device)
        # Even sizes keep every chunk start at an even frame offset (stride-2 pooling pairs).
        self.chunk = None if chunk is None else int(chunk) + int(chunk) % 2
        self.margin = int(margin) + int(margin) % 2
        self.interp, self.size = interp, size

    def __repr__(self) -> str:
        return f"SSPDMethod({self.name}, chunk={self.chunk}, device={self.device}, backend={self.backend})"

    @torch.no_grad()
    def _forward(self, frames_128: np.ndarray) -> np.ndarray:
        """uint8 (k+1, 128, 128, 3) -> network output (2*floor(k/2),)."""
        if self.engine is None:
            self.engine = InferenceEngine(self.model, batchnorm=self.batchnorm, backend=self.backend)
        x = frame_differences(frames_128).unsqueeze(0).to(self.device)  # (1, 3, k, 128, 128)
        return self.engine(x)[0].float().cpu().numpy()

    def __call__(self, frames_bgr: np.ndarray, fs: float) -> np.ndarray:
        """Pulse of a face-crop video.

        frames_bgr: uint8 (N, H, W, 3) face crops (151x151 from the cache; any H, W >= 1,
                    resized to 128x128), channel order as ``colour``.
        fs:         frame rate in Hz (checked only: the network itself is rate-free,
                    but the released weights were trained at 30 fps).
        Returns float64 (N-1,): one value per frame difference, aligned to frames[1:]
        (arbitrary scale and polarity). For an odd number of differences the network
        yields one value less; the last value is repeated.
        """
        frames = np.asarray(frames_bgr)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}")
        if not (np.isfinite(fs) and fs > 0):
            raise ValueError(f"fs must be a positive frame rate in Hz, got {fs}")
        n_diff = len(frames) - 1
        if n_diff < 2:
            raise ValueError(f"need at least 3 frames, got {len(frames)}")
        if self.chunk is None or n_diff <= self.chunk + 2 * self.margin:
            out = self._forward(resize_frames(frames, self.size, self.interp))
        else:
            out = np.empty(n_diff, np.float64)
            filled = 0
            for c in range(0, n_diff, self.chunk):        # c even: chunk is even
                a = max(0, c - self.margin)                # even: c, margin even
                b = min(n_diff, c + self.chunk + self.margin)
                y = self._forward(resize_frames(frames[a:b + 1], self.size, self.interp))
                core = y[c - a: c - a + min(self.chunk, n_diff - c)]
                out[c:c + len(core)] = core
                filled = c + len(core)
            out = out[:filled]
        out = np.asarray(out, np.float64)
        if len(out) < n_diff:  # odd number of differences: the stride-2 pooling drops the last
            out = np.concatenate([out, np.repeat(out[-1:], n_diff - len(out))])
        return out


# ----------------------------------------------------------------------------- videos

#: Face boxes a plain video can have: detected on the first face frame (the authors') or tracked.
#: (``sspd.data.cache.BOX_MODES`` adds ground-truth boxes, which only synthetic recordings carry.)
BOX_MODES = ("first", "tracked")


def _crop_video(path: Path, box, chunk: int = 300) -> tuple[np.ndarray, float, np.ndarray]:
    """151x151 face crops of a video: (crops (N,151,151,3), fps, box(es)).

    box: "first" (detect until the first face, one box for the whole video),
    "tracked" (per-frame smoothed detections), or an explicit [top, bottom, left,
    right] box in full-frame pixels used as the crop for every frame.
    """
    if isinstance(box, str) and box == "tracked":
        frames, fps = read_video(path)
        boxes = tracked_boxes(frames, source=path, detector=FaceDetector())
        return crop_faces(frames, boxes, size=151, source=path), fps, boxes
    if isinstance(box, str) and box not in BOX_MODES:
        raise ValueError(f"box must be one of {BOX_MODES} or [top, bottom, left, right], got {box!r}")
    fixed = None if isinstance(box, str) else np.asarray(box, dtype=np.int64)
    if fixed is not None and fixed.shape != (4,):
        raise ValueError(f"an explicit box is [top, bottom, left, right], got {box!r}")
    fps = float(video_info(path).get("fps") or 0.0)
    detector = FaceDetector() if fixed is None else None
    # Decode in chunks so a long full-resolution video is never held in memory at once.
    the_box, pending, crops = fixed, [], []
    for _, frames in iter_video_chunks(path, chunk):
        if the_box is None:
            try:
                the_box = first_frame_box(frames, source=path, detector=detector)
            except NoFaceError:
                pending.append(frames)  # no face yet: keep these frames until a box exists
                continue
            for p in pending:  # frames before the first detection use the same single box
                crops.append(crop_faces(p, the_box, size=151, source=path))
            pending = []
        crops.append(crop_faces(frames, the_box, size=151, source=path))
    if the_box is None:
        raise NoFaceError(path, "no face found in any frame of the video")
    return np.concatenate(crops), fps, the_box


def predict_video(path: str | Path, checkpoint: str | Path | None = None, out_dir: str | Path | None = None,
                  box: str = "first", window_s: float = 10.0, device: str = "cpu",
                  method: SSPDMethod | None = None, frames_151: np.ndarray | None = None,
                  fps: float | None = None) -> dict:
    """Pulse and heart rate of one face video.

    path:       video file (any format OpenCV reads); unreadable -> DataError naming it.
    checkpoint: weights for :class:`SSPDMethod` (None = untrained control).
    out_dir:    if given, writes ``bvp.csv`` (timestamp_s, bvp), ``hr.csv`` (per
                window) and ``summary.json`` there (atomically); the command line adds
                ``prediction.png`` (:func:`sspd.plots.prediction_figure`).
    box:        "first" (the authors' single first-frame box), "tracked", or an explicit
                [top, bottom, left, right] crop box in full-frame pixels.
    window_s:   window length (s) of the per-window HR (non-overlapping).
    method:     an existing SSPDMethod (skips loading weights again).
    frames_151, fps: pre-cropped 151x151 BGR frames and their rate, instead of
                detecting the face in ``path`` (``path`` then only names the output).

    Returns a dict: video, model, fps, n_frames, box, hr_bpm (authors' CWT + peak
    interval estimator), hr_fft_bpm (periodogram peak, 0.7-3 Hz), windows (list of
    per-window dicts), bvp (N-1,), timestamps_s (N-1,), out_dir.
    """
    path = Path(path)
    if frames_151 is None:
        crops, fps_video, the_box = _crop_video(path, box)
    else:
        if fps is None:
            raise ValueError("fps is required with frames_151")
        crops, fps_video, the_box = np.asarray(frames_151), float(fps), None
    fps = float(fps if fps is not None else fps_video)
    if not (np.isfinite(fps) and fps > 0):
        raise DataError(path, f"video states no usable frame rate ({fps}); re-encode it with one")
    if abs(fps - 30.0) > 1.0:
        warnings.warn(f"{path}: {fps:.2f} fps; the released weights were trained at 30 fps, so the "
                      f"network's temporal filters see a different pulse rate than in training",
                      stacklevel=2)
    method = method or SSPDMethod(checkpoint, device=device)
    bvp = method(crops, fps)                            # (N-1,)
    t = np.arange(1, len(crops)) / fps                  # aligned to frames[1:]
    band = (0.7, 3.0)
    hr_auth = float(authors_hr(bvp, fps))
    hr_fft = float(periodogram_hr(bvp, fps, band=band))
    windows = []
    try:
        spans = sliding_windows(len(bvp), fps, window_s)
    except DataError:
        spans = []  # video shorter than one window: whole-video HR only
    for a, b in spans:
        windows.append({"start_s": round(float(t[a]) - 1.0 / fps, 4), "end_s": round(float(t[b - 1]), 4),
                        "hr_bpm": float(authors_hr(bvp[a:b], fps)),
                        "hr_fft_bpm": float(periodogram_hr(bvp[a:b], fps, band=band))})
    result = {"video": str(path), "model": method.name, "fps": fps, "n_frames": int(len(crops)),
              "box": None if the_box is None else np.asarray(the_box).tolist(), "box_mode": box if isinstance(box, str) else "explicit",
              "hr_bpm": hr_auth, "hr_fft_bpm": hr_fft, "fft_band_hz": list(band),
              "window_s": window_s, "windows": windows, "bvp": bvp, "timestamps_s": t,
              "out_dir": None}
    if out_dir is not None:
        result["out_dir"] = str(_write_outputs(Path(out_dir), result))
    return result


def _write_outputs(out_dir: Path, result: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "bvp.csv", pd.DataFrame(
        {"timestamp_s": result["timestamps_s"], "bvp": result["bvp"]}).to_csv(index=False))
    atomic_write_text(out_dir / "hr.csv", pd.DataFrame(
        result["windows"], columns=["start_s", "end_s", "hr_bpm", "hr_fft_bpm"]).to_csv(index=False))
    summary = {k: v for k, v in result.items() if k not in ("bvp", "timestamps_s")}
    summary["manifest"] = manifest(None, None)
    atomic_write_json(out_dir / "summary.json", summary)
    return out_dir
