"""Difficulty calibration of the synthetic presets against the classic methods (issue 3).

The synthetic presets are only useful if they are about as hard as the real datasets they stand in for, and
ordered: ``still`` (UBFC-rPPG-like) < ``motion`` (PURE-like) < ``hard`` (VIPL-HR-like). This module runs every
classic method on every preset under the chosen protocols with the ordinary evaluation runner, collects one
table, and checks the three criteria of the calibration:

(a) POS on ``still`` has an MAE between 1.5 and 6 bpm under the ``toolbox`` protocol (real UBFC-rPPG: about
    4 bpm for POS under that protocol; rPPG-Toolbox, Liu et al., NeurIPS 2023 D&B, Table 2);
(b) every method's MAE grows from ``still`` to ``motion`` to ``hard`` (toolbox protocol);
(c) GREEN is clearly worse than POS and CHROM on ``motion`` (by ``margin`` bpm).

The same three checks are also reported for the ``windowed`` protocol (keys prefixed ``windowed_``) when the
table has it; they are informative, the toolbox checks are the criteria.

All numbers are synthetic. ``python -m sspd.evaluate.calibration`` writes ``data/results/calibration/``;
:func:`recheck_calibration` re-evaluates a few of its subjects live and compares the errors.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from sspd.data.splits import dataset_entries
from sspd.errors import DataError
from sspd.evaluate.methods import get_method
from sspd.evaluate.protocol import get_protocol
from sspd.evaluate.runner import evaluate, evaluate_recording, metrics_row
from sspd.io import atomic_path, atomic_write_json, manifest

CALIBRATED_PRESETS = ("still", "motion", "hard")
METHODS = ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit")
PROTOCOLS = ("toolbox", "windowed")
TABLE_METRICS = ("MAE", "RMSE", "ME", "MAPE", "r", "CCC")


def run_calibration(presets=CALIBRATED_PRESETS, methods=METHODS, protocols=PROTOCOLS, out_dir: str | Path | None = None,
                    split: str = "all", entries_by_preset: dict | None = None, n_boot: int = 1000,
                    seed: int = 0, progress: bool = True, generate: bool = True) -> pd.DataFrame:
    """Evaluate ``methods`` × ``presets`` × ``protocols``; write per-run files and ``table.csv``.

    Each run goes to ``out_dir/<preset>/<method>-<protocol>/`` (per_video.csv, per_window.csv,
    summary.json, from :func:`sspd.evaluate.runner.evaluate`); ``out_dir`` defaults to
    ``data/results/calibration``.
    entries_by_preset : optional {preset: recordings}; otherwise
        :func:`sspd.data.splits.dataset_entries` renders stale subjects (``generate``) and builds or
        reuses each preset's cache for ``split``.
    Returns the table (one row per preset, method, protocol; video-level MAE/RMSE/ME/MAPE/r/CCC in bpm
    with bootstrap 95 % CIs resampling subjects, mean SNR in dB, mean waveform r).
    """
    from sspd.data.synthetic import PRESETS as PRESET_CONFIGS
    from sspd.paths import results_dir

    out_dir = Path(out_dir) if out_dir is not None else results_dir() / "calibration"
    rows = []
    for preset in presets:
        if entries_by_preset is not None:
            entries = entries_by_preset[preset]
        else:
            entries, _ = dataset_entries(preset, split, generate=generate, progress=progress)
        for method_name in methods:
            method = get_method(method_name)
            for protocol in protocols:
                result = evaluate(method, entries, protocol, out_dir / preset / f"{method_name}-{protocol}",
                                  method_name=method_name, dataset_name=preset, progress=progress,
                                  n_boot=n_boot, seed=seed, config={"split": split, "calibration": True})
                rows.append({"preset": preset, "method": method_name, "protocol": protocol,
                             **metrics_row(result.attrs["summary"], "video", TABLE_METRICS)})
    table = pd.DataFrame(rows)
    with atomic_path(out_dir / "table.csv") as tmp:
        table.to_csv(tmp, index=False)
    fingerprints = {p: PRESET_CONFIGS[p].fingerprint() for p in presets if p in PRESET_CONFIGS}
    checks = {}
    if set(CALIBRATED_PRESETS) <= {_base_name(p) for p in presets}:
        for protocol in protocols:
            prefix = "" if protocol == "toolbox" else f"{protocol}_"
            checks.update({prefix + k: v for k, v in check_calibration(table, protocol=protocol).items()})
    atomic_write_json(out_dir / "summary.json", {
        "checks": checks,
        "manifest": manifest(config={"presets": list(presets), "methods": list(methods),
                                     "protocols": list(protocols), "split": split, "n_boot": n_boot,
                                     "preset_fingerprints": fingerprints}, seed=seed),
        "note": "All numbers are computed on synthetic data; they are not results on real datasets.",
    })
    return table


def recheck_calibration(results: str | Path | None = None, presets=CALIBRATED_PRESETS,
                        methods=("pos", "chrom", "green"), protocol: str = "toolbox",
                        n_subjects: int = 2, atol: float = 1e-6,
                        entries_by_preset: dict | None = None,
                        progress: bool = False) -> pd.DataFrame:
    """Re-evaluate a few subjects of a committed calibration run live and compare the errors.

    results:    the run's folder (``out_dir`` of :func:`run_calibration`; default
                ``data/results/calibration``), read for ``summary.json`` (its split) and
                ``<preset>/<method>-<protocol>/per_video.csv``.
    n_subjects: how many subjects per preset, the first ones of the committed per-video table
                (every recording of each; recordings are matched on their key).
    entries_by_preset: optional {preset: recordings}; otherwise the recordings of the run's split
                come from :func:`sspd.data.splits.dataset_entries` (no rendering: a preset that is
                not rendered is an error that says how to render it).
    atol:       largest |live - committed| error (bpm) still counted as the same.
    Returns one row per (preset, subject, method): ``error (live)``, ``error (committed)`` (bpm,
    predicted minus true HR) and ``same``. Raises DataError for a committed subject that the
    data do not hold, or a recording that the committed run does not.
    """
    from sspd.paths import results_dir

    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    results = Path(results) if results is not None else results_dir() / "calibration"
    split = json.loads((results / "summary.json").read_text())["manifest"]["config"].get("split", "all")
    proto = get_protocol(protocol)
    rows = []
    for preset in presets:
        committed = {m: pd.read_csv(results / preset / f"{m}-{protocol}" / "per_video.csv",
                                    dtype={"subject": str, "key": str}).set_index("key")
                     for m in methods}
        subjects = list(dict.fromkeys(committed[methods[0]]["subject"]))[:n_subjects]
        if entries_by_preset is not None:
            entries = entries_by_preset[preset]
        else:
            entries, _ = dataset_entries(preset, split, progress=progress)
        chosen = [e for e in entries if str(e.subject) in subjects]
        absent = sorted(set(subjects) - {str(e.subject) for e in chosen})
        if absent:
            raise DataError(results / preset, f"committed subjects {absent} are not in the "
                            f"{split!r} recordings of {preset!r}")
        for entry in chosen:
            for m in methods:
                video, _ = evaluate_recording(get_method(m), entry, proto)
                if video["key"] not in committed[m].index:
                    raise DataError(results / preset, f"recording {video['key']!r} is not in the "
                                    f"committed {m}-{protocol} run")
                rows.append({"preset": preset, "subject": video["subject"], "method": m,
                             "error (live)": video["error"],
                             "error (committed)": float(committed[m].loc[video["key"], "error"])})
    live = pd.DataFrame(rows)
    live["same"] = np.isclose(live["error (live)"], live["error (committed)"], rtol=0.0, atol=atol)
    return live


def _base_name(preset: str) -> str:
    """``still-full`` -> ``still``: a dataset-sized preset is calibrated like its small version."""
    return preset.removesuffix("-full")


def check_calibration(table: pd.DataFrame, protocol: str = "toolbox", pos_range=(1.5, 6.0),
                      margin: float = 2.0) -> dict[str, bool]:
    """The three calibration criteria on a table with columns preset, method, protocol, MAE (bpm).

    pos_range : inclusive MAE range (bpm) for POS on ``still``; margin : how many bpm GREEN's MAE on
    ``motion`` must exceed the worse of POS and CHROM. Returns {criterion name: passed}.
    The dataset-sized presets (``still-full`` ...) are checked by the same criteria.
    """
    sub = table[table["protocol"] == protocol]
    sub = sub.assign(preset=sub["preset"].map(_base_name))
    if sub.empty:
        raise ValueError(f"table has no rows for protocol {protocol!r}")
    mae = sub.pivot(index="method", columns="preset", values="MAE")
    missing = {"still", "motion", "hard"} - set(mae.columns)
    if missing or not {"pos", "chrom", "green"} <= set(mae.index):
        raise ValueError(f"table lacks presets {sorted(missing)} or one of pos/chrom/green for {protocol!r}")
    pos_still = float(mae.loc["pos", "still"])
    ordered = (mae["still"] < mae["motion"]) & (mae["motion"] < mae["hard"])
    green = float(mae.loc["green", "motion"])
    return {
        "a_pos_still_in_range": bool(pos_range[0] <= pos_still <= pos_range[1]),
        "b_error_grows_still_motion_hard": bool(ordered.all()),
        "c_green_worse_than_pos_chrom_on_motion": bool(green > max(mae.loc["pos", "motion"],
                                                                   mae.loc["chrom", "motion"]) + margin),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(CALIBRATED_PRESETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    parser.add_argument("--split", default="all")
    parser.add_argument("--out", default=None)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--no-generate", action="store_true", help="do not (re)render stale subjects")
    args = parser.parse_args(argv)
    table = run_calibration(args.presets, args.methods, args.protocols, args.out, split=args.split,
                            n_boot=args.n_boot, generate=not args.no_generate)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table[["preset", "method", "protocol", "n", "MAE", "RMSE", "r", "SNR"]].round(2)
              .to_string(index=False))
    if set(CALIBRATED_PRESETS) <= {_base_name(p) for p in args.presets}:
        for protocol in args.protocols:
            print(protocol, check_calibration(table, protocol=protocol))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
