"""Throughput of the stress-test sweep (``python -m sspd sweep``) on one CPU core.

Prints, measured in one run of small sweeps (``--subjects`` subjects at the registry's quick levels, in memory,
nothing written), videos per minute for

  (a) rendering (generator + preprocessing: crop, resampling when the timing is not uniform), and
  (b) evaluation (one method on one video: pulse, windowed heart rates, SNR, waveform r; one "video" per method),

per factor and in total. Factors differ by their render path: the 151x151 crop path (most factors), whole
camera frames (``face_size``) and whole frames through a codec subprocess (``mjpeg_quality``, ``h264_crf``).
The totals also estimate the cost of a full sweep (every factor at its full levels) per subject.

Usage::

    python benchmarks/bench_sweep.py [--factors pulse_amplitude face_size mjpeg_quality] [--subjects 2]
                                     [--methods pos chrom green] [--duration 12.5]
"""
from __future__ import annotations

import os

# one core: must be set before numpy / OpenCV start their thread pools
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402

from sspd.evaluate import sweep  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", nargs="+", default=["pulse_amplitude", "face_size", "mjpeg_quality"],
                        help=f"factors to time (one per render path by default); 'all' = {len(sweep.FACTORS)}")
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(sweep.DEFAULT_METHODS))
    parser.add_argument("--duration", type=float, default=sweep.DEFAULT_DURATION_S)
    args = parser.parse_args()
    names = list(sweep.FACTORS) if args.factors == ["all"] else args.factors

    print(f"sweep throughput, one core ({platform.processor() or platform.machine()}), {args.subjects} subjects x "
          f"{args.duration:g} s at the quick levels, methods {', '.join(args.methods)}")
    print(f"{'factor':20s} {'render':>6s} {'videos':>6s} {'render/min':>10s} {'s/video':>8s} "
          f"{'evals':>6s} {'eval/min':>9s} {'s/eval':>7s}")
    tot = {"render_s": 0.0, "eval_s": 0.0, "n_videos": 0, "n_evaluations": 0}
    per_video = {}
    for name in names:
        f = sweep.get_factor(name)
        df = sweep.run_sweep(f, "quick", args.methods, args.subjects, args.duration, progress=False)
        t = df.attrs["meta"]["timings"]
        failed = int((df.status == "failed").sum())
        for k in tot:
            tot[k] += t[k]
        per_video[f.output if f.output == "crop" else ("codec" if "codec" in f.knobs else "full")] = \
            t["render_s"] / t["n_videos"]
        print(f"{name:20s} {f.output:>6s} {t['n_videos']:6d} {t['videos_per_min_render']:10.1f} "
              f"{t['render_s'] / t['n_videos']:8.2f} {t['n_evaluations']:6d} {t['videos_per_min_eval']:9.1f} "
              f"{t['eval_s'] / t['n_evaluations']:7.3f}" + (f"  ({failed} failed rows)" if failed else ""))
    print(f"{'total':20s} {'':>6s} {tot['n_videos']:6d} {60 * tot['n_videos'] / tot['render_s']:10.1f} "
          f"{tot['render_s'] / tot['n_videos']:8.2f} {tot['n_evaluations']:6d} "
          f"{60 * tot['n_evaluations'] / tot['eval_s']:9.1f} {tot['eval_s'] / tot['n_evaluations']:7.3f}")

    # a full sweep per subject, from the measured cost of each render path
    eval_per_video = tot["eval_s"] / tot["n_videos"]
    full = 0.0
    for f in sweep.FACTORS.values():
        path = f.output if f.output == "crop" else ("codec" if "codec" in f.knobs else "full")
        render = per_video.get(path, per_video.get("crop", 0.0))
        if path == "codec":  # the raw reference renders whole frames without the codec subprocess
            render_raw = per_video.get("full", render)
            full += render_raw + (len(f.levels) - 1) * render
        else:
            full += len(f.levels) * render
        full += len(f.levels) * eval_per_video
    n_levels = sum(len(f.levels) for f in sweep.FACTORS.values())
    print(f"\nfull sweep ({len(sweep.FACTORS)} factors, {n_levels} levels): about {full / 60:.1f} CPU-min per subject "
          f"(estimated from the render paths timed above: {', '.join(sorted(per_video))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
