"""Label-free SSPD training: EMA-teacher self-distillation (sspd-method.md §5–§7).

One iteration:

    clip X (B,T+1,151,151,3) uint8   --LGA+MDM-->   V_m (online), V_o (target)   (B,3,T,128,128)
    y_O, H_O = online(V_m);   with no_grad: y_T, H_T = target(V_o)   (target in *train* mode)
    L = sspd_loss(online, target, fs)   (fs from the data, never hard-coded)
    backward, Adam step, then theta_T <- m_k theta_T + (1 - m_k) theta_O  (parameters only)

Files in ``out_dir`` (only rank 0 writes):
    config.json, manifest.json      what was run, with which code, seed and machine
                                    (manifest_resumed_epochNNN.json for each resumption)
    train_log.csv                   every loss term of every iteration (appended, flushed)
    checkpoint.pt                   after every epoch (atomic): online, target, optimiser,
                                    scaler, epoch, global step, config, RNG states
    model_inference.pt              at the end: the evaluated network's inference weights
                                    (plain state_dict, official key layout; EMA teacher by default)
    model_inference_online.pt       the online network's inference weights, for comparison

``resume=True`` continues from ``checkpoint.pt`` and gives bit-identical weights to
an uninterrupted run on CPU: the clip sampler and the augmentation generator are
re-seeded from (seed, epoch, rank) at every epoch, so the state at an epoch
boundary is fully described by the checkpoint.

Under ``torchrun`` (WORLD_SIZE > 1) the online network is wrapped in
DistributedDataParallel (gloo on CPU, nccl on CUDA), the windows are split by a
DistributedSampler, and the teacher's BatchNorm buffers are broadcast from rank 0
after each step (as DDP does for the online network) so every rank holds the same
teacher.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from sspd.augment import local_global_views
from sspd.errors import DataError, SSPDError
from sspd.io import atomic_torch_save, atomic_write_json, atomic_write_text, manifest
from sspd.losses import sspd_loss
from sspd.model import SSPD, inference_state_dict
from sspd.train.config import TrainConfig
from sspd.train.ema import ema_momentum, ema_update, make_target

__all__ = ["train", "TrainResult", "NonFiniteLossError", "load_entries", "CHECKPOINT", "LOG",
           "INFERENCE_WEIGHTS"]

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"
INFERENCE_WEIGHTS = "model_inference.pt"


class NonFiniteLossError(SSPDError, FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What ``train`` produced."""

    out_dir: Path
    checkpoint: Path
    inference_weights: Path | None   # None when the run stopped early (stop_after_epoch)
    log: Path
    epochs_done: int
    steps_done: int
    total_steps: int
    resumed_from_epoch: int | None
    seconds: float
    last_losses: dict = field(default_factory=dict)
    online: torch.nn.Module | None = field(default=None, repr=False)   # the trained networks (in memory)
    target: torch.nn.Module | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- data


def load_entries(config: TrainConfig) -> list:
    """The cache entries of the training split.

    ``config.data`` is a clip-cache folder, or a dataset/preset name whose cache
    lives in ``sspd.paths.cache_dir()/<name>``. ``config.split`` selects the
    subjects from the preset's subject-exclusive split ("all" = every cached video).
    """
    from sspd.data.cache import load_cache
    from sspd.paths import cache_dir

    data = Path(config.data).expanduser()
    candidates = [data] if data.is_dir() else [cache_dir() / config.data]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        raise DataError(candidates[0], f"no clip cache for {config.data!r}: build it first with "
                        f"`python -m sspd preprocess` (or pass a cache folder as --data)")
    subjects = None if config.split == "all" else _split_subjects(config.data, folder, config.split)
    entries = load_cache(folder, subjects=subjects)
    if len(entries) == 0:
        raise DataError(folder, f"the cache holds no videos of split {config.split!r}")
    return entries


def _split_subjects(name: str, folder: Path, split: str) -> list[str]:
    """Subjects of ``split`` from the committed split file ``data/splits/<name>.json``.

    Looked up under the --data name and under the cache folder's name. No split
    file is an error (never silently train on test subjects); ``split="all"``
    trains on every cached video.
    """
    from sspd.data.synthetic import load_split

    tried = []
    for key in dict.fromkeys((Path(name).name, folder.name)):
        try:
            splits = load_split(key)
        except DataError as err:
            tried.append(str(err.path))
            continue
        if split not in splits or not isinstance(splits[split], list):
            raise DataError(_split_path(key), f"split {split!r} not in this split file (has "
                            f"{sorted(k for k, v in splits.items() if isinstance(v, list))})")
        return [str(s) for s in splits[split]]
    raise DataError(folder, f"no subject split file for {name!r} (looked for {tried}); add one, or "
                    f"pass split='all' (--split all) to train on every cached video")


