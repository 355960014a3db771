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
           "config_changes", "experiments_table", "publish_run", "run_timing", "choose_postprocessing",
           "criteria", "chosen_method", "CRITERIA_ROWS", "verdict", "finish_run", "validation_predictions",
           "PUBLISHED_FILES"]

def evaluate_run(run_dir: str | Path, entries: list, dataset_name: str,
                 networks: Iterable[str] = ("best", "last", "initial"),
                 classic: Iterable[str] = ("pos",), protocols: Iterable[str] = ("windowed",),
                 n_boot: int = 1000, progress: bool = False, subdir: str = "eval",
                 integrated: Iterable[str] = ()) -> pd.DataFrame:
    """Score the run's networks and classic reference methods on ``entries``.

    ``integrated``: networks also scored on their integrated pulse
    (:func:`sspd.evaluate.pulses.integrate_pulse`), named ``sspd-<network>-integrated``.
    Writes ``run_dir/<subdir>/<name>-<protocol>/`` (per_video.csv, per_window.csv, summary.json;
    ``subdir`` "eval" for the run's own test subjects, e.g. "eval-motion-full" for another
    dataset) and returns :func:`run_table` of that folder.
    """
    run_dir = Path(run_dir)
    variants = [(n, False) for n in networks] + [(n, True) for n in integrated]
    for network, integrate in variants:
        pulses = network_pulses(run_dir, network, entries, progress)
        method = StoredPulses(pulses, entries, integrate=integrate)
        name = f"{network}-integrated" if integrate else network
        for protocol in protocols:
            evaluate(method, entries, protocol, run_dir / subdir / f"{name}-{protocol}",
                     method_name=f"sspd-{name}", dataset_name=dataset_name, progress=False,
                     n_boot=n_boot, config={"run": run_dir.name, "network": network, "integrated": integrate,
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
    """The validation log of a run (step, network, MAE, r, snr_db, n_windows, clips); empty if none.

    ``clips``: training clips consumed by that step (step x batch_size x accum_steps, from the
    run's ``config.json``; missing without one), the axis on which runs of different batch
    sizes spend the same compute.
    """
    run_dir = Path(run_dir)
    path = run_dir / "val_log.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=["step", "network", "MAE", "r", "snr_db", "n_windows", "clips"])
    log = pd.read_csv(path)
    config = run_dir / "config.json"
    if config.is_file():
        c = json.loads(config.read_text())
        log["clips"] = log["step"] * int(c.get("batch_size", 1)) * int(c.get("accum_steps") or 1)
    else:
        log["clips"] = np.nan
    return log


def validation_predictions(run_dirs: Iterable[str | Path], network: str = "teacher") -> pd.DataFrame:
    """Each run's last validated prediction per validation video, side by side.

    The runs must share their validation videos. Rows: validation subjects (with their true HR
    ``hr_gt``, bpm); columns: the runs' mean
    predicted HR (bpm) at their last validated step. Runs without validation videos are left out.
    """
    columns = {}
    truth = {}
    for run in map(Path, run_dirs):
        path = run / "val_videos.csv"
        if not path.is_file() or path.stat().st_size == 0:
            continue
        v = pd.read_csv(path)
        v = v[(v["network"] == network) & (v["step"] == v["step"].max())]
        columns[run.name] = v.set_index("subject")["hr_pred"]
        for subject, hr in v.set_index("subject")["hr_gt"].items():
            if abs(truth.setdefault(subject, hr) - hr) > 1e-6:
                raise ValueError(f"{run}: validation subject {subject} has another true HR than in the "
                                 f"runs before it; compare runs on the same validation videos")
    if not columns:
        return pd.DataFrame()
    table = pd.DataFrame(columns)
    table.insert(0, "hr_gt", pd.Series(truth))
    table.index.name = "subject"
    return table.sort_values("hr_gt")


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

    Columns: run, data, recipe, changes (vs the recipe), seed, steps, minutes (the optimiser
    steps alone, and the whole run's wall time when published with ``timing.json``), val MAE of the initial weights (step 0), the best teacher (and its
    step) and the last teacher, and the last teacher's waveform r. Runs without a validation
    log have NaN validation columns; an unfinished run says so in ``status``.
    """
    rows = []
    runs = sorted(p for p in Path(runs_dir).iterdir() if (p / "config.json").is_file()) \
        if Path(runs_dir).is_dir() else []
    for run in runs:
        config = json.loads((run / "config.json").read_text())
        manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
        log = pd.read_csv(run / "train_log.csv") if (run / "train_log.csv").is_file() else pd.DataFrame()
        val = learning_curves(run)
        teacher = val[val["network"] == "teacher"].sort_values("step")
        total = manifest.get("total_steps")
        done = len(log)
        row = {"run": run.name, "data": config.get("data"), "recipe": config.get("recipe"),
               "changes": config_changes(config), "seed": config.get("seed"),
               # a published run without weights (an experiment) has its timing.json
               "steps": done, "status": "done" if any((run / f).is_file() for f in
                                                      ("model_inference.pt", "timing.json")) else
               f"running/stopped at {done}/{total}",
               "train_min": float(log["seconds"].sum() / 60) if "seconds" in log else np.nan,
               "wall_min": (json.loads((run / "timing.json").read_text())["wall_seconds"] / 60
                            if (run / "timing.json").is_file() else np.nan),
               "val_MAE_initial": np.nan, "val_MAE_best": np.nan, "best_step": np.nan,
               "val_MAE_last": np.nan, "val_r_last": np.nan}
        if len(teacher):
            first, last = teacher.iloc[0], teacher.iloc[-1]
            best = teacher.loc[teacher["MAE"].idxmin()]
            row.update(val_MAE_initial=first["MAE"] if first["step"] == 0 else np.nan,
                       val_MAE_best=best["MAE"], best_step=int(best["step"]), val_MAE_last=last["MAE"],
                       val_r_last=last["r"])
        rows.append(row)
    return pd.DataFrame(rows, columns=EXPERIMENT_COLUMNS)


EXPERIMENT_COLUMNS = ["run", "data", "recipe", "changes", "seed", "steps", "status", "train_min", "wall_min",
                      "val_MAE_initial", "val_MAE_best", "best_step", "val_MAE_last", "val_r_last"]


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
    parser.add_argument("--integrated", nargs="*", default=[], choices=list(NETWORK_FILES),
                        help="networks also scored on their integrated pulse")
    args = parser.parse_args(argv)
    config = json.loads((args.run_dir / "config.json").read_text())
    dataset = args.dataset or config["data"]
    entries, name = dataset_entries(dataset, args.split, progress=True)
    subdir = "eval" if dataset == config["data"] else f"eval-{name}"
    table = evaluate_run(args.run_dir, entries, name, args.networks, args.classic, args.protocols,
                         progress=True, subdir=subdir, integrated=args.integrated)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[["method", "protocol", "n", "n_subjects", "MAE", "MAE_lo", "MAE_hi", "r", "waveform_r"]]
              .round(2).to_string(index=False))
    return 0



def run_timing(run_dir: str | Path) -> dict:
    """Where a finished run's time went, in seconds, from its own logs and files.

    ``train_seconds``: the optimiser steps (train_log.csv); ``val_seconds``: the validation
    passes when logged; ``wall_seconds``: from the first manifest's creation to the last
    teacher's weights file (includes everything, e.g. data loading and other load on the CPU).
    """
    import datetime as dt
    import os

    run_dir = Path(run_dir)
    log = pd.read_csv(run_dir / "train_log.csv")
    val = learning_curves(run_dir)
    created = json.loads((run_dir / "manifest.json").read_text())["created"]
    start = dt.datetime.fromisoformat(created).timestamp()
    end = os.path.getmtime(run_dir / "model_inference.pt")
    return {"steps": int(len(log)), "train_seconds": float(log["seconds"].sum()),
            "val_seconds": float(val.drop_duplicates("step")["seconds"].sum()) if "seconds" in val else None,
            "val_passes": int(val["step"].nunique()), "wall_seconds": round(end - start, 1)}


PUBLISHED_FILES = ("config.json", "manifest.json", "best.json", "choice.json", "train_log.csv", "val_log.csv",
                   "val_videos.csv", "val_postprocessing.csv", "model_best.pt", "model_inference.pt")


def publish_run(run_dir: str | Path, dest: str | Path, with_s3m: bool = False, weights: bool = True) -> Path:
    """Copy a finished run's small artefacts to ``dest`` (a committed results folder).

    Copies the configs, manifests (resumptions included), logs, the best and last teacher's
    inference weights and the ``eval/`` folder (summaries, per-video/window tables, pulses);
    with ``with_s3m`` also the last teacher with its S3M, stored in float16 (for figures only).
    ``weights=False`` leaves every weights file behind (a validation-only experiment).
    Checkpoints and the initial weights (a function of the seed) stay behind. The copy is
    assembled in a hidden folder and renamed into place; an existing ``dest`` is an error.
    """
    import shutil

    import torch

    from sspd.io import atomic_torch_save, atomic_write_json

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
        if (run_dir / name).is_file() and (weights or not name.endswith(".pt")):
            shutil.copy2(run_dir / name, tmp / name)
    if (run_dir / "eval").is_dir():
        shutil.copytree(run_dir / "eval", tmp / "eval")
    atomic_write_json(tmp / "timing.json", run_timing(run_dir))
    if with_s3m:
        state = torch.load(run_dir / "model_target_s3m.pt", map_location="cpu", weights_only=True)
        atomic_torch_save(tmp / "model_target_s3m.pt",
                          {k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    tmp.rename(dest)
    return dest


def choose_postprocessing(run_dir: str | Path, val_entries: list, network: str = "best",
                          protocol: str = "windowed", progress: bool = False) -> dict:
    """Decide on validation subjects whether the network's pulse is scored integrated.

    Scores ``network`` and the run's initial weights on ``val_entries`` with the plain and the
    integrated pulse (:func:`sspd.evaluate.pulses.integrate_pulse`) under ``protocol``; writes
    ``val_postprocessing.csv`` (windowed MAE per variant) and ``choice.json`` (the variant of
    ``network`` with the lower MAE; plain on a tie). Test subjects are not touched.
    """
    from sspd.evaluate.harmonics import mae_by_ratio, window_evidence
    from sspd.io import atomic_write_json, atomic_write_text

    run_dir = Path(run_dir)
    parts = []
    for net in dict.fromkeys((network, "initial")):
        pulses = network_pulses(run_dir, net, val_entries, progress)
        for integrate in (False, True):
            label = f"{net}-integrated" if integrate else net
            parts.append(window_evidence(StoredPulses(pulses, val_entries, integrate), val_entries, protocol,
                                         method_name=label))
    table = mae_by_ratio(pd.concat(parts, ignore_index=True), [None])[["method", "MAE", "n_windows"]]
    atomic_write_text(run_dir / "val_postprocessing.csv", table.to_csv(index=False))
    mae = table.set_index("method")["MAE"]
    integrated = bool(mae[f"{network}-integrated"] < mae[network])
    choice = {"network": network, "integrated": integrated, "protocol": protocol,
              "val_MAE": float(mae[f"{network}-integrated" if integrated else network]),
              "selected_by": "validation windowed MAE (plain vs integrated pulse)"}
    atomic_write_json(run_dir / "choice.json", choice)
    return choice


def criteria(table: pd.DataFrame, method: str, control: str = "sspd-initial", reference: str = "pos",
             protocol: str = "windowed") -> pd.DataFrame:
    """The issue's success criteria, computed from a run's test table (:func:`run_table`).

    Rows: the trained method's MAE at most 1.0 bpm; at most half the control's MAE; their 95 %
    CIs disjoint; MAE at most the reference's + 1.0 bpm; mean waveform r above the control's.
    Which rows apply depends on the dataset (``easy``: the first three; ``still``: the last two).
    """
    t = table[table["protocol"] == protocol].set_index("method")
    m, c, r = t.loc[method], t.loc[control], t.loc[reference]
    rows = [("MAE <= 1.0 bpm", 1.0, m["MAE"] <= 1.0),
            (f"MAE <= half of {control}", c["MAE"] / 2, m["MAE"] <= c["MAE"] / 2),
            (f"CIs disjoint from {control}", c["MAE_lo"], m["MAE_hi"] < c["MAE_lo"]),
            (f"MAE <= {reference} + 1.0 bpm", r["MAE"] + 1.0, m["MAE"] <= r["MAE"] + 1.0),
            (f"waveform r above {control}", c["waveform_r"], m["waveform_r"] > c["waveform_r"])]
    return pd.DataFrame([{"criterion": name, "method": method, "MAE": m["MAE"], "bound": bound,
                          "passed": bool(ok)} for name, bound, ok in rows])


def chosen_method(run_dir: str | Path) -> str:
    """The method name of the network a published run's validation chose (``choice.json``): the best teacher's
    pulse as it is ("sspd-best") or integrated ("sspd-best-integrated")."""
    chosen = json.loads((Path(run_dir) / "choice.json").read_text())
    return "sspd-best-integrated" if chosen["integrated"] else "sspd-best"


#: Which :func:`criteria` rows (by index) a test run must pass, by the kind of data it was trained on; on
#: ``motion`` the method is only reported beside POS (its stretch goal, row 3, is shown but not required).
CRITERIA_ROWS = {"easy": (0, 1, 2), "still": (3, 4), "motion": ()}


def verdict(run_dir: str | Path, table: pd.DataFrame | None = None, protocol: str = "windowed") -> dict:
    """The criteria that apply to a published run (:data:`CRITERIA_ROWS`, by its data's kind), for the network
    its validation chose (``choice.json``): {run, data, method, MAE, POS MAE, required, passed, failed}."""
    run_dir = Path(run_dir)
    table = run_table(run_dir) if table is None else table
    method = chosen_method(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    kind = next((k for k in CRITERIA_ROWS if Path(str(config["data"])).name.startswith(k)), None)
    rows = criteria(table, method, protocol=protocol)
    required = rows.iloc[list(CRITERIA_ROWS.get(kind, ()))]
    ref = table[(table["protocol"] == protocol) & (table["method"] == "pos")]
    return {"run": run_dir.name, "data": config["data"], "method": method, "MAE": float(rows["MAE"].iloc[0]),
            "POS MAE": float(ref["MAE"].iloc[0]) if len(ref) else float("nan"), "required": len(required),
            "passed": int(required["passed"].sum()),
            "failed": "; ".join(required.loc[~required["passed"], "criterion"]) or "-"}


def finish_run(run_dir: str | Path, dest: str | Path, protocols: Iterable[str] = ("windowed", "windowed-harmonic"),
               classic: Iterable[str] = ("pos",), with_s3m: bool = False, progress: bool = False) -> Path:
    """Close a finished run: the validation choice, the one read of the test subjects, publish.

    :func:`choose_postprocessing` on the run's validation fold; then the best-by-validation
    teacher (plain and integrated pulse), the run's initial weights and ``classic`` scored on the
    test split of the run's data under ``protocols``; then :func:`publish_run` into ``dest``.
    """
    from sspd.data.splits import dataset_entries
    from sspd.train.config import TrainConfig
    from sspd.train.loop import training_entries

    config = TrainConfig.from_json(Path(run_dir) / "config.json")
    _, val_entries = training_entries(config)
    choose_postprocessing(run_dir, val_entries, progress=progress)
    entries, name = dataset_entries(config.data, "test", progress=progress)
    evaluate_run(run_dir, entries, name, networks=("best", "initial"), classic=classic, protocols=protocols,
                 progress=progress, integrated=("best",))
    return publish_run(run_dir, dest, with_s3m=with_s3m)


if __name__ == "__main__":
    raise SystemExit(main())
