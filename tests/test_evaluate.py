"""Protocols, method lookup and the evaluation runner on fake entries."""
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sspd.data.toy import pulse_wave
from sspd.evaluate import PROTOCOLS, evaluate, get_method, get_protocol, hr_from_signal
from sspd.evaluate.protocol import Protocol


def make_entry(key, subject, hr, fs=30.0, seconds=20.0, size=8, bvp=True, seed=0):
    """A fake cached recording whose green channel carries a pulse at ``hr`` bpm."""
    n = int(seconds * fs)
    t = np.arange(n) / fs
    rng = np.random.default_rng(seed)
    wave = pulse_wave(t, hr, harmonic=0.4, phase2=1.0)
    frames = np.full((n, size, size, 3), 120, dtype=np.uint8)
    frames[..., 1] = np.clip(120 + 10 * wave + rng.normal(0, 0.5, n), 0, 255).astype(np.uint8)[:, None, None]
    return SimpleNamespace(frames=frames, timestamps=t, bvp=wave if bvp else None, fps=fs,
                           subject=subject, dataset="fake", key=key)


def green(frames, fs):
    return frames[..., 1].reshape(len(frames), -1).mean(axis=1)


def green_diff(frames, fs):
    """A frame-difference 'model': N-1 samples aligned to frames[1:], sign inverted."""
    return -np.diff(green(frames, fs))


def test_presets_serialise_and_validate():
    for name, p in PROTOCOLS.items():
        d = p.to_dict()
        assert d["name"] == name and d["version"]
        assert json.loads(json.dumps(d)) == d
        assert Protocol(**{**d, "band": tuple(d["band"])}) == p
    assert get_protocol("sspd-official") is PROTOCOLS["authors"]
    assert PROTOCOLS["toolbox"].nfft == "pow2" and PROTOCOLS["toolbox"].filter_order == 1
    assert PROTOCOLS["windowed"].window_s == 10.0 and PROTOCOLS["windowed"].stride_s == 1.0
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("nope")
    with pytest.raises(ValueError, match="estimator"):
        PROTOCOLS["authors"].replace(estimator="magic")
    with pytest.raises(Exception):
        PROTOCOLS["authors"].window_s = 5  # frozen


@pytest.mark.parametrize("name", ["authors", "toolbox", "windowed"])
def test_hr_from_signal_presets(name):
    fs, hr = 25.0, 84.0
    t = np.arange(int(30 * fs)) / fs
    x = pulse_wave(t, hr, harmonic=0.5) + 0.02 * t
    out = hr_from_signal(x, fs, name)
    n_expected = 1 if PROTOCOLS[name].window_s is None else 21
    assert len(out) == n_expected
    assert out[0][0] == 0.0 and out[-1][1] == pytest.approx(30.0)
    assert all(abs(h - hr) < 1.0 for _, _, h in out)


def test_get_method_errors():
    with pytest.raises(ValueError, match="available: green"):
        get_method("magic")
    assert get_method(green) is green


def test_runner_end_to_end(tmp_path):
    entries = [make_entry("s1_a", "1", 66, seed=1), make_entry("s1_b", "1", 90, seed=2),
               make_entry("s2_a", "2", 75, seed=3), make_entry("s3_a", "3", 110, seed=4),
               make_entry("bad", "4", 70, bvp=False)]
    table = evaluate(green, entries, "windowed", tmp_path / "out", method_name="green",
                     dataset_name="fake", progress=False, n_boot=50, seed=0)
    out = tmp_path / "out"
    per_video = pd.read_csv(out / "per_video.csv")
    per_window = pd.read_csv(out / "per_window.csv")
    summary = json.loads((out / "summary.json").read_text())

    # the failed recording is reported, not dropped
    assert len(per_video) == 5 and summary["n_failed"] == 1
    bad = per_video[per_video["key"] == "bad"].iloc[0]
    assert bad["status"] == "failed" and "ground truth" in bad["message"]
    assert summary["failures"][0]["key"] == "bad"
    # protocol and manifest are recorded
    assert summary["protocol"] == PROTOCOLS["windowed"].to_dict()
    assert {"git_sha", "versions", "hardware", "seed"} <= set(summary["manifest"])
    assert summary["manifest"]["config"]["method"] == "green"
    # 20-s clips, 10-s windows, 1-s stride -> 11 windows per good recording
    assert len(per_window) == 4 * 11
    assert (per_window["abs_error"] < 1.0).all()
    assert (per_window["waveform_r"] > 0.9).all() and (per_window["snr_db"] > 0).all()
    video = summary["levels"]["video"]
    assert video["n"] == 4 and video["n_groups"] == 3 and video["metrics"]["MAE"]["value"] < 1.0
    assert summary["levels"]["window"]["n"] == 44
    assert set(table["level"]) == {"video", "window"} and "MAE" in set(table["metric"])


