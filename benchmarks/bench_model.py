"""Benchmark of the SSPD network and its self-similarity losses (CPU).

Prints, measured in one run:
  1. parameter counts (inference and training model);
  2. FLOPs per 128x128 frame (torch.utils.flop_counter.FlopCounterMode: conv and
     matmul only, 2 FLOPs per multiply-accumulate; GMAC = GFLOP / 2);
  3. CPU inference throughput (frames/s) of the inference model at N threads;
  4. speed of the vectorised self-similarity wave and diagonal regulariser
     against naive Python double loops of the same formulas (the released
     code's approach), on realistic N;
  5. one self-distillation training step (online + target forward, loss,
     backward) at a small CPU configuration.

The CPU is timed as it is: on a shared machine, numbers vary with other load
(``os.getloadavg()`` is printed with the results).

    python benchmarks/bench_model.py                  # defaults: 2 threads, 160-frame clips
    python benchmarks/bench_model.py --skip-train     # without the (slow) training step
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sspd.evaluate.efficiency import count_flops  # noqa: E402  (shared with bench_efficiency)
from sspd.losses import LossConfig, diagonal_regulariser, sspd_loss  # noqa: E402
from sspd.model.network import SSPD, count_parameters  # noqa: E402
from sspd.model.similarity import self_similarity_map, self_similarity_wave  # noqa: E402


# ----------------------------------------------------------------------------
# naive references (benchmark only): Python double loops over scalar tensors


def _naive_wave(s: torch.Tensor) -> torch.Tensor:
    """w[d] = mean_i S[i, i+d] for one (N,N) map, one scalar at a time."""
    n = s.shape[0]
    out = []
    for d in range(n):
        acc = s.new_zeros(())
        for i in range(n - d):
            acc = acc + s[i, i + d]
        out.append(acc / (n - d))
    return torch.stack(out)


def _naive_reg(s: torch.Tensor) -> torch.Tensor:
    """mean_{d=1..N-2} std_i(S[i, i+d] (N-d)/20) for one (N,N) map, one scalar at a time."""
    n = s.shape[0]
    stds = []
    for d in range(1, n - 1):
        diag = torch.stack([s[i, i + d] * (n - d) / 20 for i in range(n - d)])
        stds.append(diag.std())
    return torch.stack(stds).mean()


def _time(fn, repeats: int) -> tuple[float, float]:
    """(median, minimum) wall time of fn() in seconds over `repeats` runs, after one warm-up.

    On a shared CPU the median includes other processes' interference (a parallel
    region waits for a busy core); the minimum is the undisturbed cost.
    """
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


# ----------------------------------------------------------------------------


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=160, help="frame differences per inference clip")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-batch", type=int, default=2)
    ap.add_argument("--train-frames", type=int, default=160)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--n", type=int, default=292, help="SSM size for the loss micro-benchmark")
    ap.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    res: dict = {"threads": args.threads, "torch": torch.__version__, "cpu_count": os.cpu_count(),
                 "loadavg_start": os.getloadavg()}

    # 1. parameters
    inf, train = SSPD(s3m=False).eval(), SSPD()
    res["params_inference"] = count_parameters(inf)
    res["params_training"] = count_parameters(train)
    print(f"parameters: inference {res['params_inference']:,}  training {res['params_training']:,} "
          f"(S3M {res['params_training'] - res['params_inference']:,})")

    # 2. FLOPs (meta tensors: shapes only, no arithmetic)
    t = args.frames
    with torch.device("meta"):
        meta_inf, meta_train = SSPD(s3m=False), SSPD()
    f_inf = count_flops(meta_inf, torch.empty(1, 3, t, 128, 128, device="meta"))
    f_train = count_flops(meta_train, torch.empty(1, 3, 300, 128, 128, device="meta"))
    f_inf300 = count_flops(meta_inf, torch.empty(1, 3, 300, 128, 128, device="meta"))
    res["gflop_per_frame"] = f_inf / t / 1e9
    res["gmac_per_frame"] = f_inf / t / 2e9
    res["gflop_clip"] = f_inf / 1e9
    res["gflop_s3m_t300"] = (f_train - f_inf300) / 1e9
    print(f"FLOPs (conv+matmul, 2 FLOPs/MAC), 128x128 input: {res['gflop_per_frame']:.3f} GFLOP/frame "
          f"= {res['gmac_per_frame']:.3f} GMAC/frame; {t}-frame clip {res['gflop_clip']:.1f} GFLOP; "
          f"S3M on a 300-frame clip (training only) {res['gflop_s3m_t300']:.2f} GFLOP")

    # 3. inference throughput
    x = torch.randn(1, 3, t, 128, 128) * 3
    with torch.inference_mode():
        med, best = _time(lambda: inf(x), args.repeats)
    res["inference_s_per_clip"] = {"median": med, "min": best}
    res["inference_fps"] = {"median": t / med, "best": t / best}
    print(f"CPU inference ({args.threads} threads, batch 1 x {t} frames, {args.repeats} runs): "
          f"median {med:.2f} s/clip = {t / med:.1f} frames/s (best {t / best:.1f} frames/s)")

    # 4. vectorised vs naive wave / regulariser on one N x N map
    n = args.n
    s = self_similarity_map(torch.tanh(torch.randn(1, n, 256)))   # (1,N,N)
    naive = {"wave": (_naive_wave, lambda m: self_similarity_wave(m)[0]),
             "reg": (_naive_reg, diagonal_regulariser)}
    for name, (slow, fast) in naive.items():
        med, best = _time(lambda: fast(s), 50)
        slow_med, slow_best = _time(lambda: slow(s[0]), 2)
        assert torch.allclose(slow(s[0]), fast(s), rtol=1e-4, atol=1e-5)
        res[name] = {"N": n, "vectorised_ms": {"median": med * 1e3, "min": best * 1e3},
                     "naive_ms": {"median": slow_med * 1e3, "min": slow_best * 1e3},
                     "speedup_min": slow_best / best, "speedup_median": slow_med / med}
        label = {"wave": "self-similarity wave", "reg": "diagonal regulariser"}[name]
        print(f"{label}, one {n}x{n} map: vectorised {best * 1e3:.3f} ms (median {med * 1e3:.3f}), "
              f"naive loops {slow_best * 1e3:.0f} ms (median {slow_med * 1e3:.0f}) -> "
              f"{slow_best / best:.0f}x on minima, {slow_med / med:.0f}x on medians")
    # a realistic batch: 12 clips x 3 pyramid levels (292, 286, 282), vectorised only
    maps = [self_similarity_map(torch.tanh(torch.randn(12, m, 256))) for m in (n, n - 6, n - 10)]
    med, best = _time(lambda: [diagonal_regulariser(m) + self_similarity_wave(m).sum() for m in maps], 10)
    res["wave_reg_batch12_3levels_ms"] = {"median": med * 1e3, "min": best * 1e3}
    est_naive = (res["wave"]["naive_ms"]["min"] + res["reg"]["naive_ms"]["min"]) * 12 * 3 / 1e3
    print(f"wave + regulariser, batch 12 x 3 levels: vectorised {best * 1e3:.1f} ms (median {med * 1e3:.1f}); "
          f"naive loops would take about {est_naive:.0f} s")

    # 5. training step: online + target forward, loss, backward
    if not args.skip_train:
        online, target = SSPD(), SSPD()
        target.load_state_dict(online.state_dict())
        for p in target.parameters():
            p.requires_grad_(False)
        xb = torch.randn(args.train_batch, 3, args.train_frames, 128, 128) * 3
        cfg = LossConfig()

        def step():
            t0 = time.perf_counter()
            out_o = online(xb * (torch.rand_like(xb) < 0.7))   # masked view
            with torch.no_grad():
                out_t = target(xb)
            t1 = time.perf_counter()
            loss, _ = sspd_loss(out_o, out_t, 30.0, cfg)
            t2 = time.perf_counter()
            online.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            return t1 - t0, t2 - t1, t3 - t2

        step()  # warm-up
        fwd, lss, bwd = step()
        res["train_step"] = {"batch": args.train_batch, "frames": args.train_frames,
                             "forward_s": fwd, "loss_s": lss, "backward_s": bwd,
                             "total_s": fwd + lss + bwd}
        print(f"training step (batch {args.train_batch} x {args.train_frames} differences): "
              f"forwards {fwd:.1f} s + loss {lss:.2f} s + backward {bwd:.1f} s = {fwd + lss + bwd:.1f} s")

    res["loadavg_end"] = os.getloadavg()
    print(f"load average at start {res['loadavg_start'][0]:.2f}, at end {res['loadavg_end'][0]:.2f} "
          f"({res['cpu_count']} CPUs)")
    if args.json:
        from sspd.io import atomic_write_json
        atomic_write_json(args.json, res)
    return res


if __name__ == "__main__":
    main()
