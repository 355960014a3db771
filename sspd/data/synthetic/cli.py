"""``python -m sspd generate``: render synthetic dataset presets to disk.

    python -m sspd generate --preset default --out data/synthetic --if-missing
    python -m sspd generate --preset still --subjects 4 --duration 12 --format ubfc

``default`` = the three presets (still, motion, hard) at their default scale. Layouts:
``--format synthetic`` -> ``<out>/<preset>/<subject>/`` (frames.npy + ground_truth.npz + meta.json);
``--format ubfc`` -> ``<out>/<preset>_ubfc/subject<id>/``; ``--format pure`` -> ``<out>/<preset>_pure/SS-TT/``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from sspd.paths import synthetic_dir

from .generator import OUTPUTS, draw_subject, render_video
from .presets import PRESETS, get_preset
from .storage import _request, _subject_list, export_pure, export_ubfc2, generate_dataset, is_complete

DEFAULT_SET = ("still", "motion", "hard")
#: Real datasets' layouts a preset can be written in (``--format``), besides the generator's own "synthetic".
EXPORTERS = {"ubfc": export_ubfc2, "pure": export_pure}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="default", choices=("default", *PRESETS),
                        help="preset to render ('default' = still, motion and hard; '<name>-full' = "
                             "the dataset-sized version)")
    parser.add_argument("--out", type=Path, default=None, help="output root (default: data/synthetic)")
    parser.add_argument("--if-missing", action="store_true",
                        help="return at once when every requested video is already present")
    parser.add_argument("--subjects", type=int, default=None, help="render only the first N subjects")
    parser.add_argument("--duration", type=float, default=None, help="clip length in seconds (preset default)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--format", default="synthetic", choices=("synthetic", *EXPORTERS),
                        help="on-disk layout")
    parser.add_argument("--output", default="crop", choices=OUTPUTS,
                        help="frames for --format synthetic: 151x151 face crops or full camera frames")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _export_folder(root: Path, preset, sid: str, fmt: str) -> Path:
    if fmt == "ubfc":
        return root / f"{preset.name}_ubfc" / f"subject{sid}"
    task = draw_subject(preset, sid, 0)["task"]
    tt = preset.tasks.index(task) + 1 if len(preset.tasks) > 1 else 1
    return root / f"{preset.name}_pure" / f"{int(sid):02d}-{tt:02d}"


def _export_done(folder: Path, fmt: str) -> bool:
    if fmt == "ubfc":
        return (folder / "vid.avi").is_file() and (folder / "ground_truth.txt").is_file()
    return (folder / f"{folder.name}.json").is_file()


def run(args: argparse.Namespace) -> int:
    root = Path(args.out) if args.out is not None else synthetic_dir()
    names = DEFAULT_SET if args.preset == "default" else (args.preset,)
    for name in names:
        preset = get_preset(name)
        ids = _subject_list(preset, args.subjects)
        t0 = time.time()
        if args.format == "synthetic":
            def done(sid):
                return is_complete(root / name / sid, _request(preset, sid, args.seed, args.duration, args.output))
        else:
            def done(sid):
                return _export_done(_export_folder(root, preset, sid, args.format), args.format)
        missing = [s for s in ids if not done(s)]
        if args.if_missing and not missing:
            print(f"{name}: all {len(ids)} videos present under {root} (nothing to do)")
            continue
        if args.format == "synthetic":
            generate_dataset(preset, root, subjects=ids, seed=args.seed, duration_s=args.duration,
                             output=args.output, progress=not args.no_progress)
        else:
            for sid in tqdm(missing, desc=f"{name} -> {args.format}", disable=args.no_progress):
                video = render_video(preset, sid, seed=args.seed, output="full", duration_s=args.duration)
                folder = _export_folder(root, preset, sid, args.format)
                EXPORTERS[args.format](video, folder)
        dur = preset.duration_s if args.duration is None else args.duration
        print(json.dumps({"preset": name, "format": args.format, "videos": len(ids), "rendered": len(missing),
                          "duration_s": dur, "seed": args.seed, "root": str(root),
                          "seconds": round(time.time() - t0, 1)}))
    return 0
