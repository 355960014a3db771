"""Cost of the ``study`` training recipe on this machine, measured side by side in one run.

Prints:
  1. one optimiser step of the ``study`` recipe (6 micro-batches of 2 clips x 160 differences)
     in float32 and under bf16 autocast, and their ratio;
  2. one validation pass (teacher + student on the recipe's validation fold: 6 subjects x
     ``val_seconds`` of video), and its share of a run;
  3. the projected wall time of a whole run (steps x step time + validations), against the
     45-minute budget of the issue "Make label-free training learn".

Real clips of a synthetic preset are used when it is rendered (default ``easy-full``); otherwise
random 151x151 crops of the same shape (the cost does not depend on the content).
The CPU is timed as it is: ``os.getloadavg()`` is printed; other load inflates the numbers.

    python benchmarks/bench_train.py                  # 2 timed steps per precision
    python benchmarks/bench_train.py --steps 1 --data none
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sspd.data.recording import Recording  # noqa: E402
from sspd.train.config import TrainConfig  # noqa: E402
from sspd.train.loop import _Dist, run_validation, setup, train_step  # noqa: E402

BUDGET_MIN = 45.0


def _random_recordings(n: int, seconds: float, fps: float = 30.0) -> list[Recording]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        frames = rng.integers(0, 256, (int(seconds * fps), 151, 151, 3), dtype=np.uint8)
        t = np.arange(len(frames)) / fps
        out.append(Recording(frames=frames, timestamps=t, fps_nominal=fps, bvp=np.sin(2 * np.pi * 1.2 * t),
                             dataset="random", subject=str(i + 1)))
    return out


def _entries(config: TrainConfig, data: str):
    if data != "none":
        try:
            from sspd.train.loop import training_entries

            return training_entries(config)
        except Exception as err:  # noqa: BLE001 - fall back to random crops of the same shape
            print(f"({data} not available: {err}; timing random crops)")
    return _random_recordings(12, 20.0), _random_recordings(6, 30.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="easy-full", help="synthetic preset, or 'none' for random crops")
    parser.add_argument("--steps", type=int, default=2, help="timed optimiser steps per precision")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    study = TrainConfig.from_recipe("study", data=args.data)
    fit, val = _entries(study, args.data)
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"recipe 'study': T={study.T}, {study.accum_steps} x {study.batch_size} clips per step, "
          f"{study.max_steps} steps, validation every {study.val_every} steps on {len(val)} videos "
          f"x {study.val_seconds:g} s")

    step_s = {}
    with tempfile.TemporaryDirectory() as tmp:
        for amp in ("off", "bf16"):
            config = TrainConfig.from_recipe("study", data=args.data, amp=amp)
            run = setup(config, Path(tmp) / amp, resume=False, entries=fit, val_entries=val, d=_Dist())
            train_step(run, 0)                                    # warm-up (allocator, kernels)
            times = []
            for k in range(1, args.steps + 1):
                t0 = time.perf_counter()
                train_step(run, k)
                times.append(time.perf_counter() - t0)
            step_s[amp] = float(np.median(times))
            print(f"  step, {'float32' if amp == 'off' else 'bf16 autocast'}: {step_s[amp]:.1f} s "
                  f"(median of {len(times)})")
        print(f"  bf16 speed-up: {step_s['off'] / step_s['bf16']:.2f}x")
        t0 = time.perf_counter()
        run_validation(run, 0)
        val_s = time.perf_counter() - t0
    n_val = study.max_steps // study.val_every + 1
    total_min = (study.max_steps * step_s["bf16"] + n_val * val_s) / 60
    print(f"  validation pass (teacher + student): {val_s:.1f} s; {n_val} per run")
    print(f"projected run: {study.max_steps} x {step_s['bf16']:.1f} s + {n_val} x {val_s:.1f} s = "
          f"{total_min:.1f} min (budget {BUDGET_MIN:.0f} min: {'within' if total_min <= BUDGET_MIN else 'OVER'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
