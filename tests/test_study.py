"""The study grid (sspd.study): ids, status, resumable runs, failures, published artefacts,
tables and figures; and the two config options the grid needs (no-LGA views, S3M depth)."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import scipy.stats
import pandas as pd
import pytest
import torch

from conftest import noisy_pulse_frames
from sspd.augment import AugmentConfig, local_global_views
from sspd.data.cache import ClipCache, PreprocessConfig
from sspd.data.recording import Recording
from sspd.study import chapter
from sspd.study import results as study_results
from sspd.study import runner
from sspd.study.grid import VARIANTS, build_grid, run_id
from sspd.train.config import TrainConfig

# smoke recipe, one optimiser step (seconds), two variants, one seed, GREEN as the reference
SMALL = dict(cross_sets=None, recipe="smoke", variants=["full", "no-mdm"], seeds=[0], overrides=["max_steps=1"],
             references=("green",), peers=(), official_weights=None, protocols=("toolbox",))


def _toy_recording(subject: int, n: int = 60) -> Recording:
    t = np.arange(n) / 30.0
    frames = noisy_pulse_frames(n, size=151, hr_hz=1.2, seed=subject)
    return Recording(frames=frames, timestamps=t, fps_nominal=30.0, bvp=np.sin(2 * np.pi * 1.2 * t),
                     dataset="toy", subject=str(subject))


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A project root with a clip cache ``toy`` (subjects 1-4) and its split file (1-3 / 4)."""
    monkeypatch.setenv("SSPD_ROOT", str(tmp_path))
    for s in range(1, 5):
        ClipCache(tmp_path / "data" / "cache" / "toy").build(_toy_recording(s), PreprocessConfig())
    (tmp_path / "data" / "splits").mkdir(parents=True)
    (tmp_path / "data" / "splits" / "toy.json").write_text(json.dumps({"train": ["1", "2", "3"],
                                                                       "test": ["4"]}))
    torch.set_num_threads(2)
    return tmp_path


def _roots(root):
    return root / "data" / "results" / "study", root / "runs" / "study"


# ----------------------------------------------------------------------------- the grid


def test_default_grid_covers_the_issue(tmp_path, monkeypatch):
    weights = tmp_path / "official_ubfc.pth"
    grid = build_grid(official_weights=weights)                       # file absent: no row
    train = [r for r in grid if r.kind == "train"]
    seeds = pd.Series([r.variant for r in train if r.group == "ablation"]).value_counts()
    assert seeds["full"] >= 3 and (seeds.drop("full") >= 2).all()
    assert set(seeds.index) == {v.name for v in VARIANTS}
    cross = [r for r in train if r.group == "cross"]
    assert {r.train_set for r in cross} == {"still-full", "motion-full", "hard-full"}
    assert all(r.test_sets == ("still-full", "motion-full", "hard-full") for r in cross)
    assert pd.Series([r.train_set for r in cross]).value_counts().min() >= 2
    refs = [r for r in grid if r.kind == "reference"]
    classic = [r for r in refs if not r.variant.startswith("orppg:")]
    assert {r.variant for r in classic} == {"pos", "chrom", "green"}
    assert {r.test_sets[0] for r in refs} == {"easy-full", "still-full", "motion-full", "hard-full"}
    # the pretrained peers are reference rows too, named by the package release that holds their weights
    from importlib.metadata import version

    from sspd.study.grid import PEER_METHODS, available_peers

    peers = [r for r in refs if r.variant.startswith("orppg:")]
    assert {r.variant for r in peers} == set(available_peers(PEER_METHODS)) and len(peers) == 4 * len(
        available_peers(PEER_METHODS))
    physnet = next(r for r in peers if r.variant == "orppg:PhysNet.pure")
    assert physnet.label == "PhysNet (PURE-trained)"
    assert physnet.config == {"method": "orppg:PhysNet.pure", "package": f"open-rppg=={version('open-rppg')}"}
    assert not [r for r in build_grid(peers=()) if r.variant.startswith("orppg:")]
    assert available_peers(["orppg:NoSuchNet.pure", "orppg:TSCAN.rlap"]) == ["orppg:TSCAN.rlap"]
    # variants are overrides of the study recipe, with the real config fields
    configs = {r.variant: r.train_config() for r in train if r.seed == 0 and r.group == "ablation"}
    assert configs["full"].recipe == "study" and configs["full"].data == "easy-full"
    assert configs["no-lga"].augment.student_view == "global"
    assert configs["no-mdm"].augment.mask_keep == 1.0
    assert not configs["no-tspd"].loss.use_tspd and not configs["no-reg"].loss.use_reg
    assert not configs["tspd-maps"].loss.tspd_wave and not configs["tspd-waves"].loss.tspd_map
    assert not configs["no-freq"].loss.use_freq and configs["topleft-crop"].augment.crop == "topleft"
    assert configs["s3m-depth1"].s3m_pyramid == (9,) and configs["s3m-depth2"].s3m_pyramid == (9, 7)
    assert configs["full"].s3m_pyramid == (9, 7, 5)
    # a training item's estimate scores two networks on its test set: the chosen one and its initial weights
    from sspd.study import cost

    full = next(r for r in train if r.variant == "full" and r.group == "ablation")
    frames = sum(cost.durations("easy-full", "test")) * cost.NOMINAL_FPS
    assert frames > 0
    # ... at the speeds measured on the kind of CPU it runs on (the study recipe's step is the measured one)
    for native, fps, step_s in ((True, cost.INFER_FPS, cost.STEP_SECONDS),
                                (False, cost.INFER_FPS_NO_BF16, cost.STEP_SECONDS_NO_BF16)):
        monkeypatch.setattr(cost, "bf16_supported", lambda native=native: native)
        est = cost.estimate(full)
        assert est["eval_s"] == pytest.approx(2 * (frames / fps + cost.TABLE_SECONDS))
        assert est["steps"] == 40 and est["train_s"] == pytest.approx(40 * step_s)
    monkeypatch.undo()
    # a peer's estimate runs at its architecture's measured speed (the committed efficiency table)
    speeds = pd.read_csv(os.path.join(os.path.dirname(__file__), "..", "data", "results", "efficiency",
                                      "efficiency.csv")).set_index("model")["latency_ms_1t"]
    peer_frames = sum(cost.durations(physnet.test_sets[0], "test")) * cost.NOMINAL_FPS
    assert cost.estimate(physnet)["eval_s"] == pytest.approx(
        peer_frames / cost.READ_FPS + peer_frames * speeds["PhysNet"] / 1000 + cost.TABLE_SECONDS)
    # the released weights are a reference row only when the file exists
    weights.write_bytes(b"not really weights")
    official = [r for r in build_grid(official_weights=weights) if r.variant == "official"]
    assert len(official) == 4 and all(r.weights == str(weights) for r in official)
    # the authors' weights run at the inference speed of the kind of CPU the estimate runs on
    official_frames = sum(cost.durations(official[0].test_sets[0], "test")) * cost.NOMINAL_FPS
    for native, fps in ((True, cost.INFER_FPS), (False, cost.INFER_FPS_NO_BF16)):
        monkeypatch.setattr(cost, "bf16_supported", lambda native=native: native)
        assert cost.estimate(official[0])["eval_s"] == pytest.approx(
            official_frames / cost.READ_FPS + official_frames / fps + cost.TABLE_SECONDS)
    monkeypatch.undo()
    paper = build_grid(recipe="paper", device="cuda", variants=["full"], cross_sets=None)
    assert paper.runs[0].train_config().recipe == "paper" and paper.runs[0].config["device"] == "cuda"


