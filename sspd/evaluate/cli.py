"""``python -m sspd evaluate``: run a method over a dataset and write result tables.

Examples::

    python -m sspd evaluate --method pos --dataset still --protocol authors
    python -m sspd evaluate --method sspd --checkpoint runs/x/last.pt --dataset motion --protocol windowed
    python -m sspd evaluate --method chrom --dataset data/cache/ubfc --protocol toolbox --split all

``--dataset`` is a synthetic preset name (data/synthetic/<preset>, preprocessed into
data/cache/<preset> on first use and restricted to ``--split``) or an existing cache folder
(all its recordings; ``--split`` must then be ``all``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sspd.data.synthetic.presets import PRESETS as _SYNTHETIC

SYNTHETIC_PRESETS = tuple(_SYNTHETIC)  # still, motion, hard, and the easy control


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sspd.evaluate.methods import METHOD_NAMES
    from sspd.evaluate.protocol import PROTOCOLS

    parser.add_argument("--method", required=True, help=f"one of: {', '.join(METHOD_NAMES)}")
    parser.add_argument("--dataset", required=True,
                        help=f"synthetic preset ({'|'.join(SYNTHETIC_PRESETS)}) or a cache folder")
    parser.add_argument("--protocol", default="authors", help=f"one of: {', '.join(PROTOCOLS)}")
    parser.add_argument("--split", default="test", choices=("test", "train", "all"),
                        help="subjects of a synthetic preset to evaluate (default test)")
    parser.add_argument("--out", type=Path, default=None,
                        help="result folder (default data/results/<dataset>/<method>-<protocol>[-<split>])")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model weights for --method sspd")
    parser.add_argument("--device", default="cpu", help="torch device for model methods (default cpu)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N recordings")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_entries(dataset: str, split: str = "test", progress: bool = True) -> tuple[list, str]:
    """Cache entries for ``dataset`` (preset name or cache folder) and the dataset's display name."""
    from sspd.data.cache import PreprocessConfig, build_cache, load_cache
    from sspd.errors import DataError
    from sspd.paths import cache_dir, synthetic_dir

    folder = Path(dataset)
    if dataset not in SYNTHETIC_PRESETS:
        if not folder.is_dir():
            raise DataError(folder, f"neither a synthetic preset ({', '.join(SYNTHETIC_PRESETS)}) "
                                    "nor an existing cache folder")
        if split != "all":
            raise DataError(folder, f"--split {split} applies to synthetic presets; a cache folder is "
                                    "evaluated whole (pass --split all, or build a cache of the split)")
        entries = load_cache(folder)
        if not entries:
            raise DataError(folder, "no cache entries found")
        return entries, folder.resolve().name

    from sspd.data.synthetic import load_split

    subjects = None if split == "all" else [str(s) for s in load_split(dataset)[split]]
    root, out = synthetic_dir() / dataset, cache_dir() / dataset
    config = PreprocessConfig()
    if root.is_dir():
        # reuses valid entries, builds the missing ones
        entries = build_cache(root, "synthetic", out, config, subjects=subjects, progress=progress)
    elif out.is_dir():
        entries = load_cache(out, subjects=subjects, config=config)
    else:
        raise DataError(root, f"synthetic preset {dataset!r} not generated yet "
                              f"(run `python -m sspd generate {dataset}`)")
    if not entries:
        raise DataError(out, f"no cached recordings for split {split!r}")
    return entries, dataset


def run(args: argparse.Namespace) -> int:
    from sspd.evaluate.methods import MODEL_NAMES, get_method
    from sspd.evaluate.protocol import get_protocol
    from sspd.evaluate.runner import evaluate
    from sspd.paths import results_dir

    protocol = get_protocol(args.protocol)
    name = args.method.lower()
    kwargs = {}
    if name in MODEL_NAMES:
        kwargs = {"device": args.device}
        if name == "sspd":
            kwargs["checkpoint"] = args.checkpoint
    elif args.checkpoint is not None:
        raise SystemExit(f"--checkpoint applies to {', '.join(MODEL_NAMES)}, not {name!r}")
    method = get_method(name, **kwargs)

    entries, dataset_name = load_entries(args.dataset, args.split, progress=not args.no_progress)
    if args.limit is not None:
        entries = entries[: args.limit]
    suffix = "" if args.split == "test" or args.dataset not in SYNTHETIC_PRESETS else f"-{args.split}"
    out = args.out or results_dir() / dataset_name / f"{name}-{protocol.name}{suffix}"

    table = evaluate(method, entries, protocol, out, method_name=name, dataset_name=dataset_name,
                     progress=not args.no_progress, n_boot=args.n_boot, seed=args.seed,
                     config={"split": args.split, "limit": args.limit,
                             "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
                             "device": args.device, "dataset_arg": args.dataset})
    summary = table.attrs["summary"]
    with __import__("pandas").option_context("display.width", 120, "display.precision", 3):
        print(table.to_string(index=False))
    print(f"\n{summary['n_recordings']} recordings, {summary['n_failed']} failed, "
          f"{summary['n_nan_hr']} with undefined HR; results in {out}")
    for f in summary["failures"]:
        print(f"  FAILED {f['key']}: {f['message']}")
    if summary["n_failed"] == summary["n_recordings"]:
        return 1
    return 0
