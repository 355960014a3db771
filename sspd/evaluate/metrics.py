"""Heart-rate agreement metrics (book/evaluation_reference.md §3), with bootstrap CIs.

Pairs (ĥ_i, h_i): predicted and ground-truth HR in bpm, one per evaluation unit (a video or a
window). Error e_i = ĥ_i − h_i (positive = overestimate). Every summary states its ``n``.

Uncertainty: 95 % percentile-bootstrap intervals that resample whole units — videos, or
**subjects** when ``groups`` is given (windows of one subject are not independent) — with a
seeded :class:`numpy.random.Generator`, so the same call gives the same interval.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["paired_change", "me", "sd", "mae", "rmse", "mape", "pearson_r", "ccc", "mae_se", "bland_altman",
           "bootstrap_ci", "summarize", "METRICS"]


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred and true must have the same length, got {len(p)} and {len(t)}")
    if len(p) == 0:
        raise ValueError("no (pred, true) pairs to score")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pred/true hold NaN or inf; drop (and report) invalid units before scoring")
    return p, t


def me(pred, true) -> float:
    """Mean error (bias) ME = mean(ĥ − h), bpm."""
    p, t = _pair(pred, true)
    return float(np.mean(p - t))


def sd(pred, true) -> float:
    """Standard deviation of the error with 1/(n−1), bpm (NaN for n < 2)."""
    p, t = _pair(pred, true)
    return float(np.std(p - t, ddof=1)) if len(p) > 1 else float("nan")


def mae(pred, true) -> float:
    """Mean absolute error, bpm."""
    p, t = _pair(pred, true)
    return float(np.mean(np.abs(p - t)))


def rmse(pred, true) -> float:
    """Root-mean-square error √(mean e²), bpm."""
    p, t = _pair(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mape(pred, true) -> float:
    """Mean absolute percentage error 100·mean(|e| / h), %."""
    p, t = _pair(pred, true)
    return float(100.0 * np.mean(np.abs(p - t) / np.abs(t)))


def pearson_r(pred, true) -> float:
    """Pearson correlation of ĥ and h (NaN when either is constant or n < 2)."""
    p, t = _pair(pred, true)
    dp, dt = p - p.mean(), t - t.mean()
    den = np.sqrt(np.sum(dp ** 2) * np.sum(dt ** 2))
    return float(np.sum(dp * dt) / den) if den > 0 else float("nan")


def ccc(pred, true) -> float:
    """Lin's concordance correlation 2·s_ĥh / (s_ĥ² + s_h² + (ĥ̄ − h̄)²), moments with 1/n."""
    p, t = _pair(pred, true)
    cov = np.mean((p - p.mean()) * (t - t.mean()))
    den = p.var() + t.var() + (p.mean() - t.mean()) ** 2
    return float(2.0 * cov / den) if den > 0 else float("nan")


def mae_se(pred, true) -> float:
    """Standard error of the MAE, SD(|e|)/√n with the 1/(n−1) SD (NaN for n < 2)."""
    p, t = _pair(pred, true)
    if len(p) < 2:
        return float("nan")
    return float(np.std(np.abs(p - t), ddof=1) / np.sqrt(len(p)))


def bland_altman(pred, true) -> dict:
    """Bland–Altman agreement: points ((ĥ+h)/2, ĥ−h), bias = ME, limits ME ± 1.96·SD.

    No √2 inflation and no jitter. Returns ``{"mean", "diff", "bias", "sd", "loa_low",
    "loa_high", "n"}`` (the first two are arrays, for plotting).
    """
    p, t = _pair(pred, true)
    bias, s = me(p, t), sd(p, t)
    return {"mean": (p + t) / 2.0, "diff": p - t, "bias": bias, "sd": s,
            "loa_low": bias - 1.96 * s, "loa_high": bias + 1.96 * s, "n": int(len(p))}


METRICS: dict[str, Callable] = {
    "ME": me, "SD": sd, "MAE": mae, "RMSE": rmse, "MAPE": mape, "r": pearson_r, "CCC": ccc,
}


def _boot_indices(n: int, groups, n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Row-index sets of ``n_boot`` bootstrap resamples of units (or of whole groups)."""
    if groups is None:
        return list(rng.integers(0, n, size=(n_boot, n)))
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} pairs")
    _, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    return [np.concatenate([members[g] for g in row]) for row in draws]


def bootstrap_ci(metric: Callable, pred, true, groups=None, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(pred, true)``.

    Resamples units with replacement, or whole groups (e.g. subjects) when ``groups`` is given.
    Resamples where the metric is undefined (e.g. r of a constant sample) are ignored; NaN if
    none is defined.
    """
    p, t = _pair(pred, true)
    rng = np.random.default_rng(seed)
    return _percentile_ci(metric, p, t, _boot_indices(len(p), groups, n_boot, rng), level)


def paired_change(a, b, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of ``a - b`` (per-unit errors under two conditions, on the same units, e.g. subjects;
    bpm) with its paired 95 % percentile bootstrap CI (units resampled together).

    Returns ``{"change", "change_lo", "change_hi", "sign"}``; ``sign`` is 1 when the whole CI is
    above 0, -1 when below, 0 when it includes 0.
    """
    lo, hi = bootstrap_ci(me, a, b, n_boot=n_boot, seed=seed)
    return {"change": me(a, b), "change_lo": lo, "change_hi": hi,
            "sign": 1 if lo > 0 else -1 if hi < 0 else 0}


def _percentile_ci(metric, p, t, index_sets, level=0.95) -> tuple[float, float]:
    with np.errstate(all="ignore"):
        stats = np.array([metric(p[i], t[i]) for i in index_sets], dtype=np.float64)
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [a, 1.0 - a])
    return float(lo), float(hi)


def summarize(pred, true, groups=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics with 95 % bootstrap CIs, Bland–Altman and the MAE standard error.

    Returns ``{"n": n, "n_groups": g, "resample_unit": "unit"|"group", "metrics":
    {name: {"value", "ci_low", "ci_high"}}, "MAE_SE": x, "bland_altman": {bias, sd, loa_low,
    loa_high, n}}``. Units with a non-finite prediction or truth must be removed (and counted)
    by the caller; this function refuses them.
    """
    p, t = _pair(pred, true)
    out = {"n": int(len(p)),
           "n_groups": int(len(np.unique(groups))) if groups is not None else int(len(p)),
           "resample_unit": "group" if groups is not None else "unit",
           "n_boot": int(n_boot), "seed": int(seed), "metrics": {}}
    # one set of resamples shared by all metrics, so their intervals describe the same draws
    index_sets = (_boot_indices(len(p), groups, n_boot, np.random.default_rng(seed))
                  if n_boot > 0 and len(p) > 1 else [])
    for name, fn in METRICS.items():
        lo, hi = _percentile_ci(fn, p, t, index_sets) if index_sets else (float("nan"), float("nan"))
        out["metrics"][name] = {"value": fn(p, t), "ci_low": lo, "ci_high": hi}
    out["MAE_SE"] = mae_se(p, t)
    ba = bland_altman(p, t)
    out["bland_altman"] = {k: ba[k] for k in ("bias", "sd", "loa_low", "loa_high", "n")}
    return out
