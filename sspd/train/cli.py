"""``python -m sspd train``: label-free SSPD training from the command line.

Examples::

    python -m sspd train --preset cpu --data SynUBFC --out runs/cpu-synubfc
    python -m sspd train --preset paper --data data/cache/UBFC --out runs/paper --set augment.crop=topleft
    torchrun --nproc_per_node 2 -m sspd train --preset paper --data SynUBFC --out runs/ddp
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sspd.train.config import PRESETS, TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                        help="training preset (paper: the authors' schedule; cpu: reduced for a "
                             "2-core CPU; smoke: seconds, for tests)")
    parser.add_argument("--data", required=True,
                        help="synthetic preset / dataset name with a cache in data/cache/, or a cache folder")
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, log, weights)")
    parser.add_argument("--split", default=None, help="subjects to train on: train (default), test, all")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--seed", type=int, default=None, help="override the seed (default 0)")
    parser.add_argument("--no-resume", action="store_true",
                        help="refuse to continue an existing run in --out (default: resume it)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config field, e.g. T=200, augment.crop=topleft, "
                             "loss.<field>=0 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace) -> TrainConfig:
    overrides = {"data": args.data}
    if args.split is not None:
        overrides["split"] = args.split
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.seed is not None:
        overrides["seed"] = args.seed
    config = TrainConfig.preset_config(args.preset, **overrides)
    return config.with_overrides(args.overrides) if args.overrides else config


def run(args: argparse.Namespace) -> int:
    from sspd.train.loop import train

    config = build_config(args)
    result = train(config, args.out, resume=not args.no_resume, progress=not args.quiet)
    print(f"trained {result.steps_done}/{result.total_steps} iterations "
          f"({result.epochs_done} epochs) in {result.seconds:.1f} s -> {result.out_dir}")
    if result.inference_weights is not None:
        print(f"inference weights: {result.inference_weights}")
    if result.last_losses:
        print("last losses: " + ", ".join(f"{k}={v:.4f}" for k, v in result.last_losses.items()))
    return 0
