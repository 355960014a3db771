"""Training loop: EMA schedule, smoke run, resume, non-finite loss, DDP (sspd.train)."""
import argparse
import csv
import json
import os
import shutil
import socket

import numpy as np
import pandas as pd
import pytest
import torch

from sspd.data.recording import Recording
from sspd.train.config import RECIPES, TrainConfig
from sspd.train.ema import ema_momentum, ema_update, make_target


# ----------------------------------------------------------------------------- helpers

def _recordings(n=2, n_frames=40, fps=30.0, seed=100):
    """Tiny 151x151 'face crops' with a 1.2 Hz colour pulse plus noise."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed + i)
        t = np.arange(n_frames) / fps
        base = rng.integers(80, 160, (151, 151, 3)).astype(np.float32)
        pulse = 2.0 * np.sin(2 * np.pi * 1.2 * t)
        frames = base[None] + pulse[:, None, None, None] + rng.normal(0, 1, (n_frames, 151, 151, 3))
        out.append(Recording(frames=np.clip(frames, 0, 255).astype(np.uint8), timestamps=t,
                             fps_nominal=fps, dataset="toy", subject=str(i + 1),
                             bvp=np.sin(2 * np.pi * 1.2 * t)))
    return out


def _smoke(data, **kw):
    # 2 videos, batch 2 -> 1 iteration per epoch, 2 epochs, 2 iterations
    return TrainConfig.from_recipe("smoke", data=str(data), **{"split": "all", **kw})


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    from sspd.data.cache import ClipCache, PreprocessConfig

    folder = tmp_path_factory.mktemp("cache")
    for rec in _recordings():
        ClipCache(folder).build(rec, PreprocessConfig())
    return folder


@pytest.fixture(scope="module")
def full_run(cache_dir, tmp_path_factory):
    """An uninterrupted smoke run reading the clip cache from disk."""
    from sspd.train.loop import train

    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("full")
    result = train(_smoke(cache_dir), out, progress=False)
    return out, result


# ----------------------------------------------------------------------------- EMA


def test_ema_schedule_values():
    K = 90
    m = [ema_momentum(k, K, 0.9) for k in range(K)]
    assert m[0] == pytest.approx(0.9)
    assert m[-1] == pytest.approx(0.99997, abs=1e-5)       # value quoted in book/method_reference.md §5
    assert m[K // 2] == pytest.approx(0.95)
    assert all(b > a for a, b in zip(m, m[1:]))
    with pytest.raises(ValueError):
        ema_momentum(K, K)


def test_ema_updates_parameters_only():
    torch.manual_seed(0)
    online = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    target = make_target(online)
    assert all(not p.requires_grad for p in target.parameters()) and target.training
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    online(torch.randn(8, 3))                    # changes the online BN running stats
    buffers_before = {k: v.clone() for k, v in target.named_buffers()}
    t0 = [p.clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for p_t, p_0, p_o in zip(target.parameters(), t0, online.parameters()):
        assert torch.allclose(p_t, 0.9 * p_0 + 0.1 * p_o)
    for k, v in target.named_buffers():
        assert torch.equal(v, buffers_before[k]), k   # buffers are not averaged (faithful)


# ----------------------------------------------------------------------------- config


def test_recipes_and_overrides(tmp_path):
    paper = TrainConfig.from_recipe("paper")
    assert (paper.batch_size, paper.T, paper.epochs, paper.windows_per_video) == (12, 300, 30, 1)
    assert paper.lr == 1e-3 and paper.weight_decay == 0 and paper.ema_m0 == 0.9
    assert paper.effective_batch == 12 and paper.accum_steps == 1
    study = TrainConfig.from_recipe("study")
    assert study.T < paper.T and study.effective_batch == paper.effective_batch and study.augment.size == 128
    assert study.amp == "bf16" and study.val_every and study.val_fraction > 0
    assert set(RECIPES) >= {"paper", "study", "smoke"}
    c = study.with_overrides(["augment.crop=topleft", "T=200", "loss.w_freq=0"])
    assert c.augment.crop == "topleft" and c.T == 200 and c.loss.w_freq == 0
    path = tmp_path / "c.json"
    path.write_text(json.dumps(c.to_dict()))
    assert TrainConfig.from_json(path).to_dict() == json.loads(json.dumps(c.to_dict()))
    with pytest.raises(ValueError, match="T=10"):
        TrainConfig(T=10)
    with pytest.raises(ValueError, match="unknown field"):
        study.with_overrides(["nonsense=1"])
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")


def test_training_entries_hold_out_a_validation_fold(cache_dir, tmp_path, monkeypatch):
    from sspd.errors import DataError
    from sspd.train.loop import training_entries

    fit, val = training_entries(_smoke(cache_dir))             # split "all": no validation fold
    assert len(fit) == 2 and val == []
    monkeypatch.setenv("SSPD_ROOT", str(tmp_path))
    with pytest.raises(DataError, match="no split file"):
        training_entries(_smoke(cache_dir, split="train", val_fraction=0.5))
    (tmp_path / "data" / "splits").mkdir(parents=True)
    (tmp_path / "data" / "splits" / f"{cache_dir.name}.json").write_text(
        json.dumps({"train": ["1", "2"], "test": ["3"]}))
    fit, val = training_entries(_smoke(cache_dir, split="train", val_fraction=0.5))
    assert [e.subject for e in fit] == ["1"] and [e.subject for e in val] == ["2"]
    fit, val = training_entries(_smoke(cache_dir, split="train", val_fraction=0.0))
    assert [e.subject for e in fit] == ["1", "2"] and val == []
    with pytest.raises(DataError, match="neither a synthetic preset"):
        training_entries(_smoke(tmp_path / "nowhere"))


def test_clip_stream_is_a_pure_function_of_the_index():
    from sspd.data.dataset import ClipStream

    recs = _recordings(n=3, n_frames=40)
    a, b = ClipStream(recs, n_frames=33, seed=5), ClipStream(recs, n_frames=33, seed=5)
    assert a.clips_per_epoch == 3
    # one epoch visits every video once
    assert sorted(a.clip(k)["subject"] for k in range(3)) == ["1", "2", "3"]
    assert all(torch.equal(a.clip(k)["frames"], b.clip(k)["frames"]) for k in (7, 2, 0))
    starts = {a.clip(k)["start"] for k in range(30)}
    assert starts <= set(range(0, 40 - 33 + 1)) and len(starts) > 2
    batch = a.batch([0, 1])
    assert batch["frames"].shape == (2, 33, 151, 151, 3) and batch["fps"].tolist() == [30.0, 30.0]


# ----------------------------------------------------------------------------- training


def test_smoke_training_writes_everything(full_run):
    from sspd.model import SSPD, inference_state_dict

    out, result = full_run
    assert result.steps_done == result.total_steps == 2
    for name in ("checkpoint.pt", "train_log.csv", "config.json", "manifest.json", "model_inference.pt",
                 "model_initial.pt", "model_target_s3m.pt", "model_inference_online.pt"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [int(r["step"]) for r in rows] == [0, 1]
    assert {"loss", "rpd", "tspd", "reg", "freq", "momentum", "fs", "grad_norm"} <= set(rows[0])
    assert float(rows[0]["momentum"]) == pytest.approx(0.9) and float(rows[0]["fs"]) == pytest.approx(30.0)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    cfg = TrainConfig.from_json(out / "config.json")
    assert cfg.T == 32 and cfg.recipe == "smoke"
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 0 and "git_sha" in man and man["total_steps"] == 2
    # exported weights = the EMA teacher's inference weights, official key layout, strict load
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    exported = torch.load(out / "model_inference.pt", weights_only=True)
    model = SSPD(s3m=False)
    model.load_state_dict(exported, strict=True)
    teacher = SSPD(s3m=True)
    teacher.load_state_dict(ckpt["target"])
    assert _state_equal(exported, inference_state_dict(teacher))
    assert _state_equal(torch.load(out / "model_target_s3m.pt", weights_only=True), ckpt["target"])
    # the initial weights are the seeded initialisation, and training moved away from them
    torch.manual_seed(0)
    assert _state_equal(torch.load(out / "model_initial.pt", weights_only=True),
                        inference_state_dict(SSPD(s3m=True)))
    assert not _state_equal(torch.load(out / "model_initial.pt", weights_only=True), exported)
    # teacher moved by EMA (not equal to online, not equal to its init) and its BN ran in train mode
    assert not torch.equal(ckpt["target"]["backbone_step1.Conv_Layer1.weight"],
                           ckpt["online"]["backbone_step1.Conv_Layer1.weight"])
    assert int(ckpt["target"]["BN.num_batches_tracked"]) == 2
    assert result.target.training  # never put in eval mode


def test_accumulation_and_validation(tmp_path):
    """Two micro-batches per step, bf16 autocast, a validation fold scored at steps 0, 1 and 2."""
    from sspd.train.loop import train

    torch.set_num_threads(2)
    fit, val = _recordings(n=2, n_frames=40), _recordings(n=1, n_frames=400, seed=7)
    cfg = _smoke("toy", accum_steps=2, epochs=4, amp="bf16", val_every=1, val_seconds=None)
    result = train(cfg, tmp_path / "run", progress=False, entries=fit, val_entries=val)
    assert result.steps_done == 2 and result.total_steps == 2
    log = pd.read_csv(tmp_path / "run" / "val_log.csv")
    assert log["step"].tolist() == [0, 0, 1, 1, 2, 2]
    assert set(log["network"]) == {"teacher", "student"} and np.isfinite(log["MAE"]).all()
    videos = pd.read_csv(tmp_path / "run" / "val_videos.csv")
    assert {"hr_pred", "hr_gt", "window_mae", "waveform_r", "snr_db"} <= set(videos.columns)
    assert videos["hr_gt"].round().eq(72).all()             # the toy pulse is 1.2 Hz
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    teacher = log[log.network == "teacher"]
    assert best["MAE"] == pytest.approx(teacher["MAE"].min())
    assert best["step"] == int(teacher.loc[teacher["MAE"].idxmin(), "step"])
    assert (tmp_path / "run" / "model_best.pt").is_file()


def test_resume_is_bit_identical_and_nonfinite_keeps_checkpoint(full_run, cache_dir, tmp_path, monkeypatch):
    import sspd.train.loop as loop

    ref_out, _ = full_run
    out = tmp_path / "resumed"
    first = loop.train(_smoke(cache_dir), out, progress=False, stop_after_step=1)
    assert first.steps_done == 1 and first.inference_weights is None
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)

    second = loop.train(_smoke(cache_dir), out, progress=False)
    assert second.resumed_from_step == 1 and second.steps_done == 2
    assert (out / "manifest.json").is_file() and (out / "manifest_resumed_step0001.json").is_file()
    a = torch.load(ref_out / "checkpoint.pt", weights_only=True)
    b = torch.load(out / "checkpoint.pt", weights_only=True)
    assert _state_equal(a["online"], b["online"])
    assert _state_equal(a["target"], b["target"])
    assert a["step"] == b["step"] == 2
    ref_rows = list(csv.DictReader(open(ref_out / "train_log.csv")))
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]

    # resuming with a different config is refused rather than silently mixed
    with pytest.raises(Exception, match="different config"):
        loop.train(_smoke(cache_dir, seed=1), out, progress=False)
    with pytest.raises(Exception, match="already exists"):
        loop.train(_smoke(cache_dir), out, resume=False, progress=False)

    # a NaN loss stops with a clear message and leaves the last good checkpoint untouched
    before = (broken / "checkpoint.pt").read_bytes()

    def nan_loss(online, target, fs, cfg):
        loss = online.rppg.sum() * float("nan")
        return loss, {"loss": float("nan")}

    monkeypatch.setattr(loop, "sspd_loss", nan_loss)
    with pytest.raises(loop.NonFiniteLossError, match="non-finite training loss at step 1") as err:
        loop.train(_smoke(cache_dir), broken, progress=False)
    assert "checkpoint.pt" in str(err.value)
    assert (broken / "checkpoint.pt").read_bytes() == before


def test_cli_builds_config_and_resumes_finished_run(full_run, cache_dir, capsys):
    from sspd.cli import main
    from sspd.train import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--recipe", "study", "--data", "easy-full", "--out", "x", "--steps", "3",
                              "--seed", "7", "--set", "augment.crop=topleft"])
    cfg = cli.build_config(args)
    assert (cfg.max_steps, cfg.seed, cfg.augment.crop, cfg.T) == (3, 7, "topleft", 160)
    out, _ = full_run
    # a finished run resumes instantly (no steps) and re-exports its weights
    rc = main(["train", "--recipe", "smoke", "--data", str(cache_dir), "--split", "all", "--out", str(out),
               "--quiet"])
    assert rc == 0 and "trained 2/2 steps" in capsys.readouterr().out


# ----------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cache, out, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from sspd.train.loop import train

    res = train(_smoke(cache), out, progress=False)
    torch.save({"online": res.online.state_dict(), "target": res.target.state_dict(),
                "steps": res.steps_done}, os.path.join(result_dir, f"rank{rank}.pt"))


@pytest.mark.slow
def test_ddp_two_cpu_processes_identical_weights(cache_dir, tmp_path):
    import torch.multiprocessing as mp

    out, res = tmp_path / "ddp", tmp_path / "ranks"
    res.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(cache_dir), str(out), str(res)), nprocs=2, join=True)
    r0 = torch.load(res / "rank0.pt", weights_only=True)
    r1 = torch.load(res / "rank1.pt", weights_only=True)
    assert r0["steps"] == r1["steps"] == 2
    assert _state_equal(r0["online"], r1["online"])
    assert _state_equal(r0["target"], r1["target"])
    # only rank 0 wrote the run folder, and training did move the weights
    assert (out / "checkpoint.pt").is_file() and (out / "model_inference.pt").is_file()
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert len(rows) == 2


def test_report_scores_every_network_once_and_reuses_pulses(full_run, tmp_path):
    """The run's networks and GREEN on the same recordings; pulses stored and reused."""
    from sspd.train import report

    out, _ = full_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    shutil.copy(run / "model_inference.pt", run / "model_best.pt")   # the smoke run has no validation
    recs = _recordings(n=2, n_frames=360, seed=3)
    table = report.evaluate_run(run, recs, "toy", networks=("best", "initial"), classic=("green",),
                                n_boot=20)
    assert set(table["method"]) == {"sspd-best", "sspd-initial", "green"}
    assert (table["protocol"] == "windowed").all() and (table["n_subjects"] == 2).all()
    # the toy pulse is the same in every channel (POS would cancel it) and plain to see
    assert table.set_index("method").loc["green", "MAE"] < 2.0
    stored = np.load(run / "eval" / "pulses_best.npz")
    assert len(stored.files) == 2 and all(len(stored[k]) == 359 for k in stored.files)
    # a second call reads the stored pulses: tampering with them changes the result
    tampered = {k: np.random.default_rng(0).standard_normal(359).astype(np.float32) for k in stored.files}
    np.savez(run / "eval" / "pulses_best.npz", **tampered)
    again = report.evaluate_run(run, recs, "toy", networks=("best",), classic=(), n_boot=20)
    assert not np.isclose(again.set_index("method").loc["sspd-best", "MAE"],
                          table.set_index("method").loc["sspd-best", "MAE"])
    with pytest.raises(Exception, match="no 'student' network"):
        report.network_pulses(tmp_path / "empty", "student", recs)