def test_ids_are_stable_across_sessions_and_distinct():
    grid = build_grid(official_weights=None)
    ids = [r.id for r in grid]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    assert ids == [r.id for r in build_grid(official_weights=None)]
    code = "from sspd.study.grid import build_grid; print(' '.join(r.id for r in build_grid(official_weights=None)))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.split()
    assert other == ids
    assert run_id({"b": 1, "a": [1, 2]}) == run_id({"a": [1, 2], "b": 1})
    # anything in the config changes the id; so does the list of test sets
    a = build_grid(variants=["full"], seeds=[0], cross_sets=None, references=())
    b = build_grid(variants=["full"], seeds=[0], cross_sets=None, references=(), overrides=["lr=0.0005"])
    assert a.runs[0].id != b.runs[0].id


def test_status_lines_and_dry_run(project, capsys):
    from sspd.cli import main

    from sspd.study.grid import PEER_METHODS, available_peers

    args = ["study", "--status", "--data", "toy", "--cross-sets", "none", "--preset", "smoke",
            "--variants", "full,no-mdm", "--seeds", "0", "--no-official"]
    assert main(args) == 0                              # the peers are reference rows by default
    with_peers = capsys.readouterr().out.strip().splitlines()
    assert len(with_peers) == 5 + len(available_peers(PEER_METHODS)) + 1
    assert main([*args, "--no-peers"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    grid = build_grid("toy", **{**SMALL, "references": ("pos", "chrom", "green"), "overrides": []})
    assert len(lines) == len(grid) + 1
    assert lines[0] == f"{grid.runs[0].id} pending full 0 toy"
    assert re.fullmatch(r"[0-9a-f]{12} pending pos - - \(tested on toy\)", lines[2])
    assert lines[-1] == "totals: 0 done, 5 pending, 0 running, 0 failed (5 items)"
    assert main(["study", "--dry-run", "--data", "toy", "--cross-sets", "none", "--preset", "smoke",
                 "--variants", "full", "--seeds", "0", "--no-official"]) == 0
    out = capsys.readouterr().out
    assert "estimated CPU time:" in out and "assumption: CPU estimate" in out
    assert re.search(r"~\s*[0-9.]+ min", out.splitlines()[0])


# ----------------------------------------------------------------------------- running


def test_run_resume_skip_and_small_artefacts(project, monkeypatch):
    results, scratch = _roots(project)
    grid = build_grid("toy", **{**SMALL, "variants": ["full"], "overrides": []})     # 2 steps
    spec = grid.runs[0]
    # an interrupted run: checkpoint in scratch, nothing published
    assert runner.execute(spec, grid.protocols, stop_after_step=1, n_boot=10) == "pending"
    assert (scratch / spec.id / "checkpoint.pt").is_file() and not (results / spec.id).exists()
    table = runner.status_table(grid)
    assert table.loc[0, "status"] == "pending" and table.loc[0, "progress"] == "1/2"
    # stand-in for a validated teacher: the network chosen on validation is what gets scored
    # and published (the smoke recipe has no validation fold, so the test places one)
    shutil.copy2(scratch / spec.id / "model_initial.pt", scratch / spec.id / "model_best.pt")
    out = runner.run_grid(grid, n_boot=10, progress=False)
    assert (out["status"] == "done").all()
    final = results / spec.id
    files = {str(p.relative_to(final)) for p in final.rglob("*") if p.is_file()}
    assert {"study.json", "config.json", "manifest.json", "manifest_resumed_step0001.json",
            "train_log.csv", "model_best.pt", "eval/pulses_best.npz",
            "eval/toy/best-toolbox/summary.json", "eval/toy/best-toolbox/per_video.csv",
            "eval/toy/best-toolbox/per_window.csv", "eval/pulses_initial.npz",
            "eval/toy/initial-toolbox/summary.json"} <= files
    assert not {"checkpoint.pt", "model_initial.pt", "model_inference.pt", "model_target_s3m.pt"} & files
    assert sum(p.stat().st_size for p in final.rglob("*") if p.is_file()) < 5e6
    assert not [p for p in results.iterdir() if p.name.startswith(".")]        # no half-copied folder
    study = json.loads((final / "study.json").read_text())
    assert study["id"] == spec.id and study["identity"] == json.loads(json.dumps(spec.identity))
    assert study["timing"]["sessions"] == 2 and study["timing"]["total_s"] > 0
    summary = json.loads((final / "eval/toy/best-toolbox/summary.json").read_text())
    assert summary["dataset"] == "toy" and summary["n_recordings"] == 1      # test subject 4 only
    ref = next(r for r in grid if r.kind == "reference")
    assert (results / ref.id / "eval/toy/green-toolbox/summary.json").is_file()
    # done items are skipped: no training, no scoring
    import sspd.train.loop as loop

    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("a done run was trained again"))
    again = runner.run_grid(grid, n_boot=10, progress=False)
    assert (again["status"] == "done").all()
    assert runner.status_lines(again)[-1] == "totals: 2 done, 0 pending, 0 running, 0 failed (2 items)"
    # the published results read back as tables
    res = study_results.collect(grid, results)
    assert set(res.metrics["method"]) == {"sspd-best", "sspd-initial", "green"} and len(res.windows) == 3
    assert res.metrics.groupby("method")["control"].first().to_dict() == {
        "green": False, "sspd-best": False, "sspd-initial": True}
    # the precision each run trained in comes from its manifests, a resumption included
    first = json.loads((final / "manifest.json").read_text())["autocast"] or "float32"
    assert set(res.metrics.dropna(subset=["precision"])["precision"]) == {first}
    assert res.metrics.loc[res.metrics["method"] == "green", "precision"].isna().all()
    resumed = final / "manifest_resumed_step0001.json"
    backup = resumed.read_bytes()
    other = "bfloat16" if first == "float32" else "float32"
    resumed.write_text(json.dumps({**json.loads(backup), "autocast": other}))
    mixed = study_results.collect(grid, results)
    assert study_results.precision_counts(mixed) == f"{first}+{other} x1"
    rows = study_results.ablation_table(mixed, test_set="toy", protocol=grid.protocols[0], n_boot=10).set_index("variant")["precision"]
    assert rows["full"] == f"{first}+{other}" and rows["green"] is None
    resumed.write_bytes(backup)
    # an item published before the control existed gets it added; nothing else changes
    shutil.rmtree(final / "eval/toy/initial-toolbox")
    (final / "eval/pulses_initial.npz").unlink()
    best = (final / "eval/toy/best-toolbox/summary.json").read_bytes()
    assert runner.add_controls(grid, n_boot=10) == {spec.id: "added"}
    assert (final / "eval/toy/initial-toolbox/summary.json").is_file() and (final / "eval/pulses_initial.npz").is_file()
    assert (final / "eval/toy/best-toolbox/summary.json").read_bytes() == best
    assert json.loads((final / "study.json").read_text())["controls"]["weights"] == "model_initial.pt"
    assert runner.add_controls(grid, n_boot=10) == {spec.id: "present"}
    assert not [p for p in final.rglob(".*")]                                   # no half-copied folder


def test_time_of_a_session_stopped_outright_still_counts(tmp_path):
    import time

    clock = runner._PhaseClock(tmp_path, "train", beat=0.05)
    with clock:
        time.sleep(0.3)
        beating = json.loads((tmp_path / runner.TIMING).read_text())
        assert beating["open"]["phase"] == "train" and 0.05 <= beating["open"]["seconds"] < 5
    done = json.loads((tmp_path / runner.TIMING).read_text())
    assert "open" not in done and done["sessions"] == 1 and 0.3 <= done["train_s"] < 5
    # a session killed while training leaves only its open entry; the next run of the item adds it
    (tmp_path / runner.TIMING).write_text(json.dumps({**done, "open": {"phase": "train", "seconds": 100.0}}))
    with runner._PhaseClock(tmp_path, "eval", beat=10):
        pass
    after = json.loads((tmp_path / runner.TIMING).read_text())
    assert after["sessions"] == 2 and after["train_s"] == pytest.approx(done["train_s"] + 100.0)
    assert after["total_s"] == pytest.approx(after["train_s"] + after["eval_s"]) and "open" not in after


def test_a_peer_reference_is_published_under_a_portable_folder_name(project, monkeypatch):
    """Peer names hold a colon (``orppg:PhysNet.pure``); their result folders must not. The peer
    itself is replaced by GREEN here (the real one needs JAX and its weights: minutes, not seconds)."""
    import sspd.evaluate.methods as methods

    real = methods.get_method
    monkeypatch.setattr(methods, "get_method", lambda name, **kw: real("green"))
    results, _ = _roots(project)
    grid = build_grid("toy", **{**SMALL, "variants": [], "references": (), "peers": ("orppg:PhysNet.pure",)})
    (spec,) = grid.select(["reference"])
    assert runner.run_grid(grid, n_boot=10, progress=False)["status"].tolist() == ["done"]
    folders = [p.relative_to(results / spec.id).as_posix() for p in (results / spec.id).rglob("*") if p.is_dir()]
    assert "eval/toy/orppg-PhysNet.pure-toolbox" in folders and not [f for f in folders if ":" in f]
    res = study_results.collect(grid, results)
    assert res.metrics["method"].tolist() == ["orppg:PhysNet.pure"]
    assert res.metrics["label"].tolist() == ["PhysNet (PURE-trained)"]


def test_failure_is_reported_and_never_published(project, monkeypatch, capsys):
    from sspd.cli import main

    results, scratch = _roots(project)
    grid = build_grid("toy", **{**SMALL, "variants": ["full"], "references": ()})
    spec = grid.runs[0]
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("boom: the data went missing")

    monkeypatch.setattr(runner, "_train", broken)
    assert runner.execute(spec, grid.protocols) == "failed"
    assert "boom" in (scratch / spec.id / "error.txt").read_text()
    assert json.loads((scratch / spec.id / "failed.json").read_text())["phase"] == "train"
    assert not (results / spec.id).exists()
    assert runner.status_lines(runner.status_table(grid))[0] == f"{spec.id} failed full 0 toy"
    # not retried unless asked; the command reports it and exits 1
    args = ["study", "--data", "toy", "--cross-sets", "none", "--preset", "smoke", "--variants", "full",
            "--seeds", "0", "--set", "max_steps=1", "--no-official", "--quiet", "--n-boot", "10"]
    assert main(args + ["--group", "ablation"]) == 1
    assert len(calls) == 1 and "failed: " + spec.id in capsys.readouterr().out
    monkeypatch.undo()
    monkeypatch.setenv("SSPD_ROOT", str(project))
    assert runner.run_grid(grid, retry_failed=True, n_boot=10, progress=False)["status"].tolist() == ["done"]
    assert not (scratch / spec.id / "failed.json").exists()


def test_a_live_lock_means_running_and_a_stale_one_is_taken_over(project):
    _, scratch = _roots(project)
    grid = build_grid("toy", **{**SMALL, "variants": ["full"], "references": ()})
    spec = grid.runs[0]
    lock = scratch / spec.id / "lock.json"
    lock.parent.mkdir(parents=True)
    import socket

    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert runner.item_status(spec) == "running"
    assert runner.execute(spec, grid.protocols) == "running"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    assert runner.item_status(spec) == "pending"


def test_real_dataset_path_on_ubfc_fixture(project, tmp_path):
    """A UBFC-format folder -> preprocess -> a grid with an explicit split file -> results."""
    from sspd.data.toy import drawn_face
    from sspd.data.ubfc import write_ubfc2_subject
    from sspd.study.chapter import load, prepare_real_dataset, reference_results

    raw = tmp_path / "UBFC"
    n = 60
    t = np.arange(n) / 30.0
    for s in ("1", "2", "3", "4", "5"):
        level = np.rint(3 + 3 * np.sin(2 * np.pi * 1.2 * t + int(s))).astype(int)
        frames = np.stack([drawn_face(level=int(v)) for v in level])
        write_ubfc2_subject(raw / f"subject{s}", frames, np.sin(2 * np.pi * 1.2 * t), np.full(n, 72.0), t)
    name = prepare_real_dataset(raw, "ubfc")
    assert name == "ubfc" and (project / "data" / "cache" / "ubfc").is_dir()
    split = tmp_path / "my_split.json"
    split.write_text(json.dumps({"train": ["1", "2", "3"], "test": ["4", "5"]}))
    grid = build_grid(name, split_file=split, **{**SMALL, "variants": ["full"]})
    assert all(dict(r.split_files) == {"ubfc": str(split.resolve())} for r in grid)
    # the split is part of the identity
    split2 = tmp_path / "other.json"
    split2.write_text(json.dumps({"train": ["1", "2"], "test": ["3", "4"]}))
    assert build_grid(name, split_file=split2, **SMALL).runs[0].id != grid.runs[0].id
    # live references read the same split; the committed grid is still empty
    live = reference_results(grid, live_sets=[name], methods=("green",), n_boot=10,
                             split_files={name: split})
    assert live.metrics["source"].tolist() == ["live"] and live.metrics["n_subjects"].tolist() == [2]
    table = runner.run_grid(grid, n_boot=10, progress=False)
    assert (table["status"] == "done").all()
    state = load(grid, "ablation")
    assert set(state.results.metrics["test_set"]) == {"ubfc"} and state.orphans == []
    assert (state.status["status"] == "done").all() and len(state.status) == 2


# ----------------------------------------------------------------------------- tables and figures


def _fake_results(variants=("full", "no-mdm", "no-reg"), seeds=(0, 1), subjects=6, shift=None, controls=None):
    """Metrics and windows of imaginary runs, built the way collect() returns them.
    ``shift``: {variant: error shift of its rows, one number or one per seed};
    ``controls``: {variant: error shift of its initial-weights control rows} (none by default)."""
    rng = np.random.default_rng(0)
    shift = shift or {"full": 0.0, "no-mdm": 0.2, "no-reg": 8.0}
    rows, wins = [], []
    items = [("ablation", v, s, False) for v in variants for s in seeds] + [("reference", "pos", None, False)]
    items += [("ablation", v, s, True) for v in (controls or {}) for s in seeds]
    for group, variant, seed, control in items:
        offset = controls[variant] if control else shift.get(variant, 5.0) if group == "ablation" else 5.0
        offset = offset[seeds.index(seed)] if isinstance(offset, tuple) else offset
        key = {"id": f"{variant}{seed}", "kind": "train" if seed is not None else "reference",
               "group": group, "variant": variant, "label": variant, "seed": seed, "train_set": "x",
               "control": control, "test_set": "x", "protocol": "windowed"}
        _fake_run(rng, key, offset, subjects, rows, wins)
    return study_results.StudyResults(pd.DataFrame(rows), pd.concat(wins, ignore_index=True))


def _fake_run(rng, key: dict, offset: float, subjects: int, rows: list, wins: list) -> None:
    """One imaginary scored run (5 windows per subject, errors N(offset, 2) bpm) appended to
    ``rows`` (its metrics) and ``wins`` (its windows)."""
    hr_gt = np.repeat(rng.uniform(60, 100, subjects), 5)
    err = rng.normal(0, 2, len(hr_gt)) + offset
    w = pd.DataFrame({"subject": np.repeat([str(i) for i in range(subjects)], 5), "hr_gt": hr_gt,
                      "hr_pred": hr_gt + err, "error": err, "abs_error": np.abs(err)})
    wins.append(w.assign(**key))
    rows.append({**key, "method": "sspd-initial" if key["control"] else key["variant"], "MAE": w["abs_error"].mean(),
                 "RMSE": float(np.sqrt((err ** 2).mean())), "r": np.corrcoef(w.hr_pred, w.hr_gt)[0, 1],
                 "measured_min": 40.0})


def _fake_cross(cells: dict, seeds=(0, 1), reference: dict | None = None, subjects=8):
    """Imaginary cross-dataset results: ``cells`` {(train set, test set): error offset of the
    full model trained on one and scored on the other}, each with ``seeds``; ``reference``
    {test set: offset of a reference method "pos"}."""
    rng = np.random.default_rng(1)
    rows, wins = [], []
    for (train, test), offset in cells.items():
        for seed in seeds:
            key = {"id": f"{train}{seed}", "kind": "train", "group": "cross", "variant": "full", "label": "full",
                   "seed": seed, "train_set": train, "control": False, "test_set": test, "protocol": "windowed"}
            _fake_run(rng, key, offset, subjects, rows, wins)
    for test, offset in (reference or {}).items():
        key = {"id": "pos", "kind": "reference", "group": "reference", "variant": "pos", "label": "pos",
               "seed": None, "train_set": None, "control": False, "test_set": test, "protocol": "windowed"}
        _fake_run(rng, key, offset, subjects, rows, wins)
    return study_results.StudyResults(pd.DataFrame(rows), pd.concat(wins, ignore_index=True))


def test_seed_bootstrap_matches_direct_computation():
    res = _fake_results()
    w = res.windows[res.windows["variant"] == "full"]
    out = study_results.seed_bootstrap(w, n_boot=200)
    direct = np.mean([g["abs_error"].mean() for _, g in w.groupby("seed")])
    assert out["MAE"] == pytest.approx(direct)
    r = np.mean([np.corrcoef(g.hr_pred, g.hr_gt)[0, 1] for _, g in w.groupby("seed")])
    assert out["r"] == pytest.approx(r)
    assert out["MAE_lo"] < out["MAE"] < out["MAE_hi"] and out["n_seeds"] == 2 and out["n_subjects"] == 6


def test_ablation_table_marks_differences_beyond_seed_noise():
    table = study_results.ablation_table(_fake_results(), n_boot=100)
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["MAE"].is_monotonic_increasing
    flags = table.set_index("variant")["exceeds_seed_noise"]
    assert bool(flags["no-reg"]) and not bool(flags["no-mdm"]) and not bool(flags["full"])
    assert not bool(flags["pos"])                                  # references are not tested
    assert table.attrs["seed_sd_dof"] == 3 and np.isfinite(table.attrs["seed_sd_pooled"])
    assert {"MAE_sd", "RMSE_lo", "r_hi", "delta_MAE", "noise_MAE"} <= set(table.columns)
    # the subject-paired change against the full model: no-reg errs by 8 bpm more on every subject
    paired = table.set_index("variant")
    assert 4 < paired.loc["no-reg", "paired_delta_lo"] < paired.loc["no-reg", "paired_delta_hi"] < 8
    assert abs(paired.loc["no-mdm", "paired_delta"]) < 1
    assert np.isnan(paired.loc["full", "paired_delta"]) and np.isnan(paired.loc["pos", "paired_delta"])
    res = _fake_results()
    w = res.windows[res.windows["variant"].isin(["no-reg", "full"])]
    direct = (w.groupby(["variant", "seed", "subject"])["abs_error"].mean().groupby(["variant", "subject"]).mean()
              .unstack("variant").eval("`no-reg` - full").mean())
    assert paired.loc["no-reg", "paired_delta"] == pytest.approx(direct)
    assert "paired Δ per subject [95% CI]" in chapter.readable(table).columns
    words = chapter.verdicts(table).splitlines()
    assert words[0].startswith("past seed noise (1 of ") and "no-reg (+" in words[0]
    assert words[1].startswith("within seed noise") and "no-mdm (" in words[1] and "Holm p" in words[1]
    assert "no-reg" not in words[1] and "full" not in "".join(words) and "pos" not in "".join(words)
    assert words[2] == "of those past seed noise, still past after Holm's correction over the 2 variants (p < 0.05): no-reg"
    lucky = table.assign(survives_holm=False)            # past the one-comparison threshold only
    assert chapter.verdicts(lucky).splitlines()[2].endswith("(p < 0.05): none")
    assert chapter.verdicts(table[table["variant"] == "full"]).startswith("no ablation variant")


def test_seed_noise_test_is_students_t_on_the_pooled_sd_with_holm_over_variants():
    # two variants only: the pooled-SD test is the equal-variance two-sample t test of seed MAEs
    res = _fake_results(variants=("full", "no-reg"), seeds=(0, 1, 2), shift={"full": 0.0, "no-reg": 1.0})
    table = study_results.ablation_table(res, n_boot=50).set_index("variant")
    m = res.metrics[res.metrics["group"] == "ablation"]
    direct = scipy.stats.ttest_ind(m[m.variant == "no-reg"]["MAE"], m[m.variant == "full"]["MAE"])
    assert table.loc["no-reg", "p_seed"] == pytest.approx(direct.pvalue)
    assert table.loc["no-reg", "exceeds_seed_noise"] == (direct.pvalue < 0.05)
    half_width = table.loc["no-reg", "noise_MAE"]     # the threshold is where p crosses 0.05
    se = half_width / scipy.stats.t.ppf(0.975, 4)
    assert 2 * scipy.stats.t.sf(half_width / se, 4) == pytest.approx(0.05)
    # three variants: Holm multiplies the smallest p by 2 (the variants tested), then steps down
    table = study_results.ablation_table(_fake_results(), n_boot=50).set_index("variant")
    p = table.loc[["no-mdm", "no-reg"], "p_seed"].sort_values()
    assert table.loc[p.index[0], "p_holm"] == pytest.approx(min(1.0, 2 * p.iloc[0]))
    assert table.loc[p.index[1], "p_holm"] == pytest.approx(max(min(1.0, 2 * p.iloc[0]), p.iloc[1]))
    assert np.isnan(table.loc["full", "p_seed"]) and np.isnan(table.loc["pos", "p_holm"])
    assert bool(table.loc["no-reg", "survives_holm"]) and not bool(table.loc["no-mdm", "survives_holm"])
    # one seed each: no degrees of freedom, so nothing can exceed seed noise
    table = study_results.ablation_table(_fake_results(seeds=(0,)), n_boot=50)
    assert not table["exceeds_seed_noise"].any() and table["p_seed"].isna().all()
    assert chapter.verdicts(table).splitlines()[-1] == "not testable (no seed-noise estimate yet: no variant has 2 seeds): no-mdm, no-reg"


def test_a_variant_whose_seeds_disagree_is_named_with_its_variance_ratio_test():
    res = _fake_results(seeds=(0, 1, 2), shift={"full": 0.0, "no-mdm": 0.2, "no-reg": (0.0, 12.0, 24.0)})
    table = study_results.ablation_table(res, n_boot=50)
    by = table.set_index("variant")
    sd = res.metrics[res.metrics["group"] == "ablation"].groupby("variant")["MAE"].std()
    assert by.loc["no-reg", "p_spread"] == pytest.approx(scipy.stats.f.sf(sd["no-reg"] ** 2 / sd["full"] ** 2, 2, 2))
    assert by.loc["no-reg", "wider_seed_spread"] and not by.loc["no-mdm", "wider_seed_spread"]
    assert np.isnan(by.loc["full", "p_spread"]) and np.isnan(by.loc["pos", "p_spread"])
    line = chapter.verdicts(table).splitlines()[-1]
    assert line.startswith("seeds disagree more than the full model's") and "no-reg (seed SD" in line
    assert "no-mdm" not in line and f"pooled seed SD ({table.attrs['seed_sd_pooled']:.1f} bpm)" in line
    # equal spreads (the default fake), or a single seed each: no such line
    for quiet in (_fake_results(), _fake_results(seeds=(0,))):
        assert "seeds disagree" not in chapter.verdicts(study_results.ablation_table(quiet, n_boot=50))


def test_control_table_says_which_runs_learned_and_tables_leave_controls_out():
    plain = _fake_results()
    res = _fake_results(controls={"full": 20.0, "no-mdm": 0.2})
    table = study_results.control_table(res, n_boot=200).set_index("row")
    assert set(table.index) == {"full", "no-mdm"}                 # no-reg has no control rows
    assert table.loc["full", "learned"] and not table.loc["no-mdm", "learned"]
    assert table.loc["full", "change"] == pytest.approx(table.loc["full", "change_lo":"change_hi"].mean(), abs=3)
    assert table.loc["full", "change_lo"] < table.loc["full", "change"] < table.loc["full", "change_hi"] < 0
    assert table.loc["full", "MAE_initial"] > 15 > table.loc["full", "MAE_trained"]
    assert table.loc["full", "n_seeds"] == 2 and table.loc["full", "n_subjects"] == 6
    # the control rows change no other table: the same rows and numbers as without them
    for fn in (study_results.ablation_table, study_results.subject_table):
        a = fn(plain) if fn is study_results.subject_table else fn(plain, n_boot=50)
        b = fn(res) if fn is study_results.subject_table else fn(res, n_boot=50)
        pd.testing.assert_frame_equal(a, b)
    assert study_results.control_table(plain).empty
    assert res.without_control() == ["no-reg0", "no-reg1"]                   # trained runs, no control rows
    assert plain.without_control() == ["full0", "full1", "no-mdm0", "no-mdm1", "no-reg0", "no-reg1"]
    import matplotlib

    matplotlib.use("Agg")
    from sspd.study import figures

    ax = figures.control_figure(table.reset_index())
    notes = [t.get_text() for t in ax.texts if "[" in t.get_text()]
    assert len(notes) == 2 and notes[0].startswith("-")                      # full: a negative change
    figures.control_figure(pd.DataFrame())
    # the ranked plot's seed dots are the trained runs, never their initial weights
    ax = figures.ablation_ranking(study_results.ablation_table(res, n_boot=20), per_run=res.metrics)
    dots = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if len(c.get_offsets())])
    assert len(dots) and dots.max() < 15
    matplotlib.pyplot.close("all")


