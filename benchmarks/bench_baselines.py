"""Throughput of the classic rPPG methods on one CPU core.

Prints, measured in one run on a 60-s, 30-fps clip of 151x151 frames (a pulsing
skin-coloured face on a grey background, drawn here so the benchmark does not
depend on the synthetic generator):
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

GOAL_REALTIME = 100.0  # POS and CHROM, from traces
SKIN_RGB = np.array([0.7682, 0.5121, 0.3841])
P_BV = np.array([0.33, 0.77, 0.53])


def make_clip(seconds: float, fps: float, size: int, hr_bpm: float = 75.0, seed: int = 0) -> np.ndarray:
    """(N, size, size, 3) uint8 BGR: an elliptical skin patch pulsing at ``hr_bpm``, sigma = 1 DN noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    bvp = np.sin(2 * np.pi * hr_bpm / 60 * t)
    skin_bgr = (200.0 * SKIN_RGB * (1 - 0.005 * bvp[:, None] * P_BV / P_BV[1]))[:, ::-1]  # (N, 3)
    yy, xx = np.mgrid[:size, :size]
    face = ((yy - size / 2) / (0.42 * size)) ** 2 + ((xx - size / 2) / (0.32 * size)) ** 2 <= 1
    out = np.empty((n, size, size, 3), np.uint8)
    for s in range(0, n, 200):  # chunks keep the float temporaries small
        e = min(n, s + 200)
        f = np.full((e - s, size, size, 3), 110.0, np.float32)
        f[:, face, :] = skin_bgr[s:e, None, :]
        f += rng.normal(0, 1.0, f.shape).astype(np.float32)
        out[s:e] = np.clip(np.round(f), 0, 255).astype(np.uint8)
    return out


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

    frames = make_clip(args.seconds, args.fps, args.size)
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
