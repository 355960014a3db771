"""Run a method over preprocessed recordings and write result tables.

For every recording: method → pulse; align the contact BVP to the pulse (a pulse of N − 1
samples belongs to ``frames[1:]``); per-window HR of prediction and ground truth under the *same*
protocol; SNR of the predicted pulse; waveform r. Outputs, written atomically into ``out_dir``:

- ``per_window.csv`` — one row per window (the unit of windowed protocols);
- ``per_video.csv`` — one row per recording, including failed ones with their error message;
- ``summary.json`` — metrics with bootstrap CIs per level (video, and window for windowed
  protocols), failures, ``Protocol.to_dict()`` and a run manifest (code version, seed, machine).

A failure on one recording is recorded and the run goes on; failures are never dropped silently.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from sspd import signal as sig
from sspd.errors import DataError
from sspd.evaluate.metrics import pearson_r, summarize
from sspd.evaluate.protocol import Protocol, get_protocol, hr_from_signal, preprocess
from sspd.io import atomic_path, atomic_write_json, manifest

__all__ = ["evaluate", "evaluate_recording", "summary_table"]


def _bandpassed(x: np.ndarray, fs: float, protocol: Protocol) -> np.ndarray:
    """The signal used for waveform r: the protocol's own filtering (4th order if it has none)."""
    if protocol.filter_order > 0:
        return preprocess(x, fs, protocol)
    return sig.bandpass(x, fs, *protocol.band, order=4)


def _key(entry) -> str:
    """A readable recording id: the cache's recording key when it has one, else ``.key``."""
    try:
        return str(getattr(entry, "recording_key", None) or entry.key)
    except Exception:  # noqa: BLE001 — a broken entry still needs a name in the failure list
        return "?"


def evaluate_recording(method: Callable, entry, protocol: Protocol) -> tuple[dict, list[dict]]:
    """Score one recording: returns (per-video row, per-window rows). Raises on failure."""
    frames = entry.frames
    fs = float(entry.fps)
    n = len(frames)
    key = _key(entry)
    if entry.bvp is None:
        raise DataError(key, "recording has no contact BVP ground truth to evaluate against")

    t0 = time.perf_counter()
    pulse = np.asarray(method(frames, fs), dtype=np.float64).ravel()
    runtime = time.perf_counter() - t0

    # a pulse of N-1 samples comes from frame differences and belongs to frames[1:]
    if len(pulse) == n:
        offset = 0
    elif len(pulse) == n - 1:
        offset = 1
    else:
        raise DataError(key, f"method returned {len(pulse)} samples for {n} frames (expected N or N-1)")
    if not np.all(np.isfinite(pulse)):
        raise DataError(key, f"method output holds {int(np.sum(~np.isfinite(pulse)))} NaN/inf values")
    if np.ptp(pulse) == 0:
        # a flat output would still give a "heart rate" (the band's lowest bin): refuse it
        raise DataError(key, "method returned a constant signal")
    bvp = np.asarray(entry.bvp, dtype=np.float64)[offset:]
    t_origin = float(np.asarray(entry.timestamps)[offset])

    pred_w = hr_from_signal(pulse, fs, protocol)
    gt_w = hr_from_signal(bvp, fs, protocol, beat_based=protocol.gt_definition == "beat")

    # waveform r: band-passed, sign fixed once per recording (never per window, which would bias r up)
    pred_f, gt_f = _bandpassed(pulse, fs, protocol), _bandpassed(bvp, fs, protocol)
    r_whole = pearson_r(pred_f, gt_f)  # NaN for a flat signal (both are finite here)
    sign = -1.0 if (protocol.waveform_sign == "per-recording" and r_whole < 0) else 1.0

    windows = sig.sliding_windows(len(pulse), fs, protocol.window_s, protocol.stride_s)
    rows = []
    for w, ((start, stop), (ts, te, hr_p), (_, _, hr_g)) in enumerate(zip(windows, pred_w, gt_w)):
        snr = sig.snr_db(pulse[start:stop], fs, hr_g) if np.isfinite(hr_g) else float("nan")
        rows.append({
            "dataset": entry.dataset, "key": key, "subject": str(entry.subject), "window": w,
            "t_start": t_origin + ts, "t_end": t_origin + te, "hr_pred": hr_p, "hr_gt": hr_g,
            "error": hr_p - hr_g, "abs_error": abs(hr_p - hr_g), "snr_db": snr,
            "waveform_r": pearson_r(sign * pred_f[start:stop], gt_f[start:stop]),
        })
    wdf = pd.DataFrame(rows)
    valid = np.isfinite(wdf["error"].to_numpy())
    hr_p = float(wdf["hr_pred"].mean()) if np.isfinite(wdf["hr_pred"]).any() else float("nan")
    hr_g = float(wdf["hr_gt"].mean()) if np.isfinite(wdf["hr_gt"]).any() else float("nan")
    video = {
        "dataset": entry.dataset, "key": key, "subject": str(entry.subject), "n_frames": n, "fps": fs,
        "duration_s": n / fs, "pulse_len": len(pulse),
        "aligned_to": "frames" if offset == 0 else "frames[1:]",
        "n_windows": len(rows), "n_windows_valid": int(valid.sum()),
        "hr_pred": hr_p, "hr_gt": hr_g, "error": hr_p - hr_g, "abs_error": abs(hr_p - hr_g),
        "window_mae": float(wdf["abs_error"][valid].mean()) if valid.any() else float("nan"),
        "snr_db": float(np.nanmean(wdf["snr_db"])) if np.isfinite(wdf["snr_db"]).any() else float("nan"),
        "waveform_r": sign * r_whole, "sign": int(sign), "runtime_s": runtime,
        "status": "ok" if np.isfinite(hr_p - hr_g) else "nan", "message": "",
    }
    if video["status"] == "nan":
        video["message"] = "HR undefined (fewer than two peaks, or no valid window)"
    return video, rows