def test_cross_table_subjects_cost_and_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sspd.study import figures

    res = _fake_results()
    res.metrics.loc[res.metrics["group"] == "ablation", "group"] = "cross"
    res.windows.loc[res.windows["group"] == "ablation", "group"] = "cross"
    cross = study_results.cross_table(res, n_boot=50)
    assert set(cross["row"]) == {"SSPD trained on x", "pos"} and cross["intra"].iloc[0]
    subjects = study_results.subject_table(res)
    assert set(subjects["n_seeds"]) == {1, 2} and len(subjects) == 2 * 6
    ablation = study_results.ablation_table(_fake_results(), n_boot=50)
    status = pd.DataFrame({"id": ["a", "b", "c"], "status": ["done", "pending", "failed"],
                           "group": ["ablation", "ablation", "cross"], "variant": ["full", "full", "full"],
                           "seed": [0, 1, 0], "train_set": "x", "test_sets": "x", "progress": "",
                           "est_min": [60.0, 60.0, 90.0], "measured_min": [50.0, np.nan, np.nan],
                           "error": ["", "", "boom"]})
    cost = study_results.cost_summary(status)
    assert cost.set_index("group").loc["all", "est_h_left"] == pytest.approx(2.5)
    assert study_results.missing_table(status)["id"].tolist() == ["b", "c"]
    figures.plan_figure(status)
    figures.ablation_ranking(ablation, per_run=_fake_results().metrics)
    figures.cross_heatmap(cross)
    figures.subject_heatmap(subjects, "x")
    figures.ablation_ranking(pd.DataFrame())
    plt.close("all")


