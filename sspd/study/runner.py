"""Running the grid: resumable, one scratch folder per item, results published only when complete.

For each item (:class:`~sspd.study.grid.RunSpec`) the runner

1. skips it when ``<results>/<id>/`` exists (done), another live process holds its lock
   (running), or it failed before (failed; ``retry_failed`` tries again);
2. trains it in ``<scratch>/<id>/`` (``runs/study/<id>``, git-ignored) with
   :func:`sspd.train.loop.train`, which resumes from ``checkpoint.pt`` when a previous session
   was interrupted;
3. scores the network chosen on validation (``model_best.pt``; the last teacher,
   ``model_inference.pt``, when the recipe has no validation fold) on every test set with
   :func:`sspd.train.report.evaluate_run`, and beside it the run's own initial weights
   (``model_initial.pt``, the fair untrained control: same seed, same architecture, no
   training); pulses are computed once and stored (``eval/pulses_<network>.npz``), then each
   protocol writes ``eval/<test set>/<network>-<protocol>/`` (summary.json, per_video.csv,
   per_window.csv); a reference item writes
   ``eval/<test set>/<method>-<protocol>/`` with :func:`sspd.evaluate.runner.evaluate`;
4. copies the small artefacts (config, manifests, logs, the evaluated weights, ``eval/``,
   ``study.json``) into a hidden folder beside ``<results>/<id>/`` and renames it into place, so
   a result folder is either complete or absent.

A failure writes ``<scratch>/<id>/error.txt`` (the traceback) and ``failed.json`` and publishes
nothing. Under ``torchrun`` every rank trains and rank 0 alone scores and publishes.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from sspd.io import atomic_write_json, atomic_write_text, manifest
from sspd.study.cost import estimate
from sspd.study.grid import Grid, RunSpec

__all__ = ["STATUSES", "CONTROL", "default_results", "default_scratch", "item_status", "status_table",
           "status_lines", "plan_lines", "orphans", "execute", "prepare_data", "run_grid", "add_controls"]

STATUSES = ("done", "pending", "running", "failed")
STUDY_JSON, FAILED, ERROR, LOCK, TIMING = "study.json", "failed.json", "error.txt", "lock.json", "timing.json"
CONTROL = "initial"    # the network scored beside the trained one: the run's own initial weights
_TRAIN_FILES = ("config.json", "manifest.json", "best.json", "train_log.csv", "val_log.csv", "val_videos.csv")


def default_results() -> Path:
    """``data/results/study`` (committed)."""
    from sspd.paths import results_dir

    return results_dir() / "study"


def default_scratch() -> Path:
    """``runs/study`` (git-ignored): where items are trained and scored before publishing."""
    from sspd.paths import project_root

    return project_root() / "runs" / "study"


def resolve_roots(results=None, scratch=None) -> tuple[Path, Path]:
    """(results folder, scratch folder): the given ones, or the defaults."""
    return (Path(results) if results is not None else default_results(),
            Path(scratch) if scratch is not None else default_scratch())


# ----------------------------------------------------------------------------- locks and status


class _Busy(Exception):
    pass


def _lock_owner(path: Path) -> dict | None:
    """The live process holding the lock file ``path``, or None (no lock, or a stale one)."""
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if owner.get("host") != socket.gethostname():
        return owner                      # another machine's lock: assume it is alive
    try:
        os.kill(int(owner["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError, TypeError):
        return None
    except PermissionError:
        return owner
    return owner


class _Lock:
    """An item's lock: ``lock.json`` created exclusively; a dead owner's lock is taken over."""

    def __init__(self, work: Path):
        self.path = work / LOCK

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if _lock_owner(self.path) is not None:
                    raise _Busy(str(self.path)) from None
                self.path.unlink(missing_ok=True)   # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": _now()}, f)
            return self
        raise _Busy(str(self.path))

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)
        return False


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def item_status(spec: RunSpec, results=None, scratch=None) -> str:
    """done | running | failed | pending (see the module docstring)."""
    results, scratch = resolve_roots(results, scratch)
    if (results / spec.id / STUDY_JSON).is_file():
        return "done"
    work = scratch / spec.id
    if (work / LOCK).is_file() and _lock_owner(work / LOCK) is not None:
        return "running"
    if (work / FAILED).is_file():
        return "failed"
    return "pending"


def _progress(work: Path) -> str:
    """Steps done of a (partly) trained item, e.g. "12/70"; "" when it has not started."""
    log, man = work / "train_log.csv", work / "manifest.json"
    if not log.is_file() or not man.is_file():
        return ""
    try:
        total = json.loads(man.read_text()).get("total_steps")
        done = max(0, sum(1 for _ in open(log)) - 1)
    except (OSError, ValueError):
        return ""
    return f"{done}/{total}"


def status_table(grid: Grid, results=None, scratch=None) -> pd.DataFrame:
    """One row per item: id, status, kind, group, variant, label, seed, train_set, test_sets,
    progress (steps), est_min (estimated CPU minutes), measured_min (done items), error."""
    results, scratch = resolve_roots(results, scratch)
    rows = []
    for spec in grid:
        status = item_status(spec, results, scratch)
        est = estimate(spec, len(grid.protocols))
        row = {**spec.describe(), "status": status, "test_sets": ", ".join(spec.test_sets),
               "progress": _progress(scratch / spec.id), "est_min": est["total_s"] / 60,
               "measured_min": float("nan"), "error": ""}
        if status == "done":
            timing = json.loads((results / spec.id / STUDY_JSON).read_text()).get("timing", {})
            row["measured_min"] = timing.get("total_s", float("nan")) / 60
        elif status == "failed":
            row["error"] = json.loads((scratch / spec.id / FAILED).read_text()).get("error", "")
        rows.append(row)
    cols = ["id", "status", "kind", "group", "variant", "label", "seed", "train_set", "test_sets",
            "progress", "est_min", "measured_min", "error"]
    table = pd.DataFrame(rows, columns=cols)
    table["seed"] = table["seed"].astype("Int64")
    return table


def _seed_text(seed) -> str:
    return "-" if seed is None or pd.isna(seed) else str(int(seed))


def _totals(table: pd.DataFrame) -> str:
    counts = table["status"].value_counts()
    return "totals: " + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATUSES) + f" ({len(table)} items)"


def status_lines(table: pd.DataFrame) -> list[str]:
    """``<run id> <status> <variant> <seed> <train set>`` per item (a reference adds the set it is
    tested on), then the totals."""
    lines = [f"{r.id} {r.status} {r.variant} {_seed_text(r.seed)} {r.train_set}"
             + (f" (tested on {r.test_sets})" if r.kind == "reference" else "") for r in table.itertuples()]
    return lines + [_totals(table)]


def plan_lines(table: pd.DataFrame) -> list[str]:
    """The plan for ``--dry-run``: each item with its test sets and estimated minutes, then the
    estimated CPU time of what is left and of the whole grid, and the assumption behind it."""
    from sspd.study.cost import ASSUMPTION

    lines = [f"{r.id} {r.status:<7} {r.group:<9} {r.variant:<12} {_seed_text(r.seed):>2} "
             f"{r.train_set:<14} -> {r.test_sets:<32} ~{r.est_min:6.1f} min" for r in table.itertuples()]
    todo = table[table["status"] != "done"]
    lines += [_totals(table),
              f"estimated CPU time: {todo['est_min'].sum() / 60:.1f} h left ({len(todo)} items), "
              f"{table['est_min'].sum() / 60:.1f} h for the whole grid",
              f"assumption: {ASSUMPTION}"]
    return lines


def orphans(grid: Grid, results=None) -> list[str]:
    """Result folders under ``results`` that no item of ``grid`` names (their configuration is
    not in the grid any more, or it belongs to another grid)."""
    results, _ = resolve_roots(results, None)
    if not results.is_dir():
        return []
    ids = {r.id for r in grid}
    return sorted(p.name for p in results.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name not in ids)


# ----------------------------------------------------------------------------- one item


def _training_entries(config, split_file: str | None) -> tuple[list, list]:
    """(fit, validation) entries of a training config, through an explicit split file if any."""
    from sspd.data.splits import dataset_entries

    kw = {"split_file": split_file, "val_fraction": config.val_fraction, "progress": False}
    if config.split != "train" or config.val_fraction == 0.0:
        return dataset_entries(config.data, config.split, **kw)[0], []
    return dataset_entries(config.data, "fit", **kw)[0], dataset_entries(config.data, "val", **kw)[0]


def _train(spec: RunSpec, work: Path, progress: bool, stop_after_step: int | None) -> bool:
    """Train (or resume) ``spec`` in ``work``; True when it has finished."""
    from sspd.train.loop import train

    config = spec.train_config()
    fit, val = _training_entries(config, spec.split_file_of(config.data))
    result = train(config, work, resume=True, progress=progress, stop_after_step=stop_after_step,
                   entries=fit, val_entries=val)
    return result.inference_weights is not None


def _network(work: Path) -> str:
    from sspd.evaluate.pulses import NETWORK_FILES

    return "best" if (work / NETWORK_FILES["best"]).is_file() else "last"


def _networks(work: Path) -> tuple[str, ...]:
    """The trained network and, when its weights are there, the initial-weights control."""
    from sspd.evaluate.pulses import NETWORK_FILES

    return (_network(work), *((CONTROL,) if (work / NETWORK_FILES[CONTROL]).is_file() else ()))


def _evaluate(spec: RunSpec, work: Path, protocols: Sequence[str], n_boot: int, progress: bool,
              networks: Sequence[str] | None = None) -> str:
    """Score ``spec`` on each of its test sets (``work/eval/<test set>/``); returns the method.
    ``networks``: of a training item (default :func:`_networks`)."""
    from sspd.data.splits import dataset_entries
    from sspd.evaluate.methods import get_method
    from sspd.evaluate.runner import evaluate
    from sspd.train.report import evaluate_run

    method, name = None, spec.config.get("method")
    if spec.kind == "train":
        name = f"sspd-{_network(work)}"
    elif name == "sspd":
        method, name = get_method("sspd", checkpoint=spec.weights), "sspd-official"
    else:
        method = get_method(name)
    for test in spec.test_sets:
        entries, dataset = dataset_entries(test, "test", split_file=spec.split_file_of(test), progress=False)
        if spec.kind == "train":     # pulses computed once, kept in work/eval/pulses_<network>.npz
            evaluate_run(work, entries, dataset, networks=networks or _networks(work), classic=(),
                         protocols=protocols, n_boot=n_boot, progress=progress, subdir=f"eval/{dataset}")
        else:
            for protocol in protocols:
                evaluate(method, entries, protocol, work / "eval" / dataset / f"{name.replace(':', '-')}-{protocol}",
                         method_name=name, dataset_name=dataset, progress=False, n_boot=n_boot,
                         config={"study_id": spec.id, **spec.config})
        for path in (work / "eval" / dataset).glob("*/summary.json"):
            summary = json.loads(path.read_text())
            if summary["n_failed"] == summary["n_recordings"]:   # some failures are published, all are not
                raise RuntimeError(f"{name} failed on every recording of {dataset}: "
                                   f"{summary['failures'][0]['message']}")
    return name


def _read_timing(work: Path) -> dict:
    path = work / TIMING
    return json.loads(path.read_text()) if path.is_file() else {"train_s": 0.0, "eval_s": 0.0, "sessions": 0}


def _fold(timing: dict, phase: str, seconds: float) -> dict:
    """``timing`` with ``seconds`` of ``phase`` added (a train phase is one more session)."""
    timing[f"{phase}_s"] = timing.get(f"{phase}_s", 0.0) + seconds
    if phase == "train":
        timing["sessions"] = timing.get("sessions", 0) + 1
    timing["total_s"] = timing.get("train_s", 0.0) + timing.get("eval_s", 0.0)
    return timing


class _PhaseClock:
    """The wall time of one phase (train, eval) of an item, added to ``timing.json`` at the end.

    A session that is stopped outright (the machine taken away: no ``finally`` runs) would lose
    the time it spent, so the clock also writes the running phase's time as an ``open`` entry
    every ``beat`` seconds; the next run of the item folds an open entry in before its own.
    At most one beat is lost."""

    def __init__(self, work: Path, phase: str, beat: float = 60.0):
        self.work, self.phase, self.beat = work, phase, beat
        self._stop = threading.Event()

    def __enter__(self) -> "_PhaseClock":
        timing = _read_timing(self.work)
        left = timing.pop("open", None)
        if left:                               # a session that was stopped before it could add its time
            timing = _fold(timing, left["phase"], left["seconds"])
        atomic_write_json(self.work / TIMING, timing)
        self.t0 = time.time()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.beat):
            timing = _read_timing(self.work)
            timing["open"] = {"phase": self.phase, "seconds": time.time() - self.t0}
            atomic_write_json(self.work / TIMING, timing)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        timing = _read_timing(self.work)
        timing.pop("open", None)
        atomic_write_json(self.work / TIMING, _fold(timing, self.phase, time.time() - self.t0))


def _publish(spec: RunSpec, work: Path, final: Path, method: str, protocols: Sequence[str]) -> Path:
    """Copy the small artefacts of ``work`` to ``final`` through a hidden folder renamed into place."""
    from sspd.evaluate.pulses import NETWORK_FILES

    if final.exists():
        raise FileExistsError(f"{final} exists already; results are never overwritten")
    tmp = final.parent / f".{spec.id}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        weights = None
        if spec.kind == "train":
            names = [*_TRAIN_FILES, *(p.name for p in sorted(work.glob("manifest_resumed_step*.json")))]
            for name in names:
                if (work / name).is_file():
                    shutil.copy2(work / name, tmp / name)
            weights = NETWORK_FILES[_network(work)]
            shutil.copy2(work / weights, tmp / weights)
        shutil.copytree(work / "eval", tmp / "eval")
        timing = json.loads((work / TIMING).read_text()) if (work / TIMING).is_file() else {}
        atomic_write_json(tmp / STUDY_JSON, {
            **spec.describe(), "identity": spec.identity, "protocols": list(protocols),
            "method": method, "weights_file": weights, "timing": timing,
            "estimate": estimate(spec, len(protocols)), "finished": _now(),
            "manifest": manifest(spec.identity, spec.seed)})
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _fail(work: Path, phase: str, err: BaseException) -> None:
    atomic_write_text(work / ERROR, "".join(traceback.format_exception(err)))
    atomic_write_json(work / FAILED, {"error": f"{type(err).__name__}: {err}".splitlines()[0][:300],
                                      "phase": phase, "when": _now(), "traceback": ERROR})


def execute(spec: RunSpec, protocols: Sequence[str] = ("windowed",), results=None, scratch=None, *,
            progress: bool = False, n_boot: int = 1000, retry_failed: bool = False,
            stop_after_step: int | None = None, rank: int = 0) -> str:
    """Train (or resume), score and publish one item; returns its status afterwards.

    "done" (published, or was already), "pending" (stopped early by ``stop_after_step``, or an
    interrupted session), "running" (another process holds it), "failed" (see ``error.txt``).
    ``rank`` > 0 (torchrun): train only; rank 0 scores and publishes.
    """
    results, scratch = resolve_roots(results, scratch)
    final, work = results / spec.id, scratch / spec.id
    if (final / STUDY_JSON).is_file():
        return "done"
    if rank != 0:
        if spec.kind == "train":
            _train(spec, work, False, stop_after_step)
        return "pending"
    if (work / FAILED).is_file() and not retry_failed:
        return "failed"
    try:
        lock = _Lock(work).__enter__()
    except _Busy:
        return "running"
    try:
        (work / FAILED).unlink(missing_ok=True)
        atomic_write_json(work / "spec.json", {**spec.describe(), "identity": spec.identity})
        phase = "train"
        try:
            if spec.kind == "train":
                with _PhaseClock(work, "train"):   # an interrupted session's time counts too
                    finished = _train(spec, work, progress, stop_after_step)
                if not finished:
                    return "pending"
            phase = "eval"
            with _PhaseClock(work, "eval"):
                method = _evaluate(spec, work, protocols, n_boot, progress)
            phase = "publish"
            _publish(spec, work, final, method, protocols)
        except Exception as err:  # noqa: BLE001 - reported in failed.json, never published
            _fail(work, phase, err)
            return "failed"
        return "done"
    finally:
        lock.__exit__(None, None, None)


# ----------------------------------------------------------------------------- the grid


def prepare_data(specs: Iterable[RunSpec], progress: bool = True) -> None:
    """Render and preprocess the synthetic presets the items read (train and test splits), once,
    before any item starts (parallel items must not render the same files at the same time)."""
    from sspd.data.splits import dataset_entries
    from sspd.data.synthetic.presets import PRESETS

    needed: dict[str, None] = {}
    for spec in specs:
        sets = (*((spec.train_set,) if spec.kind == "train" else ()), *spec.test_sets)
        needed.update(dict.fromkeys(s for s in sets if s in PRESETS))
    for name in needed:
        for split in ("train", "test"):
            dataset_entries(name, split, generate=True, progress=progress)


def _init_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_distributed(todo: list[RunSpec], protocols, results, scratch, kw) -> dict[str, str]:
    """Every rank trains each item together (DDP); rank 0 decides, scores and publishes."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        cuda = any(s.kind == "train" and s.config.get("device", "").startswith("cuda") for s in todo)
        dist.init_process_group("nccl" if cuda and torch.cuda.is_available() else "gloo")
    rank, out = dist.get_rank(), {}
    for spec in todo:
        decision = [item_status(spec, results, scratch) if rank == 0 else None]
        dist.broadcast_object_list(decision, src=0)
        go = decision[0] == "pending" or (decision[0] == "failed" and kw.get("retry_failed"))
        if go:
            out[spec.id] = execute(spec, protocols, results, scratch, rank=rank, **kw)
        dist.barrier()
    return out


