"""Efficiency of SSPD inference against the end-to-end peer networks, measured in one run (CPU).

For SSPD (one row per inference backend) and every open-rppg peer architecture: parameters,
conv+matmul FLOPs per frame (2 FLOPs per multiply-add; XLA's own count beside it for JAX models),
CPU latency per frame at 1 and 2 threads, and peak memory. Every (model, threads) measurement runs
in a fresh subprocess; see :mod:`sspd.evaluate.efficiency` for every method and convention.

Prints the table and its ratios to SSPD, and writes ``efficiency.csv``, ``raw.json`` and
``manifest.json`` (git SHA, hardware, load average, thread settings) to ``--out``; the files are
rewritten after every measurement, so a stopped run leaves a partial table (``complete: false``).

    python benchmarks/bench_efficiency.py --quick              # smoke test: 1 repeat
    python benchmarks/bench_efficiency.py                      # the measurement (idle machine)
    python benchmarks/bench_efficiency.py --sspd-backends eager bf16 fast
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sspd.evaluate.efficiency import ratios_to_sspd, rebuild, run_efficiency, verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repeat, 4 recurrent steps (smoke test)")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "results" / "efficiency")
    ap.add_argument("--repeats", type=int, help="timed calls per measurement (default 5; quick 1)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sspd-backends", nargs="+", default=["eager"],
                    help="sspd.model.fast.InferenceEngine backends, one row each")
    ap.add_argument("--sspd-frames", type=int, default=160, help="frame differences per SSPD clip")
    ap.add_argument("--peers", nargs="*", help="peer names (default: all, one per architecture)")
    ap.add_argument("--nice", type=int, default=0, help="niceness added to every worker process")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker")
    ap.add_argument("--rebuild", action="store_true",
                    help="measure nothing: rewrite efficiency.csv in --out from its raw.json and print it")
    args = ap.parse_args(argv)

    kw = {"threads": tuple(args.threads), "sspd_backends": tuple(args.sspd_backends),
          "sspd_frames": args.sspd_frames, "nice": args.nice, "timeout": args.timeout}
    if args.repeats is not None:
        kw["repeats"] = args.repeats
    if args.peers:
        kw["peers"] = args.peers
    if args.rebuild:
        table = rebuild(args.out, threads=tuple(args.threads))
    else:
        table, _ = run_efficiency(args.out, quick=args.quick, **kw)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 40):
        print(table.drop(columns=["peer_names", "notes"]).to_string(index=False, float_format="%.4g"))
        ref = f"sspd[{args.sspd_backends[0]}]"
        if ref in set(table["model"]):
            print("\nratios to", ref, "(above 1: costs more than SSPD)")
            print(ratios_to_sspd(table, ref).to_string(index=False, float_format="%.3g"))
            print()
            print(verdict(table, ref))
    print(f"\nwritten: {args.out / 'efficiency.csv'}, raw.json, manifest.json")
    return table


if __name__ == "__main__":
    main()