def test_publish_run_copies_only_small_artefacts(full_run, tmp_path):
    from sspd.train import report

    out, _ = full_run
    dest = report.publish_run(out, tmp_path / "published", with_s3m=True)
    names = {p.name for p in dest.iterdir()}
    assert {"config.json", "manifest.json", "train_log.csv", "model_inference.pt", "model_target_s3m.pt"} <= names
    assert "checkpoint.pt" not in names and "model_initial.pt" not in names
    s3m = torch.load(dest / "model_target_s3m.pt", weights_only=True)
    assert any(k.startswith("s3m.") for k in s3m)
    assert all(v.dtype in (torch.float16, torch.int64) for v in s3m.values())     # figures only
    with pytest.raises(FileExistsError):
        report.publish_run(out, dest)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    with pytest.raises(Exception, match="not finished"):
        report.publish_run(unfinished, tmp_path / "other")


def test_publish_without_weights_keeps_logs_only(full_run, tmp_path):
    from sspd.train import report

    out, _ = full_run
    dest = report.publish_run(out, tmp_path / "logs-only", weights=False)
    names = {p.name for p in dest.iterdir()}
    assert {"config.json", "train_log.csv", "timing.json"} <= names
    assert not [n for n in names if n.endswith(".pt")]


def test_init_from_starts_both_networks_from_saved_weights(full_run, cache_dir, tmp_path):
    from sspd.errors import DataError
    from sspd.model.network import SSPD, inference_state_dict
    from sspd.train.loop import train

    out, _ = full_run
    saved = torch.load(out / "model_target_s3m.pt", weights_only=True)
    half = tmp_path / "teacher_fp16.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in saved.items()}, half)
    run = tmp_path / "curriculum"
    train(_smoke(cache_dir, init_from=str(half), max_steps=1), run, progress=False)
    initial = torch.load(run / "model_initial.pt", weights_only=True)
    expected = {k: v.half().float() if v.is_floating_point() else v
                for k, v in inference_state_dict_from(saved).items()}
    assert _state_equal(initial, expected)
    # a seeded start differs from it, so the test can fail
    seeded = inference_state_dict(SSPD(s3m=True))
    assert not _state_equal(initial, seeded)
    with pytest.raises(DataError, match="S3M"):
        train(_smoke(cache_dir, init_from=str(out / "model_inference.pt")), tmp_path / "bad", progress=False)
    extra = tmp_path / "extra.pt"
    torch.save({**saved, "head.extra": torch.zeros(1)}, extra)
    with pytest.raises(DataError, match="head.extra"):
        train(_smoke(cache_dir, init_from=str(extra)), tmp_path / "bad2", progress=False)


