"""SSPD inference backends side by side: speed, and what bf16 does to the pulse and the heart rate.

Measured in one run (CPU):
  1. network throughput (frames/s) of the inference network on (1, 3, T, 128, 128) frame differences
     for every backend of ``sspd.model.fast`` (eager float32 = the reference, bf16, fast = bf16 +
     torch.compile, fast-fp32 = folded + compiled float32), both BatchNorm rules, at 1 and 2 threads;
     the ratio to eager float32 under the same rule and thread count; the one-off compile time;
  2. accuracy of each backend against eager float32 on real clips: validation subjects of a cached
     preset (never test subjects) through ``SSPDMethod`` with a trained network: the waveform's
     largest error relative to its range, its correlation with the reference, and the windowed heart
     rate (10-s windows, periodogram) difference in bpm.

The CPU is timed as it is: other processes slow it (``os.getloadavg()`` is recorded). Pause other
jobs for the final figures.

    python benchmarks/bench_inference.py                       # writes data/results/efficiency/
    python benchmarks/bench_inference.py --quick --out /tmp/x  # smoke test
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sspd.inference import SSPDMethod, load_inference_model  # noqa: E402
from sspd.io import atomic_write_json, atomic_write_text, manifest  # noqa: E402
from sspd.model.fast import BACKENDS, BATCHNORM_RULES, InferenceEngine, bf16_supported  # noqa: E402
from sspd.signal import periodogram_hr, sliding_windows  # noqa: E402

DEFAULT_WEIGHTS = Path("data/results/training/study-easy-full/model_best.pt")


def time_engine(engine: InferenceEngine, x: torch.Tensor, repeats: int) -> dict:
    """Compile/first-call time and the (median, best) steady-state frames/s of ``engine`` on ``x``."""
    t0 = time.perf_counter()
    engine(x)                                      # compiles, for the compiled backends
    first = time.perf_counter() - t0
    engine(x)                                      # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        engine(x)
        times.append(time.perf_counter() - t0)
    n = x.shape[2]
    return {"first_call_s": first, "fps_median": n / statistics.median(times), "fps_best": n / min(times)}


def speed_table(model, T: int, threads: list[int], repeats: int) -> pd.DataFrame:
    rows = []
    x = torch.randn(1, 3, T, 128, 128, generator=torch.Generator().manual_seed(0)) * 20
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for rule in BATCHNORM_RULES:
            for backend in BACKENDS:
                torch._dynamo.reset()   # each configuration compiles afresh (and within the recompile limit)
                engine = InferenceEngine(model, rule, backend)
                r = time_engine(engine, x, repeats)
                rows.append({"threads": n_threads, "batchnorm": rule, "backend": backend,
                             "precision": engine.precision, "compiled": engine.compiled,
                             "folded_batchnorms": engine.folded, "T": T, **r})
                print(f"  {n_threads} thr {rule:8s} {backend:10s} {r['fps_median']:7.1f} frames/s "
                      f"(best {r['fps_best']:.1f}; first call {r['first_call_s']:.1f} s)", flush=True)
    df = pd.DataFrame(rows)
    ref = df[df.backend == "eager"].set_index(["threads", "batchnorm"])["fps_median"]
    df["speedup_vs_eager"] = [r.fps_median / ref[(r.threads, r.batchnorm)] for r in df.itertuples()]
    return df


def accuracy_table(weights: Path, dataset: str, n_videos: int, rule: str) -> pd.DataFrame:
    """Each backend against eager float32 on validation videos (windowed 10-s periodogram HR)."""
    from sspd.data.splits import dataset_entries

    entries, _ = dataset_entries(dataset, "val")
    entries = entries[:n_videos]
    torch._dynamo.reset()
    methods = {b: SSPDMethod(weights, batchnorm=rule, backend=b) for b in BACKENDS}
    rows = []
    for e in entries:
        frames, fs = np.asarray(e.frames), float(e.fps)
        ref = methods["eager"](frames, fs)
        spans = sliding_windows(len(ref), fs, 10.0)
        hr_ref = np.array([periodogram_hr(ref[a:b], fs) for a, b in spans])
        for backend, method in methods.items():
            if backend == "eager":
                continue
            y = method(frames, fs)
            hr = np.array([periodogram_hr(y[a:b], fs) for a, b in spans])
            rows.append({"video": e.subject, "backend": backend, "batchnorm": rule, "n_samples": len(y),
                         "max_rel_error": float(np.abs(y - ref).max() / np.abs(ref).max()),
                         "waveform_r": float(np.corrcoef(y, ref)[0, 1]),
                         "n_windows": len(spans), "max_hr_diff_bpm": float(np.abs(hr - hr_ref).max()),
                         "windows_hr_changed": int((np.abs(hr - hr_ref) > 1e-9).sum())})
    return pd.DataFrame(rows)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="trained inference weights")
    ap.add_argument("--dataset", default="easy-full", help="cached preset whose validation videos are used")
    ap.add_argument("--videos", type=int, default=6, help="validation videos for the accuracy table")
    ap.add_argument("--T", type=int, default=160, help="frames per clip for the speed table")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 repeats, 2 threads, 1 video")
    ap.add_argument("--out", type=Path, default=Path("data/results/efficiency"))
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.threads, args.videos = 2, [2], 1
    print(f"bf16 native: {bf16_supported()}; load average {os.getloadavg()}")
    model, name = load_inference_model(args.weights if args.weights.is_file() else None)
    print(f"network: {name}; speed on (1, 3, {args.T}, 128, 128), {args.repeats} repeats")
    speed = speed_table(model, args.T, args.threads, args.repeats)
    torch.set_num_threads(max(args.threads))
    acc = pd.DataFrame()
    if args.weights.is_file():
        print(f"accuracy against eager float32 on {args.videos} validation videos of {args.dataset}")
        acc = pd.concat([accuracy_table(args.weights, args.dataset, args.videos, rule)
                         for rule in BATCHNORM_RULES], ignore_index=True)
        with pd.option_context("display.width", 140):
            print(acc.groupby(["batchnorm", "backend"])[["max_rel_error", "waveform_r", "max_hr_diff_bpm",
                                                           "windows_hr_changed", "n_windows"]]
                  .agg({"max_rel_error": "max", "waveform_r": "min", "max_hr_diff_bpm": "max",
                        "windows_hr_changed": "sum", "n_windows": "sum"}).to_string())
    with pd.option_context("display.width", 140, "display.precision", 2):
        print(speed.to_string(index=False))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "inference_speed.csv", speed.to_csv(index=False))
    atomic_write_text(args.out / "inference_accuracy.csv", acc.to_csv(index=False))
    atomic_write_json(args.out / "inference_manifest.json", manifest(
        vars(args), None, weights=name, bf16_native=bf16_supported(), loadavg_end=os.getloadavg(),
        script="benchmarks/bench_inference.py"))
    return {"speed": speed, "accuracy": acc}


if __name__ == "__main__":
    main()
