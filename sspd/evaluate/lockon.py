"""What a pulse follows: each window's heart rate against every periodic source the generator recorded.

A synthetic recording's ground truth holds, beside the contact pulse, the traces of every nuisance
that can put power into the cardiac band: the screen light, the illumination and the camera's
exposure gain, respiration, head pose and blinks. For every window of a protocol the method's HR
estimate is compared with each source's rate, found in the source's trace by the *same* estimator
(band-pass, periodogram peak in the band); the window *follows* a source when the two agree within
``tol_bpm``. A window may follow several sources (a screen light near the heart rate) or none. Flat
traces (a nuisance that is off) have no rate and follow nothing.

This is a diagnostic for synthetic data only (real recordings carry no nuisance traces).

``python -m sspd.evaluate.lockon RUN_DIR`` tabulates a training run's networks and POS on the run's
validation subjects into ``RUN_DIR/lockon.csv`` (one row per window and method).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from sspd.errors import DataError
from sspd.evaluate.protocol import Protocol, get_protocol, hr_from_signal

__all__ = ["SOURCES", "source_rates", "lock_on", "lock_on_summary"]

#: {source: (ground-truth trace, rate multiplier)}; the pulse's second harmonic is a source of its own.
SOURCES: dict[str, tuple[str, float]] = {
    "pulse": ("bvp", 1.0),
    "pulse 2nd harmonic": ("bvp", 2.0),
    "screen light": ("screen", 1.0),
    "illumination": ("illum_gain", 1.0),
    "exposure gain": ("exposure_gain", 1.0),
    "respiration": ("resp", 1.0),
    "head yaw": ("pose_yaw", 1.0),
    "head pitch": ("pose_pitch", 1.0),
    "head x": ("pose_tx", 1.0),
    "head y": ("pose_ty", 1.0),
    "blinks": ("blink", 1.0),
}
FLAT = 1e-9   # a trace whose standard deviation is below this (relative to its mean level) is off


def source_rates(ground_truth: Mapping[str, np.ndarray], fs: float, protocol: Protocol | str = "windowed",
                 offset: int = 0) -> pd.DataFrame:
    """Each source's rate (bpm) in every window of ``protocol``: one row per window.

    ground_truth: traces by name (a synthetic recording's ``ground_truth.npz``), one value per frame.
    offset:       frames dropped from the start (1 to align with a frame-difference model's pulse).
    Columns: ``t_start``, ``t_end`` (s) and one per :data:`SOURCES` entry (NaN where the trace is flat
    or absent).
    """
    protocol = get_protocol(protocol)
    table = None
    for name, (trace_name, multiple) in SOURCES.items():
        trace = ground_truth.get(trace_name)
        if trace is None:
            continue
        x = np.asarray(trace, dtype=np.float64)[offset:]
        windows = hr_from_signal(x, fs, protocol)
        if table is None:
            table = pd.DataFrame([(a, b) for a, b, _ in windows], columns=["t_start", "t_end"])
        flat = np.std(x) <= FLAT * max(1.0, float(np.abs(np.mean(x))))
        table[name] = np.nan if flat else [hr * multiple for _, _, hr in windows]
    if table is None:
        raise ValueError("the ground truth holds none of the source traces")
    return table


def lock_on(method: Callable, entries: Iterable, ground_truth: Callable[[object], Mapping],
            protocol: Protocol | str = "windowed", tol_bpm: float = 3.0,
            method_name: str | None = None) -> pd.DataFrame:
    """Per window of every recording: the method's HR and which sources it follows.

    method:       ``method(frames, fs) -> pulse`` (N or N-1 samples; see sspd.evaluate.methods).
    ground_truth: ``entry -> traces`` (e.g. the recording's ground_truth.npz).
    Columns: method, subject, t_start, t_end, hr_pred, each source's rate (bpm) and, per source,
    ``follows <source>`` (bool).
    """
    protocol = get_protocol(protocol)
    parts = []
    for entry in entries:
        fs = float(entry.fps)
        pulse = np.asarray(method(entry.frames, fs), dtype=np.float64).ravel()
        offset = len(entry.frames) - len(pulse)
        traces = ground_truth(entry)
        n = len(np.asarray(traces["bvp"]))
        if n != len(entry.frames):
            raise DataError(None, f"subject {entry.subject}: {n} ground-truth samples for "
                                  f"{len(entry.frames)} frames")
        rates = source_rates(traces, fs, protocol, offset)
        rates.insert(0, "hr_pred", [hr for _, _, hr in hr_from_signal(pulse, fs, protocol)])
        for name in SOURCES:
            if name in rates:
                rates[f"follows {name}"] = (rates["hr_pred"] - rates[name]).abs() <= tol_bpm
        rates.insert(0, "subject", str(entry.subject))
        rates.insert(0, "method", method_name or getattr(method, "__name__", str(method)))
        parts.append(rates)
    return pd.concat(parts, ignore_index=True)


def lock_on_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Share of windows (%) that follow each source, per method; ``none``: windows that follow none."""
    follows = [c for c in table.columns if c.startswith("follows ")]
    out = table.groupby("method", sort=False)[follows].mean() * 100
    out["none"] = table.assign(_none=~table[follows].any(axis=1)).groupby("method", sort=False)["_none"].mean() * 100
    out["windows"] = table.groupby("method", sort=False).size()
    out.columns = [c.removeprefix("follows ") for c in out.columns]
    return out


def main(argv=None) -> int:
    """``python -m sspd.evaluate.lockon RUN_DIR``: a run's networks and POS on its validation subjects."""
    import argparse

    from sspd.data.splits import dataset_entries, resolve_dataset
    from sspd.evaluate.methods import get_method
    from sspd.evaluate.pulses import NETWORK_FILES, StoredPulses, network_pulses
    from sspd.io import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--networks", nargs="+", default=["best", "initial"], choices=list(NETWORK_FILES))
    parser.add_argument("--classic", nargs="*", default=["pos"])
    parser.add_argument("--split", default="val", help="subjects (default: the validation fold)")
    parser.add_argument("--tol", type=float, default=3.0, help="agreement tolerance, bpm")
    args = parser.parse_args(argv)
    import json

    data = json.loads((args.run_dir / "config.json").read_text())["data"]
    ref = resolve_dataset(data)
    root = ref.synthetic_root if ref.synthetic_root is not None else Path(data).parent / "synthetic" / ref.name
    entries, _ = dataset_entries(data, args.split, progress=False)

    def truth(entry):
        path = root / str(entry.subject) / "ground_truth.npz"
        if not path.is_file():
            raise DataError(path, "no synthetic ground truth (lock-on needs the generator's traces)")
        return dict(np.load(path))

    parts = [lock_on(StoredPulses(network_pulses(args.run_dir, n, entries), entries), entries, truth,
                     tol_bpm=args.tol, method_name=f"sspd-{n}") for n in args.networks]
    parts += [lock_on(get_method(c), entries, truth, tol_bpm=args.tol, method_name=c) for c in args.classic]
    table = pd.concat(parts, ignore_index=True)
    atomic_write_text(args.run_dir / "lockon.csv", table.to_csv(index=False))
    print(lock_on_summary(table).round(1).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