def inference_state_dict_from(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("s3m.")}


def test_resume_accepts_a_checkpoint_from_before_a_new_config_field(full_run):
    from sspd.train.loop import _check_same_run

    out, _ = full_run
    config = TrainConfig.from_json(out / "config.json")
    old = config.to_dict()
    del old["init_from"]                                      # written before the field existed
    _check_same_run(old, config, out / "checkpoint.pt")       # no error
    with pytest.raises(Exception, match="init_from"):
        _check_same_run(old, config.with_overrides(["init_from=x.pt"]), out / "checkpoint.pt")


def test_experiments_change_one_thing_each():
    from sspd.train.experiments import EXPERIMENT_STEPS, EXPERIMENTS, experiment_config

    names = [e.name for e in EXPERIMENTS]
    assert len(names) == len(set(names))
    bases = {e.data: experiment_config(e).to_dict() for e in EXPERIMENTS if e.name.endswith("-base")}
    budget = ("max_steps", "val_every")
    for e in EXPERIMENTS:
        d = experiment_config(e).to_dict()
        base = bases[e.data]
        assert d["recipe"] == "study" and d["val_every"]
        if d["max_steps"] != EXPERIMENT_STEPS:
            # a budget-matched experiment: more, smaller steps that see exactly the base run's clips
            clips = lambda c: c["max_steps"] * c["batch_size"] * c["accum_steps"]
            assert clips(d) == clips(base), e.name
        changed = [k for k in d if d[k] != base[k] and k not in budget]
        assert len(changed) <= 1, (e.name, changed)
        assert bool(changed) == bool(e.overrides or e.variant), e.name
        if e.variant:
            assert changed == ["data"] and d["data"].endswith(e.data)


