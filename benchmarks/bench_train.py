"""Cost of the ``study`` training recipe on this machine, measured side by side in one run.

Prints:
  1. one optimiser step of the ``study`` recipe (6 micro-batches of 2 clips x 160 differences)
     in float32 and under bf16 autocast, and their ratio (bf16 is timed even where the CPU only
     emulates it: that is the measurement behind the recipe's float32 fallback there);
  2. one validation pass (teacher + student on the recipe's validation fold: 6 subjects x
     ``val_seconds`` of video), and its share of a run;
  3. the projected wall time of a whole run (steps x step time + validations), against the
     45-minute budget of the issue "Make label-free training learn".

Real clips of a synthetic preset are used when it is rendered (default ``easy-full``); otherwise
random 151x151 crops of the same shape (the cost does not depend on the content).
The CPU is timed as it is: ``os.getloadavg()`` is printed; other load inflates the numbers.

    python benchmarks/bench_train.py                  # 2 timed steps per precision
    python benchmarks/bench_train.py --steps 1 --data none
    python benchmarks/bench_train.py --steps 1 --data none --T 32 --accum-steps 1   # minutes, not hours,
                                                             # where bf16 is emulated
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sspd.data.recording import Recording  # noqa: E402
from sspd.model.fast import bf16_supported  # noqa: E402
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
    parser.add_argument("--T", type=int, default=None,
                        help="frames per clip instead of the recipe's (a quick, shortened measurement)")
    parser.add_argument("--accum-steps", type=int, default=None, help="micro-batches per step instead of the recipe's")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    overrides = {k: v for k, v in (("T", args.T), ("accum_steps", args.accum_steps)) if v is not None}
    study = TrainConfig.from_recipe("study", data=args.data, **overrides)
    if overrides:
        print(f"SHORTENED recipe {overrides}: ratios hold, the projected run time does not")
    fit, val = _entries(study, args.data)
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"recipe 'study': T={study.T}, {study.accum_steps} x {study.batch_size} clips per step, "
          f"{study.max_steps} steps, validation every {study.val_every} steps on {len(val)} videos "
          f"x {study.val_seconds:g} s")

    step_s, used = {}, {}
    kind = "native" if bf16_supported() else "emulated: this CPU has no native bf16"
    with tempfile.TemporaryDirectory() as tmp:
        for amp in ("off", "bf16"):
            config = TrainConfig.from_recipe("study", data=args.data, amp=amp, **overrides)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                   # the float32 fallback, reported below
                run = setup(config, Path(tmp) / amp, resume=False, entries=fit, val_entries=val, d=_Dist())
            if amp == "bf16":
                used["bf16"] = run.autocast_dtype
                run.autocast_dtype = torch.bfloat16               # time bf16 itself, native or emulated
            train_step(run, 0)                                    # warm-up (allocator, kernels)
            times = []
            for k in range(1, args.steps + 1):
                t0 = time.perf_counter()
                train_step(run, k)
                times.append(time.perf_counter() - t0)
            step_s[amp] = float(np.median(times))
            print(f"  step, {'float32' if amp == 'off' else f'bf16 autocast ({kind})'}: {step_s[amp]:.1f} s "
                  f"(median of {len(times)})")
        print(f"  bf16 speed-up: {step_s['off'] / step_s['bf16']:.2f}x")
        recipe_s = step_s["bf16"] if used["bf16"] is torch.bfloat16 else step_s["off"]
        print(f"  the recipe (amp='bf16') trains here in "
              f"{'bf16' if used['bf16'] is torch.bfloat16 else 'float32 (no native bf16)'}: {recipe_s:.1f} s per step")
        t0 = time.perf_counter()
        run_validation(run, 0)
        val_s = time.perf_counter() - t0
    n_val = study.max_steps // study.val_every + 1
    total_min = (study.max_steps * recipe_s + n_val * val_s) / 60
    print(f"  validation pass (teacher + student): {val_s:.1f} s; {n_val} per run")
    print(f"projected run: {study.max_steps} x {recipe_s:.1f} s + {n_val} x {val_s:.1f} s = "
          f"{total_min:.1f} min (budget {BUDGET_MIN:.0f} min: {'within' if total_min <= BUDGET_MIN else 'OVER'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
