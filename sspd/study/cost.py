"""What a grid item costs on the project's 2-core CPU, estimated before it runs.

The estimate adds three parts, each from the item's own configuration and data sizes:

    training    steps x step cost
    validation  passes x (teacher + student) x validation frames / inference speed
    evaluation  test frames / inference speed, + bootstrap overhead per table; a training
                item scores two networks (the one validation chose and its initial weights)

Measured constants (2-core development CPU, PyTorch eager, 2 threads; orders of magnitude):

- :data:`STEP_SECONDS` = 45 s per optimiser step of the ``study`` recipe (12 clips of
  160 differences, bf16 autocast): the median of the first five steps (40-57 s) of the
  recipe's first run on ``easy-full`` (``runs/study-easy-full/train_log.csv``, 2026-11-30; other
  processes were running). A step costs in proportion to clips x differences; float32 costs
  :data:`FP32_FACTOR` times more (``benchmarks/bench_train.py`` measures both on your machine).
- :data:`INFER_FPS` = 86 frames/s of the inference network (book/method_reference.md §15); the
  same run's validation passes (6 videos x 20 s, two networks) took about 80 s, i.e. 90 frames/s.
- a CPU **without native bfloat16** (AVX2 only; the recipe then trains in float32) is slower in
  both: :data:`STEP_SECONDS_NO_BF16` = 125 s per float32 study step (122-131 s, steps 2-10 of
  the ``without TSPD`` seed-0 item on ``easy-full``, 2 threads, nothing else running; AMD EPYC,
  2026-12-01) and :data:`INFER_FPS_NO_BF16` = 52 frames/s (that run's step-10 validation pass:
  7200 frames in 138 s). :func:`estimate` picks the pair that fits the CPU it runs on.
- pretrained peers (``orppg:...``): 1000 / ``latency_ms_1t`` frames/s of their architecture in the
  committed efficiency table (``data/results/efficiency/efficiency.csv``, one thread), or
  :data:`INFER_FPS` where it has no row;
- :data:`READ_FPS` = 1000 frames/s to read a reference's test clips from the cache and score
  them, added to the method's own time: CHROM and GREEN, whose own cost is small, took 930-1110
  frames/s end to end on the ``*-full`` test splits (``timing`` in their ``study.json``);
- :data:`CLASSIC_FPS` = 4000 frames/s for POS/CHROM/GREEN (POS measured at 4400, CHROM and
  GREEN at 7100, on ``still``'s test videos), and :data:`TABLE_SECONDS` = 3 s per result table
  (the bootstrap of its CIs).

The estimate assumes this CPU; on a GPU (``--device cuda``) it is only an upper bound. Rendering
a synthetic preset that is not on disk yet is not included.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from sspd.evaluate.peers import is_peer_name
from sspd.model.fast import bf16_supported
from sspd.study.grid import RunSpec

__all__ = ["STEP_SECONDS", "FP32_FACTOR", "INFER_FPS", "STEP_SECONDS_NO_BF16", "INFER_FPS_NO_BF16", "CLASSIC_FPS", "READ_FPS", "TABLE_SECONDS", "ASSUMPTION",
           "durations", "estimate", "peer_fps"]

STEP_SECONDS = 45.0
STEP_REFERENCE_CLIP_DIFFS = 12 * 160     # clips x differences of the measured step
FP32_FACTOR = 1.5
INFER_FPS = 86.0
STEP_SECONDS_NO_BF16 = 125.0
INFER_FPS_NO_BF16 = 52.0
CLASSIC_FPS = 4000.0
READ_FPS = 1000.0
TABLE_SECONDS = 3.0
NOMINAL_FPS = 30.0
CONTROLLED = 2      # networks a training item scores: the chosen one and its initial weights

ASSUMPTION = (f"CPU estimate: {STEP_SECONDS:g} s per study step (12 clips x 160 differences, bf16; "
              f"scaled by clips x differences, x{FP32_FACTOR:g} in float32), inference "
              f"{INFER_FPS:g} frames/s; on a CPU without native bf16 {STEP_SECONDS_NO_BF16:g} s per "
              f"float32 step and {INFER_FPS_NO_BF16:g} frames/s; classic methods {CLASSIC_FPS:g} frames/s, peers at their measured speed, "
              f"reading test clips {READ_FPS:g} frames/s, "
              f"{TABLE_SECONDS:g} s per result table (sspd/study/cost.py)")


def durations(dataset: str, split: str, split_file: str | None = None,
              val_fraction: float = 0.2) -> list[float]:
    """Seconds of each recording of ``split`` of ``dataset``, without loading any video.

    A synthetic preset: its ``duration_s`` per subject of the split file. A cache folder: the
    ``n_frames / fps`` of each cached recording of those subjects. Empty when unknown.
    """
    from sspd.data.splits import load_split, resolve_dataset, split_subjects
    from sspd.data.synthetic.presets import PRESETS
    from sspd.errors import DataError

    try:
        if split_file is not None:
            path = Path(split_file)
            subjects = split_subjects(load_split(path.stem, path.parent), split, val_fraction)
        else:
            ref = resolve_dataset(dataset)
            subjects = split_subjects(load_split(ref.split_name), split, val_fraction)
    except (DataError, ValueError):
        return []
    if dataset in PRESETS:
        return [float(PRESETS[dataset].duration_s)] * len(subjects)
    try:
        folder = resolve_dataset(dataset).cache
    except DataError:
        return []
    wanted, out = set(subjects), []
    for side in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(side.read_text())
            if str(meta.get("subject")) in wanted:
                out.append(float(meta["n_frames"]) / float(meta["fps"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


@functools.lru_cache(maxsize=None)
def _peer_speeds() -> dict[str, float]:
    """{peer name: frames/s at one thread} from the committed efficiency table ({} without it)."""
    import pandas as pd

    from sspd.paths import project_root

    path = project_root() / "data" / "results" / "efficiency" / "efficiency.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path)
    speeds = {}
    for _, row in table.dropna(subset=["peer_names", "latency_ms_1t"]).iterrows():
        for name in str(row["peer_names"]).split():
            speeds[name] = 1000.0 / float(row["latency_ms_1t"])
    return speeds


def peer_fps(method: str) -> float:
    """Frames/s of a pretrained peer on one thread (:data:`INFER_FPS` when not measured)."""
    return _peer_speeds().get(method, INFER_FPS)


def _frames(seconds: list[float], cap: float | None = None) -> float:
    return sum((s if cap is None else min(s, cap)) * NOMINAL_FPS for s in seconds)


def _speeds(native_bf16: bool) -> tuple[float, float]:
    """(seconds per study step in the recipe's precision, inference frames/s) measured on a CPU
    with native bf16, or on one without it (where the recipe trains in float32)."""
    return (STEP_SECONDS, INFER_FPS) if native_bf16 else (STEP_SECONDS_NO_BF16, INFER_FPS_NO_BF16)


def estimate(spec: RunSpec, n_protocols: int = 1) -> dict:
    """Estimated CPU seconds of ``spec``: ``{"steps", "train_s", "val_s", "eval_s", "total_s"}``
    (NaN parts when the data sizes are unknown)."""
    nan = float("nan")
    eval_frames = sum(_frames(durations(t, "test", spec.split_file_of(t))) for t in spec.test_sets)
    tables = TABLE_SECONDS * len(spec.test_sets) * n_protocols
    if spec.kind == "reference":
        method = spec.config.get("method", "")
        fps = (peer_fps(method) if is_peer_name(method)
               else _speeds(bf16_supported())[1] if method == "sspd" else CLASSIC_FPS)
        eval_s = eval_frames / READ_FPS + eval_frames / fps + tables
        return {"steps": 0, "train_s": 0.0, "val_s": 0.0, "eval_s": eval_s, "total_s": eval_s}
    cfg = spec.train_config()
    split = spec.split_file_of(cfg.data)
    has_val = cfg.split == "train" and cfg.val_fraction > 0
    fit = durations(cfg.data, "fit" if has_val else cfg.split, split, cfg.val_fraction)
    val = durations(cfg.data, "val", split, cfg.val_fraction) if has_val else []
    if not fit:
        steps = cfg.max_steps if cfg.max_steps is not None else nan
    else:
        steps = math.ceil(cfg.epochs * len(fit) * cfg.windows_per_video / cfg.effective_batch)
        steps = min(steps, cfg.max_steps) if cfg.max_steps is not None else steps
    on_cuda = cfg.device.startswith("cuda")
    native_bf16 = on_cuda or bf16_supported()       # without it the recipe's bf16 trains in float32
    step_s, infer_fps = _speeds(native_bf16)
    if native_bf16 and not on_cuda and cfg.amp != "bf16":
        step_s *= FP32_FACTOR                        # float32 asked for on a CPU that has bf16
    step_s *= cfg.effective_batch * cfg.T / STEP_REFERENCE_CLIP_DIFFS
    train_s = steps * step_s
    validated = bool(cfg.val_every and val and math.isfinite(steps))
    n_val = math.ceil(steps / cfg.val_every) + 1 if validated else 0
    val_s = n_val * 2 * _frames(val, cfg.val_seconds) / infer_fps
    eval_s = CONTROLLED * (eval_frames / infer_fps + tables)
    return {"steps": steps, "train_s": train_s, "val_s": val_s, "eval_s": eval_s,
            "total_s": train_s + val_s + eval_s}
