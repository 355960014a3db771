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

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from sspd.errors import DataError
from sspd.evaluate.methods import get_method
from sspd.evaluate.pulses import NETWORK_FILES, StoredPulses, network_pulses
from sspd.evaluate.runner import evaluate, metrics_row

__all__ = ["NETWORK_FILES", "StoredPulses", "network_pulses", "evaluate_run", "run_table", "learning_curves",
           "config_changes", "experiments_table", "publish_run", "PUBLISHED_FILES"]

def evaluate_run(run_dir: str | Path, entries: list, dataset_name: str,
                 networks: Iterable[str] = ("best", "last", "initial"),
                 classic: Iterable[str] = ("pos",), protocols: Iterable[str] = ("windowed",),
                 n_boot: int = 1000, progress: bool = False, subdir: str = "eval") -> pd.DataFrame:
    """Score the run's networks and classic reference methods on ``entries``.

    Writes ``run_dir/<subdir>/<name>-<protocol>/`` (per_video.csv, per_window.csv, summary.json;
    ``subdir`` "eval" for the run's own test subjects, e.g. "eval-motion-full" for another
    dataset) and returns :func:`run_table` of that folder.
    """
    run_dir = Path(run_dir)
    for network in networks:
        method = StoredPulses(network_pulses(run_dir, network, entries, progress), entries)
        for protocol in protocols:
            evaluate(method, entries, protocol, run_dir / subdir / f"{network}-{protocol}",
                     method_name=f"sspd-{network}", dataset_name=dataset_name, progress=False,
                     n_boot=n_boot, config={"run": run_dir.name, "network": network,
                                            "weights": NETWORK_FILES[network]})
    for name in classic:
        for protocol in protocols:
            evaluate(get_method(name), entries, protocol, run_dir / subdir / f"{name}-{protocol}",
                     method_name=name, dataset_name=dataset_name, progress=False, n_boot=n_boot)
    return run_table(run_dir, subdir=subdir)


def run_table(run_dir: str | Path, metrics=("MAE", "RMSE", "r"), subdir: str = "eval") -> pd.DataFrame:
    """One row per scored (method, protocol) of a run: window-level metrics with 95 % CIs.

    Columns: method, protocol, n (windows), n_subjects, each metric with ``_lo``/``_hi``, SNR and
    mean waveform r. Empty when the run has not been scored.
    """
    rows = []
    for summary_path in sorted((Path(run_dir) / subdir).glob("*/summary.json")):
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


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


_NOT_RECIPE = {"data", "split", "recipe", "device", "num_workers", "seed"}


def config_changes(config: dict) -> str:
    """What a run's config changes relative to its recipe, as ``key=value`` text ("" if nothing)."""
    from sspd.train.config import TrainConfig

    base = _flat(TrainConfig.from_recipe(config.get("recipe", "paper")).to_dict())
    mine = _flat(config)
    diff = [f"{k}={mine[k]}" for k in sorted(mine)
            if k not in _NOT_RECIPE and json.dumps(mine[k]) != json.dumps(base.get(k))]
    return ", ".join(diff)


def experiments_table(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run folder under ``runs_dir``: what it changed and what validation said.

    Columns: run, data, recipe, changes (vs the recipe), seed, steps, minutes (training and
    validation wall time), val MAE of the initial weights (step 0), the best teacher (and its
    step) and the last teacher, and the last teacher's waveform r. Runs without a validation
    log have NaN validation columns; an unfinished run says so in ``status``.
    """
    rows = []
    for run in sorted(p for p in Path(runs_dir).iterdir() if (p / "config.json").is_file()):
        config = json.loads((run / "config.json").read_text())
        manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
        log = pd.read_csv(run / "train_log.csv") if (run / "train_log.csv").is_file() else pd.DataFrame()
        val = learning_curves(run)
        teacher = val[val["network"] == "teacher"].sort_values("step")
        total = manifest.get("total_steps")
        done = len(log)
        row = {"run": run.name, "data": config.get("data"), "recipe": config.get("recipe"),
               "changes": config_changes(config), "seed": config.get("seed"),
               "steps": done, "status": "done" if (run / "model_inference.pt").is_file() else
               f"running/stopped at {done}/{total}",
               "train_min": float(log["seconds"].sum() / 60) if "seconds" in log else np.nan,
               "val_MAE_initial": np.nan, "val_MAE_best": np.nan, "best_step": np.nan,
               "val_MAE_last": np.nan, "val_r_last": np.nan}
        if len(teacher):
            first, last = teacher.iloc[0], teacher.iloc[-1]
            best = teacher.loc[teacher["MAE"].idxmin()]
            row.update(val_MAE_initial=first["MAE"] if first["step"] == 0 else np.nan,
                       val_MAE_best=best["MAE"], best_step=int(best["step"]), val_MAE_last=last["MAE"],
                       val_r_last=last["r"])
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """``python -m sspd.train.report RUN_DIR``: score a finished run on its test subjects."""
    import argparse

    from sspd.data.splits import dataset_entries

    parser = argparse.ArgumentParser(description="score a training run's networks on held-out subjects")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--dataset", default=None, help="dataset to score on (default: the run's own data)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--networks", nargs="+", default=["best", "last", "initial"], choices=list(NETWORK_FILES))
    parser.add_argument("--classic", nargs="*", default=["pos"])
    parser.add_argument("--protocols", nargs="+", default=["windowed"])
    args = parser.parse_args(argv)
    config = json.loads((args.run_dir / "config.json").read_text())
    dataset = args.dataset or config["data"]
    entries, name = dataset_entries(dataset, args.split, progress=True)
    subdir = "eval" if dataset == config["data"] else f"eval-{name}"
    table = evaluate_run(args.run_dir, entries, name, args.networks, args.classic, args.protocols,
                         progress=True, subdir=subdir)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[["method", "protocol", "n", "n_subjects", "MAE", "MAE_lo", "MAE_hi", "r", "waveform_r"]]
              .round(2).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


PUBLISHED_FILES = ("config.json", "manifest.json", "best.json", "train_log.csv", "val_log.csv",
                   "val_videos.csv", "val_postprocessing.csv", "model_best.pt", "model_inference.pt")


def publish_run(run_dir: str | Path, dest: str | Path, with_s3m: bool = False) -> Path:
    """Copy a finished run's small artefacts to ``dest`` (a committed results folder).

    Copies the configs, manifests (resumptions included), logs, the best and last teacher's
    inference weights and the ``eval/`` folder (summaries, per-video/window tables, pulses);
    with ``with_s3m`` also the last teacher with its S3M, stored in float16 (for figures only).
    Checkpoints and the initial weights (a function of the seed) stay behind. The copy is
    assembled in a hidden folder and renamed into place; an existing ``dest`` is an error.
    """
    import shutil

    import torch

    from sspd.io import atomic_torch_save

    run_dir, dest = Path(run_dir), Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; publish into a new folder")
    if not (run_dir / "model_inference.pt").is_file():
        raise DataError(run_dir, "the run has not finished (no model_inference.pt)")
    tmp = dest.parent / f".{dest.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    names = [*PUBLISHED_FILES, *(p.name for p in sorted(run_dir.glob("manifest_resumed_step*.json")))]
    for name in names:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, tmp / name)
    if (run_dir / "eval").is_dir():
        shutil.copytree(run_dir / "eval", tmp / "eval")
    if with_s3m:
        state = torch.load(run_dir / "model_target_s3m.pt", map_location="cpu", weights_only=True)
        atomic_torch_save(tmp / "model_target_s3m.pt",
                          {k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    tmp.rename(dest)
    return dest
