"""Stress-test sweeps (sspd.evaluate.sweep): the factor registry, one knob per level, the tidy table, CIs."""
import argparse
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from sspd.data.synthetic import PRESETS, Preset, render_video
from sspd.evaluate import metrics
from sspd.evaluate import sweep

# The factors the stress-test issue asks for, with the preset knob each must move.
REQUIRED = {"pulse_amplitude": "A_G", "motion_amplitude": "motion_amplitude", "blink_rate": "blink_rate_per_min",
            "screen_light": "screen_amp", "illumination_drift": "drift", "flicker": "flicker",
            "mjpeg_quality": "mjpeg_quality", "h264_crf": "crf", "fps_jitter": "jitter_ms",
            "frame_drops": "drop_rate", "face_size": "head_size", "skin_tone": "ita_weights"}
SHORT = 0.5  # s: enough frames to draw every parameter, cheap to render


def test_registry_covers_the_factors_and_the_command_line_derives_from_it():
    from sspd.cli import COMMANDS

    for name, knob in REQUIRED.items():
        assert knob in sweep.get_factor(name).knobs, name
    fields = {f.name for f in dataclasses.fields(Preset)}
    for f in sweep.FACTORS.values():
        assert set(f.knobs) <= fields, f.name
        assert {sweep.level_label(v) for v in f.quick} <= {sweep.level_label(v) for v in f.levels}
        assert f.level_list("quick")[0] == f.check(f.levels[0]), f"{f.name}: the quick sweep keeps the reference"
        for level in f.levels:  # every level is a valid preset that changes only the declared knobs
            preset = sweep.level_preset(f, level)
            base = PRESETS["still"]
            changed = {k for k in preset.to_dict() if preset.to_dict()[k] != base.to_dict()[k]}
            assert changed <= set(f.knobs), (f.name, level, changed)
            assert preset.name == base.name  # same name => same random streams
    assert COMMANDS["sweep"][0] == "sspd.evaluate.sweep"
    parser = argparse.ArgumentParser()
    sweep.add_arguments(parser)
    factor_help = next(a.help for a in parser._actions if "--factor" in a.option_strings)
    assert all(name in factor_help for name in sweep.FACTORS)
    assert set(sweep.factor_table()["factor"]) == set(sweep.FACTORS)


@pytest.mark.parametrize("name", list(sweep.FACTORS))
def test_levels_change_only_the_intended_knob(name):
    f = sweep.get_factor(name)
    low, high = f.quick[0], f.quick[-1]
    a = sweep.render_level(f, low, "2", duration_s=SHORT)
    b = sweep.render_level(f, high, "2", duration_s=SHORT)
    assert sweep.unexpected_changes(f, a, b) == []
    if f.base_subjects:  # ... and the subjects are the base preset's, bar the knob
        base = render_video(PRESETS["still"], "2", output=f.output, duration_s=SHORT)
        assert sweep.unexpected_changes(f, base, a) == []
    # the knob did move, to the asked values
    for video, level in ((a, low), (b, high)):
        got = f.realised(video.params)
        if isinstance(got, str) or isinstance(level, str):
            assert str(got) == sweep.level_label(level)
        else:
            assert got == pytest.approx(float(level), rel=1e-6, abs=2e-9 * 100)
    assert f.realised(a.params) != f.realised(b.params)
    if f.output == "full":
        assert a.frames.shape[1:3] == (240, 320)


def test_the_knob_check_detects_a_reshuffle():
    # A degenerate range makes the generator skip a draw of the subject stream, which shifts every later draw:
    # exactly what the sweep's pinned ranges avoid, and what unexpected_changes must catch.
    base = PRESETS["still"]
    ref = render_video(base, "2", duration_s=SHORT)
    naive = render_video(dataclasses.replace(base, A_G=(0.003, 0.003)), "2", duration_s=SHORT)
    pinned = render_video(sweep.level_preset("pulse_amplitude", 0.3), "2", duration_s=SHORT)
    assert sweep.unexpected_changes("pulse_amplitude", ref, pinned) == []
    bad = sweep.unexpected_changes("pulse_amplitude", ref, naive)
    assert "subject_params.skin.ita" in bad and "subject_params.n_sat" in bad


