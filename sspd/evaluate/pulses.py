"""Pulses of a saved network, computed once and kept beside its weights.

Running SSPD over a minute of video costs tens of seconds on a CPU, while applying another
protocol or estimator to its pulse costs milliseconds. :func:`network_pulses` runs a network of
a training-run folder once per recording and stores the pulses in ``eval/pulses_<network>.npz``;
:class:`StoredPulses` then serves them to the evaluation runner as an ordinary method.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import numpy as np

from sspd.errors import DataError
from sspd.inference import SSPDMethod
from sspd.io import atomic_path

__all__ = ["NETWORK_FILES", "StoredPulses", "network_pulses", "recording_id", "integrate_pulse"]

NETWORK_FILES = {"best": "model_best.pt", "last": "model_inference.pt",
                 "student": "model_inference_online.pt", "initial": "model_initial.pt"}


def recording_id(entry) -> str:
    """A stable name for a recording: its subject, length and a hash of its first frame."""
    frames = entry.frames
    digest = hashlib.sha1(np.ascontiguousarray(frames[0]).tobytes()).hexdigest()[:12]
    return f"{entry.subject}-{len(frames)}-{digest}"


class StoredPulses:
    """A method that returns pulses computed earlier, looked up by recording (see ``network_pulses``)."""

    def __init__(self, pulses: dict[str, np.ndarray], entries: Iterable, integrate: bool = False):
        self._by_frames = {id(e.frames): pulses[recording_id(e)] for e in entries}
        self.integrate = integrate

    def __call__(self, frames_bgr, fs: float) -> np.ndarray:
        try:
            pulse = self._by_frames[id(frames_bgr)]
        except KeyError:
            raise DataError(None, "no stored pulse for these frames (pass the same entries)") from None
        return integrate_pulse(pulse, fs) if self.integrate else pulse


def integrate_pulse(pulse: np.ndarray, fs: float) -> np.ndarray:
    """The running integral of a pulse (s x unit), linear trend removed.

    A network fed frame differences can learn the derivative of the pulse, whose harmonic k is
    weighted by k; integrating undoes that weighting (harmonic k divided by k) before the
    heart rate is read off. The trend removal keeps the integral's slow drift out of the band.
    """
    y = np.cumsum(np.asarray(pulse, np.float64) - np.mean(pulse)) / fs
    t = np.arange(len(y))
    return y - np.polyval(np.polyfit(t, y, 1), t)


def network_pulses(run_dir: str | Path, network: str, entries: list, progress: bool = False) -> dict:
    """Pulses of one network of a run on ``entries``, read from / added to ``eval/pulses_<network>.npz``."""
    run_dir = Path(run_dir)
    weights = run_dir / NETWORK_FILES[network]
    store = run_dir / "eval" / f"pulses_{network}.npz"
    pulses = dict(np.load(store)) if store.is_file() else {}
    missing = [e for e in entries if recording_id(e) not in pulses]
    if missing:
        from tqdm import tqdm

        # Published runs keep the pulses but not every network's weights (e.g. the initial ones).
        if not weights.is_file():
            raise DataError(weights, f"run has no {network!r} network and no stored pulses for "
                                     f"{len(missing)} of the recordings")

        method = SSPDMethod(weights)
        for e in tqdm(missing, desc=f"{network} pulses", disable=not progress):
            pulses[recording_id(e)] = method(np.asarray(e.frames), float(e.fps)).astype(np.float32)
        store.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(store, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **pulses)
    return {k: pulses[k].astype(np.float64) for k in (recording_id(e) for e in entries)}


