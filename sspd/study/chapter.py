"""What the two study chapters (book/ablations.ipynb, book/cross_dataset.ipynb) call.

- :func:`prepare_real_dataset`: a real dataset folder (UBFC-rPPG, PURE, VIPL-HR layout)
  preprocessed into ``data/cache/<name>``, named as the grid names it;
- :func:`reference_results`: the grid's published reference rows, or, while none is published,
  the classic methods scored now on the quick presets (in a temporary folder: nothing is
  written under ``data/results``);
- :func:`load`: status, results and orphans of a grid in one call.
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from sspd.study.grid import REFERENCE_METHODS, Grid, dataset_key, reference_specs
from sspd.study.results import StudyResults, collect
from sspd.study.runner import execute, orphans, status_table

__all__ = ["prepare_real_dataset", "reference_results", "StudyState", "load", "chapter_ids",
           "variants_table", "readable", "verdicts"]


def prepare_real_dataset(root: str | Path, fmt: str, out: str | Path | None = None,
                         progress: bool = False) -> str:
    """Preprocess the dataset at ``root`` (format ``fmt``: ubfc, ubfc1, pure, vipl) into a clip
    cache (default ``data/cache/<fmt>``, as ``python -m sspd preprocess`` does; valid entries
    are reused) and return its name for :func:`sspd.study.grid.build_grid`."""
    from sspd.data.cache import PreprocessConfig, build_cache
    from sspd.paths import cache_dir

    out = Path(out) if out is not None else cache_dir() / fmt
    build_cache(root, fmt, out, PreprocessConfig(), progress=progress)
    return dataset_key(out)


def reference_results(grid: Grid, results=None, test_sets: Sequence[str] | None = None,
                      live_sets: Sequence[str] = (), methods: Sequence[str] = REFERENCE_METHODS,
                      n_boot: int = 1000, split_files: dict | None = None) -> StudyResults:
    """Reference rows: the grid's published reference items on ``test_sets`` (None: all); when
    none is published, the classic ``methods`` scored now on the test splits of ``live_sets``
    (source "live"; their split files from ``split_files``, {dataset: path})."""
    refs = [r for r in grid.select(["reference"]) if test_sets is None or r.test_sets[0] in set(test_sets)]
    committed = collect(refs, results)
    if len(committed) or not live_sets:
        return committed
    specs = reference_specs(methods, [dataset_key(s) for s in live_sets],
                            split_files={dataset_key(d): str(f) for d, f in (split_files or {}).items() if f})
    with tempfile.TemporaryDirectory(prefix="sspd-live-references-") as tmp:
        for spec in specs:
            status = execute(spec, grid.protocols, Path(tmp) / "results", Path(tmp) / "scratch", n_boot=n_boot)
            if status != "done":
                error = (Path(tmp) / "scratch" / spec.id / "error.txt")
                warnings.warn(f"{spec.variant} on {spec.test_sets[0]}: {status}: "
                              f"{error.read_text().strip().splitlines()[-1] if error.is_file() else ''}")
        return collect(specs, Path(tmp) / "results", source="live")


@dataclass
class StudyState:
    """A grid as it stands: ``status`` (one row per item), ``results`` (published items,
    references included), ``orphans`` (result folders no item names)."""

    grid: Grid
    status: pd.DataFrame
    results: StudyResults
    orphans: list[str]


def chapter_ids(grid: Grid, part: str) -> list[str]:
    """Ids of one chapter's items: ``part`` = "ablation" (its runs and the references on the
    ablation data) or "cross" (its runs and the references on the cross-dataset sets)."""
    if part not in ("ablation", "cross"):
        raise ValueError(f"part must be 'ablation' or 'cross', got {part!r}")
    tests = {grid.settings["data"]} if part == "ablation" else set(grid.settings["cross_sets"])
    return [r.id for r in grid if r.group == part or (r.kind == "reference" and r.test_sets[0] in tests)]


def load(grid: Grid, part: str, results=None, scratch=None) -> StudyState:
    """The state of one chapter's part of ``grid`` (see :func:`chapter_ids`): status of every
    item, results of the published training runs, orphaned result folders."""
    ids = set(chapter_ids(grid, part))
    status = status_table(grid, results, scratch)
    status = status[status["id"].isin(ids)].reset_index(drop=True)
    done = collect(grid.select([part]), results)
    return StudyState(grid, status, done, orphans(grid, results))


def variants_table() -> pd.DataFrame:
    """The ablation variants: name, label, seeds, the config overrides and what they change."""
    from sspd.study.grid import VARIANTS

    return pd.DataFrame([{"variant": v.name, "label": v.label, "seeds": len(v.seeds),
                          "overrides": ", ".join(v.overrides) or "(none)", "what it changes": v.description}
                         for v in VARIANTS])


def readable(table: pd.DataFrame, index: str = "label", metrics: Sequence[str] = ("MAE", "RMSE", "r"),
             digits: int = 2) -> pd.DataFrame:
    """A table of :mod:`sspd.study.results` for reading: each metric with its subject-bootstrap
    CI in one cell, its SD over seeds, the number of seeds, and the seed-noise columns when present."""
    from sspd.evaluate.tables import with_ci

    if table.empty:
        return table
    out = pd.DataFrame(index=table[index])
    for m in metrics:
        out[f"{m} [95% CI]"] = with_ci(table, m, digits).to_numpy()
        out[f"{m} seed SD"] = table[f"{m}_sd"].round(digits).to_numpy()
    out["seeds"] = table["n_seeds"].to_numpy()
    out["subjects"] = table["n_subjects"].to_numpy()
    if "delta_MAE" in table:
        out["ΔMAE vs full"] = table["delta_MAE"].round(digits).to_numpy()
        out["seed-noise threshold"] = table["noise_MAE"].round(digits).to_numpy()
        out["exceeds seed noise"] = table["exceeds_seed_noise"].to_numpy()
        if "p_seed" in table:
            out["p (seeds)"] = table["p_seed"].round(3).to_numpy()
            out["p (Holm)"] = table["p_holm"].round(3).to_numpy()
    if "paired_delta" in table:
        out["paired Δ per subject [95% CI]"] = with_ci(table, "paired_delta", digits).to_numpy()
    if "measured_min" in table:
        out["CPU min/run"] = table["measured_min"].round(1).to_numpy()
    if "precision" in table and table["precision"].notna().any():
        out["trained in"] = table["precision"].fillna("").to_numpy()
    return out


def verdicts(table: pd.DataFrame, digits: int = 1) -> str:
    """The verdict of :func:`sspd.study.results.ablation_table` in words, one line per kind:
    the variants whose MAE differs from the full model's by more than seed noise (with Δ, its
    seed-noise threshold and Holm's p), those within it, and which of the former survive Holm's
    correction over all the variants tested. Single-seed variants are counted,
    since the seed noise comes from the pooled SD; the line says how many seeds each has. A
    further line names the variants whose seeds disagree more than the full model's
    (``wider_seed_spread``): their spread is a finding, and it raises every threshold."""
    rows = table[(table["group"] == "ablation") & (table["variant"] != "full")] \
        if {"group", "variant", "delta_MAE"} <= set(table.columns) else table.iloc[0:0]
    if rows.empty:
        return "no ablation variant is done yet: nothing to compare with the full model"

    def describe(r) -> str:
        holm = "" if pd.isna(r.get("p_holm")) else f", Holm p {r['p_holm']:.2f}"
        return (f"{r['label']} ({r['delta_MAE']:+.{digits}f} bpm vs threshold "
                f"{r['noise_MAE']:.{digits}f}{holm}; {int(r['n_seeds'])} seed"
                f"{'s' if int(r['n_seeds']) != 1 else ''})")

    tested = rows[rows["noise_MAE"].notna()]
    past = tested["exceeds_seed_noise"].astype(bool)
    lines = [f"{kind} ({len(part)} of {len(tested)}): "
             + ("; ".join(describe(r) for _, r in part.iterrows()) or "none")
             for kind, part in (("past seed noise", tested[past]), ("within seed noise", tested[~past]))]
    if past.any() and "survives_holm" in tested:
        # the threshold is one comparison's; with many variants one may pass it by luck
        holm = tested[past & tested["survives_holm"].astype(bool)]
        lines.append(f"of those past seed noise, still past after Holm's correction over the "
                     f"{len(tested)} variants (p < 0.05): " + (", ".join(holm["label"]) or "none"))
    wide = rows[rows.get("wider_seed_spread", pd.Series(False, index=rows.index)).astype(bool)]
    if len(wide):
        lines.append("seeds disagree more than the full model's (variance ratio, p < 0.05): " + "; ".join(
            f"{r['label']} (seed SD {r['MAE_sd']:.{digits}f} vs {table.attrs['reference_seed_sd']:.{digits}f} bpm, "
            f"p {r['p_spread']:.3f}; seeds {r['MAE_seeds']})" for _, r in wide.iterrows())
            + f". This spread enters the pooled seed SD ({table.attrs.get('seed_sd_pooled', float('nan')):.{digits}f} bpm)"
            " and so raises every threshold.")
    if len(rows) > len(tested):
        lines.append("not testable (no seed-noise estimate yet: no variant has 2 seeds): "
                     + ", ".join(rows.loc[rows["noise_MAE"].isna(), "label"]))
    return "\n".join(lines)


def transfer_verdicts(table: pd.DataFrame, digits: int = 1) -> str:
    """The verdict of :func:`sspd.study.results.transfer_table` in words: per test set, which
    rows err clearly less or clearly more than the network trained on that set itself (past
    seed noise and the paired subject CI on the same side of 0) and which are not separable
    from it; then the cross-dataset penalty over the off-diagonal cells. Until a training set
    has 2 seeds there is no seed-noise estimate: the line says so and sorts by the paired
    subject CI alone, which says nothing about another seed."""
    if table.empty:
        return "no test set has a run trained on it yet: nothing to compare"

    def describe(r) -> str:
        holm = "" if pd.isna(r["p_holm"]) else f", Holm p {r['p_holm']:.2f}"
        return (f"{r['row']} ({r['delta_MAE']:+.{digits}f} bpm, paired [{r['paired_delta_lo']:+.{digits}f}, "
                f"{r['paired_delta_hi']:+.{digits}f}]{holm})")

    lines = []
    for test_set, part in table.groupby("test_set", sort=False):
        first = part.iloc[0]
        head = (f"on {test_set}, against {first['intra']} ({first['MAE_intra']:.{digits}f} bpm, "
                f"{int(first['n_seeds_intra'])} seed{'s' if int(first['n_seeds_intra']) != 1 else ''})")
        testable = part["noise_MAE"].notna().all()
        if testable:
            better, worse = part["clear"] & (part["delta_MAE"] < 0), part["clear"] & (part["delta_MAE"] > 0)
            kinds = (("lower error, past seed noise and the subject CI", better),
                     ("higher error, past seed noise and the subject CI", worse), ("not separable", ~(better | worse)))
        else:
            better, worse = part["paired_delta_hi"] < 0, part["paired_delta_lo"] > 0
            head += " [no seed-noise estimate yet (one seed per training set): by the paired subject CI alone]"
            kinds = (("lower error on these subjects", better), ("higher error on these subjects", worse),
                     ("CI spans 0", ~(better | worse)))
        lines.append(head + ": " + "; ".join(
            f"{name} ({int(sel.sum())}): " + (", ".join(describe(r) for _, r in part[sel].iterrows()) or "none")
            for name, sel in kinds))
    clear = table[table["clear"].astype(bool)]
    if len(clear):   # one comparison's threshold; with many comparisons some pass it by luck
        holm = clear[clear["survives_holm"].astype(bool)]
        lines.append(f"of those past seed noise and the subject CI, still past after Holm's correction over the "
                     f"{int(table['p_holm'].notna().sum())} comparisons (p < 0.05): "
                     + (", ".join(holm["row"] + " on " + holm["test_set"]) or "none"))
    off = table[table["kind"] == "cross-dataset"]
    if len(off):
        verdict = (f"past seed noise and the paired CI in {int(off['clear'].sum())} of {len(off)}"
                   if off["noise_MAE"].notna().all() else "no seed-noise estimate yet")
        lines.append(f"cross-dataset penalty (SSPD trained on another set - trained on the test set), over "
                     f"{len(off)} off-diagonal cells: mean {off['delta_MAE'].mean():+.{digits}f} bpm, range "
                     f"{off['delta_MAE'].min():+.{digits}f} to {off['delta_MAE'].max():+.{digits}f}; {verdict}")
    return "\n".join(lines)
