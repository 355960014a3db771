"""Scoring a finished training run on held-out subjects, beside its fair controls.

A run folder (see :mod:`sspd.train.loop`) holds several networks; each is scored exactly the
same way (:class:`sspd.inference.SSPDMethod`, BatchNorm on each clip's statistics, the same
protocols and HR estimator as every other method):

=============  ===========================================================================
``best``       the EMA teacher with the lowest validation MAE (``model_best.pt``): the
               study's choice, made on validation subjects only
``last``       the teacher at the end of the run (``model_inference.pt``; the paper's choice)
``student``    the online network at the end (``model_inference_online.pt``)
``initial``    the run's own initial weights (``model_initial.pt``): the "untrained" control
=============  ===========================================================================

Each network's pulses are computed once and stored (``eval/pulses_<network>.npz``), so more
protocols can be applied later without running the network again. Classic methods are scored
on the same recordings as reference rows.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from sspd.errors import DataError
from sspd.evaluate.methods import get_method
from sspd.evaluate.runner import evaluate, metrics_row
from sspd.inference import SSPDMethod
from sspd.io import atomic_path

__all__ = ["NETWORK_FILES", "StoredPulses", "network_pulses", "evaluate_run", "run_table", "learning_curves"]

NETWORK_FILES = {"best": "model_best.pt", "last": "model_inference.pt",
                 "student": "model_inference_online.pt", "initial": "model_initial.pt"}


def _recording_id(entry) -> str:
    """A stable name for a recording: its subject, length and a hash of its first frame."""
    frames = entry.frames
    digest = hashlib.sha1(np.ascontiguousarray(frames[0]).tobytes()).hexdigest()[:12]
    return f"{entry.subject}-{len(frames)}-{digest}"


class StoredPulses:
    """A method that returns pulses computed earlier, looked up by recording (see ``network_pulses``)."""

    def __init__(self, pulses: dict[str, np.ndarray], entries: Iterable):
        self._by_frames = {id(e.frames): pulses[_recording_id(e)] for e in entries}

    def __call__(self, frames_bgr, fs: float) -> np.ndarray:
        try:
            return self._by_frames[id(frames_bgr)]
        except KeyError:
            raise DataError(None, "no stored pulse for these frames (pass the same entries)") from None


def network_pulses(run_dir: str | Path, network: str, entries: list, progress: bool = False) -> dict:
    """Pulses of one network of a run on ``entries``, read from / added to ``eval/pulses_<network>.npz``."""
    run_dir = Path(run_dir)
    weights = run_dir / NETWORK_FILES[network]
    if not weights.is_file():
        raise DataError(weights, f"run has no {network!r} network")
    store = run_dir / "eval" / f"pulses_{network}.npz"
    pulses = dict(np.load(store)) if store.is_file() else {}
    missing = [e for e in entries if _recording_id(e) not in pulses]
    if missing:
        from tqdm import tqdm

        method = SSPDMethod(weights)
        for e in tqdm(missing, desc=f"{network} pulses", disable=not progress):
            pulses[_recording_id(e)] = method(np.asarray(e.frames), float(e.fps)).astype(np.float32)
        store.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(store, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **pulses)
    return {k: pulses[k].astype(np.float64) for k in (_recording_id(e) for e in entries)}


def evaluate_run(run_dir: str | Path, entries: list, dataset_name: str,
                 networks: Iterable[str] = ("best", "last", "initial"),
                 classic: Iterable[str] = ("pos",), protocols: Iterable[str] = ("windowed",),
                 n_boot: int = 1000, progress: bool = False) -> pd.DataFrame:
    """Score the run's networks and classic reference methods on ``entries``.

    Writes ``run_dir/eval/<name>-<protocol>/`` (per_video.csv, per_window.csv, summary.json)
    and returns :func:`run_table` of the run.
    """
    run_dir = Path(run_dir)
    for network in networks:
        method = StoredPulses(network_pulses(run_dir, network, entries, progress), entries)
        for protocol in protocols:
            evaluate(method, entries, protocol, run_dir / "eval" / f"{network}-{protocol}",
                     method_name=f"sspd-{network}", dataset_name=dataset_name, progress=False,
                     n_boot=n_boot, config={"run": run_dir.name, "network": network,
                                            "weights": NETWORK_FILES[network]})
    for name in classic:
        for protocol in protocols:
            evaluate(get_method(name), entries, protocol, run_dir / "eval" / f"{name}-{protocol}",
                     method_name=name, dataset_name=dataset_name, progress=False, n_boot=n_boot)
    return run_table(run_dir)


def run_table(run_dir: str | Path, metrics=("MAE", "RMSE", "r")) -> pd.DataFrame:
    """One row per scored (method, protocol) of a run: window-level metrics with 95 % CIs.

    Columns: method, protocol, n (windows), n_subjects, each metric with ``_lo``/``_hi``, SNR and
    mean waveform r. Empty when the run has not been scored.
    """
    rows = []
    for summary_path in sorted((Path(run_dir) / "eval").glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        level = "window" if "window" in summary["levels"] else "video"
        row = metrics_row(summary, level, metrics)
        row["n_subjects"] = summary["levels"][level].get("n_groups")
        rows.append({"method": summary["method"], "protocol": summary["protocol"]["name"], "level": level,
                     **row})
    return pd.DataFrame(rows)


def learning_curves(run_dir: str | Path) -> pd.DataFrame:
    """The validation log of a run (step, network, MAE, r, snr_db, n_windows); empty if none."""
    path = Path(run_dir) / "val_log.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=["step", "network", "MAE", "r", "snr_db", "n_windows"])
    return pd.read_csv(path)