def run_grid(grid: Grid, *, ids: Sequence[str] | None = None, groups: Sequence[str] | None = None,
             jobs: int = 1, max_runs: int | None = None, results=None, scratch=None,
             progress: bool = True, n_boot: int = 1000, retry_failed: bool = False,
             stop_after_step: int | None = None, prepare: bool = True,
             breadth_first: bool = False) -> pd.DataFrame:
    """Run every item of ``grid`` that is not done (or those of ``ids`` / ``groups``).

    jobs:          items run at the same time, each in its own process (torch threads divided
                   among them); under torchrun (WORLD_SIZE > 1) all ranks train each item together.
    max_runs:      start at most this many items this session (in grid order).
    breadth_first: lowest seed first (seed 0 of every variant, then seed 1, ...), so that a
                   grid run a few items at a time covers every variant early; else grid order.
    Returns the status table after the session.
    """
    results, scratch = resolve_roots(results, scratch)
    specs = grid.select(groups, ids)
    runnable = {"pending", "failed"} if retry_failed else {"pending"}
    todo = [s for s in specs if item_status(s, results, scratch) in runnable]
    if breadth_first:     # a stable sort: grid order within a seed; references (no seed) first
        todo.sort(key=lambda s: -1 if s.seed is None else s.seed)
    if max_runs is not None:
        todo = todo[:max_runs]
    kw = dict(progress=progress and jobs == 1, n_boot=n_boot, retry_failed=retry_failed,
              stop_after_step=stop_after_step)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if todo and prepare and int(os.environ.get("RANK", "0")) == 0:
        prepare_data(todo, progress=progress)
    if world > 1:
        _run_distributed(todo, grid.protocols, results, scratch, kw)
    elif jobs <= 1 or len(todo) <= 1:
        from tqdm import tqdm

        for spec in tqdm(todo, desc="study", unit="item", disable=not progress or len(todo) < 2):
            execute(spec, grid.protocols, results, scratch, **kw)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_threads, initargs=(threads,)) as pool:
            futures = [pool.submit(execute, s, grid.protocols, results, scratch, **kw) for s in todo]
            for f in futures:
                f.result()
    table = status_table(grid, results, scratch)
    return table[table["id"].isin([s.id for s in specs])].reset_index(drop=True)


