"""Low heart rates and the second harmonic: how much a subharmonic-aware estimator changes.

A network fed frame differences tends to output a differentiated pulse, whose harmonic k is
weighted by k: at 60 bpm its second harmonic can carry more power than the fundamental, and a
spectral-peak estimator then reports twice the heart rate. :func:`sspd.signal.subharmonic_peak`
prefers the peak at half the maximum's frequency when that peak holds at least a share rho of
the maximum's power. This module measures, per window, what the rule would see, so rho can be
chosen on validation data once for every method and its effect shown method by method.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from sspd import signal as sig
from sspd.evaluate.protocol import Protocol, get_protocol, hr_from_signal, preprocess

__all__ = ["subharmonic_evidence", "window_evidence", "mae_by_ratio", "choose_ratio", "second_harmonic_share"]


def subharmonic_evidence(x: np.ndarray, fs: float, protocol: Protocol | str = "windowed") -> pd.DataFrame:
    """Per window of a pulse: the plain peak, the candidate subharmonic and its power share.

    Returns columns ``window``, ``hr_peak`` (bpm at the in-band maximum), ``hr_half`` (bpm of
    the local maximum within +-8 % of half that frequency, NaN when none or outside the band)
    and ``share`` (its power / the maximum's power; 0 when there is no candidate). The rule
    with ratio rho reports ``hr_half`` when ``share >= rho``, else ``hr_peak``.
    """
    protocol = get_protocol(protocol)
    if protocol.estimator != "fft":
        raise ValueError(f"protocol {protocol.name!r} does not use the spectral-peak estimator")
    y = preprocess(x, fs, protocol)
    lo, hi = protocol.band
    rows = []
    for w, (start, stop) in enumerate(sig.sliding_windows(len(y), fs, protocol.window_s, protocol.stride_s)):
        freqs, psd = sig.power_spectrum(y[start:stop], fs, nfft=protocol.nfft,
                                        window=protocol.spectral_window, resolution_hz=protocol.resolution_hz)
        band = (freqs >= lo) & (freqs <= hi)
        f_b, p_b = freqs[band], psd[band]
        k = int(np.argmax(p_b))
        f_half = sig.subharmonic_peak(f_b, p_b, float(f_b[k]), ratio=1e-12)
        found = f_half != f_b[k]
        share = float(p_b[np.argmin(np.abs(f_b - f_half))] / p_b[k]) if found else 0.0
        rows.append({"window": w, "hr_peak": 60.0 * f_b[k], "hr_half": 60.0 * f_half if found else np.nan,
                     "share": share})
    return pd.DataFrame(rows)


def window_evidence(method: Callable, entries: Iterable, protocol: Protocol | str = "windowed",
                    method_name: str | None = None) -> pd.DataFrame:
    """:func:`subharmonic_evidence` of ``method``'s pulse on every recording, with the true HR.

    The ground-truth HR per window comes from the contact BVP under the same protocol (plain
    peak, as in the evaluation). Columns add ``method``, ``subject`` and ``hr_gt``.
    """
    protocol = get_protocol(protocol)
    frames_out = []
    for entry in entries:
        fs = float(entry.fps)
        pulse = np.asarray(method(entry.frames, fs), dtype=np.float64).ravel()
        offset = len(entry.frames) - len(pulse)          # 1 for frame-difference models
        ev = subharmonic_evidence(pulse, fs, protocol)
        gt = hr_from_signal(np.asarray(entry.bvp, dtype=np.float64)[offset:], fs, protocol)
        ev["hr_gt"] = [hr for _, _, hr in gt]
        ev["subject"] = str(entry.subject)
        ev["method"] = method_name or getattr(method, "__name__", str(method))
        frames_out.append(ev)
    return pd.concat(frames_out, ignore_index=True)


def mae_by_ratio(evidence: pd.DataFrame, ratios: Iterable[float]) -> pd.DataFrame:
    """Windowed MAE (bpm) of each method under the rule with each ratio (None = plain peak).

    Returns one row per (method, ratio) with ``MAE``, ``n_switched`` (windows where the rule
    chose the subharmonic) and ``n_windows``.
    """
    rows = []
    for method, ev in evidence.groupby("method", sort=False):
        for rho in ratios:
            switch = np.zeros(len(ev), bool) if rho is None else (ev["share"].to_numpy() >= rho)
            hr = np.where(switch, ev["hr_half"].to_numpy(), ev["hr_peak"].to_numpy())
            err = np.abs(hr - ev["hr_gt"].to_numpy())
            rows.append({"method": method, "ratio": rho, "MAE": float(np.nanmean(err)),
                         "n_switched": int(switch.sum()), "n_windows": int(np.isfinite(err).sum())})
    return pd.DataFrame(rows)


def choose_ratio(table: pd.DataFrame) -> float | None:
    """The ratio with the lowest MAE averaged over methods (every method weighs the same).

    ``table`` from :func:`mae_by_ratio` on validation data; None (the plain peak) wins ties.
    """
    scores: dict = {}
    for rho, mae in zip(table["ratio"], table["MAE"]):
        key = None if rho is None or pd.isna(rho) else float(rho)
        scores.setdefault(key, []).append(mae)
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    return min(means, key=lambda k: (round(means[k], 9), k is not None))


def second_harmonic_share(bvp: np.ndarray, fs: float, hr_bpm: float, differentiate: bool = False) -> float:
    """Power at 2f over power at f (f = ``hr_bpm`` / 60) of a contact pulse or its derivative.

    Frame differences weight a pulse's harmonic k by about k (in amplitude), so a network that
    reads them sees a derivative-like pulse; above 1 its second harmonic dominates.
    """
    x = np.diff(np.asarray(bvp, np.float64)) * fs if differentiate else np.asarray(bvp, np.float64)
    freqs, psd = sig.power_spectrum(x, fs, window="hamming", resolution_hz=1.0 / 180.0)
    f = hr_bpm / 60.0

    def peak(f0):
        near = np.abs(freqs - f0) <= 0.08 * f0
        return float(psd[near].max())

    return peak(2 * f) / peak(f)


# ----------------------------------------------------------------------------- the study's analysis

CLASSIC = ("pos", "chrom", "green")
RATIOS = (None, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def collect_evidence(datasets=("still", "motion", "hard"), split: str = "train", methods=CLASSIC,
                     runs: dict | None = None, progress: bool = False) -> pd.DataFrame:
    """Window evidence of classic methods on ``split`` of each dataset, plus trained networks.

    runs: optional {label: (run folder, dataset, network)}: the network's pulses on that
    dataset's validation fold (read from / stored in the run's ``eval/`` folder).
    """
    from sspd.data.splits import dataset_entries
    from sspd.evaluate.methods import get_method

    parts = []
    for ds in datasets:
        entries, _ = dataset_entries(ds, split, progress=progress)
        for m in methods:
            parts.append(window_evidence(get_method(m), entries, method_name=m).assign(dataset=ds))
    for label, (run_dir, ds, network) in (runs or {}).items():
        from sspd.evaluate.pulses import StoredPulses, network_pulses

        entries, _ = dataset_entries(ds, "val", progress=progress)
        method = StoredPulses(network_pulses(run_dir, network, entries, progress), entries)
        parts.append(window_evidence(method, entries, method_name=label).assign(dataset=ds))
    return pd.concat(parts, ignore_index=True)


def main(argv=None) -> int:
    """Write the committed evidence: ``data/results/harmonics/evidence.csv`` (+ manifest)."""
    import argparse

    from sspd.io import atomic_write_json, atomic_write_text, manifest
    from sspd.paths import results_dir

    parser = argparse.ArgumentParser(description="subharmonic evidence on training/validation subjects")
    parser.add_argument("--run", action="append", default=[], metavar="LABEL=RUN_DIR:DATASET:NETWORK",
                        help="a trained network scored on the dataset's validation fold (repeatable)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    runs = {}
    for item in args.run:
        label, spec = item.split("=", 1)
        run_dir, ds, network = spec.rsplit(":", 2)
        runs[label] = (run_dir, ds, network)
    out = Path(args.out) if args.out else results_dir() / "harmonics"
    evidence = collect_evidence(runs=runs, progress=True)
    atomic_write_text(out / "evidence.csv", evidence.to_csv(index=False))
    atomic_write_json(out / "manifest.json", manifest({"runs": runs, "ratios": list(RATIOS),
                                                       "datasets": ["still", "motion", "hard"]}, 0))
    table = mae_by_ratio(evidence, RATIOS)
    print(table.pivot(index="method", columns="ratio", values="MAE").round(2))
    print("chosen ratio:", choose_ratio(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
