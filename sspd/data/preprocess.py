"""``python -m sspd preprocess``: detect faces and build the 151x151 clip cache.

Example::

    python -m sspd preprocess data/UBFC --format ubfc --out data/cache/ubfc
    python -m sspd preprocess data/VIPL --format vipl --box tracked --fps 30

Valid entries are reused, so running it again is cheap; entries built with
other settings are kept on disk but not used (see :mod:`sspd.data.cache`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sspd.data.cache import BOX_MODES, PreprocessConfig, build_cache
from sspd.data.readers import FORMATS


def _fps(text: str) -> float | None:
    if text.lower() in ("none", "native", "0"):
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"frame rate must be positive, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="dataset folder")
    parser.add_argument("--format", required=True, choices=tuple(FORMATS), help="on-disk layout of ROOT")
    parser.add_argument("--out", type=Path, default=None,
                        help="cache folder (default: data/cache/<format>)")
    parser.add_argument("--box", default="first", choices=BOX_MODES,
                        help="face box: first-frame detection (authors), tracked detection, "
                             "ground-truth boxes per frame (synthetic) or the frame-0 ground-truth box")
    parser.add_argument("--fps", type=_fps, default=30.0,
                        help="resample to this frame rate in Hz ('none' keeps native timing; default 30)")
    parser.add_argument("--resample", default="linear", choices=("linear", "nearest"))
    parser.add_argument("--size", type=int, default=151, help="crop side in pixels (default 151)")
    parser.add_argument("--subjects", nargs="+", default=None, help="only these subject ids")
    parser.add_argument("--skip-errors", action="store_true",
                        help="warn about and skip recordings that fail instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sspd.paths import cache_dir

    out = args.out if args.out is not None else cache_dir() / args.format
    config = PreprocessConfig(box_mode=args.box, size=args.size, target_fps=args.fps, resample=args.resample)
    entries = build_cache(args.root, args.format, out, config, subjects=args.subjects,
                          progress=not args.no_progress, skip_errors=args.skip_errors)
    import pandas as pd

    rows = [{
        "recording": e.recording_key, "subject": e.subject, "frames": e.n_frames,
        "fps": round(e.fps, 3), "duration_s": round(float(e.timestamps[-1] - e.timestamps[0]), 2),
        "resampled_from": (round(e.meta["resampling"]["source_fps_measured"], 3)
                           if e.meta["resampling"]["applied"] else ""),
        "box": e.meta["box_source"], "labels": "yes" if e.bvp is not None else "no",
        "status": "reused" if e.reused else "built",
    } for e in entries]
    table = pd.DataFrame(rows)
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print(table.to_string(index=False))
    n_built = sum(not e.reused for e in entries)
    print(f"\n{len(entries)} recordings in {out} ({n_built} built, {len(entries) - n_built} reused); "
          f"box={config.box_mode}, fps={config.target_fps}, size={config.size}")
    return 0
