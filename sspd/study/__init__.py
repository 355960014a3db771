"""The study grid: ablations and intra-/cross-dataset runs, resumable and reproducible.

    from sspd import study
    grid = study.build_grid()                       # every item (sspd/study/grid.py)
    print("\\n".join(study.status_lines(study.status_table(grid))))
    study.run_grid(grid, max_runs=1)                # trains, scores and publishes one item

``python -m sspd study`` does the same from the command line (``--status``, ``--dry-run``).
Modules: :mod:`~sspd.study.grid` (the declaration and run ids), :mod:`~sspd.study.cost` (CPU
estimates), :mod:`~sspd.study.runner` (execution, status, publishing), :mod:`~sspd.study.results`
(tables), :mod:`~sspd.study.figures` (plots), :mod:`~sspd.study.chapter` (what the chapters
call). Dependencies run one way: this package imports ``sspd.train``, ``sspd.evaluate`` and
``sspd.data``; none of them imports it.
"""
from __future__ import annotations

from sspd.study.grid import (ABLATION_DATA, CROSS_SETS, REFERENCE_METHODS, VARIANTS, Grid, RunSpec,
                             build_grid, run_id)
from sspd.study.runner import (default_results, default_scratch, execute, item_status, orphans,
                               plan_lines, run_grid, status_lines, status_table)

__all__ = ["ABLATION_DATA", "CROSS_SETS", "REFERENCE_METHODS", "VARIANTS", "Grid", "RunSpec", "build_grid",
           "run_id", "default_results", "default_scratch", "execute", "item_status", "orphans",
           "plan_lines", "run_grid", "status_lines", "status_table"]