def _level_summary(df: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """Metrics over the finite (pred, gt) pairs of ``df``; counts what was left out."""
    ok = np.isfinite(df["hr_pred"].to_numpy(float)) & np.isfinite(df["hr_gt"].to_numpy(float))
    out = {"n_total": int(len(df)), "n_nan": int((~ok).sum())}
    if ok.sum() == 0:
        out["metrics"] = None
        return out
    d = df[ok]
    out.update(summarize(d["hr_pred"].to_numpy(float), d["hr_gt"].to_numpy(float),
                         groups=d["subject"].astype(str).to_numpy(), n_boot=n_boot, seed=seed))
    out["snr_db_mean"] = float(np.nanmean(d["snr_db"])) if np.isfinite(d["snr_db"]).any() else None
    out["waveform_r_mean"] = (float(np.nanmean(d["waveform_r"]))
                              if np.isfinite(d["waveform_r"]).any() else None)
    return out


def metrics_row(summary: dict, level: str = "video",
                names=("MAE", "RMSE", "ME", "MAPE", "r", "CCC")) -> dict:
    """One level of a ``summary.json`` as a flat row: ``n`` and, per metric, ``name``, ``name_lo``, ``name_hi``
    (bootstrap 95 % CI), plus the mean SNR (dB) and waveform r (no CI)."""
    s = summary["levels"][level]
    row = {"n": s.get("n"), "n_failed": summary.get("n_failed", 0),
           "SNR": s.get("snr_db_mean"), "waveform_r": s.get("waveform_r_mean")}
    for name in names:
        m = (s.get("metrics") or {}).get(name)
        if isinstance(m, dict):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = m.get("value"), m.get("ci_low"), m.get("ci_high")
        else:
            row[name] = m
    return row


def summary_table(summary: dict) -> pd.DataFrame:
    """Flatten ``summary.json``'s metrics into rows (level, metric, value, ci_low, ci_high, n)."""
    rows = []
    for level, s in summary["levels"].items():
        if not s.get("metrics"):
            continue
        for name, m in s["metrics"].items():
            rows.append({"level": level, "metric": name, **m, "n": s["n"], "n_groups": s["n_groups"]})
        rows.append({"level": level, "metric": "MAE_SE", "value": s["MAE_SE"], "ci_low": np.nan,
                     "ci_high": np.nan, "n": s["n"], "n_groups": s["n_groups"]})
    return pd.DataFrame(rows, columns=["level", "metric", "value", "ci_low", "ci_high", "n", "n_groups"])


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def evaluate(method: Callable, entries: Iterable, protocol: Protocol | str, out_dir: str | Path,
             method_name: str, dataset_name: str, progress: bool = True, n_boot: int = 1000,
             seed: int = 0, config: dict | None = None) -> pd.DataFrame:
    """Evaluate ``method`` on ``entries`` and write per_window.csv, per_video.csv, summary.json.

    Parameters
    ----------
    method : callable (frames_bgr uint8 (N,H,W,3), fs Hz) → pulse of N or N−1 samples.
    entries : recordings with ``.frames``, ``.timestamps`` (s), ``.bvp`` (aligned to frames),
        ``.fps`` (Hz), ``.subject``, ``.dataset``, ``.key`` (e.g. ``sspd.data.cache.CacheEntry``).
    protocol : a :class:`Protocol` or preset name.
    out_dir : folder for the three result files (created; files replaced atomically).
    n_boot, seed : bootstrap resamples and seed for the CIs (resampling subjects).
    config : extra settings recorded in the manifest (checkpoint, split, ...).

    Returns
    -------
    DataFrame (level, metric, value, ci_low, ci_high, n, n_groups); ``.attrs["summary"]`` holds
    the full summary dict and ``.attrs["out_dir"]`` the folder.
    """
    from tqdm import tqdm

    protocol = get_protocol(protocol)
    out_dir = Path(out_dir)
    videos, windows, failures = [], [], []
    total = len(entries) if hasattr(entries, "__len__") else None
    bar = tqdm(entries, total=total, desc=f"{method_name} on {dataset_name}", disable=not progress)
    for entry in bar:
        key = _key(entry)
        try:
            video, rows = evaluate_recording(method, entry, protocol)
        except Exception as err:  # noqa: BLE001 — one bad recording must not end the run
            message = f"{type(err).__name__}: {err}"
            failures.append({"key": key, "message": message})
            video = {"dataset": getattr(entry, "dataset", ""), "key": key,
                     "subject": str(getattr(entry, "subject", "")), "status": "failed",
                     "message": message}
            rows = []
        videos.append(video)
        windows.extend(rows)
        if progress:
            bar.set_postfix(failed=len(failures))

    vdf = pd.DataFrame(videos)
    for col in ("hr_pred", "hr_gt", "snr_db", "waveform_r"):
        if col not in vdf:
            vdf[col] = np.nan
    wdf = pd.DataFrame(windows, columns=["dataset", "key", "subject", "window", "t_start", "t_end",
                                         "hr_pred", "hr_gt", "error", "abs_error", "snr_db", "waveform_r"])
    scored = vdf[vdf["status"] != "failed"]
    levels = {"video": _level_summary(scored, n_boot, seed)}
    if protocol.window_s is not None:
        levels["window"] = _level_summary(wdf, n_boot, seed)

    run_config = {"method": method_name, "dataset": dataset_name, "protocol": protocol.name,
                  "n_boot": n_boot, **(config or {})}
    summary = {
        "method": method_name, "dataset": dataset_name,
        "protocol": protocol.to_dict(),
        "n_recordings": len(videos), "n_failed": len(failures), "failures": failures,
        "n_nan_hr": int((vdf["status"] == "nan").sum()),
        "error_sign": "error = predicted HR - ground-truth HR (bpm); positive = overestimate",
        "ci": "95% percentile bootstrap resampling subjects",
        "waveform_r": f"Pearson r of band-passed prediction and contact BVP, sign: {protocol.waveform_sign}",
        "snr": "de Haan & Jeanne 2013 (iPhys bvpsnr variant) on the raw predicted window, GT HR",
        "levels": levels,
        "manifest": manifest(run_config, seed),
    }
    _write_csv(out_dir / "per_window.csv", wdf)
    _write_csv(out_dir / "per_video.csv", vdf)
    atomic_write_json(out_dir / "summary.json", summary)
    table = summary_table(summary)
    table.attrs["summary"] = summary
    table.attrs["out_dir"] = str(out_dir)
    return table