def test_transfer_table_sets_each_row_against_the_network_trained_on_the_test_set():
    cells = {("a", "a"): 0.0, ("b", "a"): 8.0, ("a", "b"): 0.3, ("b", "b"): 0.0}
    res = _fake_cross(cells, reference={"a": 4.0, "b": 0.0})
    table = study_results.transfer_table(res, n_boot=200, test_sets=["b", "a"])
    assert list(dict.fromkeys(table["test_set"])) == ["b", "a"]
    assert set(table["intra"]) == {"SSPD trained on a", "SSPD trained on b"}
    on_a = table[table["test_set"] == "a"].set_index("row")
    assert set(on_a.index) == {"SSPD trained on b", "pos"} and on_a["delta_MAE"].is_monotonic_increasing
    assert on_a.loc["SSPD trained on b", "kind"] == "cross-dataset" and on_a.loc["pos", "kind"] == "reference"
    # the seed SD is pooled over the runs scored on "a", per training set: 2 groups of 2 seeds, 2 dof,
    # so the cross-dataset comparison is the equal-variance two-sample t test of their seed MAEs
    m = res.metrics[res.metrics["test_set"] == "a"]
    direct = scipy.stats.ttest_ind(m[m.train_set == "b"]["MAE"], m[m.train_set == "a"]["MAE"])
    assert on_a.loc["SSPD trained on b", "p_seed"] == pytest.approx(direct.pvalue)
    s, dof = table.attrs["seed_sd"]["a"]
    assert dof == 2 and s == pytest.approx(np.sqrt(m.groupby("train_set")["MAE"].var().mean()))
    # a reference has no seeds: the SE of its difference is that of the intra seed mean alone
    se = s / np.sqrt(2)
    assert on_a.loc["pos", "p_seed"] == pytest.approx(2 * scipy.stats.t.sf(abs(on_a.loc["pos", "delta_MAE"]) / se, 2))
    assert table["p_holm"].min() >= table["p_seed"].min()
    assert on_a.loc["SSPD trained on b", "clear"] and on_a.loc["SSPD trained on b", "paired_delta_lo"] > 4
    on_b = table[table["test_set"] == "b"].set_index("row")
    assert not on_b.loc["SSPD trained on a", "clear"] and not on_b.loc["pos", "clear"]
    words = chapter.transfer_verdicts(table).splitlines()
    assert words[0].startswith("on b, against SSPD trained on b (") and "bpm, 2 seeds): " in words[0]
    assert "higher error, past seed noise and the subject CI (0): none" in words[0] and "not separable (2): " in words[0]
    assert "SSPD trained on b (+" in words[1].split("higher error, past seed noise and the subject CI (2): ")[1]
    kept = table[table["clear"] & table["survives_holm"]]
    survivors = kept["row"] + " on " + kept["test_set"]
    assert words[2] == ("of those past seed noise and the subject CI, still past after Holm's correction over the "
                        "4 comparisons (p < 0.05): " + (", ".join(survivors) or "none"))
    assert words[3].startswith("cross-dataset penalty") and "over 2 off-diagonal cells" in words[3]
    assert "past seed noise and the paired CI in 1 of 2" in words[3]
    # one seed: no seed-noise estimate, so the verdict leans on the subject CI and says so
    one = study_results.transfer_table(_fake_cross(cells, seeds=(0,)), n_boot=100)
    assert one["p_seed"].isna().all() and not one["clear"].any()
    assert "no seed-noise estimate yet" in chapter.transfer_verdicts(one)
    # a test set nothing was trained on has no intra row, so it is not in the table
    only_a = study_results.transfer_table(_fake_cross({("a", "a"): 0.0, ("a", "b"): 1.0}, reference={"b": 0}), n_boot=50)
    assert set(only_a["test_set"]) <= {"a"} and only_a.empty
    assert chapter.transfer_verdicts(only_a).startswith("no test set has a run trained on it")
    import matplotlib

    matplotlib.use("Agg")
    from sspd.study import figures

    axes = figures.transfer_figure(table)
    assert len(axes) == 2 and [t.get_text() for t in axes[0].get_yticklabels()][0].startswith("SSPD trained on")
    red = [c for c in axes[1].lines if matplotlib.colors.same_color(c.get_color(), "C3")]
    assert red                                              # "trained on b" scored on a: clearly worse
    figures.transfer_figure(only_a)
    matplotlib.pyplot.close("all")


