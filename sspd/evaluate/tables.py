"""Result tables for reading: a metric with its confidence interval in one cell, and wide pivots.

The numbers come from flat tables such as ``table.csv`` of a calibration run, one row per run, with
columns ``<metric>``, ``<metric>_lo`` and ``<metric>_hi`` (the bootstrap 95 % CI written by
:func:`sspd.evaluate.runner.metrics_row`). These helpers only format and reshape them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["with_ci", "ci_pivot"]


def _fmt(value, digits: int) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def with_ci(table: pd.DataFrame, metric: str, digits: int = 2) -> pd.Series:
    """``metric`` with its CI as text per row, e.g. ``"3.91 [2.10, 6.02]"`` (units of the metric).

    table:  rows with columns ``metric``, ``metric + "_lo"`` and ``metric + "_hi"``.
    digits: decimals shown. A missing (NaN) value reads ``n/a``; a row without a finite CI
            shows the value alone. Returns a string Series on ``table``'s index.
    """
    cols = [metric, f"{metric}_lo", f"{metric}_hi"]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}; it needs {cols}")
    if digits < 0:
        raise ValueError(f"digits must be >= 0, got {digits}")

    def cell(row) -> str:
        value, lo, hi = (float(row[c]) for c in cols)
        if not (np.isfinite(value) and np.isfinite(lo) and np.isfinite(hi)):
            return _fmt(value, digits)
        return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    return table[cols].apply(cell, axis=1).astype(str).rename(f"{metric} (95% CI)")


def ci_pivot(table: pd.DataFrame, metric: str = "MAE", index: Sequence[str] = ("protocol", "method"),
             columns: str = "preset", order: Sequence | None = None, digits: int = 2) -> pd.DataFrame:
    """A wide table of :func:`with_ci` cells: one row per ``index`` tuple, one column per value
    of ``columns`` (in ``order`` when given, e.g. ``["still", "motion", "hard"]``).

    Each (index, column) pair must occur at most once in ``table`` (raises ValueError otherwise).
    """
    index = list(index)
    missing = [c for c in [*index, columns] if c not in table.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}")
    if table.duplicated([*index, columns]).any():
        raise ValueError(f"several rows share one ({', '.join(index)}, {columns}) cell")
    cells = table[[*index, columns]].assign(value=with_ci(table, metric, digits))
    wide = cells.pivot(index=index, columns=columns, values="value")
    if order is not None:
        absent = [c for c in order if c not in wide.columns]
        if absent:
            raise ValueError(f"no {columns} {absent} in the table (has {list(wide.columns)})")
        wide = wide[list(order)]
    return wide