def test_postprocessing_is_chosen_on_validation_subjects(full_run, tmp_path):
    from sspd.train import report

    out, _ = full_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    shutil.copy(run / "model_inference.pt", run / "model_best.pt")
    val = _recordings(n=2, n_frames=360, seed=11)
    choice = report.choose_postprocessing(run, val)
    table = pd.read_csv(run / "val_postprocessing.csv").set_index("method")
    assert set(table.index) == {"best", "best-integrated", "initial", "initial-integrated"}
    chosen = "best-integrated" if choice["integrated"] else "best"
    assert choice["val_MAE"] == pytest.approx(table.loc[chosen, "MAE"])
    assert table.loc[chosen, "MAE"] <= table.loc["best" if choice["integrated"] else "best-integrated", "MAE"]
    assert json.loads((run / "choice.json").read_text())["network"] == "best"


def test_criteria_are_computed_from_the_table():
    from sspd.train import report

    table = pd.DataFrame([
        {"method": "sspd-best", "protocol": "windowed", "MAE": 0.8, "MAE_lo": 0.5, "MAE_hi": 1.2, "waveform_r": 0.6},
        {"method": "sspd-initial", "protocol": "windowed", "MAE": 20.0, "MAE_lo": 1.0, "MAE_hi": 30.0,
         "waveform_r": 0.3},
        {"method": "pos", "protocol": "windowed", "MAE": 2.0, "MAE_lo": 1.5, "MAE_hi": 2.5, "waveform_r": 0.9}])
    c = report.criteria(table, "sspd-best").set_index("criterion")["passed"]
    assert c["MAE <= 1.0 bpm"] and c["MAE <= half of sspd-initial"] and c["MAE <= pos + 1.0 bpm"]
    assert not c["CIs disjoint from sspd-initial"]          # 1.2 is not below 1.0
    assert c["waveform r above sspd-initial"]