def _split_path(key: str) -> Path:
    from sspd.paths import splits_dir

    return splits_dir() / f"{key}.json"


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


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    # Distinct, reproducible stream per (run seed, epoch, rank).
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % (2**63 - 1)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two Adam groups: weights (with decay) and biases + 1-D norm parameters (never decayed)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _rng_states() -> dict:
    """Python, numpy and torch RNG states as plain types/tensors (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"python": random.getstate(),
              "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                        float(gauss)),
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, gauss_np = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss_np))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


# Fields that may change between an interrupted run and its resumption without
# changing the result.
_RESUME_FREE = {"num_workers", "device"}


def _load_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(path, f"cannot read the training checkpoint ({type(exc).__name__}: {exc})") from exc
    missing = {"online", "target", "optimizer", "epoch", "global_step", "config", "rng"} - set(ckpt)
    if missing:
        raise DataError(path, f"not an SSPD training checkpoint (missing {sorted(missing)})")
    return ckpt


def _check_same_run(saved: dict, config: TrainConfig, path: Path) -> None:
    now = config.to_dict()
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in _RESUME_FREE and saved.get(k) != now.get(k))
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


# ----------------------------------------------------------------------------- train


def train(config: TrainConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
          stop_after_epoch: int | None = None, entries: list | None = None) -> TrainResult:
    """Train SSPD without labels; see the module docstring for what is written.

    config:           TrainConfig (``TrainConfig.preset_config("cpu")`` etc.).
    out_dir:          run folder (created). Files are written atomically by rank 0.
    resume:           continue from ``out_dir/checkpoint.pt`` when present. With
                      ``resume=False`` an existing run in ``out_dir`` is an error (a
                      finished run is never overwritten).
    progress:         tqdm progress bar on rank 0.
    stop_after_epoch: stop once this many epochs are done (e.g. to split a long run
                      into sessions); the EMA schedule still spans the whole run.
    entries:          cache entries to train on instead of ``load_entries(config)``.

    Raises NonFiniteLossError if the loss becomes NaN/inf (``checkpoint.pt`` keeps
    the last good epoch).
    """
    t_start = time.time()
    out_dir = Path(out_dir)
    use_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    d = _init_distributed(use_cuda)
    try:
        return _train(config, out_dir, resume, progress, stop_after_epoch, entries, d, t_start)
    finally:
        if d.created:
            dist.destroy_process_group()


def _train(config, out_dir, resume, progress, stop_after_epoch, entries, d, t_start) -> TrainResult:
    from sspd.data.dataset import ClipDataset

    device = _device(config, d)
    if device.type == "cuda" and d.world > 1:
        torch.cuda.set_device(device)  # NCCL collectives run on the current device
    amp = config.amp == "on" or (config.amp == "auto" and device.type == "cuda")
    if amp and device.type != "cuda":
        raise ValueError("amp='on' needs a CUDA device (fp16 autocast is off on CPU)")
    if config.batch_size % d.world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {d.world} processes")
    ckpt_path, log_path = out_dir / CHECKPOINT, out_dir / LOG

    # ---- resume or fresh start
    ckpt = None
    if ckpt_path.exists():
        if not resume:
            raise DataError(ckpt_path, "a training run already exists here; resume it (drop "
                            "--no-resume) or choose a new --out folder")
        ckpt = _load_checkpoint(ckpt_path)
        _check_same_run(ckpt["config"], config, ckpt_path)

    _seed_everything(config.seed)
    online = SSPD(s3m=True).to(device)        # init from the seeded global RNG: same on all ranks
    target = make_target(online)              # exact copy, no grad, stays in train mode
    optimizer = torch.optim.Adam(_param_groups(online, config.weight_decay), lr=config.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    # ---- data: windows split over ranks by a seeded sampler (same order on resume)
    if entries is None:
        entries = load_entries(config)
    dataset = ClipDataset(entries, n_frames=config.T + 1, windows_per_video=config.windows_per_video,
                          seed=config.seed, random_start=True)
    sampler = DistributedSampler(dataset, num_replicas=d.world, rank=d.rank, shuffle=True,
                                 seed=config.seed, drop_last=False)
    loader = DataLoader(dataset, batch_size=config.batch_size // d.world, sampler=sampler,
                        num_workers=config.num_workers, pin_memory=device.type == "cuda",
                        drop_last=False)
    steps_per_epoch = len(loader)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    epochs = math.ceil(total_steps / steps_per_epoch)

    start_epoch, global_step = 0, 0
    if ckpt is not None:
        online.load_state_dict(ckpt["online"])
        target.load_state_dict(ckpt["target"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, global_step = ckpt["epoch"], ckpt["global_step"]
        _set_rng_states(ckpt["rng"])

    model = online
    if d.world > 1:
        # Every parameter gets a gradient (predictor from L_RPD through sg(F), backbone
        # and S3M from the similarity losses) unless a loss term is switched off.
        model = torch.nn.parallel.DistributedDataParallel(
            online, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=_may_leave_unused(config))

    if d.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "config.json", config.to_dict())
        # The first session's manifest is kept; each resumption adds its own.
        man_name = "manifest.json" if ckpt is None else f"manifest_resumed_epoch{start_epoch:03d}.json"
        atomic_write_json(out_dir / man_name, manifest(
            config.to_dict(), config.seed, seeds={"python": config.seed, "numpy": config.seed,
                                                 "torch": config.seed, "sampler": config.seed,
                                                 "augment": "seed*1000003 + epoch*7919 + rank*104729"},
            world_size=d.world, device=str(device), amp=amp, n_videos=len(entries),
            windows_per_epoch=len(dataset), steps_per_epoch=steps_per_epoch,
            total_steps=total_steps, resumed_from_epoch=start_epoch if ckpt else None))
        # Rows of iterations after the checkpoint (a crash mid-epoch) are re-done: drop them.
        log = _CsvLog(log_path, keep_below_step=global_step)
    else:
        log = None

    bar = None
    if progress and d.main:
        from tqdm import tqdm
        bar = tqdm(total=total_steps, initial=global_step, desc="SSPD train", unit="it")

    generator = torch.Generator()
    last_terms: dict = {}
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, epochs):
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                break
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            generator.manual_seed(_epoch_seed(config.seed, epoch, d.rank))
            online.train()
            target.train()  # faithful: teacher BatchNorm uses batch statistics (§5, quirk 10)
            for step_in_epoch, batch in enumerate(loader):
                if global_step >= total_steps:
                    break
                t0 = time.time()
                fs = _batch_fs(batch)
                v_m, v_o = local_global_views(batch["frames"], config.augment, generator)
                v_m = v_m.to(device, non_blocking=True)
                v_o = v_o.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                    out_online = model(v_m)
                    with torch.no_grad():
                        out_target = target(v_o)
                # Losses in fp32 (FFT lengths are not powers of two; the cosine SSM has no eps).
                loss, terms = sspd_loss(_to_float(out_online), _to_float(out_target), fs, config.loss)
                _check_finite(loss, terms, d, epoch, global_step, ckpt_path)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                m = ema_momentum(global_step, total_steps, config.ema_m0)
                ema_update(target, online, m)
                if d.world > 1:
                    # Each rank updated its BatchNorm running stats on its own batch; keep
                    # rank 0's everywhere (DDP would broadcast them at the next forward anyway)
                    # so all ranks hold identical networks at every checkpoint.
                    for buf in [*online.buffers(), *target.buffers()]:
                        dist.broadcast(buf, src=0)
                last_terms = {k: float(v) for k, v in terms.items()}
                if log is not None:
                    log.write({"step": global_step, "epoch": epoch, "step_in_epoch": step_in_epoch,
                               "fs": round(fs, 4), "momentum": m, "lr": optimizer.param_groups[0]["lr"],
                               **last_terms, "seconds": round(time.time() - t0, 3)})
                global_step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{last_terms['loss']:.4f}", epoch=epoch)
            if d.main:
                atomic_torch_save(ckpt_path, {
                    "online": online.state_dict(), "target": target.state_dict(),
                    "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                    "epoch": epoch + 1, "global_step": global_step, "total_steps": total_steps,
                    "config": config.to_dict(), "rng": _rng_states()})
            epoch += 1
            if global_step >= total_steps:
                break
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()

    finished = global_step >= total_steps
    weights = None
    if finished and d.main:
        chosen = target if config.evaluate_weights == "target" else online
        weights = atomic_torch_save(out_dir / INFERENCE_WEIGHTS, _cpu(inference_state_dict(chosen)))
        atomic_torch_save(out_dir / "model_inference_online.pt", _cpu(inference_state_dict(online)))
        if config.evaluate_weights == "online":
            atomic_torch_save(out_dir / "model_inference_target.pt", _cpu(inference_state_dict(target)))
    if d.world > 1:
        dist.barrier()
    return TrainResult(out_dir=out_dir, checkpoint=ckpt_path, inference_weights=weights, log=log_path,
                       epochs_done=epoch, steps_done=global_step, total_steps=total_steps,
                       resumed_from_epoch=start_epoch if ckpt is not None else None,
                       seconds=time.time() - t_start, last_losses=last_terms, online=online,
                       target=target)


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
    fps = torch.as_tensor(batch["fps"], dtype=torch.float64)
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


def _check_finite(loss, terms, d: _Dist, epoch: int, step: int, ckpt_path: Path) -> None:
    bad = torch.tensor([0.0 if bool(torch.isfinite(loss.detach())) else 1.0], device=loss.device)
    if d.world > 1:
        dist.all_reduce(bad)  # every rank stops together
    if bad.item() > 0:
        kept = (f"the last good checkpoint is {ckpt_path}" if ckpt_path.exists()
                else "no checkpoint was written yet (it failed in the first epoch)")
        raise NonFiniteLossError(
            f"non-finite training loss at step {step} (epoch {epoch}): total={float(loss.detach())}, "
            f"terms={ {k: float(v) for k, v in terms.items()} }; training stopped, {kept}. "
            f"Try a lower lr, amp='off', or check the input clips.")


def _cpu(state: dict) -> dict:
    return {k: v.detach().cpu().clone() for k, v in state.items()}
