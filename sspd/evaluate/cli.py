"""``python -m sspd evaluate``: run a method over a dataset and write result tables.

Examples::

    python -m sspd evaluate --method pos --dataset still --protocol authors
    python -m sspd evaluate --method sspd --checkpoint runs/study-easy/model_best.pt \
        --dataset easy-full --protocol windowed
    python -m sspd evaluate --method chrom --dataset data/cache/ubfc --protocol toolbox

``--dataset`` is a synthetic preset (rendered under data/synthetic/<name>, preprocessed into
data/cache/<name> on first use) or a clip-cache folder. Either way ``--split`` (default test)
selects subjects through the dataset's split file, data/splits/<name>.json (for a folder: its
name), or ``--split-file``; without one, only ``--split all`` is possible, and the error says so.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sspd.data.splits import SPLITS, dataset_entries
from sspd.model.fast import BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sspd.data.synthetic.presets import PRESETS
    from sspd.evaluate.methods import METHOD_NAMES
    from sspd.evaluate.protocol import PROTOCOL_ALIASES, PROTOCOLS

    parser.add_argument("--method", required=True, choices=METHOD_NAMES, metavar="METHOD",
                        help=f"one of: {', '.join(METHOD_NAMES)}")
    parser.add_argument("--dataset", required=True,
                        help=f"synthetic preset ({'|'.join(PRESETS)}) or a clip-cache folder")
    parser.add_argument("--protocol", default="authors", choices=(*PROTOCOLS, *PROTOCOL_ALIASES),
                        metavar="PROTOCOL", help=f"one of: {', '.join(PROTOCOLS)} (default authors)")
    parser.add_argument("--split", default="test", choices=SPLITS,
                        help="subjects to evaluate, from the dataset's split file (default test)")
    parser.add_argument("--split-file", type=Path, default=None,
                        help="a split file to use instead of data/splits/<dataset name>.json")
    parser.add_argument("--out", type=Path, default=None,
                        help="result folder (default data/results/<dataset>/<method>-<protocol>[-<split>])")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model weights for --method sspd")
    parser.add_argument("--device", default="cpu", help="torch device for model methods (default cpu)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="fast",
                        help="how an SSPD network runs (default fast: bf16 + torch.compile; eager = float32 "
                             "reference); see sspd.model.fast")
    parser.add_argument("--limit", type=int, default=None, help="only the first N recordings")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sspd.evaluate.methods import MODEL_NAMES, get_method
    from sspd.evaluate.peers import canonical_name, is_peer_name
    from sspd.evaluate.protocol import get_protocol
    from sspd.evaluate.runner import evaluate
    from sspd.paths import results_dir

    protocol = get_protocol(args.protocol)
    name = args.method.lower()
    kwargs = {}
    if is_peer_name(name):
        name = canonical_name(name)  # the package's spelling: orppg:PhysNet.pure
        kwargs = {"device": args.device}
        if args.checkpoint is not None:
            raise SystemExit(f"--checkpoint applies to {', '.join(MODEL_NAMES)}, not {name!r}")
    elif name in MODEL_NAMES:
        kwargs = {"device": args.device, "backend": args.backend}
        if name == "sspd":
            kwargs["checkpoint"] = args.checkpoint
    elif args.checkpoint is not None:
        raise SystemExit(f"--checkpoint applies to {', '.join(MODEL_NAMES)}, not {name!r}")
    method = get_method(name, **kwargs)

    entries, dataset_name = dataset_entries(args.dataset, args.split, split_file=args.split_file,
                                            progress=not args.no_progress)
    if args.limit is not None:
        entries = entries[: args.limit]
    suffix = "" if args.split == "test" else f"-{args.split}"
    out = args.out or results_dir() / dataset_name / f"{name.replace(':', '-')}-{protocol.name}{suffix}"

    table = evaluate(method, entries, protocol, out, method_name=name, dataset_name=dataset_name,
                     progress=not args.no_progress, n_boot=args.n_boot, seed=args.seed,
                     config={"split": args.split, "limit": args.limit,
                             "split_file": None if args.split_file is None else str(args.split_file),
                             "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
                             "device": args.device, "dataset_arg": args.dataset,
                             "backend": args.backend if name in MODEL_NAMES else None})
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
