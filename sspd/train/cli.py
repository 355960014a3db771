"""``python -m sspd train``: label-free SSPD training from the command line.

Examples::

    python -m sspd train --recipe study --data easy-full --out runs/study-easy
    python -m sspd train --recipe paper --data data/cache/ubfc --out runs/paper --set augment.crop=topleft
    torchrun --nproc_per_node 2 -m sspd train --recipe paper --data data/cache/ubfc --out runs/ddp

An interrupted run resumes from its last checkpoint when the same command is run again.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sspd.train.config import RECIPES, TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="study",
                        help="training recipe (paper: the authors' schedule; study: the 2-core CPU "
                             "recipe; smoke: seconds, for tests)")
    parser.add_argument("--data", required=True,
                        help="synthetic preset (e.g. easy-full) or a clip-cache folder")
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, logs, weights)")
    parser.add_argument("--split", default=None,
                        help="subjects to train on: train (default; a validation fold is held out) "
                             "or all")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's max_steps")
    parser.add_argument("--seed", type=int, default=None, help="override the seed (default 0)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many steps (resume later with the same command)")
    parser.add_argument("--no-resume", action="store_true",
                        help="refuse to continue an existing run in --out (default: resume it)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config field, e.g. T=300, augment.crop=topleft, "
                             "loss.w_freq=0.05 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace) -> TrainConfig:
    overrides = {"data": str(args.data)}
    if args.split is not None:
        overrides["split"] = args.split
    if args.steps is not None:
        overrides["max_steps"] = args.steps
    if args.seed is not None:
        overrides["seed"] = args.seed
    config = TrainConfig.from_recipe(args.recipe, **overrides)
    return config.with_overrides(args.overrides) if args.overrides else config


def run(args: argparse.Namespace) -> int:
    from sspd.train.loop import train

    config = build_config(args)
    result = train(config, args.out, resume=not args.no_resume, progress=not args.quiet,
                   stop_after_step=args.stop_after)
    print(f"trained {result.steps_done}/{result.total_steps} steps in {result.seconds:.1f} s -> "
          f"{result.out_dir}")
    if result.best is not None:
        print(f"best validated teacher: step {result.best['step']}, windowed MAE {result.best['MAE']:.2f} bpm")
    if result.inference_weights is not None:
        print(f"inference weights: {result.inference_weights}")
    if result.last_losses:
        print("last losses: " + ", ".join(f"{k}={v:.4f}" for k, v in result.last_losses.items()))
    return 0