def add_controls(grid: Grid, results=None, scratch=None, *, ids: Sequence[str] | None = None,
                 n_boot: int = 1000, progress: bool = False) -> dict[str, str]:
    """Score the initial-weights control of training items published without it.

    Items published before the runner scored the control (see step 3 of the module docstring)
    get ``eval/<test set>/initial-<protocol>/`` and ``eval/pulses_initial.npz`` added, each
    copied through a hidden folder renamed into place; nothing already published changes except
    ``study.json``, which gains ``controls`` (when, and the seconds it took). The initial
    weights are read from the scratch folder (``<scratch>/<id>/model_initial.pt``).
    Returns ``{id: "added" | "present" | "no initial weights" | "running"}`` for every done item.
    """
    from sspd.evaluate.pulses import NETWORK_FILES

    results, scratch = resolve_roots(results, scratch)
    out = {}
    for spec in grid.select(["ablation", "cross"], ids):
        final, work = results / spec.id, scratch / spec.id
        if spec.kind != "train" or not (final / STUDY_JSON).is_file():
            continue
        wanted = [final / "eval" / d.name / f"{CONTROL}-{p}" for d in sorted((final / "eval").glob("*/"))
                  if d.is_dir() for p in grid.protocols]
        if all((w / "summary.json").is_file() for w in wanted):
            out[spec.id] = "present"
            continue
        if not (work / NETWORK_FILES[CONTROL]).is_file():
            out[spec.id] = "no initial weights"
            continue
        try:
            lock = _Lock(work).__enter__()
        except _Busy:
            out[spec.id] = "running"
            continue
        try:
            t0 = time.time()
            _evaluate(spec, work, grid.protocols, n_boot, progress, networks=(CONTROL,))
            for target in wanted:
                if not (target / "summary.json").is_file():
                    _copy_into_place(work / "eval" / target.parent.name / target.name, target)
            store = f"pulses_{CONTROL}.npz"
            if not (final / "eval" / store).is_file():
                _copy_into_place(work / "eval" / store, final / "eval" / store)
            study = json.loads((final / STUDY_JSON).read_text())
            study["controls"] = {"network": CONTROL, "weights": NETWORK_FILES[CONTROL], "added": _now(),
                                 "eval_s": time.time() - t0}
            atomic_write_json(final / STUDY_JSON, study)
            out[spec.id] = "added"
        finally:
            lock.__exit__(None, None, None)
    return out


def _copy_into_place(source: Path, target: Path) -> None:
    """Copy a file or folder to ``target`` (which must not exist) through a hidden sibling."""
    if target.exists():
        raise FileExistsError(f"{target} exists already; results are never overwritten")
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
