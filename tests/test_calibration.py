"""Calibration runner and its criteria (issue 3)."""
import json

import pandas as pd
import pytest

from sspd.evaluate.calibration import CALIBRATED_PRESETS, METHODS, check_calibration, run_calibration


def _table(mae: dict, protocol: str = "toolbox") -> pd.DataFrame:
    return pd.DataFrame([{"preset": p, "method": m, "protocol": protocol, "MAE": v}
                         for (p, m), v in mae.items()])


def _ordered_mae(pos_still=4.0, green_motion=20.0):
    mae = {}
    for i, m in enumerate(METHODS):
        mae[("still", m)], mae[("motion", m)], mae[("hard", m)] = 3.0 + i, 8.0 + i, 20.0 + i
    mae[("still", "pos")] = pos_still
    mae[("motion", "green")] = green_motion
    mae[("hard", "green")] = green_motion + 5
    return mae


def test_check_calibration_passes_on_an_ordered_table():
    assert all(check_calibration(_table(_ordered_mae())).values())


def test_check_calibration_fails_each_criterion():
    assert not check_calibration(_table(_ordered_mae(pos_still=0.3)))["a_pos_still_in_range"]
    bad = _ordered_mae()
    bad[("motion", "chrom")] = 1.0          # CHROM easier on motion than on still
    assert not check_calibration(_table(bad))["b_error_grows_still_motion_hard"]
    assert not check_calibration(_table(_ordered_mae(green_motion=10.0)))[
        "c_green_worse_than_pos_chrom_on_motion"]


def test_check_calibration_reads_only_the_asked_protocol():
    table = pd.concat([_table(_ordered_mae()), _table(_ordered_mae(pos_still=0.3), "windowed")])
    assert check_calibration(table, protocol="toolbox")["a_pos_still_in_range"]
    assert not check_calibration(table, protocol="windowed")["a_pos_still_in_range"]
    with pytest.raises(ValueError, match="protocol"):
        check_calibration(_table(_ordered_mae()), protocol="windowed")
    partial = _table({k: v for k, v in _ordered_mae().items() if k[0] != "hard"})
    with pytest.raises(ValueError, match="hard"):
        check_calibration(partial)


def test_run_calibration_from_explicit_roots(tmp_path, monkeypatch):
    """The whole chain in another project root: render 2 short subjects, cache them, score two methods."""
    import dataclasses

    from sspd.data.synthetic import PRESETS as CONFIGS, generate_dataset
    from sspd.evaluate import calibration

    monkeypatch.setenv("SSPD_ROOT", str(tmp_path))
    tiny = dataclasses.replace(CONFIGS["still"], n_subjects=2, duration_s=6.0)
    generate_dataset(tiny, tmp_path / "data" / "synthetic", progress=False)
    # generate=False: the stored subjects were made with the tiny preset, which the registry does not know
    table = calibration.run_calibration(presets=("still",), methods=("pos", "chrom"), protocols=("toolbox",),
                                        out_dir=tmp_path / "out", generate=False, n_boot=20,
                                        progress=False)
    assert (table["n"] == 2).all() and list(table["protocol"]) == ["toolbox", "toolbox"]
    assert {"SNR", "MAE_lo", "MAE_hi", "RMSE", "r", "ME", "MAPE"} <= set(table.columns)
    assert any((tmp_path / "data" / "cache" / "still").iterdir())
    for m in ("pos", "chrom"):
        run = tmp_path / "out" / "still" / f"{m}-toolbox"
        assert {"per_video.csv", "per_window.csv", "summary.json"} <= {f.name for f in run.iterdir()}
        assert len(pd.read_csv(run / "per_video.csv")) == 2
    saved = pd.read_csv(tmp_path / "out" / "table.csv")
    assert saved["MAE"].tolist() == pytest.approx(table["MAE"].tolist())

    # the committed errors come back live through the one data path (dataset_entries, split "all")
    live = calibration.recheck_calibration(tmp_path / "out", presets=("still",), methods=("pos", "chrom"),
                                           n_subjects=1)
    assert live[["subject", "method"]].values.tolist() == [["1", "pos"], ["1", "chrom"]]
    assert live["same"].all()
    per_video = tmp_path / "out" / "still" / "chrom-toolbox" / "per_video.csv"
    pv = pd.read_csv(per_video)
    pv.loc[pv["subject"] == 1, "error"] += 0.5           # a committed number that no longer reproduces
    pv.to_csv(per_video, index=False)
    live = calibration.recheck_calibration(tmp_path / "out", presets=("still",), methods=("pos", "chrom"),
                                           n_subjects=2)
    assert live["subject"].tolist() == ["1", "1", "2", "2"]
    assert live["same"].tolist() == [True, False, True, True]
    assert (live["error (committed)"] - live["error (live)"]).tolist()[1] == pytest.approx(0.5)


def test_run_calibration_writes_tables(tmp_path):
    from sspd.data.synthetic import render_video

    recs = [render_video("still", s, seed=0, duration_s=6.0).to_recording() for s in ("1", "2")]
    table = run_calibration(presets=("still",), methods=("pos", "green"), protocols=("toolbox",),
                            out_dir=tmp_path, entries_by_preset={"still": recs}, n_boot=50, progress=False)
    assert list(table["method"]) == ["pos", "green"]
    assert {"MAE", "MAE_lo", "MAE_hi", "RMSE", "r", "n"} <= set(table.columns)
    assert (table["n"] == 2).all()
    assert (tmp_path / "table.csv").is_file()
    assert (tmp_path / "still" / "pos-toolbox" / "per_video.csv").is_file()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["manifest"]["config"]["methods"] == ["pos", "green"]
    assert summary["checks"] == {}          # criteria need all three presets
    assert set(CALIBRATED_PRESETS) == {"still", "motion", "hard"}
    assert table.loc[0, "MAE"] == pytest.approx(
        pd.read_csv(tmp_path / "still" / "pos-toolbox" / "per_video.csv")["abs_error"].mean())


def test_recheck_calibration_needs_the_committed_recordings(tmp_path):
    from sspd.data.synthetic import render_video
    from sspd.errors import DataError
    from sspd.evaluate.calibration import recheck_calibration

    recs = [render_video("still", s, seed=0, duration_s=6.0).to_recording() for s in ("1", "2")]
    run_calibration(presets=("still",), methods=("green",), protocols=("toolbox",), out_dir=tmp_path,
                    entries_by_preset={"still": recs}, n_boot=10, progress=False)
    live = recheck_calibration(tmp_path, presets=("still",), methods=("green",), n_subjects=5,
                               entries_by_preset={"still": recs})
    assert live["subject"].tolist() == ["1", "2"] and live["same"].all()
    with pytest.raises(DataError, match=r"subjects \['2'\]"):
        recheck_calibration(tmp_path, presets=("still",), methods=("green",),
                            entries_by_preset={"still": recs[:1]})
    with pytest.raises(ValueError, match="n_subjects"):
        recheck_calibration(tmp_path, presets=("still",), methods=("green",), n_subjects=0)
