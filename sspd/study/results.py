"""Reading the published grid: tables of the ablation and cross-dataset chapters.

Everything here reads result folders written by :mod:`sspd.study.runner` (``study.json`` and
``eval/<test set>/<method>-<protocol>/{summary.json, per_window.csv}``); nothing is typed in.

Uncertainty, two kinds, reported side by side:

- *subjects*: a 95 % percentile bootstrap that resamples test subjects. For a variant with
  several seeds the resampled statistic is the seed-mean metric (each seed scored on the same
  resampled subjects), so the interval is that of the number in the table;
- *seeds*: the standard deviation over training seeds. A variant's difference from the full
  model "exceeds seed noise" when ``|delta| > t s sqrt(1/n_v + 1/n_full)``, with ``s`` the
  seed SD pooled over every ablation variant (each contributes its deviations from its own
  mean, ``dof`` degrees of freedom in all), ``n`` the seeds of each and ``t`` the 97.5 %
  quantile of Student's t with ``dof`` degrees of freedom: a two-sided 5 % test of two means
  (``p_seed``). With a handful of seeds ``dof`` is small and ``t`` large (4.30 at 2 dof), so
  the threshold is honest about how little a few seeds say. Many variants are tested against
  the same full model, so ``p_holm`` adds Holm's step-down correction over them
  (``statsmodels``): a difference that survives it is unlikely to be one lucky variant of many.

The pooled SD assumes every variant is as stable over seeds as the others. A variant whose own
seeds disagree far more than the full model's breaks that: its spread is a finding in itself
(training without that component is less reliable), and it inflates the pooled SD and so every
threshold. ``p_spread`` tests it, one-sided, with the variance ratio against the full model
(``F = sd_v^2 / sd_full^2`` on ``n_v - 1`` and ``n_full - 1`` degrees of freedom), beside the
pre-declared test, not in place of it.

Every training item is also scored with its own initial weights (the runner's control):
those rows have ``control`` True. The ablation, cross-dataset and per-subject tables leave
them out; :func:`control_table` sets each run against its control.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.stats
from statsmodels.stats.multitest import multipletests

from sspd.evaluate.runner import metrics_row
from sspd.study.grid import RunSpec
from sspd.study.runner import CONTROL, STUDY_JSON, resolve_roots

__all__ = ["StudyResults", "collect", "seed_bootstrap", "row_labels", "ablation_table", "cross_table",
           "transfer_table", "subject_table", "control_table", "paired_subject_change", "learning_curves", "missing_table",
           "cost_summary", "precision_counts", "METRICS"]

METRICS = ("MAE", "RMSE", "r")
_WINDOW_COLS = ["subject", "hr_pred", "hr_gt", "error", "abs_error"]


@dataclass
class StudyResults:
    """``metrics``: one row per (item, test set, protocol) with the metrics and their CIs;
    ``windows``: every scored window of those rows (for subject-level statistics)."""

    metrics: pd.DataFrame
    windows: pd.DataFrame

    def __len__(self) -> int:
        return len(self.metrics)

    def trained(self) -> "StudyResults":
        """Without the initial-weights control rows."""
        keep = ~self.metrics["control"].astype(bool) if "control" in self.metrics else slice(None)
        wkeep = ~self.windows["control"].astype(bool) if "control" in self.windows else slice(None)
        return StudyResults(self.metrics[keep].reset_index(drop=True),
                            self.windows[wkeep].reset_index(drop=True))

    def without_control(self) -> list[str]:
        """Ids of the training runs published without their initial-weights control
        (``python -m sspd study --add-controls`` scores it)."""
        m = self.metrics
        trained = set(m.loc[m["kind"] == "train", "id"])
        return sorted(trained - set(m.loc[m["control"].astype(bool), "id"])) if "control" in m else sorted(trained)

    @staticmethod
    def concat(parts: Sequence["StudyResults"]) -> "StudyResults":
        parts = [p for p in parts if len(p)]
        if not parts:
            return collect([])
        return StudyResults(pd.concat([p.metrics for p in parts], ignore_index=True),
                            pd.concat([p.windows for p in parts], ignore_index=True))


_KEYS = ["id", "kind", "group", "variant", "label", "seed", "train_set", "control"]
_CONTROL_METHOD = f"sspd-{CONTROL}"


def collect(specs: Iterable[RunSpec], results=None, source: str = "committed") -> StudyResults:
    """The published results of ``specs`` (those not done are skipped)."""
    results, _ = resolve_roots(results, None)
    rows, windows = [], []
    for spec in specs:
        folder = results / spec.id
        if not (folder / STUDY_JSON).is_file():
            continue
        study = json.loads((folder / STUDY_JSON).read_text())
        minutes = study.get("timing", {}).get("total_s", np.nan) / 60
        precision = _training_precision(folder) if spec.kind == "train" else None
        key = {k: v for k, v in spec.describe().items() if k in _KEYS}
        key["label"] = spec.label or spec.variant
        for path in sorted((folder / "eval").glob("*/*/summary.json")):
            summary = json.loads(path.read_text())
            level = "window" if "window" in summary["levels"] else "video"
            row = {**key, "control": summary["method"] == _CONTROL_METHOD, "test_set": summary["dataset"],
                   "protocol": summary["protocol"]["name"], "method": summary["method"], "level": level, "source": source,
                   "n_subjects": summary["levels"][level].get("n_groups"), "measured_min": minutes,
                   "precision": precision,
                   **metrics_row(summary, level, METRICS)}
            rows.append(row)
            per_window = path.parent / ("per_window.csv" if level == "window" else "per_video.csv")
            if per_window.is_file() and per_window.stat().st_size > 0:
                w = pd.read_csv(per_window, dtype={"subject": str})
                w = w[[c for c in _WINDOW_COLS if c in w]]
                windows.append(w.assign(**{k: row[k] for k in (*_KEYS, "test_set", "protocol")}))
    cols = [*_KEYS, "test_set", "protocol", "method", "level", "source", "n", "n_subjects", "measured_min",
            "precision"]
    metrics = pd.DataFrame(rows)
    if metrics.empty:
        metrics = pd.DataFrame(columns=cols + [f"{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")])
    win = (pd.concat(windows, ignore_index=True) if windows
           else pd.DataFrame(columns=[*_WINDOW_COLS, *_KEYS, "test_set", "protocol"]))
    return StudyResults(metrics, win)


def _training_precision(folder: Path) -> str:
    """The precision the networks of a published run trained in, from its manifests (the first
    session's and each resumption's): "bfloat16", "float32", or both joined by "+" in the order
    the sessions ran, when a resumption ran on a CPU of another kind."""
    paths = [folder / "manifest.json", *sorted(folder.glob("manifest_resumed_step*.json"))]
    seen = [json.loads(p.read_text()).get("autocast") or "float32" for p in paths if p.is_file()]
    return "+".join(dict.fromkeys(seen)) or "unknown"


def precision_counts(res: StudyResults) -> str:
    """One line: how many published runs trained in each precision (``bfloat16 x5, float32 x2``)."""
    m = res.trained().metrics
    if m.empty or "precision" not in m:
        return "no trained runs"
    counts = m[m["precision"].notna()].drop_duplicates("id")["precision"].value_counts()
    return ", ".join(f"{k} x{v}" for k, v in counts.items()) or "no trained runs"


# ----------------------------------------------------------------------------- bootstrap


def _subject_stats(w: pd.DataFrame, subjects: list[str]) -> np.ndarray:
    """(n_subjects, 8) sums per subject over its finite windows: n, |e|, e^2, p, g, p^2, g^2, p g
    (p predicted HR, g true HR, e = p - g); MAE, RMSE and r follow from them (_metrics_from)."""
    ok = np.isfinite(w["hr_pred"].to_numpy(float)) & np.isfinite(w["hr_gt"].to_numpy(float))
    w = w[ok]
    p, g = w["hr_pred"].to_numpy(float), w["hr_gt"].to_numpy(float)
    e = p - g
    index = pd.Index(subjects).get_indexer(w["subject"].astype(str))
    stats = np.zeros((len(subjects), 8))
    for col, values in enumerate((np.ones_like(p), np.abs(e), e * e, p, g, p * p, g * g, p * g)):
        np.add.at(stats[:, col], index, values)
    return stats


def _metrics_from(totals: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE and Pearson r from summed sufficient statistics (..., 8)."""
    n, sae, sse, sp, sg, spp, sgg, spg = np.moveaxis(totals, -1, 0)
    with np.errstate(all="ignore"):
        cov = spg - sp * sg / n
        r = cov / np.sqrt((spp - sp * sp / n) * (sgg - sg * sg / n))
        return {"MAE": sae / n, "RMSE": np.sqrt(sse / n), "r": r}


