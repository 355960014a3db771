"""Throughput of the classic rPPG methods on one CPU core.

Prints, measured in one run on a 60-s, 30-fps clip of 151x151 frames (a pulsing
skin-coloured face on a grey background, ``sspd.data.toy.skin_patch_clip``, so the
benchmark does not depend on the synthetic generator):
  (a) ``rgb_traces`` (YCrCb skin mask + spatial mean) in video-seconds per wall-second;
  (b) each method from RGB traces, and end to end from frames (``CLASSIC_METHODS``,
      which includes ``rgb_traces``), in video-seconds per wall-second;
  (c) the goal: POS and CHROM at >= 100x real time from traces;
  (d) the evaluation runner per video, if ``sspd.evaluate.runner`` is importable.

Usage::

    python benchmarks/bench_baselines.py [--seconds 60] [--fps 30] [--size 151] [--repeats 3]

Times are the best of ``--repeats`` runs (the least disturbed by other processes).
"""
from __future__ import annotations

import os

# one core: must be set before numpy / OpenCV start their thread pools
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sspd.baselines import CLASSIC_METHODS, TRACE_METHODS, rgb_traces  # noqa: E402
from sspd.data.toy import skin_patch_clip  # noqa: E402

GOAL_REALTIME = 100.0  # POS and CHROM, from traces


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_runner(frames: np.ndarray, fps: float, repeats: int) -> None:
    """Wall time of ``sspd.evaluate.runner.evaluate_recording`` per video (method + HR + SNR + r)."""
    try:
        from sspd.evaluate.protocol import get_protocol
        from sspd.evaluate.runner import evaluate_recording
    except ImportError as err:
        print(f"\nevaluation runner: sspd.evaluate.runner is not available ({err}); not timed")
        return
    from sspd.data.recording import Recording

    t = np.arange(len(frames)) / fps
    rec = Recording(frames=frames, timestamps=t, fps_nominal=fps, bvp=np.sin(2 * np.pi * 75 / 60 * t),
                    dataset="bench", subject="0", session="0")
    video_s = len(frames) / fps
    print(f"\nevaluation runner (evaluate_recording), per {video_s:.0f}-s video, best of {repeats}")
    for proto in ("toolbox", "windowed"):
        protocol = get_protocol(proto)
        for name in ("pos", "chrom", "green"):
            method = CLASSIC_METHODS[name]
            dt = best_time(lambda: evaluate_recording(method, rec, protocol), repeats)
            row, _ = evaluate_recording(method, rec, protocol)
            print(f"  {proto:9s} {name:6s} {dt:7.3f} s = {video_s / dt:5.0f}x real time "
                  f"(method alone {row['runtime_s']:.3f} s; HR error {row['error']:+.2f} bpm)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--size", type=int, default=151)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)

    # a skin patch pulsing at 75 bpm (fundamental only), sigma = 1 DN noise
    frames, _ = skin_patch_clip(75.0, args.seconds, args.fps, args.size, harmonic=0.0)
    video_s = len(frames) / args.fps
    print(f"clip: {len(frames)} frames of {args.size}x{args.size}, {video_s:.0f} s at {args.fps:g} fps; "
          f"1 thread; {platform.processor() or platform.machine()}, numpy {np.__version__}, "
          f"OpenCV {cv2.__version__}; best of {args.repeats}")

    t_traces = best_time(lambda: rgb_traces(frames, fs=args.fps), args.repeats)
    rgb = rgb_traces(frames, fs=args.fps)
    print(f"rgb_traces (YCrCb skin mask): {t_traces:.3f} s = {video_s / t_traces:.0f}x real time "
          f"({len(frames) / t_traces:.0f} frames/s)")
    t_none = best_time(lambda: rgb_traces(frames, skin="none", fs=args.fps), args.repeats)
    print(f"rgb_traces (no mask):         {t_none:.3f} s = {video_s / t_none:.0f}x real time")

    print(f"\n{'method':8s} {'traces: s':>10s} {'x real time':>12s} {'frames: s':>10s} {'x real time':>12s}")
    rates = {}
    for name, fn in TRACE_METHODS.items():
        t_tr = best_time(lambda: fn(rgb, args.fps), args.repeats)
        t_fr = best_time(lambda: CLASSIC_METHODS[name](frames, args.fps), args.repeats)
        rates[name] = video_s / t_tr
        print(f"{name:8s} {t_tr:10.4f} {video_s / t_tr:12.0f} {t_fr:10.3f} {video_s / t_fr:12.0f}")

    ok = all(rates[m] >= GOAL_REALTIME for m in ("pos", "chrom"))
    print(f"\ngoal: POS and CHROM >= {GOAL_REALTIME:.0f}x real time from traces: "
          f"POS {rates['pos']:.0f}x, CHROM {rates['chrom']:.0f}x -> {'met' if ok else 'NOT met'}")
    bench_runner(frames, args.fps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
