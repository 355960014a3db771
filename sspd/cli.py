"""SSPD study command line: one entry point, one module per command (python -m sspd COMMAND).

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``;
it is imported only when its command runs (``--help`` imports them all).
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "generate": ("sspd.data.synthetic.cli", "render a synthetic dataset preset to disk"),
    "preprocess": ("sspd.data.preprocess", "detect faces and build the 151x151 clip cache"),
    "evaluate": ("sspd.evaluate.cli", "run a method over a dataset and write result tables"),
    "train": ("sspd.train.cli", "train SSPD without labels"),
    "predict": ("sspd.inference_cli", "pulse and heart rate from one face video"),
    "experiments": ("sspd.train.experiments", "training experiments: one change to the study recipe at a time, on validation"),
    "study": ("sspd.study.cli", "the ablation and cross-dataset grid: run, resume, --status, --dry-run"),
    "sweep": ("sspd.evaluate.sweep", "stress test: error against one synthetic-generator factor at a time"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sspd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(only=command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    from sspd.errors import SSPDError

    try:
        return int(module.run(args) or 0)
    except SSPDError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
