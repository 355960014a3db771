"""Physical-prior embedded augmentation: LGA (Local-Global Augmentation) + MDM (Masked Difference Modelling).

One training clip X (T+1 frames of the 151x151 BGR face crop) gives two views
(book/method_reference.md §2):

- **online / student** V_m: a 128x128 crop at native scale (LGA_O, a *local*
  view), random horizontal/vertical flips, integer frame differences, then a
  per-pixel Bernoulli(keep=0.7) mask shared over the colour channels (MDM_O);
- **target / teacher** V_o: the whole 151x151 frame resized to 128x128 (LGA_T,
  the *global* view), independent flips, frame differences, no mask.

Both are float32 tensors in the network layout (B, 3, T, 128, 128), on the raw
intensity scale (about +-255): the network's input BatchNorm is the only scaling.

Faithful defaults reproduce the authors' released quirks where the released
checkpoint depends on them: ``resize_interp="area"`` (the code asks for bicubic
but OpenCV receives INTER_AREA). The crop defaults to the *intended* random
crop; ``crop="topleft"`` is the released behaviour (always [0:128, 0:128]).

All randomness (crop offsets, flips, masks) is drawn from one seeded
``torch.Generator`` so a run is reproducible and resumable.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

__all__ = ["AugmentConfig", "ViewParams", "local_global_views", "frame_differences",
           "resize_frames", "INTERPOLATIONS"]

# OpenCV flags; "area" is what the released code actually runs (quirk §13.2).
INTERPOLATIONS = {"area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}


@dataclass
class AugmentConfig:
    """Settings of LGA + MDM (book/method_reference.md §2, decisions §14.1, §14.2, §14.13).

    crop:          "random" (offsets 0..S-size on each axis, the intended LGA) or
                   "topleft" (the released code: always [0:size, 0:size]).
    resize_interp: interpolation of the teacher view and of inference, "area"
                   (released behaviour; needed for the released checkpoint) or "bicubic".
    mask_keep:     MDM keep probability rho per pixel and difference frame (0.7); 1.0 disables.
    flips:         random horizontal and vertical flips, p=0.5 each, per clip and per view.
    size:          network input size in pixels (128; the backbone needs 128).
    student_view:  "local" (LGA: the student sees a native-scale crop, the method) or
                   "global" (the "without LGA" ablation: the student sees the whole frame
                   resized, like the teacher, with its own flips and mask; no crop is drawn).
    """

    crop: str = "random"
    resize_interp: str = "area"
    mask_keep: float = 0.7
    flips: bool = True
    size: int = 128
    student_view: str = "local"

    def __post_init__(self):
        if self.crop not in ("random", "topleft"):
            raise ValueError(f"AugmentConfig.crop must be 'random' or 'topleft', got {self.crop!r}")
        if self.resize_interp not in INTERPOLATIONS:
            raise ValueError(f"AugmentConfig.resize_interp must be one of {sorted(INTERPOLATIONS)}, "
                             f"got {self.resize_interp!r}")
        if not 0.0 < self.mask_keep <= 1.0:
            raise ValueError(f"AugmentConfig.mask_keep must be in (0, 1], got {self.mask_keep}")
        if self.size < 1:
            raise ValueError(f"AugmentConfig.size must be positive, got {self.size}")
        if self.student_view not in ("local", "global"):
            raise ValueError(f"AugmentConfig.student_view must be 'local' or 'global', "
                             f"got {self.student_view!r}")


@dataclass(frozen=True)
class ViewParams:
    """The random draws behind one call of :func:`local_global_views`, one entry per clip.

    crop_offsets:       int64 (B, 2), the student crop's top-left corner (row, column) in
                        pixels of the S x S input; the crop is ``[oy:oy+size, ox:ox+size]``.
    student_flips:      bool (B, 2), horizontal and vertical flip of the student view.
    teacher_flips:      bool (B, 2), horizontal and vertical flip of the teacher view.
    mask_keep_fraction: float64 (B,), share of (difference frame, pixel) positions the MDM mask
                        kept for each clip (unitless, about ``cfg.mask_keep``; 1.0 without a mask).
    """

    crop_offsets: np.ndarray
    student_flips: np.ndarray
    teacher_flips: np.ndarray
    mask_keep_fraction: np.ndarray


def _as_uint8_tensor(frames, name: str) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(frames).__name__}")
    if frames.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8 frames (raw BGR intensities), got {frames.dtype}")
    if frames.ndim < 4 or frames.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., T+1, H, W, 3), got {tuple(frames.shape)}")
    return frames


def resize_frames(frames, size: int = 128, interp: str = "area"):
    """Resize every frame of a uint8 video to size x size with OpenCV.

    frames: uint8 (..., H, W, 3), numpy array or torch tensor (BGR, any leading dims).
    Returns uint8 (..., size, size, 3) of the same type (numpy in, numpy out).
    The result is rounded back to uint8 exactly as the authors' pipeline does
    (the resize acts on uint8 images before differencing), so training's teacher
    view and inference see identical pixels.
    """
    if interp not in INTERPOLATIONS:
        raise ValueError(f"interp must be one of {sorted(INTERPOLATIONS)}, got {interp!r}")
    is_tensor = isinstance(frames, torch.Tensor)
    arr = frames.cpu().numpy() if is_tensor else np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim < 3 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (..., H, W, 3), got {arr.dtype} {arr.shape}")
    lead, (h, w) = arr.shape[:-3], arr.shape[-3:-1]
    flat = arr.reshape(-1, h, w, 3)
    if (h, w) == (size, size):
        out = flat.copy()
    else:
        flag = INTERPOLATIONS[interp]
        out = np.empty((flat.shape[0], size, size, 3), np.uint8)
        for i, f in enumerate(flat):  # cv2 works per image; ~20 us per 151^2 frame
            out[i] = cv2.resize(f, (size, size), interpolation=flag)
    out = out.reshape(*lead, size, size, 3)
    return torch.from_numpy(out) if is_tensor else out


def frame_differences(frames) -> torch.Tensor:
    """Raw frame differences D[t] = V[t+1] - V[t] in the network layout.

    frames: uint8 (..., T+1, H, W, 3) (numpy or torch). Returns float32
    (..., 3, T, H, W): exact integer differences (computed in int16, range +-255)
    cast to float, channels first. No normalisation (unlike DeepPhys): the
    network's input BatchNorm does the scaling.
    """
    frames = _as_uint8_tensor(frames, "frames")
    if frames.shape[-4] < 2:
        raise ValueError(f"need at least 2 frames to difference, got shape {tuple(frames.shape)}")
    v = frames.to(torch.int16)
    d = (v[..., 1:, :, :, :] - v[..., :-1, :, :, :]).to(torch.float32)  # (..., T, H, W, 3)
    return d.movedim(-1, -4).contiguous()  # (..., 3, T, H, W)


def _flip(views: torch.Tensor, flip_h: torch.Tensor, flip_v: torch.Tensor) -> torch.Tensor:
    """Flip each clip of (B, T+1, H, W, 3) by its own per-clip booleans."""
    out = views.clone()
    for b in range(views.shape[0]):
        if flip_h[b]:
            out[b] = out[b].flip(-2)  # width axis
        if flip_v[b]:
            out[b] = out[b].flip(-3)  # height axis
    return out


def local_global_views(clip, cfg: AugmentConfig, generator: torch.Generator, *,
                       return_params: bool = False):
    """The two views of a batch of clips (LGA + MDM).

    clip:      uint8 (B, T+1, S, S, 3) BGR face crops (S = 151 from the cache).
    cfg:       AugmentConfig.
    generator: the one torch.Generator all randomness comes from (crop offsets,
               flips, mask), drawn in a fixed order so a seeded run repeats exactly.
    return_params: also return the draws as a :class:`ViewParams` (crop offsets,
               flips of both views, kept mask fraction). Draws nothing extra: the
               views and the generator's state are the same either way.

    Returns (V_m, V_o): float32 (B, 3, T, size, size) each — the masked local
    differences for the online (student) network and the unmasked global
    differences for the target (teacher) network; (V_m, V_o, params) with
    ``return_params=True``.
    """
    clip = _as_uint8_tensor(clip, "clip")
    if clip.ndim != 5:
        raise ValueError(f"clip must be (B, T+1, H, W, 3), got {tuple(clip.shape)}")
    B, T1, H, W, _ = clip.shape
    size = cfg.size
    if H < size or W < size:
        raise ValueError(f"frames of {H}x{W} are smaller than the {size}x{size} crop")
    if T1 < 2:
        raise ValueError(f"clip needs at least 2 frames, got {T1}")

    # Draw all random numbers first, in a fixed order: crop, student flips,
    # teacher flips, then the mask.
    if cfg.crop == "random" and cfg.student_view == "local":
        oy = torch.randint(0, H - size + 1, (B,), generator=generator)
        ox = torch.randint(0, W - size + 1, (B,), generator=generator)
    else:  # released quirk (or no crop at all without LGA): the offset is always 0
        oy = torch.zeros(B, dtype=torch.long)
        ox = torch.zeros(B, dtype=torch.long)
    if cfg.flips:
        flips = torch.rand(4, B, generator=generator) < 0.5  # student h, v; teacher h, v
    else:
        flips = torch.zeros(4, B, dtype=torch.bool)

    # Student (LGA_O): native-scale crop (without LGA: the global view) -> flips -> differences -> MDM.
    if cfg.student_view == "global":
        local = resize_frames(clip, size, cfg.resize_interp)
    else:
        local = torch.stack([clip[b, :, oy[b]:oy[b] + size, ox[b]:ox[b] + size] for b in range(B)])
    local = _flip(local, flips[0], flips[1])
    v_m = frame_differences(local)  # (B, 3, T, size, size)
    kept = np.ones(B)
    if cfg.mask_keep < 1.0:
        # One Bernoulli(rho) draw per (clip, difference frame, pixel), shared over channels.
        keep = torch.rand(B, 1, T1 - 1, size, size, generator=generator) < cfg.mask_keep
        v_m = v_m * keep
        if return_params:
            kept = keep.flatten(1).double().mean(dim=1).numpy()

    # Teacher (LGA_T): whole frame resized -> independent flips -> differences, no mask.
    glob = resize_frames(clip, size, cfg.resize_interp)
    glob = _flip(glob, flips[2], flips[3])
    v_o = frame_differences(glob)
    if not return_params:
        return v_m, v_o
    params = ViewParams(crop_offsets=torch.stack([oy, ox], dim=1).numpy(),
                        student_flips=flips[:2].T.numpy().copy(),
                        teacher_flips=flips[2:].T.numpy().copy(), mask_keep_fraction=kept)
    return v_m, v_o, params
