"""Label-free SSPD training: EMA-teacher self-distillation.

One optimiser step (``train_step``), for each of ``accum_steps`` micro-batches:

    clips X (B,T+1,151,151,3) uint8   --LGA+MDM-->   V_m (student), V_o (teacher)   (B,3,T,128,128)
    y_O, H_O = online(V_m);   with no_grad: y_T, H_T = target(V_o)   (teacher in *train* mode)
    L = sspd_loss(online, target, fs) / accum_steps;  L.backward()      (losses in float32)

then one Adam step and the EMA update theta_T <- m_k theta_T + (1 - m_k) theta_O (parameters only).

The loop (``train``) reads top to bottom::

    run = setup(...)                          networks, optimiser, clip stream, logs; resumes
    for step in range(run.step, run.total_steps):
        if validation is due: validate        teacher and student on the validation fold
        train_step(run, step)
        if a checkpoint is due: save_checkpoint
    validate; save_checkpoint; export          final curves and weights

Every random draw (which clip, which window, crop, flips, mask) is a pure function of
(seed, step, micro-batch, rank), so a run resumed from any checkpoint gives bit-identical
weights to an uninterrupted one on CPU.

Files in ``out_dir`` (only rank 0 writes; every file atomically):
    config.json, manifest.json      what was run, with which code, seed and machine
                                    (manifest_resumed_stepNNNN.json for each resumption)
    train_log.csv                   every loss term of every optimiser step
    val_log.csv, val_videos.csv     validation summaries (per step and network) and per-video rows
    checkpoint.pt                   online, target, optimiser, scaler, step, best validation
    model_initial.pt                the run's initial weights (the fair "untrained" control)
    model_best.pt                   the teacher with the lowest validation MAE (+ best.json)
    model_inference.pt              the last teacher (the paper's choice; "online" on request)
    model_inference_online.pt       the last student
    model_target_s3m.pt             the last teacher with its S3M (for self-similarity figures)

Under ``torchrun`` (WORLD_SIZE > 1) the online network is wrapped in DistributedDataParallel
(gloo on CPU, nccl on CUDA); each rank draws its own clips of every micro-batch and the teacher's
BatchNorm buffers are broadcast from rank 0 after each step, so every rank holds the same teacher.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from sspd.augment import local_global_views
from sspd.data.dataset import ClipStream
from sspd.errors import DataError, SSPDError
from sspd.io import atomic_torch_save, atomic_write_json, atomic_write_text, manifest
from sspd.losses import sspd_loss
from sspd.model import SSPD, inference_state_dict
from sspd.model.fast import bf16_supported
from sspd.train.config import TrainConfig
from sspd.train.ema import ema_momentum, ema_update, make_target

__all__ = ["train", "train_step", "setup", "Run", "TrainResult", "NonFiniteLossError", "training_entries",
           "CHECKPOINT", "LOG", "VAL_LOG", "INFERENCE_WEIGHTS", "BEST_WEIGHTS", "INITIAL_WEIGHTS"]

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"
VAL_LOG = "val_log.csv"
VAL_VIDEOS = "val_videos.csv"
INFERENCE_WEIGHTS = "model_inference.pt"
BEST_WEIGHTS = "model_best.pt"
INITIAL_WEIGHTS = "model_initial.pt"


class NonFiniteLossError(SSPDError, FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What ``train`` produced."""

    out_dir: Path
    checkpoint: Path
    inference_weights: Path | None   # None when the run stopped early (stop_after_step)
    log: Path
    steps_done: int
    total_steps: int
    resumed_from_step: int | None
    seconds: float
    last_losses: dict = field(default_factory=dict)
    best: dict | None = None          # {"step", "MAE"} of the best validated teacher
    online: torch.nn.Module | None = field(default=None, repr=False)   # the trained networks (in memory)
    target: torch.nn.Module | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- data