def test_invalid_factor_level_and_method_are_clear_errors(tmp_path, capsys):
    from sspd.cli import main

    with pytest.raises(ValueError, match="unknown factor 'nope'; choose from pulse_amplitude"):
        sweep.get_factor("nope")
    with pytest.raises(ValueError, match=r"invalid level '-1' for factor 'pulse_amplitude': must be >= 0"):
        sweep.run_sweep("pulse_amplitude", ["-1"], subjects=1, progress=False)
    with pytest.raises(ValueError, match="skin_tone.*choose from very_light"):
        sweep.get_factor("skin_tone").check("purple")
    with pytest.raises(ValueError, match="whole number"):
        sweep.get_factor("h264_crf").check("20.5")
    with pytest.raises(ValueError, match="repeated levels"):
        sweep.get_factor("blink_rate").level_list(["10", "10.0"])
    with pytest.raises(ValueError, match="at least 11 s"):
        sweep.run_sweep("blink_rate", "quick", subjects=1, duration_s=8.0, progress=False)
    with pytest.raises(ValueError, match="needs a checkpoint"):
        sweep.resolve_methods(["sspd"])
    with pytest.raises(ValueError, match="unknown method"):
        sweep.resolve_methods(["posh"])
    methods, skipped = sweep.resolve_methods(["pos", "sspd-official"], official=tmp_path / "absent.pth")
    assert list(methods) == ["pos"] and "absent" in skipped["sspd-official"]
    assert main(["sweep", "--factor", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown factor" in capsys.readouterr().err
    assert main(["sweep", "--factor", "flicker", "--levels", "loud", "--out", str(tmp_path)]) == 2
    assert "invalid level 'loud' for factor 'flicker'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_sweep_writes_a_tidy_table_and_a_manifest(tmp_path):
    df = sweep.run_sweep("pulse_amplitude", ["1", "0.06"], methods=["pos", "green"], subjects=2, duration_s=11.0,
                         out=tmp_path, progress=False)
    assert list(df.columns) == sweep.COLUMNS
    videos, windows = df[df.unit == "video"], df[df.unit == "window"]
    assert len(videos) == 2 * 2 * 2  # levels x subjects x methods
    assert not df.duplicated(["factor", "level", "subject", "method", "unit", "window"]).any()
    assert set(df.factor) == {"pulse_amplitude"} and set(df.level) == {"1", "0.06"}
    assert (videos.status == "ok").all()
    # 11 s at 30 fps: two 10-s windows with a 1-s stride per video and method
    assert windows.groupby(["level", "subject", "method"]).size().eq(2).all()
    assert np.allclose(windows.abs_error, np.abs(windows.hr_pred - windows.hr_gt))
    assert set(df.realised) == {"1", "0.06"}  # the generator used the asked pulse amplitude
    # same subjects at both levels: the truth does not move with the pulse amplitude
    gt = windows.pivot_table(index=["subject", "window", "method"], columns="level", values="hr_gt")
    assert np.allclose(gt["1"], gt["0.06"])
    back = sweep.load_sweeps(tmp_path)
    assert list(back.columns) == sweep.COLUMNS and len(back) == len(df)
    assert back.subject.tolist() == df.subject.tolist() and back.level.tolist() == df.level.tolist()
    meta = json.loads((tmp_path / "pulse_amplitude.json").read_text())
    assert meta["config"]["subjects"] == ["1", "2"] and meta["config"]["protocol"] == "windowed"
    assert meta["manifest"]["git_sha"] and meta["timings"]["n_videos"] == 4
    assert meta["timings"]["videos_per_min_render"] > 0
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    same = sweep.compare_with_committed(df, back)
    assert len(same) == len(df) and same["same"].all()
    assert not sweep.compare_with_committed(df.assign(error=df.error + 0.5), back)["same"].any()


def _rows(errors: dict) -> pd.DataFrame:
    """Tidy window rows: {(level, subject): [abs errors]} of one factor and method."""
    rows = []
    levels = list(dict.fromkeys(level for level, _ in errors))
    for (level, subject), errs in errors.items():
        for w, e in enumerate(errs):
            rows.append({"factor": "skin_tone", "level": level, "level_index": levels.index(level),
                         "subject": subject, "method": "pos", "unit": "window", "window": w,
                         "hr_pred": 70.0 + e, "hr_gt": 70.0, "snr_db": 0.0, "waveform_r": 0.5, "status": "ok"})
    return pd.DataFrame(rows)


def test_confidence_intervals_resample_subjects():
    # one subject, scattered windows: resampling subjects cannot move the MAE, resampling windows would
    one = sweep.curve_table(_rows({("light", "1"): [0.0, 2.0, 10.0, 30.0]}), n_boot=200)
    assert one.MAE[0] == one.MAE_lo[0] == one.MAE_hi[0] == 10.5
    p, t = np.array([70.0, 72, 80, 100]), np.full(4, 70.0)
    lo, hi = metrics.bootstrap_ci(metrics.mae, p, t, n_boot=200)
    assert hi - lo > 5  # (the window bootstrap the sweep must not use)
    # several subjects: the interval is the subject-grouped bootstrap of metrics.bootstrap_ci
    df = _rows({("light", "1"): [1.0, 1.0], ("light", "2"): [5.0, 7.0, 9.0], ("light", "3"): [20.0]})
    row = sweep.curve_table(df, n_boot=300, seed=4).iloc[0]
    expected = metrics.bootstrap_ci(metrics.mae, df.hr_pred, df.hr_gt, groups=df.subject, n_boot=300, seed=4)
    assert (row.MAE_lo, row.MAE_hi) == pytest.approx(expected)
    assert row.n == 6 and row.n_subjects == 3


def test_fairness_table_and_worst_to_best_ratio():
    errs = {}
    for s, scale in (("1", 1.0), ("2", 2.0), ("3", 3.0)):
        errs[("very_light", s)] = [1.0 * scale, 1.0 * scale]
        errs[("dark", s)] = [3.0 * scale, 3.0 * scale]
    df = _rows(errs)
    ratio = sweep.worst_to_best(df, n_boot=300).iloc[0]
    assert (ratio.worst, ratio.best) == ("dark", "very_light")
    # the same subjects in both groups, every subject 3x worse when dark: a paired bootstrap has no spread
    assert ratio.ratio == ratio.ratio_lo == ratio.ratio_hi == pytest.approx(3.0)
    assert (ratio.n_higher, ratio.n_equal, ratio.n_lower) == (3, 0, 0)
    table = sweep.fairness_table(df, n_boot=300)
    assert list(table.columns) == ["very_light", "dark", "worst / best"]
    assert table.loc["pos", "worst / best"] == "3.00 [3.00, 3.00]"
    assert table.loc["pos", "very_light"].startswith("2.00 [")
    # a subject whose dark clip is fine makes the ratio uncertain
    errs[("dark", "3")] = [3.0, 3.0]
    wide = sweep.worst_to_best(_rows(errs), n_boot=300).iloc[0]
    assert wide.ratio == pytest.approx(2.0) and wide.ratio_lo < 2.0 < wide.ratio_hi
    assert (wide.n_higher, wide.n_equal, wide.n_lower) == (2, 1, 0)
    # the extremes are held fixed, so when the groups hardly differ the interval includes 1 (re-picking them
    # in every resample would keep it above 1 by construction)
    close = {("very_light", "1"): [2.0], ("very_light", "2"): [3.0], ("very_light", "3"): [2.0],
             ("dark", "1"): [2.5], ("dark", "2"): [2.0], ("dark", "3"): [2.0]}
    even = sweep.worst_to_best(_rows(close), n_boot=300).iloc[0]
    assert (even.worst, even.best) == ("very_light", "dark") and even.ratio == pytest.approx(7 / 6.5)
    assert even.ratio_lo < 1 < even.ratio_hi and (even.n_higher, even.n_lower) == (1, 1)


def test_error_kinds_separate_harmonics_from_noise():
    df = pd.DataFrame({"unit": "window", "method": ["pos"] * 4 + ["green"],
                       "hr_pred": [61.0, 120.0, 30.0, 90.0, 60.0], "hr_gt": [60.0] * 5})
    kinds = sweep.error_kinds(df)
    assert kinds.loc["pos", ["within", "double", "half", "other"]].tolist() == [0.25] * 4
    assert kinds.loc["pos", "n"] == 4 and kinds.loc["green", "within"] == 1.0


def test_breaking_points_need_separated_intervals():
    curves = pd.DataFrame({"factor": "blink_rate", "method": "pos", "level": ["0", "20", "80"],
                           "level_index": [0, 1, 2], "MAE": [2.0, 4.0, 9.0], "MAE_lo": [1.0, 2.5, 6.0],
                           "MAE_hi": [3.0, 6.0, 12.0]})
    bp = sweep.breaking_points(curves).iloc[0]
    assert bp.first_clearly_worse == "80" and bp.MAE_reference == 2.0 and bp.harshest == "80"
    curves.loc[2, "MAE_lo"] = 2.9
    assert sweep.breaking_points(curves).iloc[0].first_clearly_worse == "none"


def test_sweep_curves_draws_one_panel_per_factor():
    from sspd import plots

    rows = []
    for factor in ("blink_rate", "skin_tone", "flicker"):
        for i, level in enumerate(("a", "b", "c")):
            for method in ("pos", "green"):
                rows.append({"factor": factor, "level": level, "level_index": i, "method": method,
                             "MAE": 1.0 + i, "MAE_lo": 0.5 + i, "MAE_hi": 2.0 + i})
    fig = plots.sweep_curves(pd.DataFrame(rows), labels={"flicker": "flicker (% of E0)"}, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["blink_rate", "skin_tone", "flicker"]
    assert visible[2].get_xlabel() == "flicker (% of E0)"
    assert len(visible[0].get_lines()) == 2
    with pytest.raises(ValueError):
        plots.sweep_curves(pd.DataFrame(columns=["factor", "method"]))


def test_variant_dataset_changes_one_knob_and_keeps_the_people(tmp_path):
    from sspd.data.splits import dataset_entries
    from sspd.data.synthetic import get_preset, render_video
    from sspd.evaluate.variants import variant_dataset

    cache = variant_dataset("still", "screen_light", "0", root=tmp_path, subjects=["1"], duration_s=3.0,
                            progress=False)
    assert cache.name == "still" and cache.parent.name == "screen_light=0"
    entries, name = dataset_entries(cache, "all", progress=False)
    assert name == "still" and [e.subject for e in entries] == ["1"]
    meta = json.loads((tmp_path / "screen_light=0" / "synthetic" / "still" / "1" / "meta.json").read_text())
    base = render_video(get_preset("still"), "1", duration_s=3.0).params
    assert meta["params"]["subject_params"]["hr_base"] == base["subject_params"]["hr_base"]
    assert meta["params"]["lighting"]["screen_amp"] < 1e-8 < base["lighting"]["screen_amp"]
    with pytest.raises(ValueError, match="full camera frames"):
        variant_dataset("still", "face_size", "70", root=tmp_path)


def test_merge_adds_methods_to_a_committed_sweep_and_checks_the_design(tmp_path):
    first = sweep.run_sweep("pulse_amplitude", ["1", "0.06"], methods=["pos"], subjects=1, duration_s=11.0,
                            out=tmp_path, progress=False)
    merged = sweep.run_sweep("pulse_amplitude", ["1", "0.06"], methods=["green"], subjects=1, duration_s=11.0,
                             out=tmp_path, progress=False, merge=True)
    on_disk = sweep.load_sweeps(tmp_path)
    assert set(on_disk.method) == {"pos", "green"} and len(on_disk) == len(merged) == 2 * len(first)
    pos_before = first[first.method == "pos"].reset_index(drop=True)
    pos_after = on_disk[on_disk.method == "pos"].reset_index(drop=True)
    assert np.allclose(pos_before.abs_error.to_numpy(float), pos_after.abs_error.to_numpy(float), equal_nan=True)
    meta = sweep.load_sweep_meta(tmp_path)["pulse_amplitude"]
    assert meta["config"]["methods"] == ["pos", "green"] and meta["merged"]["methods_added"] == ["green"]
    with pytest.raises(ValueError, match="other subjects"):
        sweep.run_sweep("pulse_amplitude", ["1", "0.06"], methods=["chrom"], subjects=2, duration_s=11.0,
                        out=tmp_path, progress=False, merge=True)
    with pytest.raises(ValueError, match="no earlier sweep of blink_rate"):
        sweep.run_sweep("blink_rate", "quick", methods=["chrom"], subjects=1, duration_s=11.0, out=tmp_path,
                        progress=False, merge=True)
