"""sspd.evaluate.realism: the published table, the side-by-side builder, resumable runs (no JAX model runs)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sspd.data.synthetic import get_preset
from sspd.data.toy import skin_patch_clip
from sspd.errors import DataError
from sspd.evaluate import realism

PRESET_NAMES = {"easy", "still", "motion", "hard", "synthetic"}


def test_published_rows_are_cited_real_and_never_synthetic():
    df = realism.published_table()
    assert len(df) == len(realism.PUBLISHED) >= 10
    assert df["source"].map(lambda s: isinstance(s, str) and len(s.strip()) >= 10).all()
    assert (df["data"] == "real").all()
    assert set(df["test"]) <= {"UBFC-rPPG", "PURE", "VIPL-HR"}
    assert set(df["test"]) == {m for m in realism.MIMICS.values() if m}
    for col in ("arch", "train", "test"):
        assert not df[col].str.lower().isin(PRESET_NAMES).any(), col
    assert (df["MAE"] > 0).all() and df["MAE"].notna().all()
    # spot checks against shared/reference/evaluation-and-ecosystem.md section 7
    key = df.set_index(["arch", "train", "test"])["MAE"]
    assert key[("PhysNet", "PURE", "UBFC-rPPG")] == 1.63
    assert key[("POS", "none", "PURE")] == 3.67
    assert key[("TSCAN", "PURE", "UBFC-rPPG")] == 1.29


def test_published_table_rejects_uncited_or_synthetic_rows():
    row = dict(realism.PUBLISHED[0])
    with pytest.raises(ValueError, match="citation"):
        realism.published_table([{**row, "source": ""}])
    with pytest.raises(ValueError, match="real"):
        realism.published_table([{**row, "data": "synthetic"}])


def test_method_arch():
    assert realism.method_arch("orppg:PhysNet.pure") == ("PhysNet", "PURE")
    assert realism.method_arch("orppg:ME-chunk.rlap") == ("ME", "RLAP")
    assert realism.method_arch("orppg:TSCAN.pure") == ("TSCAN", "PURE")
    assert realism.method_arch("pos") == ("POS", "none")
    with pytest.raises(ValueError):
        realism.method_arch("")


def _fake_run(root, preset, method, mae, lo, hi, n=6):
    folder = realism.run_dir(root, preset, method)
    folder.mkdir(parents=True)
    summary = {"method": method, "dataset": preset, "n_recordings": n, "n_failed": 0,
               "levels": {"video": {"n": n, "snr_db_mean": 1.0, "waveform_r_mean": 0.5,
                                    "metrics": {"MAE": {"value": mae, "ci_low": lo, "ci_high": hi},
                                                "RMSE": {"value": mae + 1, "ci_low": lo, "ci_high": hi + 1},
                                                "ME": {"value": 0.1, "ci_low": -1, "ci_high": 1},
                                                "r": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}}}},
               "manifest": {"config": {"split": "test", "protocol": "windowed"}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"runtime_s": [0.5] * n}).to_csv(folder / "per_video.csv", index=False)


def test_side_by_side_on_a_fake_results_folder(tmp_path):
    _fake_run(tmp_path, "still", "orppg:PhysNet.pure", 3.0, 2.0, 4.5)
    _fake_run(tmp_path, "still", "orppg:PhysNet.rlap", 9.0, 7.0, 11.0)
    _fake_run(tmp_path, "still", "pos", 2.5, 1.5, 3.5)
    _fake_run(tmp_path, "easy", "pos", 1.0, 0.5, 1.5)
    out = realism.side_by_side(tmp_path, presets=("easy", "still", "motion"))
    assert len(out) == 4  # motion has no folder: no rows, no error
    row = out.set_index(["preset", "method"])
    assert row.loc[("still", "orppg:PhysNet.pure"), "published real MAE (bpm)"] == 1.63
    assert row.loc[("still", "orppg:PhysNet.pure"), "synthetic MAE (bpm)"] == "3.00 [2.00, 4.50]"
    assert row.loc[("still", "pos"), "published real MAE (bpm)"] == 4.00
    assert "Liu et al." in row.loc[("still", "pos"), "published source"]
    # RLAP-trained: no published number for the same weights, the PURE/SCAMPS-trained ones as architecture only
    assert pd.isna(row.loc[("still", "orppg:PhysNet.rlap"), "published real MAE (bpm)"])
    assert "PhysNet trained on PURE: 1.63" in row.loc[("still", "orppg:PhysNet.rlap"),
                                                      "other published (architecture only)"]
    # `easy` mimics no real dataset
    assert row.loc[("easy", "pos"), "real dataset mimicked"] == "none"
    assert pd.isna(row.loc[("easy", "pos"), "published real MAE (bpm)"])
    assert (tmp_path / "side_by_side.csv").is_file()
    md = (tmp_path / "side_by_side.md").read_text()
    assert "| still | UBFC-rPPG | orppg:PhysNet.pure | 3.00 [2.00, 4.50] | 1.63 |" in md
    table = pd.read_csv(tmp_path / "still" / "table.csv")
    assert (table["data"] == "synthetic").all() and table["MAE"].is_monotonic_increasing


def _entries(n=3):
    out = []
    for i in range(n):
        frames, bvp = skin_patch_clip(hr_bpm=66.0 + 6 * i, duration_s=12.0, size=24, seed=i)
        out.append(SimpleNamespace(frames=frames, bvp=bvp, fps=30.0, subject=str(i + 1), dataset="toy",
                                   key=f"toy/{i + 1}", timestamps=np.arange(len(frames)) / 30.0))
    return out


def test_run_peers_is_resumable(tmp_path, monkeypatch):
    from sspd.baselines import CLASSIC_METHODS
    from sspd.evaluate import runner, sweep

    calls = []

    def fake_resolve(names, official=None, **_):
        name = names[0]
        if name == "sspd-official":
            return {}, {name: "the authors' weights are absent (test)"}

        def method(frames, fs):
            calls.append(name)
            return CLASSIC_METHODS["pos"](frames, fs)
        return {name: method}, {}

    monkeypatch.setattr(sweep, "resolve_methods", fake_resolve)
    # the runner's own per-run manifest (git, library versions) is not under test here; keep it cheap
    monkeypatch.setattr(runner, "manifest", lambda config=None, seed=None: {"config": config, "seed": seed})
    entries = _entries()
    t1 = realism.run_peers("toy", ["pos", "chrom", "sspd-official"], tmp_path, entries=entries, n_boot=20,
                           progress=False)
    assert len(calls) == 2 * len(entries)
    assert set(t1["method"]) == {"pos", "chrom"} and (t1["data"] == "synthetic").all()
    assert (t1["MAE"] < 3.0).all()  # POS finds a clean toy pulse
    man = json.loads((tmp_path / "toy" / "manifest.json").read_text())
    assert set(man["wall_s"]) == {"pos", "chrom"} and "sspd-official" in man["skipped"]
    assert {"git_sha", "hardware", "config"} <= set(man["manifest"])
    assert man["manifest"]["config"]["split"] == "test" and man["manifest"]["config"]["protocol"] == "windowed"
    summary = json.loads((realism.run_dir(tmp_path, "toy", "pos") / "summary.json").read_text())
    assert summary["manifest"]["config"]["split"] == "test" and summary["manifest"]["config"]["data"] == "synthetic"
    # second call: nothing runs again, the same table comes back
    t2 = realism.run_peers("toy", ["pos", "chrom"], tmp_path, entries=entries, n_boot=20, progress=False)
    assert len(calls) == 2 * len(entries)
    pd.testing.assert_frame_equal(t1, t2)
    # a different number of recordings is not "done": pos runs again
    realism.run_peers("toy", ["pos"], tmp_path, entries=entries[:2], n_boot=20, progress=False)
    assert len(calls) == 2 * len(entries) + 2


def test_ablation_table_from_fake_runs(tmp_path):
    _fake_run(tmp_path, "still", "pos", 3.0, 2.0, 4.0)
    _fake_run(tmp_path / "ablations", "blink_rate=0", "pos", 2.0, 1.0, 3.0)
    long = realism.ablation_table(tmp_path, "still", realism.ABLATION_FACTORS)
    got = long.set_index("condition")
    assert got.loc["blinks off", "delta"] == pytest.approx(-1.0)
    assert got.loc["unmodified", "delta"] == 0.0
    assert list(long.attrs["wide"].columns) == ["unmodified", "blinks off"]
    assert (tmp_path / "ablations" / "table_wide.csv").is_file()


def test_crop_probe_boxes_and_cropped_method(tmp_path):
    face = (0.3, 0.8, 0.2, 0.8)
    assert realism.scaled_box(face, 1.0) == pytest.approx(face)
    assert realism.scaled_box(face, 1.5) == pytest.approx((0.175, 0.925, 0.05, 0.95))
    assert realism.scaled_box(face, 3.0) == (0.0, 1.0, 0.0, 1.0)  # clipped to the frame
    with pytest.raises(ValueError, match="positive"):
        realism.scaled_box(face, 0)
    seen = []

    def method(frames, fs):
        seen.append(frames.copy())
        return frames.mean(axis=(1, 2, 3))

    frames = np.arange(4 * 10 * 20 * 3, dtype=np.uint8).reshape(4, 10, 20, 3)
    pulse = realism.CroppedMethod(method, (0.2, 0.6, 0.5, 1.0))(frames, 30.0)
    assert seen[0].shape == (4, 4, 10, 3) and np.array_equal(seen[0], frames[:, 2:6, 10:20])
    assert pulse.shape == (4,)
    with pytest.raises(ValueError, match="top < bottom"):
        realism.CroppedMethod(method, (0.6, 0.2, 0.0, 1.0))

    entry = SimpleNamespace(meta={"source": str(tmp_path)}, frames=frames)  # no synthetic ground truth there
    with pytest.raises(DataError, match="face_boxes_tight"):
        realism.face_fraction([entry])


def test_literature_checks_measure_the_generator():
    durations = realism.blink_durations_ms(n_blinks=20)
    assert len(durations) >= 15
    assert 95 <= np.percentile(durations, 5) and np.percentile(durations, 95) <= 410  # motion.blinks: 100-400 ms
    table = realism.literature_checks(("still",))
    assert set(table["unit"]) == {"blinks/min", "ms", "% face height/s", "deg"}
    assert table["source"].str.len().gt(20).all()
    rate = table[table["unit"] == "blinks/min"].iloc[0]
    assert (rate["generator low"], rate["generator high"]) == tuple(get_preset("still").blink_rate_per_min)
    assert table["overlaps"].dtype == bool


def test_head_motion_is_measured_on_the_generator_and_scales_with_the_amplitude():
    slow = realism.head_motion("slow_translation", 1.0, n_clips=6, duration_s=30.0)
    double = realism.head_motion("slow_translation", 2.0, n_clips=6, duration_s=30.0)
    assert slow["speed"].median() == pytest.approx(7.0, rel=0.15)  # motion.pose_profile: 0.07 face heights/s
    assert double["speed"].median() == pytest.approx(2 * slow["speed"].median(), rel=0.05)
    still = realism.head_motion("still", 1.0, n_clips=6, duration_s=30.0)
    assert still["yaw"].max() < realism.head_motion("medium_rotation", 1.0, n_clips=6, duration_s=30.0)["yaw"].min()
    table = realism.literature_checks(("still",))
    motion_rows = table[table["quantity"].isin(realism.HEAD_MOTION_ROWS)]
    assert len(motion_rows) == 2 * len(realism.HEAD_MOTION_ROWS)  # as designed (x1) and as the preset renders it
    assert motion_rows[motion_rows["generator"] == "motion profile (x1)"]["overlaps"].all()


def test_walk_verdicts_pair_subjects_against_the_first_level(tmp_path):
    from sspd.evaluate.sweep import COLUMNS

    rows = []
    for level_index, level in enumerate(["0", "1"]):
        for subject in ["1", "2", "3", "4", "5", "6"]:
            for window in range(3):
                for method, offset in [("pos", 1.0), ("net", 1.0 + 20.0 * level_index)]:
                    # net's error jumps by 20 bpm at level 1 for every subject; pos's does not move
                    err = offset + 0.1 * int(subject)
                    rows.append({"factor": "screen_light", "level": level, "level_index": level_index,
                                 "subject": subject, "method": method, "unit": "window", "window": window,
                                 "hr_pred": 70.0 + err, "hr_gt": 70.0, "status": "ok", "message": ""})
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "screen_light.csv", index=False)

    out = realism.walk_verdicts(tmp_path, n_boot=200).set_index("method")
    assert set(out.index) == {"pos", "net"} and (out["n"] == 6).all()
    assert out.loc["net", "verdict"] == "worse"
    assert out.loc["net", "change"] == pytest.approx(20.0)
    assert out.loc["pos", "change"] == pytest.approx(0.0) and out.loc["pos", "verdict"] == "not resolved"
    assert out.loc["net", "reference"] == "0" and out.loc["net", "level"] == "1"
    lines = realism.walk_lines(out.reset_index())
    assert lines[0].startswith("net, screen_light 0 -> 1:") and lines[0].endswith("worse")
    assert lines[-1].startswith("1 of 2 steps are not resolved")
    assert realism.walk_verdicts(tmp_path / "missing").empty


def test_at_level_sets_sweep_folders_side_by_side(tmp_path):
    from sspd.evaluate.sweep import COLUMNS

    for name, err in [("a", 1.0), ("b", 5.0)]:
        folder = tmp_path / name
        folder.mkdir()
        rows = [{"factor": "pulse_amplitude", "level": level, "level_index": i, "subject": str(s), "method": "pos",
                 "unit": "window", "window": 0, "hr_pred": 70.0 + err * (i + 1), "hr_gt": 70.0, "status": "ok",
                 "message": ""} for i, level in enumerate(["1", "0.3"]) for s in range(1, 4)]
        pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / "pulse_amplitude.csv", index=False)
    out = realism.at_level({"a": tmp_path / "a", "b": tmp_path / "b"}, "pulse_amplitude", 1.0, n_boot=50)
    assert list(out.index) == ["pos"]
    assert out.loc["pos", "a MAE"] == pytest.approx(1.0) and out.loc["pos", "b MAE"] == pytest.approx(5.0)
    assert {"a MAE_lo", "b MAE_hi"} <= set(out.columns)