def test_runner_frame_difference_method_and_sign(tmp_path):
    entries = [make_entry("a", "1", 72, seed=5), make_entry("b", "2", 96, seed=6)]
    evaluate(green_diff, entries, "authors", tmp_path, method_name="diff", dataset_name="fake",
             progress=False, n_boot=20)
    per_video = pd.read_csv(tmp_path / "per_video.csv")
    assert (per_video["aligned_to"] == "frames[1:]").all()
    assert (per_video["pulse_len"] == per_video["n_frames"] - 1).all()
    assert (per_video["abs_error"] < 1.5).all()


def test_runner_aligns_sign_once_per_recording(tmp_path):
    entries = [make_entry("a", "1", 72, seed=5)]
    evaluate(lambda f, fs: -green(f, fs), entries, "windowed", tmp_path, method_name="neg",
             dataset_name="fake", progress=False, n_boot=10)
    per_video = pd.read_csv(tmp_path / "per_video.csv")
    per_window = pd.read_csv(tmp_path / "per_window.csv")
    assert per_video["sign"].tolist() == [-1]
    assert per_video["waveform_r"].iloc[0] > 0.9 and (per_window["waveform_r"] > 0.9).all()
    # with the sign convention "none" the inverted prediction scores a negative r
    evaluate(lambda f, fs: -green(f, fs), entries, PROTOCOLS["windowed"].replace(waveform_sign="none"),
             tmp_path / "nosign", method_name="neg", dataset_name="fake", progress=False, n_boot=10)
    assert (pd.read_csv(tmp_path / "nosign" / "per_window.csv")["waveform_r"] < -0.9).all()


def test_runner_records_method_exception(tmp_path):
    def flaky(frames, fs):
        if frames[0, 0, 0, 1] > 125:
            raise RuntimeError("boom")
        return green(frames, fs)

    entries = [make_entry("ok", "1", 70), make_entry("odd", "2", 70)]
    entries[1].frames[..., 1] = 200
    evaluate(flaky, entries, "toolbox", tmp_path, method_name="flaky", dataset_name="fake",
             progress=False, n_boot=10)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_failed"] == 1 and "RuntimeError: boom" in summary["failures"][0]["message"]
    assert summary["levels"]["video"]["n"] == 1


def test_plots_draw_expected_elements():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sspd import plots

    rng = np.random.default_rng(0)
    true = rng.uniform(60, 100, 20)
    pred = true + rng.normal(1, 2, 20)
    ax = plots.bland_altman(pred, true)
    ys = sorted(line.get_ydata()[0] for line in ax.get_lines() if len(line.get_ydata()) == 2)
    sd = np.std(pred - true, ddof=1)
    assert np.allclose(ys, sorted([np.mean(pred - true) + k * 1.96 * sd for k in (-1, 0, 1)]))
    ax = plots.scatter_pred_true(pred, true)
    assert "r = " in ax.get_legend().get_texts()[0].get_text()
    fs = 30.0
    t = np.arange(300) / fs
    gt = np.sin(2 * np.pi * 1.2 * t)
    ax = plots.waveform_overlay(-gt, gt, fs)
    assert "sign flipped" in ax.get_legend().get_texts()[1].get_text()
    ax = plots.spectrum(gt, fs, true_hr=72.0)
    x, y = ax.get_lines()[0].get_data()
    assert abs(x[np.argmax(y)] - 72.0) < 1.0
    df = pd.DataFrame({"subject": ["1", "1", "2", "2"], "error": [1.0, 3.0, -2.0, -4.0]})
    ax = plots.per_subject_errors(df)
    assert [tk.get_text() for tk in ax.get_xticklabels()] == ["1", "2"]
    plt.close("all")