def training_entries(config: TrainConfig, progress: bool = False) -> tuple[list, list]:
    """(fit entries, validation entries) of ``config.data`` / ``config.split``.

    With ``split="train"`` the validation fold is carved from the training subjects
    (:mod:`sspd.data.splits`); with ``split="all"`` or ``val_fraction=0`` there is none.
    """
    from sspd.data.splits import dataset_entries

    if config.split != "train" or config.val_fraction == 0.0:
        entries, _ = dataset_entries(config.data, config.split, progress=progress)
        return entries, []
    fit, _ = dataset_entries(config.data, "fit", val_fraction=config.val_fraction, progress=progress)
    val, _ = dataset_entries(config.data, "val", val_fraction=config.val_fraction, progress=progress)
    return fit, val


# ----------------------------------------------------------------------------- helpers


@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    created: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(use_cuda: bool) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        created = True
    return _Dist(world=dist.get_world_size(), rank=dist.get_rank(),
                 local_rank=int(os.environ.get("LOCAL_RANK", "0")), created=created)


def _device(config: TrainConfig, d: _Dist) -> torch.device:
    if config.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", d.local_rank)
        return torch.device("cpu")
    dev = torch.device(config.device)
    if dev.type == "cuda" and d.world > 1:
        return torch.device("cuda", d.local_rank)
    return dev


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _augment_seed(seed: int, step: int, micro: int, rank: int) -> int:
    # Distinct, reproducible stream per (run seed, optimiser step, micro-batch, rank).
    return (seed * 1_000_003 + step * 7_919 + micro * 613 + rank * 104_729) % (2**63 - 1)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two Adam groups: weights (with decay) and biases + 1-D norm parameters (never decayed)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


# Fields that may change between an interrupted run and its resumption without
# changing the result.
_RESUME_FREE = {"num_workers", "device", "val_every", "val_seconds"}


def _load_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(path, f"cannot read the training checkpoint ({type(exc).__name__}: {exc})") from exc
    missing = {"online", "target", "optimizer", "step", "config"} - set(ckpt)
    if missing:
        raise DataError(path, f"not an SSPD training checkpoint (missing {sorted(missing)})")
    return ckpt


def _load_initial_state(online: SSPD, path: Path) -> None:
    """Start ``online`` from a saved full network (S3M included; float16 copies are cast)."""
    if not path.is_file():
        raise DataError(path, "init_from: no such weights file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = online.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing:
        raise DataError(path, f"init_from needs the full network with its S3M; missing {missing[:3]}"
                              f"{' ...' if len(missing) > 3 else ''} (use a model_target_s3m.pt)")
    if unexpected:
        raise DataError(path, f"init_from: entries this network does not have: {unexpected[:3]}"
                              f"{' ...' if len(unexpected) > 3 else ''} (another architecture?)")
    online.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def _check_same_run(saved: dict, config: TrainConfig, path: Path) -> None:
    now = config.to_dict()
    # A field added to TrainConfig after the checkpoint was written counts as its default.
    defaults = TrainConfig().to_dict()
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in _RESUME_FREE and saved.get(k, defaults.get(k)) != now.get(k))
    if diff:
        raise DataError(path, f"checkpoint was written with a different config (fields {diff}); "
                        f"resume with the same settings, or train into a new --out folder")


