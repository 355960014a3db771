"""Training clips of T+1 frames from cached face crops (book/method_reference.md §2, "Sampling").

The authors' dataset has one item per training video, so one epoch draws one
random window of T+1 = 301 frames per video. Their start index is drawn from
[0, N - T - 1) with an exclusive upper bound, so the last valid window
(start N - T - 1) is never used; here the start is drawn uniformly from **all**
valid starts 0 ... N - (T+1) inclusive (the off-by-one fixed, recorded as a
deviation). Only the window's frames are read from the memory-mapped cache.

Randomness is a pure function of (seed, epoch, index): call
:meth:`ClipDataset.set_epoch` before each epoch. With DataLoader workers, use
``persistent_workers=False`` (the default) so workers see the new epoch.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sspd.errors import ClipTooShortError

__all__ = ["ClipDataset", "ClipStream"]


def _name(entry: Any) -> str:
    src = getattr(entry, "source", None) or getattr(entry, "path", None)
    return str(src) if src is not None else str(getattr(entry, "key", "recording"))


class ClipDataset(Dataset):
    """Windows of ``n_frames`` consecutive cached frames.

    Parameters
    ----------
    entries : cache entries (:class:`~sspd.data.cache.CacheEntry`) or
        :class:`~sspd.data.recording.Recording` objects: anything with ``frames``
        (N, H, W, 3) uint8 BGR, ``bvp`` (N,) or None, ``fps`` (Hz) and ``subject``.
    n_frames : T + 1 frames per clip (301 = T 300 differences, 10 s at 30 fps).
    windows_per_video : items per video (authors: 1 per epoch). Ignored when
        ``stride`` is given (then every strided window is an item).
    seed : base seed of the random starts.
    random_start : draw each item's start uniformly from all valid starts
        [0, N - n_frames] with a generator seeded by (seed, epoch, index).
        Otherwise starts are deterministic: ``windows_per_video`` starts evenly
        spread over [0, N - n_frames] (1 window -> start 0), or with ``stride``
        the starts 0, stride, 2 stride, ... <= N - n_frames of every video.
    skip_short : videos shorter than ``n_frames`` raise :class:`ClipTooShortError`
        naming the recording, unless True (then they are skipped with a warning).

    Items are dicts: ``frames`` uint8 tensor (n_frames, H, W, 3) BGR, ``bvp`` float32
    (n_frames,) (NaN for unlabelled videos), ``fps`` float, ``subject`` str, ``start`` int.
    """

    def __init__(self, entries: Sequence[Any], n_frames: int = 301, windows_per_video: int | None = 1,
                 seed: int = 0, random_start: bool = True, stride: int | None = None, skip_short: bool = False):
        if n_frames < 2:
            raise ValueError(f"n_frames must be >= 2 (T >= 1 difference), got {n_frames}")
        if stride is not None and stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if random_start and stride is not None:
            raise ValueError("stride applies to deterministic windows only (random_start=False)")
        if stride is None and (windows_per_video is None or windows_per_video < 1):
            raise ValueError(f"windows_per_video must be >= 1, got {windows_per_video}")
        self.n_frames, self.seed, self.random_start, self.stride = int(n_frames), int(seed), random_start, stride
        self.windows_per_video = windows_per_video
        self.epoch = 0
        kept = []
        for e in entries:
            n = len(e.frames)
            if n < self.n_frames:
                err = ClipTooShortError(_name(e), f"{n} frames, shorter than the {self.n_frames}-frame clip")
                if not skip_short:
                    raise err
                warnings.warn(f"skipped: {err}", stacklevel=2)
                continue
            kept.append(e)
        self.entries = kept
        # index -> (entry, window number); deterministic starts precomputed
        self._items: list[tuple[int, int]] = []
        self._starts: list[np.ndarray] = []
        for k, e in enumerate(self.entries):
            last = len(e.frames) - self.n_frames  # last valid start, inclusive
            if stride is not None:
                starts = np.arange(0, last + 1, stride)
            else:
                starts = np.round(np.linspace(0, last, windows_per_video)).astype(np.int64) \
                    if windows_per_video > 1 else np.zeros(1, dtype=np.int64)
            self._starts.append(starts)
            self._items.extend((k, w) for w in range(len(starts)))

    def set_epoch(self, epoch: int) -> None:
        """Select the random windows of this epoch (a pure function of seed, epoch, index)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._items)

    def start_of(self, index: int) -> int:
        """The first frame of item ``index`` in the current epoch."""
        k, w = self._items[index]
        if self.random_start:
            last = len(self.entries[k].frames) - self.n_frames
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return int(rng.integers(0, last + 1))  # inclusive of the last valid start
        return int(self._starts[k][w])

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        k, _ = self._items[index]
        e = self.entries[k]
        s = self.start_of(index)
        frames = np.array(e.frames[s:s + self.n_frames], copy=True)  # reads only this window; own memory
        if e.bvp is None:
            bvp = np.full(self.n_frames, np.nan, dtype=np.float32)
        else:
            bvp = np.asarray(e.bvp[s:s + self.n_frames], dtype=np.float32)
        return {"frames": torch.from_numpy(frames), "bvp": torch.from_numpy(bvp), "fps": float(e.fps),
                "subject": str(e.subject), "start": s}


