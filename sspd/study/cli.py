"""``python -m sspd study``: the ablation and cross-dataset grid (sspd/study/grid.py).

Examples::

    python -m sspd study --status                  # one line per item, then totals
    python -m sspd study --dry-run                 # the plan and its estimated CPU time
    python -m sspd study --max-runs 1              # train, score and publish the next item
    python -m sspd study --group reference         # only the reference rows (no training)
    python -m sspd study --jobs 2                  # two items at a time, threads divided
    python -m sspd study --add-controls            # score the initial-weights control of older items
    python -m sspd study --preset paper --device cuda
    torchrun --nproc_per_node 4 -m sspd study --preset paper --device cuda

Completed items (``data/results/study/<id>/``) are skipped; an interrupted item resumes from
its checkpoint in ``runs/study/<id>/`` when the command is run again; a failed item is
reported (``runs/study/<id>/error.txt``) and retried only with ``--retry-failed``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def _list(text: str) -> list[str]:
    return [] if text.strip().lower() in ("", "none") else [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sspd.study.grid import ABLATION_DATA, CROSS_SETS, RECIPE, VARIANTS
    from sspd.train.config import RECIPES

    show = parser.add_mutually_exclusive_group()
    show.add_argument("--status", action="store_true", help="print each item's status and the totals")
    show.add_argument("--dry-run", action="store_true", help="print the plan and its estimated CPU time")
    show.add_argument("--add-controls", action="store_true",
                      help="score the initial-weights control of done training items published without it")
    parser.add_argument("--preset", choices=sorted(RECIPES), default=RECIPE,
                        help=f"training recipe of every run (default {RECIPE}; paper on a GPU)")
    parser.add_argument("--device", default=None, help="device of every run (cpu, cuda); default: the recipe's")
    parser.add_argument("--data", default=ABLATION_DATA,
                        help=f"training and test data of the ablations: a preset or a clip-cache folder "
                             f"(default {ABLATION_DATA})")
    parser.add_argument("--split-file", type=Path, default=None,
                        help="split file of --data (default data/splits/<name>.json)")
    parser.add_argument("--cross-sets", type=_list, default=list(CROSS_SETS), metavar="A,B,C",
                        help=f"datasets of the cross-dataset matrix (default {','.join(CROSS_SETS)}; none: no "
                             f"cross-dataset runs)")
    parser.add_argument("--variants", type=_list, default=None, metavar="A,B",
                        help=f"only these ablation variants (of {', '.join(v.name for v in VARIANTS)})")
    parser.add_argument("--seeds", type=lambda t: [int(s) for s in _list(t)], default=None, metavar="0,1",
                        help="seeds of every ablation variant (default: each variant's own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field of every training run (changes the run ids)")
    parser.add_argument("--no-official", action="store_true", help="leave out the authors' released weights")
    parser.add_argument("--no-peers", action="store_true", help="leave out the pretrained peers' reference rows")
    parser.add_argument("--group", action="append", choices=("ablation", "cross", "reference"), default=None,
                        help="only items of this group (repeatable)")
    parser.add_argument("--only", action="append", default=None, metavar="ID", help="only this item (id prefix)")
    parser.add_argument("--jobs", type=int, default=1, help="items run in parallel processes (default 1)")
    parser.add_argument("--max-runs", type=int, default=None, help="start at most this many items")
    parser.add_argument("--breadth-first", action="store_true",
                        help="lowest seed first: seed 0 of every variant before any seed 1")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop each training run after this many steps (resume later)")
    parser.add_argument("--retry-failed", action="store_true", help="run failed items again")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default data/results/study)")
    parser.add_argument("--scratch", type=Path, default=None, help="scratch folder (default runs/study)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the CIs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build(args: argparse.Namespace):
    from sspd.study.grid import PEER_METHODS, build_grid

    return build_grid(args.data, cross_sets=args.cross_sets, recipe=args.preset, device=args.device,
                      split_file=args.split_file, overrides=args.overrides, variants=args.variants,
                      seeds=args.seeds, official_weights=None if args.no_official else "default",
                      peers=() if args.no_peers else PEER_METHODS)


def run(args: argparse.Namespace) -> int:
    from sspd.study.runner import add_controls, plan_lines, run_grid, status_lines, status_table

    grid = build(args)
    if args.add_controls:
        for item, what in add_controls(grid, args.results, args.scratch, ids=args.only, n_boot=args.n_boot,
                                       progress=not args.quiet).items():
            print(f"{item} {what}")
        return 0
    if args.status or args.dry_run:
        table = status_table(grid, args.results, args.scratch)
        if args.group or args.only:
            keep = {s.id for s in grid.select(args.group, args.only)}
            table = table[table["id"].isin(keep)]
        print("\n".join(plan_lines(table) if args.dry_run else status_lines(table)))
        return 0
    table = run_grid(grid, ids=args.only, groups=args.group, jobs=args.jobs, max_runs=args.max_runs,
                     results=args.results, scratch=args.scratch, progress=not args.quiet,
                     n_boot=args.n_boot, retry_failed=args.retry_failed, stop_after_step=args.stop_after,
                     breadth_first=args.breadth_first)
    if int(os.environ.get("RANK", "0")) != 0:   # under torchrun rank 0 reports
        return 0
    print("\n".join(status_lines(table)))
    failed = table[table["status"] == "failed"]
    for row in failed.itertuples():
        print(f"failed: {row.id} ({row.variant}): {row.error}  [runs/study/{row.id}/error.txt]")
    return 1 if len(failed) else 0