def seed_bootstrap(windows: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> dict[str, float]:
    """Seed-mean MAE, RMSE and r of one row of a table, with subject-bootstrap CIs.

    windows: the scored windows of every seed of the row (columns seed, subject, hr_pred,
             hr_gt); a row without seeds (a reference) is one "seed".
    Returns ``{metric: value, metric_lo, metric_hi, n_seeds, n_subjects}``.
    """
    w = windows.copy()
    w["seed"] = pd.to_numeric(w["seed"], errors="coerce").fillna(-1) if "seed" in w else -1
    subjects = sorted(w["subject"].astype(str).unique())
    per_seed = np.stack([_subject_stats(g, subjects) for _, g in w.groupby("seed")])  # (S, n, 8)
    point = {k: float(np.nanmean(v)) for k, v in _metrics_from(per_seed.sum(axis=1)).items()}
    out = {"n_seeds": int(per_seed.shape[0]), "n_subjects": len(subjects)}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(subjects), size=(n_boot, len(subjects)))
    counts = np.zeros((n_boot, len(subjects)))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    boot = _metrics_from(np.einsum("bn,snk->bsk", counts, per_seed))     # (B, S) per metric
    a = (1.0 - level) / 2.0
    for name, value in point.items():
        with warnings.catch_warnings():   # r of a resample of constant HRs is undefined: dropped
            warnings.simplefilter("ignore", RuntimeWarning)
            stat = np.nanmean(boot[name], axis=1) if n_boot else np.array([])
        stat = stat[np.isfinite(stat)]
        lo, hi = np.quantile(stat, [a, 1 - a]) if len(stat) else (np.nan, np.nan)
        out.update({name: value, f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
    return out


# ----------------------------------------------------------------------------- tables


def row_labels(frame: pd.DataFrame) -> np.ndarray:
    """Row names of the cross-dataset tables: "SSPD trained on <set>" for a cross-dataset run,
    the label otherwise (a reference method, an ablation variant)."""
    return np.where(frame["group"] == "cross", "SSPD trained on " + frame["train_set"].astype(str),
                    frame["label"].astype(str))


def _rows(res: StudyResults, keys: list[str], n_boot: int) -> pd.DataFrame:
    """One row per ``keys`` group: seed-mean metrics with subject CIs, seed SD/min/max, minutes."""
    out = []
    for key, m in res.metrics.groupby(keys, dropna=False, sort=False):
        key = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        sel = np.ones(len(res.windows), bool)
        for k, v in key.items():
            sel &= (res.windows[k].isna() if pd.isna(v) else (res.windows[k] == v)).to_numpy()
        row = {**key, **seed_bootstrap(res.windows[sel], n_boot)} if sel.any() else dict(key)
        for name in METRICS:
            values = m[name].astype(float)
            row[f"{name}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
            row[f"{name}_seeds"] = ", ".join(f"{v:.2f}" for v in values)
        row["runs"] = len(m)
        row["measured_min"] = float(m["measured_min"].mean())
        # precisions differ between runs of one row when they trained on different CPUs: shown, not hidden
        kinds = sorted(set(m["precision"].dropna())) if "precision" in m else []
        row["precision"] = ", ".join(kinds) if kinds else None
        out.append(row)
    return pd.DataFrame(out)


def _pooled_seed_sd(per_run: pd.DataFrame, by) -> tuple[float, int]:
    """The seed SD of the windowed MAE pooled over the ``by`` groups of ``per_run`` (one row per
    run): each group contributes its runs' deviations from its own mean. Returns (SD, dof);
    the SD is NaN when no group has 2 runs."""
    dev = per_run.groupby(by)["MAE"].transform(lambda v: v - v.mean())
    dof = int((per_run.groupby(by).size() - 1).clip(lower=0).sum())
    return (float(np.sqrt((dev ** 2).sum() / dof)) if dof > 0 else np.nan), dof


def _seed_noise_test(table: pd.DataFrame, tested: pd.Series, se: pd.Series, dof: int) -> None:
    """Adds the seed-noise columns to ``table`` for the ``tested`` rows (``delta_MAE`` and its
    standard error ``se`` over seeds given): ``noise_MAE`` (the two-sided 5 % threshold of
    Student's t on ``dof``), ``p_seed`` and ``exceeds_seed_noise``."""
    t_crit = scipy.stats.t.ppf(0.975, dof) if dof > 0 else np.nan
    table["noise_MAE"] = np.where(tested, t_crit * se, np.nan)
    table["p_seed"] = np.where(tested, 2 * scipy.stats.t.sf(table["delta_MAE"].abs() / se, dof)
                               if dof > 0 else np.nan, np.nan)
    table["exceeds_seed_noise"] = tested & (table["delta_MAE"].abs() > table["noise_MAE"])


def _holm(table: pd.DataFrame, tested: pd.Series) -> None:
    """Adds ``p_holm`` (Holm's step-down correction of ``p_seed`` over the ``tested`` rows with
    a finite p) and ``survives_holm`` to ``table``."""
    table["p_holm"] = np.nan
    finite = tested & table["p_seed"].notna()
    if finite.any():
        table.loc[finite, "p_holm"] = multipletests(table.loc[finite, "p_seed"], method="holm")[1]
    table["survives_holm"] = tested & (table["p_holm"] < 0.05)


def ablation_table(res: StudyResults, test_set: str | None = None, protocol: str = "windowed",
                   reference: str = "full", n_boot: int = 1000) -> pd.DataFrame:
    """Ablation variants (and reference methods) on one test set, ranked by seed-mean MAE.

    Columns: label, variant, group, n_seeds, MAE / RMSE / r with ``_lo``/``_hi`` (subject
    bootstrap of the seed mean) and ``_sd`` (over seeds), the per-seed values, ``delta_MAE``
    (minus the ``reference`` variant), ``noise_MAE`` (the seed-noise threshold, see the module
    docstring), ``exceeds_seed_noise``, ``p_seed`` (the two-sided p of that test), ``p_holm``
    (Holm-corrected over the variants tested) and ``survives_holm``; ``p_spread`` and
    ``wider_seed_spread`` (the variant's seeds disagree more than the reference's, see the module
    docstring; 2 seeds of each needed); ``paired_delta`` with ``_lo``/``_hi``: the change
    against the reference variant taken subject by subject on the same test subjects
    (:func:`paired_subject_change`; its CI is the subject uncertainty of the difference itself);
    ``rank`` (1 = lowest MAE); ``precision``: what the row's runs trained in (None for references).
    """
    res = res.trained()
    m = res.metrics
    m = m[(m["protocol"] == protocol) & m["group"].isin(["ablation", "reference"])]
    if test_set is None and m["test_set"].nunique() == 1:
        test_set = m["test_set"].iloc[0]
    m = m[m["test_set"] == test_set]
    if m.empty:
        return pd.DataFrame()
    table = _rows(StudyResults(m, res.windows), ["group", "variant", "label", "test_set", "protocol"], n_boot)
    s, dof = _pooled_seed_sd(m[m["group"] == "ablation"], "variant")
    ref = table[(table["group"] == "ablation") & (table["variant"] == reference)]
    table["delta_MAE"] = table["MAE"] - (float(ref["MAE"].iloc[0]) if len(ref) else np.nan)
    n_ref = int(ref["n_seeds"].iloc[0]) if len(ref) else np.nan
    tested = (table["group"] == "ablation") & (table["variant"] != reference)
    se = s * np.sqrt(1 / table["n_seeds"] + 1 / n_ref)          # SE of a difference of seed means
    _seed_noise_test(table, tested, se, dof)
    _holm(table, tested)
    sd_ref = float(ref["MAE_sd"].iloc[0]) if len(ref) else np.nan
    spread = tested & (table["n_seeds"] >= 2) & np.isfinite(sd_ref)
    with np.errstate(divide="ignore", invalid="ignore"):        # a reference SD of 0: F = inf, p = 0
        variance_ratio = table["MAE_sd"] ** 2 / sd_ref ** 2
    table["p_spread"] = np.where(spread, scipy.stats.f.sf(variance_ratio, table["n_seeds"] - 1, n_ref - 1), np.nan)
    table["wider_seed_spread"] = spread & (table["p_spread"] < 0.05)
    w = res.windows
    w = w[(w["protocol"] == protocol) & (w["test_set"] == test_set) & (w["group"] == "ablation")]
    w = w[np.isfinite(w["abs_error"].astype(float))]
    paired = [paired_subject_change(w[w["variant"] == v], w[w["variant"] == reference], n_boot)
              if g == "ablation" and v != reference else {} for g, v in zip(table["group"], table["variant"])]
    for k in ("change", "change_lo", "change_hi"):
        table[k.replace("change", "paired_delta")] = [d.get(k, np.nan) for d in paired]
    table.attrs.update(seed_sd_pooled=s, seed_sd_dof=dof, reference_seed_sd=sd_ref, test_set=test_set)
    table = table.sort_values("MAE", kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def cross_table(res: StudyResults, protocol: str = "windowed", n_boot: int = 1000) -> pd.DataFrame:
    """The cross-dataset matrix in long form: one row per (row label, test set).

    Rows are the full model trained on each cross-dataset training set ("trained on X") and
    every reference method; ``intra`` marks training set = test set. Metrics as in
    :func:`ablation_table` (seed mean, subject CI, seed SD).
    """
    res = res.trained()
    m = res.metrics
    m = m[(m["protocol"] == protocol) & m["group"].isin(["cross", "reference"])].copy()
    if m.empty:
        return pd.DataFrame()
    m["row"] = row_labels(m)
    w = res.windows.assign(row=row_labels(res.windows)) if len(res.windows) else res.windows.assign(row=[])
    table = _rows(StudyResults(m, w), ["group", "row", "train_set", "test_set", "protocol"], n_boot)
    table["intra"] = table["train_set"] == table["test_set"]
    return table


def transfer_table(res: StudyResults, protocol: str = "windowed", n_boot: int = 1000, seed: int = 0,
                   test_sets: Sequence[str] | None = None) -> pd.DataFrame:
    """Each test set's intra-dataset run against every other row scored on that test set.

    For each test set T with a run trained on T (the intra row, "SSPD trained on T"), every
    other row of :func:`cross_table` on T: SSPD trained on another set (``kind``
    "cross-dataset": the price of training elsewhere) or a reference method (``kind``
    "reference": how label-free training on T compares with it). ``delta_MAE`` = MAE(row) -
    MAE(intra), seed means (positive: the row errs more than training on T itself).

    Seed noise as in :func:`ablation_table`, except that the seed SD is pooled over the runs
    scored on T only, per training set: those are independent trainings, whereas one training
    set's networks scored on several test sets would count the same seeds more than once. A
    reference method has no seeds, so its difference has SE ``s / sqrt(n_intra)``. ``p_holm``
    corrects over every comparison of the table. ``paired_delta`` (``_lo``, ``_hi``): the
    change subject by subject on T's test subjects, with its paired bootstrap CI. ``clear``:
    past seed noise and the paired CI excludes 0 on the same side. ``table.attrs["seed_sd"]``:
    {test set: (pooled SD, dof)}. ``test_sets``: their order in the table (default: as found).
    """
    cross = cross_table(res, protocol, n_boot=0)
    if cross.empty:
        return pd.DataFrame()
    res = res.trained()
    runs = res.metrics[(res.metrics["protocol"] == protocol) & (res.metrics["group"] == "cross")]
    w = res.windows
    w = w[(w["protocol"] == protocol) & w["group"].isin(["cross", "reference"])]
    w = w[np.isfinite(w["abs_error"].astype(float))]
    w = w.assign(row=row_labels(w))
    parts, seed_sd = [], {}
    for test_set, cells in cross.groupby("test_set", sort=False):
        intra = cells[cells["intra"] & (cells["group"] == "cross")]
        if intra.empty:
            continue
        intra = intra.iloc[0]
        s, dof = _pooled_seed_sd(runs[runs["test_set"] == test_set], "train_set")
        seed_sd[test_set] = (s, dof)
        part = cells[cells["row"] != intra["row"]].copy()
        part["kind"] = np.where(part["group"] == "cross", "cross-dataset", "reference")
        part["intra"], part["n_seeds_intra"], part["MAE_intra"] = intra["row"], intra["n_seeds"], intra["MAE"]
        part["delta_MAE"] = part["MAE"] - intra["MAE"]
        seeds_of_row = np.where(part["group"] == "cross", 1 / part["n_seeds"], 0.0)
        se = s * np.sqrt(1 / intra["n_seeds"] + seeds_of_row)
        _seed_noise_test(part, pd.Series(True, index=part.index), se, dof)
        here = w[w["test_set"] == test_set]
        mine = here[here["row"] == intra["row"]]
        paired = [paired_subject_change(here[here["row"] == r], mine, n_boot, seed) for r in part["row"]]
        for k in ("change", "change_lo", "change_hi"):
            part[k.replace("change", "paired_delta")] = [d[k] for d in paired]
        parts.append(part.sort_values("delta_MAE", kind="stable"))
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)
    if test_sets is not None:
        order = {t: i for i, t in enumerate(test_sets)}
        table = table.sort_values("test_set", key=lambda c: c.map(order).fillna(len(order)), kind="stable")
        table = table.reset_index(drop=True)
    _holm(table, pd.Series(True, index=table.index))
    same_side = np.where(table["delta_MAE"] > 0, table["paired_delta_lo"] > 0, table["paired_delta_hi"] < 0)
    table["clear"] = table["exceeds_seed_noise"] & same_side
    cols = ["test_set", "intra", "row", "kind", "group", "n_seeds", "n_seeds_intra", "MAE", "MAE_intra",
            "delta_MAE", "noise_MAE", "p_seed", "exceeds_seed_noise", "p_holm", "survives_holm",
            "paired_delta", "paired_delta_lo", "paired_delta_hi", "clear"]
    table = table[cols]
    table.attrs["seed_sd"] = seed_sd
    return table


def subject_table(res: StudyResults, rows: str = "label", groups: Sequence[str] | None = None,
                  protocol: str = "windowed") -> pd.DataFrame:
    """Per-subject windowed MAE: one row per (``rows`` value, test set, subject), the mean over
    seeds of each seed's mean absolute window error, with ``n_seeds``."""
    w = res.trained().windows
    w = w[(w["protocol"] == protocol) & np.isfinite(w["abs_error"].astype(float))]
    if groups is not None:
        w = w[w["group"].isin(groups)]
    if w.empty:
        return pd.DataFrame(columns=[rows, "test_set", "subject", "MAE", "n_seeds"])
    w = w.assign(row=row_labels(w) if rows == "label" else w[rows])
    per_seed = (w.assign(seed=pd.to_numeric(w["seed"], errors="coerce").fillna(-1))
                .groupby(["row", "test_set", "subject", "seed"])["abs_error"].mean().reset_index())
    out = per_seed.groupby(["row", "test_set", "subject"])["abs_error"].agg(["mean", "size"]).reset_index()
    return out.rename(columns={"row": rows, "mean": "MAE", "size": "n_seeds"})


def control_table(res: StudyResults, protocol: str = "windowed", test_set: str | None = None,
                  n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Did training learn? Each training row (variant or "trained on X", per test set) against
    its runs' own initial weights, scored on the same test subjects.

    Only seeds scored both ways count. Per subject: the seed mean of each seed's mean absolute
    window error, trained and initial; ``change`` = mean over subjects of trained - initial (bpm)
    with a paired subject-bootstrap 95 % CI (``change_lo``, ``change_hi``). ``learned`` when the
    whole CI is below 0. Also the seed-mean windowed MAE of each (``MAE_trained``,
    ``MAE_initial``, as :func:`seed_bootstrap` computes them).
    """
    w = res.windows
    w = w[(w["protocol"] == protocol) & w["group"].isin(["ablation", "cross"])]
    if test_set is not None:
        w = w[w["test_set"] == test_set]
    w = w[np.isfinite(w["abs_error"].astype(float))]
    if w.empty or "control" not in w or not w["control"].astype(bool).any():
        return pd.DataFrame()
    w = w.assign(row=row_labels(w), control=w["control"].astype(bool),
                 seed=pd.to_numeric(w["seed"], errors="coerce"))
    rows = []
    for (group, row, test), g in w.groupby(["group", "row", "test_set"], sort=False):
        both = set(g.loc[g["control"], "seed"]) & set(g.loc[~g["control"], "seed"])
        g = g[g["seed"].isin(both)]
        if g.empty:
            continue
        change = paired_subject_change(g[~g["control"]], g[g["control"]], n_boot, seed)
        mae = {c: seed_bootstrap(g[g["control"] == c], n_boot=0)["MAE"] for c in (False, True)}
        learned = change.pop("sign") == -1
        rows.append({"group": group, "row": row, "test_set": test, "n_seeds": len(both),
                     "n_subjects": change.pop("n_subjects"), "MAE_trained": mae[False],
                     "MAE_initial": mae[True], **change, "learned": learned})
    return pd.DataFrame(rows)


def paired_subject_change(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """Windowed error of ``a`` minus that of ``b`` (two sets of scored windows on the same test
    subjects), subject by subject: each subject's seed mean of its per-seed mean absolute window
    error, differenced on the subjects both have. Returns
    :func:`sspd.evaluate.metrics.paired_change` of those (``change``, the mean over subjects in
    bpm, its paired subject-bootstrap 95 % CI and ``sign``) and ``n_subjects``."""
    from sspd.evaluate.metrics import paired_change

    def per_subject(w: pd.DataFrame) -> pd.Series:
        w = w.assign(seed=pd.to_numeric(w["seed"], errors="coerce").fillna(-1))
        return w.groupby(["seed", "subject"])["abs_error"].mean().groupby("subject").mean()

    both = pd.concat([per_subject(a).rename("a"), per_subject(b).rename("b")], axis=1).dropna()
    if both.empty:
        return {"change": np.nan, "change_lo": np.nan, "change_hi": np.nan, "sign": 0, "n_subjects": 0}
    return {**paired_change(both["a"].to_numpy(float), both["b"].to_numpy(float), n_boot, seed),
            "n_subjects": len(both)}


def learning_curves(specs: Iterable[RunSpec], results=None, network: str = "teacher") -> pd.DataFrame:
    """Validation curves of the published training runs: one row per (run, validation step) of
    ``val_log.csv`` for ``network``, with the run's group, variant, label, seed and training set,
    and ``chosen`` marking the step validation chose (``best.json``). Validation subjects only:
    the test subjects play no part in it. Empty when no run is published."""
    results, _ = resolve_roots(results, None)
    parts = []
    for spec in specs:
        folder = results / spec.id
        log = folder / "val_log.csv"
        if spec.kind != "train" or not (folder / STUDY_JSON).is_file() or not log.is_file():
            continue
        v = pd.read_csv(log)
        v = v[v["network"] == network]
        best = json.loads((folder / "best.json").read_text()) if (folder / "best.json").is_file() else {}
        key = {k: val for k, val in spec.describe().items() if k in _KEYS}
        key["label"] = spec.label or spec.variant
        parts.append(v.assign(**key, chosen=v["step"] == best.get("step", -1)))
    cols = ["id", "group", "variant", "label", "seed", "train_set", "step", "MAE", "r", "chosen"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def missing_table(status: pd.DataFrame) -> pd.DataFrame:
    """Items not done yet: what they are, how far they got, and what they will cost."""
    cols = ["id", "status", "group", "variant", "seed", "train_set", "test_sets", "progress", "est_min", "error"]
    todo = status[status["status"] != "done"]
    return todo[cols].reset_index(drop=True)


def cost_summary(status: pd.DataFrame) -> pd.DataFrame:
    """Per group: items, done, estimated CPU hours (all, left), measured hours of done items."""
    rows = []
    for group, g in status.groupby("group", sort=False):
        done = g["status"] == "done"
        rows.append({"group": group, "items": len(g), "done": int(done.sum()),
                     "est_h_per_item": g["est_min"].mean() / 60, "est_h_total": g["est_min"].sum() / 60,
                     "est_h_left": g.loc[~done, "est_min"].sum() / 60,
                     "measured_h_done": g.loc[done, "measured_min"].sum() / 60,
                     "est_h_done": g.loc[done, "est_min"].sum() / 60})
    table = pd.DataFrame(rows)
    if len(table):
        total = table.drop(columns="group").sum(numeric_only=True)
        total["est_h_per_item"] = status["est_min"].mean() / 60
        table = pd.concat([table, pd.DataFrame([{"group": "all", **total}])], ignore_index=True)
    return table