class _CsvLog:
    """Append-only CSV of per-iteration losses, flushed every row."""

    def __init__(self, path: Path, keep_below_step: int):
        self.path = path
        self.fields: list[str] | None = None
        if path.exists():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            rows = [r for r in rows if int(r["step"]) < keep_below_step]
            if rows:
                self.fields = list(rows[0].keys())
            atomic_write_text(path, _csv_text(self.fields, rows) if rows else "")
        self._file = open(path, "a", newline="")

    def write(self, row: dict) -> None:
        if self.fields is None:
            self.fields = list(row.keys())
            if self.path.stat().st_size == 0:
                csv.writer(self._file).writerow(self.fields)
        writer = csv.DictWriter(self._file, fieldnames=self.fields, extrasaction="ignore")
        writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _csv_text(fields: list[str], rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# ----------------------------------------------------------------------------- the run


@dataclass
class Run:
    """Everything the loop touches, built by :func:`setup`."""

    config: TrainConfig
    out_dir: Path
    dist: _Dist
    device: torch.device
    online: torch.nn.Module          # the student
    model: torch.nn.Module           # the student, DDP-wrapped when WORLD_SIZE > 1
    target: torch.nn.Module          # the EMA teacher
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    autocast_dtype: torch.dtype | None
    stream: ClipStream
    val_clips: list
    step: int                        # optimiser steps done
    total_steps: int
    resumed_from: int | None
    best: dict | None
    log: "_CsvLog | None"


def _autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype ``config.amp`` asks for on ``device`` (None: float32 throughout).

    ``bf16`` on a CPU without native bfloat16 arithmetic runs in float32 instead, with a warning,
    as the inference engine does (:func:`sspd.model.fast.bf16_supported`): oneDNN would emulate
    it, measured 40x slower than float32 for one forward and backward pass on an AVX2-only
    AMD EPYC (it is 1.5x faster than float32 where bf16 is native). The precision a session
    actually ran in is the manifest's ``autocast``.
    """
    if config.amp == "bf16":
        if device.type == "cpu" and not bf16_supported():
            warnings.warn("amp='bf16': this CPU has no native bfloat16 (it would be emulated, "
                          "tens of times slower); training in float32", stacklevel=2)
            return None
        return torch.bfloat16
    if config.amp == "on" and device.type != "cuda":
        raise ValueError("amp='on' (fp16) needs a CUDA device; use amp='bf16' on CPU")
    if config.amp == "on" or (config.amp == "auto" and device.type == "cuda"):
        return torch.float16
    return None


def setup(config: TrainConfig, out_dir: Path, resume: bool, entries: list | None,
          val_entries: list | None, d: _Dist) -> Run:
    """Networks, optimiser and data of a fresh or resumed run; writes config and manifest."""
    device = _device(config, d)
    if device.type == "cuda" and d.world > 1:
        torch.cuda.set_device(device)  # NCCL collectives run on the current device
    if config.batch_size % d.world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {d.world} processes")
    dtype = _autocast_dtype(config, device)
    ckpt_path = out_dir / CHECKPOINT
    ckpt = None
    if ckpt_path.exists():
        if not resume:
            raise DataError(ckpt_path, "a training run already exists here; resume it (drop "
                            "--no-resume) or choose a new --out folder")
        ckpt = _load_checkpoint(ckpt_path)
        _check_same_run(ckpt["config"], config, ckpt_path)

    _seed_everything(config.seed)
    online = SSPD(s3m=True, kernels=config.s3m_pyramid).to(device)  # seeded init: same on all ranks
    if config.init_from is not None:
        _load_initial_state(online, Path(config.init_from))
    target = make_target(online)              # exact copy, no grad, stays in train mode
    optimizer = torch.optim.Adam(_param_groups(online, config.weight_decay), lr=config.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    if d.main and ckpt is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(out_dir / INITIAL_WEIGHTS, _cpu(inference_state_dict(online)))

    if entries is None:
        entries, val_entries = training_entries(config)
    stream = ClipStream(entries, n_frames=config.T + 1, seed=config.seed,
                        windows_per_video=config.windows_per_video)
    total = math.ceil(config.epochs * stream.clips_per_epoch / (config.effective_batch))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    from sspd.train.validate import validation_clips

    val_clips = validation_clips(val_entries or [], config.val_seconds) if config.val_every else []

    step, best = 0, None
    if ckpt is not None:
        online.load_state_dict(ckpt["online"])
        target.load_state_dict(ckpt["target"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        step, best = ckpt["step"], ckpt.get("best")

    model = online
    if d.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            online, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=_may_leave_unused(config))

    log = None
    if d.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "config.json", config.to_dict())
        # The first session's manifest is kept; each resumption adds its own.
        name = "manifest.json" if ckpt is None else f"manifest_resumed_step{step:04d}.json"
        atomic_write_json(out_dir / name, manifest(
            config.to_dict(), config.seed, world_size=d.world, device=str(device),
            autocast=None if dtype is None else str(dtype).replace("torch.", ""),
            n_videos=len(stream.entries), n_val_videos=len(val_clips),
            fit_subjects=sorted({str(e.subject) for e in stream.entries}),
            val_subjects=sorted({str(c.subject) for c in val_clips}),
            clips_per_epoch=stream.clips_per_epoch, effective_batch=config.effective_batch,
            total_steps=total, resumed_from_step=step if ckpt else None))
        # Rows of steps after the checkpoint (a crash mid-way) are re-done: drop them.
        log = _CsvLog(out_dir / LOG, keep_below_step=step)
        for name in (VAL_LOG, VAL_VIDEOS):
            _CsvLog(out_dir / name, keep_below_step=step).close()
    return Run(config, out_dir, d, device, online, model, target, optimizer, scaler, dtype, stream,
               val_clips, step, total, step if ckpt else None, best, log)


def train_step(run: Run, step: int) -> dict:
    """One optimiser step over ``accum_steps`` micro-batches; returns the mean loss terms."""
    cfg, d = run.config, run.dist
    per_rank = cfg.batch_size // d.world
    run.optimizer.zero_grad(set_to_none=True)
    sums: dict[str, float] = {}
    for micro in range(cfg.accum_steps):
        first = ((step * cfg.accum_steps + micro) * d.world + d.rank) * per_rank
        batch = run.stream.batch(range(first, first + per_rank))
        fs = _batch_fs(batch)
        generator = torch.Generator().manual_seed(_augment_seed(cfg.seed, step, micro, d.rank))
        v_m, v_o = local_global_views(batch["frames"], cfg.augment, generator)
        v_m, v_o = v_m.to(run.device), v_o.to(run.device)
        # gradients are synchronised across ranks only on the last micro-batch
        sync = micro == cfg.accum_steps - 1 or d.world == 1
        with (contextlib.nullcontext() if sync else run.model.no_sync()):
            with torch.autocast(run.device.type, dtype=run.autocast_dtype or torch.float32,
                                enabled=run.autocast_dtype is not None):
                out_online = run.model(v_m)
                with torch.no_grad():
                    out_target = run.target(v_o)
            # losses in float32 (FFT lengths are not powers of two; the cosine SSM has no eps)
            loss, terms = sspd_loss(_to_float(out_online), _to_float(out_target), fs, cfg.loss)
            _check_finite(loss, terms, d, step, run.out_dir / CHECKPOINT)
            run.scaler.scale(loss / cfg.accum_steps).backward()
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v / cfg.accum_steps
        sums["fs"] = fs
    if run.scaler.is_enabled():
        run.scaler.unscale_(run.optimizer)
    sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(run.online.parameters(), float("inf")))
    run.scaler.step(run.optimizer)
    run.scaler.update()
    sums["momentum"] = ema_momentum(step, run.total_steps, cfg.ema_m0)
    ema_update(run.target, run.online, sums["momentum"])
    if d.world > 1:
        # Each rank updated its BatchNorm running stats on its own clips; keep rank 0's everywhere
        # so all ranks hold identical networks at every checkpoint.
        for buf in [*run.online.buffers(), *run.target.buffers()]:
            dist.broadcast(buf, src=0)
    return sums


def run_validation(run: Run, step: int) -> dict | None:
    """Validate teacher and student at ``step`` (rank 0); keep the best teacher. Returns its row."""
    if not run.val_clips or not run.dist.main:
        return None
    from sspd.train.validate import validate

    t0 = time.time()
    result = validate({"teacher": run.target, "student": run.online}, run.val_clips, step, run.device)
    result.summary["seconds"] = round(time.time() - t0, 3)   # the whole pass, both networks
    _append_csv(run.out_dir / VAL_LOG, result.summary)
    _append_csv(run.out_dir / VAL_VIDEOS, result.videos)
    teacher = result.summary.set_index("network").loc["teacher"]
    if np.isfinite(teacher["MAE"]) and (run.best is None or teacher["MAE"] < run.best["MAE"]):
        run.best = {"step": int(step), "MAE": float(teacher["MAE"]), "r": float(teacher["r"])}
        atomic_torch_save(run.out_dir / BEST_WEIGHTS, _cpu(inference_state_dict(run.target)))
        atomic_write_json(run.out_dir / "best.json", {**run.best, "selected_by": "validation windowed MAE",
                                                      "network": "teacher"})
    return teacher.to_dict()


def save_checkpoint(run: Run, step: int) -> None:
    if run.dist.main:
        atomic_torch_save(run.out_dir / CHECKPOINT, {
            "online": run.online.state_dict(), "target": run.target.state_dict(),
            "optimizer": run.optimizer.state_dict(), "scaler": run.scaler.state_dict(),
            "step": step, "total_steps": run.total_steps, "best": run.best,
            "config": run.config.to_dict()})


def export(run: Run) -> Path | None:
    """Inference weights of the finished run (rank 0); see the module docstring for the files."""
    if not run.dist.main:
        return None
    out = run.out_dir
    chosen = run.target if run.config.evaluate_weights == "target" else run.online
    weights = atomic_torch_save(out / INFERENCE_WEIGHTS, _cpu(inference_state_dict(chosen)))
    atomic_torch_save(out / "model_inference_online.pt", _cpu(inference_state_dict(run.online)))
    atomic_torch_save(out / "model_target_s3m.pt", _cpu(run.target.state_dict()))
    return weights


# ----------------------------------------------------------------------------- train


def train(config: TrainConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
          stop_after_step: int | None = None, entries: list | None = None,
          val_entries: list | None = None, checkpoint_seconds: float | None = 600.0) -> TrainResult:
    """Train SSPD without labels; see the module docstring for what is written.

    config:          ``TrainConfig.from_recipe("study", data="easy-full")`` etc.
    out_dir:         run folder (created).
    resume:          continue from ``out_dir/checkpoint.pt`` when present; with ``resume=False``
                     an existing run is an error (a finished run is never overwritten).
    progress:        tqdm progress bar on rank 0.
    stop_after_step: stop once this many steps are done (to split a run over sessions); the
                     EMA schedule still spans the whole run.
    entries, val_entries: cache entries to fit and validate on instead of
                     :func:`training_entries` (``config.data``/``config.split``).
    checkpoint_seconds: also checkpoint after any step that ends this many seconds (wall clock)
                     after the last checkpoint, so a stopped session loses at most that much
                     work where steps are slow (a float32 CPU step takes minutes); ``None``:
                     only every ``val_every`` steps. Resuming is bit-identical either way.
    Raises NonFiniteLossError if the loss becomes NaN/inf (``checkpoint.pt`` keeps the last
    good state).
    """
    t_start = time.time()
    out_dir = Path(out_dir)
    use_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    d = _init_distributed(use_cuda)
    try:
        run = setup(config, out_dir, resume, entries, val_entries, d)
        start, every = run.step, config.val_every
        ckpt_every = every or max(1, run.total_steps // 10)
        last_ckpt = time.time()
        bar = None
        if progress and d.main:
            from tqdm import tqdm
            bar = tqdm(total=run.total_steps, initial=start, desc="SSPD train", unit="step")
        terms: dict = {}
        try:
            for step in range(start, run.total_steps):
                if stop_after_step is not None and step >= stop_after_step:
                    break
                if every and step % every == 0:
                    run_validation(run, step)
                t0 = time.time()
                terms = train_step(run, step)
                if run.log is not None:
                    run.log.write({"step": step, "lr": run.optimizer.param_groups[0]["lr"], **terms,
                                   "seconds": round(time.time() - t0, 3)})
                run.step = step + 1
                overdue = checkpoint_seconds is not None and time.time() - last_ckpt >= checkpoint_seconds
                if run.step % ckpt_every == 0 or run.step == run.total_steps or overdue:
                    save_checkpoint(run, run.step)
                    last_ckpt = time.time()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{terms['loss']:.4f}")
        finally:
            if bar is not None:
                bar.close()
            if run.log is not None:
                run.log.close()
        weights = None
        if run.step >= run.total_steps:
            if every and not _validated_at(out_dir, run.step) and run_validation(run, run.step) is not None:
                save_checkpoint(run, run.step)      # now with the final step's validation
            weights = export(run)
        if d.world > 1:
            dist.barrier()
        return TrainResult(out_dir=out_dir, checkpoint=out_dir / CHECKPOINT, inference_weights=weights,
                           log=out_dir / LOG, steps_done=run.step, total_steps=run.total_steps,
                           resumed_from_step=run.resumed_from, seconds=time.time() - t_start,
                           last_losses=terms, best=run.best, online=run.online, target=run.target)
    finally:
        if d.created:
            dist.destroy_process_group()


def _validated_at(out_dir: Path, step: int) -> bool:
    path = out_dir / VAL_LOG
    if not path.exists() or path.stat().st_size == 0:
        return False
    return bool((pd.read_csv(path)["step"] == step).any())


def _append_csv(path: Path, df: pd.DataFrame) -> None:
    """Append rows to a CSV atomically (rewrites the small file)."""
    old = pd.read_csv(path) if path.exists() and path.stat().st_size > 0 else None
    both = df if old is None else pd.concat([old, df], ignore_index=True)
    atomic_write_text(path, both.to_csv(index=False))


def _may_leave_unused(config: TrainConfig) -> bool:
    """True when a switched-off loss term leaves some parameters without a gradient.

    With every term on, each parameter gets one: the predictor from L_RPD (through
    sg(F)), input BN + backbone + S3M from L_TSPD / L_reg / L_freq.
    """
    lc = config.loss
    rpd_on = getattr(lc, "use_rpd", True) and getattr(lc, "w_rpd", 1.0) != 0
    sim_on = any(getattr(lc, f"use_{t}", True) and getattr(lc, f"w_{t}", 1.0) != 0
                 for t in ("tspd", "reg", "freq"))
    return not (rpd_on and sim_on)


def _batch_fs(batch: dict) -> float:
    """Frame rate of the batch in Hz (the losses' band bins depend on it)."""
    fps = batch["fps"]
    if not torch.all(torch.isfinite(fps)) or torch.any(fps <= 0):
        raise DataError(None, f"invalid frame rates in batch of subjects {batch.get('subject')}: "
                        f"{fps.tolist()}")
    if float(fps.max() - fps.min()) > 1.0:
        warnings.warn(f"clips of one batch have different frame rates {fps.tolist()}; "
                      f"the losses use their mean")
    return float(fps.mean())


def _to_float(out):
    """SSPDOutput with every tensor in fp32 (autocast may have produced fp16)."""
    return dataclasses.replace(out, rppg=out.rppg.float(), tokens=[h.float() for h in out.tokens],
                               z0=None if out.z0 is None else out.z0.float())


def _check_finite(loss, terms, d: _Dist, step: int, ckpt_path: Path) -> None:
    bad = torch.tensor([0.0 if bool(torch.isfinite(loss.detach())) else 1.0], device=loss.device)
    if d.world > 1:
        dist.all_reduce(bad)  # every rank stops together
    if bad.item() > 0:
        kept = (f"the last good checkpoint is {ckpt_path}" if ckpt_path.exists()
                else "no checkpoint was written yet (it failed in the first epoch)")
        raise NonFiniteLossError(
            f"non-finite training loss at step {step}: total={float(loss.detach())}, "
            f"terms={ {k: float(v) for k, v in terms.items()} }; training stopped, {kept}. "
            f"Try a lower lr, amp='off', or check the input clips.")


def _cpu(state: dict) -> dict:
    return {k: v.detach().cpu().clone() for k, v in state.items()}