# ----------------------------------------------------------------------------- config options


def test_student_view_global_is_the_teacher_view_without_lga():
    clip = torch.from_numpy(noisy_pulse_frames(9, size=151, seed=3)).unsqueeze(0).repeat(2, 1, 1, 1, 1)
    cfg = AugmentConfig(student_view="global", mask_keep=1.0, flips=False)
    v_m, v_o = local_global_views(clip, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(v_m, v_o)
    # default unchanged: "local" is a native-scale crop, drawn from the same stream as before
    a = local_global_views(clip, AugmentConfig(), torch.Generator().manual_seed(5))
    b = local_global_views(clip, AugmentConfig(student_view="local"), torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="student_view"):
        AugmentConfig(student_view="both")


def test_s3m_kernels_sets_the_pyramid_depth(tmp_path):
    from sspd.model import inference_state_dict
    from sspd.train.loop import _Dist, setup

    cfg = TrainConfig.from_recipe("smoke", data="toy", split="all").with_overrides(["s3m_kernels=[9]"])
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert cfg.s3m_kernels == (9,) and again.s3m_kernels == (9,)
    old = TrainConfig.from_recipe("smoke").to_dict()
    old.pop("s3m_kernels")                               # configs written before the field existed
    assert TrainConfig.from_dict(old).s3m_pyramid == (9, 7, 5)
    entries = [_toy_recording(1), _toy_recording(2)]
    shallow = setup(cfg, tmp_path / "a", False, entries, [], _Dist())
    deep = setup(TrainConfig.from_recipe("smoke", data="toy", split="all"), tmp_path / "b", False, entries, [],
                 _Dist())
    assert len(shallow.online.s3m.blocks) == 1 and len(deep.online.s3m.blocks) == 3
    assert inference_state_dict(shallow.online).keys() == inference_state_dict(deep.online).keys()
    with pytest.raises(ValueError, match="s3m_kernels"):
        TrainConfig.from_recipe("smoke", s3m_kernels=[])
    shallow.log.close()
    deep.log.close()


def test_learning_curves_read_validation_logs_and_mark_the_chosen_step(project):
    import matplotlib

    matplotlib.use("Agg")
    from sspd.study import figures

    results, _ = _roots(project)
    grid = build_grid("toy", **SMALL)
    spec = next(r for r in grid if r.kind == "train")
    assert study_results.learning_curves(grid, results).empty
    folder = results / spec.id
    folder.mkdir(parents=True)
    (folder / "study.json").write_text("{}")
    pd.DataFrame({"step": [0, 0, 10, 10, 20, 20], "network": ["teacher", "student"] * 3,
                  "MAE": [30.0, 31.0, 12.0, 13.0, 15.0, 16.0], "r": 0.5}).to_csv(folder / "val_log.csv", index=False)
    (folder / "best.json").write_text(json.dumps({"step": 10, "MAE": 12.0}))
    curves = study_results.learning_curves(grid, results)
    assert curves["step"].tolist() == [0, 10, 20] and curves["MAE"].tolist() == [30.0, 12.0, 15.0]
    assert curves["chosen"].tolist() == [False, True, False] and set(curves["variant"]) == {spec.variant}
    ax = figures.learning_curves(curves)
    assert len(ax.lines) == 2 and ax.get_legend().get_texts()[0].get_text().endswith("(n=1)")
    matplotlib.pyplot.close("all")


def test_breadth_first_runs_seed_zero_of_every_variant_before_any_seed_one(project, monkeypatch):
    grid = build_grid("toy", **{**SMALL, "seeds": [0, 1]})
    ran = []
    monkeypatch.setattr(runner, "execute", lambda spec, *a, **k: ran.append(spec) or "pending")
    runner.run_grid(grid, groups=["ablation"], max_runs=2, prepare=False, progress=False)
    assert [(s.variant, s.seed) for s in ran] == [("full", 0), ("full", 1)]          # grid order
    ran.clear()
    runner.run_grid(grid, groups=["ablation"], max_runs=2, prepare=False, progress=False, breadth_first=True)
    assert [(s.variant, s.seed) for s in ran] == [("full", 0), ("no-mdm", 0)]