def test_verdict_applies_the_criteria_of_the_runs_data(tmp_path):
    import json

    from sspd.train import report

    table = pd.DataFrame([
        {"method": "sspd-best-integrated", "protocol": "windowed", "MAE": 0.8, "MAE_lo": 0.5, "MAE_hi": 1.2,
         "waveform_r": 0.2},
        {"method": "sspd-best", "protocol": "windowed", "MAE": 9.0, "MAE_lo": 5.0, "MAE_hi": 12.0, "waveform_r": 0.6},
        {"method": "sspd-initial", "protocol": "windowed", "MAE": 20.0, "MAE_lo": 1.0, "MAE_hi": 30.0,
         "waveform_r": 0.3},
        {"method": "pos", "protocol": "windowed", "MAE": 2.0, "MAE_lo": 1.5, "MAE_hi": 2.5, "waveform_r": 0.9}])
    for data, integrated, expected in (("easy-full", True, (3, 2, "CIs disjoint from sspd-initial")),
                                       ("still-full", True, (2, 1, "waveform r above sspd-initial")),
                                       ("still-full", False, (2, 1, "MAE <= pos + 1.0 bpm")),
                                       ("motion-full", False, (0, 0, "-"))):
        run = tmp_path / f"{data}-{integrated}"
        run.mkdir()
        (run / "choice.json").write_text(json.dumps({"integrated": integrated}))
        (run / "config.json").write_text(json.dumps({"data": data}))
        v = report.verdict(run, table)
        assert (v["required"], v["passed"], v["failed"]) == expected, (data, integrated, v)
        assert v["POS MAE"] == 2.0