class ClipStream:
    """The training clips of a run as a pure function of (seed, clip index k).

    Clips come in epochs: each epoch visits every (video, window slot) once, in an order
    shuffled by (seed, epoch), with each window's start drawn uniformly from every valid start
    by (seed, k). So the clip at any index, and therefore any optimiser step of a run, can be
    reproduced without replaying the ones before it: resuming needs only the step number.

    entries:           cache entries or Recordings (``frames`` (N,H,W,3) uint8, ``fps``, ``subject``).
    n_frames:          T + 1 frames per clip.
    windows_per_video: window slots per video per epoch (the paper: 1).
    """

    def __init__(self, entries: Sequence[Any], n_frames: int, seed: int = 0, windows_per_video: int = 1):
        if windows_per_video < 1:
            raise ValueError(f"windows_per_video must be >= 1, got {windows_per_video}")
        self.dataset = ClipDataset(entries, n_frames=n_frames, windows_per_video=1, seed=seed)
        self.entries, self.n_frames, self.seed = self.dataset.entries, int(n_frames), int(seed)
        self.windows_per_video = int(windows_per_video)
        if not self.entries:
            raise ValueError("no training videos")

    @property
    def clips_per_epoch(self) -> int:
        return len(self.entries) * self.windows_per_video

    def clip(self, k: int) -> dict:
        """Clip number k: ``frames`` uint8 (T+1,H,W,3), ``fps``, ``subject``, ``start``, ``index``."""
        epoch, slot = divmod(int(k), self.clips_per_epoch)
        order = np.random.default_rng([self.seed, epoch, 7]).permutation(self.clips_per_epoch)
        e = self.entries[int(order[slot]) // self.windows_per_video]
        last = len(e.frames) - self.n_frames
        start = int(np.random.default_rng([self.seed, int(k), 11]).integers(0, last + 1))
        frames = np.array(e.frames[start:start + self.n_frames], copy=True)
        return {"frames": torch.from_numpy(frames), "fps": float(e.fps), "subject": str(e.subject),
                "start": start, "index": int(k)}

    def batch(self, indices: Sequence[int]) -> dict:
        """Clips ``indices`` stacked: ``frames`` (B,T+1,H,W,3) uint8, ``fps`` (B,) float64, ``subject``."""
        clips = [self.clip(k) for k in indices]
        return {"frames": torch.stack([c["frames"] for c in clips]),
                "fps": torch.tensor([c["fps"] for c in clips], dtype=torch.float64),
                "subject": [c["subject"] for c in clips], "start": [c["start"] for c in clips]}
