"""Validation during training: the networks on held-out *training-split* subjects.

Every ``val_every`` optimiser steps the loop scores the EMA teacher and the online student on
the validation fold (subjects carved from the training split by :mod:`sspd.data.splits`; never
a test subject) under the ``windowed`` protocol, exactly as the final evaluation scores them:
the same inference path (:class:`sspd.inference.SSPDMethod`, BatchNorm on each clip's own
statistics) and the same HR estimator. Only the first ``seconds`` of each video are used, to
keep the cost of a validation pass bounded.

Per video it records the windowed MAE, the mean waveform r, the mean SNR and the predicted and
true mean HR, so a learning curve can show *which* subjects a network gets right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from sspd.data.recording import Recording
from sspd.evaluate.protocol import get_protocol
from sspd.evaluate.runner import evaluate_recording
from sspd.inference import SSPDMethod

__all__ = ["validation_clips", "validate", "ValidationResult", "VAL_PROTOCOL"]

VAL_PROTOCOL = "windowed"


def validation_clips(entries, seconds: float | None) -> list[Recording]:
    """The first ``seconds`` of every validation entry, as Recordings (frames stay memory-mapped)."""
    clips = []
    for e in entries:
        n = len(e.frames) if seconds is None else min(len(e.frames), int(round(seconds * float(e.fps))))
        clips.append(Recording(frames=e.frames[:n], timestamps=np.asarray(e.timestamps)[:n],
                               fps_nominal=float(e.fps), bvp=None if e.bvp is None else np.asarray(e.bvp)[:n],
                               dataset=str(e.dataset), subject=str(e.subject), source=getattr(e, "path", None)))
    return clips


@dataclass
class ValidationResult:
    """One validation pass: per-video rows and one summary row per network."""

    videos: pd.DataFrame     # step, network, subject, hr_pred, hr_gt, window_mae, waveform_r, snr_db
    summary: pd.DataFrame    # step, network, MAE (over windows), r (mean waveform r), snr_db, n_windows


@torch.no_grad()
def validate(networks: dict[str, torch.nn.Module], clips: list[Recording], step: int,
             device: str | torch.device = "cpu") -> ValidationResult:
    """Score each network on each clip under the windowed protocol.

    networks: {"teacher": model, "student": model, ...}; each is used in place (its train/eval
              mode and BatchNorm statistics are restored afterwards).
    """
    protocol = get_protocol(VAL_PROTOCOL)
    videos, summary = [], []
    for name, model in networks.items():
        # Eager float32: curves stay comparable across runs, and the weights change between passes.
        method = SSPDMethod(model, device=str(device), backend="eager")
        windows = []
        for clip in clips:
            video, rows = evaluate_recording(method, clip, protocol)
            videos.append({"step": step, "network": name, "subject": video["subject"],
                           "hr_pred": video["hr_pred"], "hr_gt": video["hr_gt"],
                           "window_mae": video["window_mae"], "waveform_r": video["waveform_r"],
                           "snr_db": video["snr_db"]})
            windows.extend(rows)
        w = pd.DataFrame(windows)
        ok = np.isfinite(w["abs_error"])
        summary.append({"step": step, "network": name,
                        "MAE": float(w.loc[ok, "abs_error"].mean()) if ok.any() else float("nan"),
                        "r": float(np.nanmean([v["waveform_r"] for v in videos[-len(clips):]])),
                        "snr_db": float(np.nanmean(w["snr_db"])), "n_windows": int(ok.sum())})
    return ValidationResult(pd.DataFrame(videos), pd.DataFrame(summary))