def test_validation_predictions_side_by_side(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from sspd import plots
    from sspd.train import report

    def run(name, preds, truth=(60.0, 90.0)):
        d = tmp_path / name
        d.mkdir()
        rows = [(s, "teacher", sub, p, t) for s in (0, 10) for sub, p, t in zip((1, 2), preds, truth)]
        pd.DataFrame(rows, columns=["step", "network", "subject", "hr_pred", "hr_gt"]).to_csv(
            d / "val_videos.csv", index=False)
        pd.DataFrame([(s, "teacher", 5.0 - s / 10) for s in (0, 10)], columns=["step", "network", "MAE"]).to_csv(
            d / "val_log.csv", index=False)
        return d

    a, b = run("a", (120.0, 90.0)), run("b", (61.0, 89.0))
    table = report.validation_predictions([a, b, tmp_path / "missing"])
    assert list(table.columns) == ["hr_gt", "a", "b"] and table.loc[1, "a"] == 120.0
    with pytest.raises(ValueError, match="same validation videos"):
        report.validation_predictions([a, run("c", (60.0, 90.0), truth=(70.0, 90.0))])
    ax = plots.compare_curves({n: report.learning_curves(d) for n, d in (("a", a), ("b", b))})
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]


def test_learning_curves_count_clips_seen_so_batch_sizes_compare_at_equal_compute(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from sspd import plots
    from sspd.train import report

    for name, batch, accum in (("small", 2, 1), ("big", 2, 6)):
        d = tmp_path / name
        d.mkdir()
        pd.DataFrame([(s, "teacher", 10.0) for s in (0, 5, 10)], columns=["step", "network", "MAE"]).to_csv(
            d / "val_log.csv", index=False)
        (d / "config.json").write_text(json.dumps({"batch_size": batch, "accum_steps": accum}))
    small, big = report.learning_curves(tmp_path / "small"), report.learning_curves(tmp_path / "big")
    assert small["clips"].tolist() == [0, 10, 20] and big["clips"].tolist() == [0, 60, 120]
    ax = plots.compare_curves({"small": small, "big": big}, x="clips")
    assert ax.get_lines()[1].get_xdata().tolist() == [0, 60, 120]
    assert ax.get_xlabel() == "training clips seen"
    with pytest.raises(ValueError, match="clips"):
        plots.compare_curves({"small": small}, x="epochs")
    (tmp_path / "bare").mkdir()
    assert "clips" in report.learning_curves(tmp_path / "bare").columns


def test_bf16_runs_in_float32_where_the_cpu_would_emulate_it(monkeypatch):
    """amp='bf16' means bf16 autocast only where the CPU does bf16 natively; emulated bf16 was
    measured 40x slower than float32, so such a CPU trains in float32 and says so."""
    import sspd.train.loop as loop

    cfg, cpu = TrainConfig(amp="bf16"), torch.device("cpu")
    monkeypatch.setattr(loop, "bf16_supported", lambda: True)
    assert loop._autocast_dtype(cfg, cpu) is torch.bfloat16
    monkeypatch.setattr(loop, "bf16_supported", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        assert loop._autocast_dtype(cfg, cpu) is None
    assert loop._autocast_dtype(TrainConfig(amp="off"), cpu) is None


@pytest.mark.parametrize("seconds, saved", [(None, [3]), (0.0, [1, 2, 3])])
def test_slow_steps_are_checkpointed_by_wall_clock(cache_dir, tmp_path, monkeypatch, seconds, saved):
    """checkpoint_seconds adds a checkpoint after any step that ends that long after the last one."""
    import sspd.train.loop as loop

    steps = []
    original = loop.save_checkpoint

    def recording(run, step):
        steps.append(step)
        return original(run, step)

    monkeypatch.setattr(loop, "save_checkpoint", recording)
    cfg = _smoke(cache_dir, epochs=3, max_steps=3, val_every=10)   # val_every: checkpoint every 10 steps
    result = loop.train(cfg, tmp_path / "run", progress=False, checkpoint_seconds=seconds)
    assert result.steps_done == 3 and steps == saved
