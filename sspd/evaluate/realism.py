"""How real is the synthetic data? Pretrained peer networks on the synthetic presets, beside published real numbers.

The open-rppg networks (:mod:`sspd.evaluate.peers`) were trained on real videos (PURE or RLAP) and never saw
this project's generator. Run on a synthetic preset, they say how "real" the preset looks to a network that
learnt what a real face pulse looks like: a network that is accurate on real UBFC-rPPG but fails on ``still``
(the UBFC-rPPG-like preset) points at something in the generator that real videos do not have (or lack
something they do have).

Four pieces:

- :data:`PUBLISHED`: published **real-data** results (MAE in bpm, ...) of the peer architectures and the
  classic methods on the real datasets the presets mimic (:data:`MIMICS`), each row with its citation. Only
  numbers checked against their cited source (each row's ``source``); the open-rppg package
  (0.1.1) ships no results table, so none come from it.
- :func:`run_peers`: methods x one preset's split under the ``windowed`` protocol with the ordinary runner,
  into ``data/results/peers/<preset>/``; resumable (a finished method/preset is not run again).
- :func:`side_by_side`: synthetic MAE [95 % subject-bootstrap CI] per preset and method next to the
  published real MAE of the same network (same architecture and training set) on the mimicked dataset.
- :func:`run_ablations`: one preset re-rendered with one nuisance switched off at a time
  (:func:`sspd.evaluate.variants.variant_dataset`), a few methods scored on each.

Every number this module computes is **synthetic** and is labelled so (column ``data`` = "synthetic");
published numbers carry ``data`` = "real" and a ``source``. The two come from different protocols
(published: mostly the rPPG-Toolbox whole-video FFT; ours: 10-s windows, 1-s stride), different subjects and
different face crops: the comparison is about orders of magnitude and rankings, not decimals.

CLI: ``python -m sspd.evaluate.realism --presets easy still motion hard --methods all [--ablations]``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from sspd.errors import DataError
from sspd.evaluate.metrics import paired_change
from sspd.io import atomic_path, atomic_write_json, atomic_write_text, manifest

__all__ = ["MIMICS", "PUBLISHED", "PROTOCOL", "CLASSIC_DEFAULT", "ABLATION_FACTORS", "PROBE_FACTORS",
           "MISSING_NUISANCES", "published_table", "method_arch", "run_dir", "run_peers", "collect_table",
           "side_by_side", "run_ablations", "ablation_table", "default_methods", "CROP_PROBES", "face_fraction",
           "scaled_box", "CroppedMethod", "run_crop_probe", "ablation_verdicts", "walk_verdicts", "walk_lines", "at_level", "coverage", "LITERATURE", "HEAD_MOTION_ROWS", "head_motion", "blink_durations_ms",
           "literature_checks", "main"]

PROTOCOL = "windowed"
#: Which real dataset each synthetic preset stands in for (``easy`` mimics none).
MIMICS = {"easy": None, "still": "UBFC-rPPG", "motion": "PURE", "hard": "VIPL-HR"}
CLASSIC_DEFAULT = ("pos", "chrom", "green")
OFFICIAL = "sspd-official"

_TOOLBOX = ("Liu et al., rPPG-Toolbox: Deep Remote PPG Toolbox, NeurIPS 2023 Datasets & Benchmarks "
            "(arXiv 2210.00716), Table 2; github.com/ubicomplab/rPPG-Toolbox figures/results.png")
_TOOLBOX_PROTO = "rPPG-Toolbox: whole test video -> one HR by FFT; Haar-cascade crop; test on the whole dataset"
_RSRPPG = ("Savic & Zhao, RS-rPPG: Robust Self-Supervised Learning for rPPG, IEEE FG 2024, Table I "
           "(github.com/marukosan93/RS-rPPG README @ d794e58); rows compiled from the original papers")
_RSRPPG_PROTO = "VIPL-HR: 5-fold subject cross-validation, 20-s segments; PURE: Dual-GAN split, 30-s segments"


def _toolbox(arch, train, test, mae, mape, **more):
    return {"arch": arch, "train": train, "test": test, "MAE": mae, "MAPE": mape, "protocol": _TOOLBOX_PROTO,
            "source": _TOOLBOX, **more}


def _pr(text):
    return f"{_TOOLBOX}; RMSE/r: github.com/ubicomplab/rPPG-Toolbox {text}"


#: Published real-data results. MAE, RMSE (bpm), MAPE (%), r (Pearson, video level); None = not reported.
#: ``arch`` uses this project's spelling of the peer's architecture (``TSCAN``, ``EfficientPhys``), ``train``
#: the training set (``none`` for training-free methods). Verified rows of
#: Only rows whose cited source was checked; unverified figures are left out.
PUBLISHED: list[dict] = [
    # ---- UBFC-rPPG (mimicked by `still`)
    {**_toolbox("POS", "none", "UBFC-rPPG", 4.00, 3.86, RMSE=7.58, r=0.922), "source": _pr("PR #232")},
    _toolbox("CHROM", "none", "UBFC-rPPG", 3.98, 3.78),
    _toolbox("GREEN", "none", "UBFC-rPPG", 19.81, 18.78),
    _toolbox("TSCAN", "PURE", "UBFC-rPPG", 1.29, 1.50),
    _toolbox("TSCAN", "SCAMPS", "UBFC-rPPG", 3.62, 3.53),
    _toolbox("PhysNet", "PURE", "UBFC-rPPG", 1.63, 1.68),
    _toolbox("PhysNet", "SCAMPS", "UBFC-rPPG", 4.39, 4.39),
    {**_toolbox("EfficientPhys", "PURE", "UBFC-rPPG", 2.07, 2.10, RMSE=6.32, r=0.939),
     "source": _pr("issue #201") + " (EfficientPhys-C, released checkpoint)"},
    _toolbox("EfficientPhys", "SCAMPS", "UBFC-rPPG", 12.64, 11.26),
    {"arch": "PhysFormer", "train": "PURE", "test": "UBFC-rPPG", "MAE": 1.76, "RMSE": 4.01, "MAPE": 1.96,
     "r": 0.974, "protocol": _TOOLBOX_PROTO,
     "source": "github.com/ubicomplab/rPPG-Toolbox issue #229 (maintainers' log of the PURE-trained PhysFormer)"},
    # ---- PURE (mimicked by `motion`)
    {**_toolbox("POS", "none", "PURE", 3.67, 7.25, RMSE=11.82, r=0.878), "source": _pr("PR #123")},
    {**_toolbox("CHROM", "none", "PURE", 5.77, 11.52, RMSE=14.93, r=0.809), "source": _pr("PRs #123, #143")},
    _toolbox("GREEN", "none", "PURE", 10.09, 10.28),
    _toolbox("TSCAN", "UBFC-rPPG", "PURE", 3.69, 3.38),
    _toolbox("TSCAN", "SCAMPS", "PURE", 4.66, 5.83),
    _toolbox("PhysNet", "UBFC-rPPG", "PURE", 9.36, 17.84),
    _toolbox("PhysNet", "SCAMPS", "PURE", 20.08, 31.27),
    _toolbox("EfficientPhys", "UBFC-rPPG", "PURE", 5.47, 5.39),
    _toolbox("EfficientPhys", "SCAMPS", "PURE", 10.24, 11.70),
    {"arch": "PhysNet", "train": "PURE", "test": "PURE", "MAE": 2.10, "RMSE": 2.60, "MAPE": None, "r": 0.99,
     "protocol": _RSRPPG_PROTO + " (intra-dataset)", "source": _RSRPPG},
    # ---- VIPL-HR (mimicked by `hard`); intra-dataset 5-fold numbers
    {"arch": "GREEN", "train": "none", "test": "VIPL-HR", "MAE": 15.9, "RMSE": 21.0, "MAPE": None, "r": 0.11,
     "protocol": _RSRPPG_PROTO, "source": _RSRPPG},
    {"arch": "CHROM", "train": "none", "test": "VIPL-HR", "MAE": 11.4, "RMSE": 16.9, "MAPE": None, "r": 0.28,
     "protocol": _RSRPPG_PROTO, "source": _RSRPPG},
    {"arch": "POS", "train": "none", "test": "VIPL-HR", "MAE": 11.5, "RMSE": 17.2, "MAPE": None, "r": 0.30,
     "protocol": _RSRPPG_PROTO, "source": _RSRPPG},
    {"arch": "PhysNet", "train": "VIPL-HR", "test": "VIPL-HR", "MAE": 10.8, "RMSE": 14.9, "MAPE": None, "r": 0.20,
     "protocol": _RSRPPG_PROTO + " (intra-dataset)", "source": _RSRPPG},
    {"arch": "PhysFormer", "train": "VIPL-HR", "test": "VIPL-HR", "MAE": 4.97, "RMSE": 7.79, "MAPE": None,
     "r": 0.78, "protocol": _RSRPPG_PROTO + " (intra-dataset)", "source": _RSRPPG},
]
for _row in PUBLISHED:
    _row.setdefault("RMSE", None)
    _row.setdefault("r", None)
    _row["data"] = "real"
del _row

#: Nuisances the ablation switches off, as (label, sweep factor, level that means "off").
ABLATION_FACTORS = (
    ("blinks off", "blink_rate", 0),
    ("head motion off", "motion_amplitude", 0),
    ("screen light off", "screen_light", 0),
    ("illumination drift off", "illumination_drift", 0),
    ("flicker off", "flicker", 0),
    ("breathing / BCG motion off", "breathing_motion", 0),
    ("auto-exposure off", "auto_exposure", "off"),
    ("sensor noise off", "sensor_noise", 0),
)
#: Not a nuisance: a probe of signal strength (every subject's pulse at 1 % peak-to-peak in green, against
#: 0.12-0.45 % in ``still``), to tell "the network cannot see a weak pulse" from "the face looks unreal".
PROBE_FACTORS = (("pulse 1 % p-p (probe)", "pulse_amplitude", 1.0),)
#: Nuisances asked about that no sweep factor can switch off for a whole preset, and why.
MISSING_NUISANCES = {
    "codec": ("mjpeg_quality / h264_crf render full camera frames, which variant_dataset refuses; "
              "and `still` is uncompressed (codec 'none') already"),
}


# ----------------------------------------------------------------------------- published numbers


def published_table(published: Sequence[dict] = PUBLISHED) -> pd.DataFrame:
    """:data:`PUBLISHED` as a DataFrame (columns arch, train, test, MAE, RMSE, MAPE, r, protocol, source,
    data). Raises ValueError for a row without a citation, with a non-real ``data`` label, or with a
    negative or non-finite MAE."""
    cols = ["arch", "train", "test", "MAE", "RMSE", "MAPE", "r", "protocol", "source", "data"]
    df = pd.DataFrame(list(published), columns=cols)
    bad_src = df["source"].isna() | (df["source"].astype(str).str.strip().str.len() < 10)
    if bad_src.any():
        raise ValueError(f"published rows without a citation: {df.index[bad_src].tolist()}")
    if (df["data"] != "real").any():
        raise ValueError("PUBLISHED holds only real-data results (data == 'real')")
    mae = pd.to_numeric(df["MAE"], errors="coerce")
    if not (np.isfinite(mae) & (mae >= 0)).all():
        raise ValueError("every published row needs a finite MAE >= 0 (bpm)")
    return df


def method_arch(method: str) -> tuple[str, str]:
    """(architecture, training set) of a method name in :data:`PUBLISHED`'s spelling.

    ``orppg:PhysNet.pure`` -> ("PhysNet", "PURE"); ``orppg:ME-chunk.rlap`` -> ("ME", "RLAP");
    ``pos`` -> ("POS", "none"); ``sspd-official`` -> ("SSPD", "UBFC-rPPG") (the authors' UBFC weights).
    """
    if not isinstance(method, str) or not method:
        raise ValueError(f"method name must be a non-empty string, got {method!r}")
    if method.lower().startswith("orppg:"):
        model = method.split(":", 1)[1]
        arch, _, train = model.rpartition(".")
        return arch.split("-")[0], {"pure": "PURE", "rlap": "RLAP"}.get(train.lower(), train)
    if method.lower() == OFFICIAL:
        return "SSPD", "UBFC-rPPG"
    return method.upper(), "none"


# ----------------------------------------------------------------------------- running methods on presets


def default_methods(include_official: bool = True) -> list[str]:
    """Every peer, then pos, chrom, green, then ``sspd-official`` (when asked; skipped later if absent)."""
    from sspd.evaluate.peers import PEER_NAMES

    return list(PEER_NAMES) + list(CLASSIC_DEFAULT) + ([OFFICIAL] if include_official else [])


def run_dir(out_root: str | Path, preset: str, method: str) -> Path:
    """``<out_root>/<preset>/<method with ':' -> '-'>-windowed``: one method's run folder."""
    return Path(out_root) / preset / f"{method.replace(':', '-')}-{PROTOCOL}"


def _is_done(folder: Path, split: str, n_entries: int | None = None) -> bool:
    """A run folder counts as done when its summary.json records the same split (and recording count)."""
    path = folder / "summary.json"
    if not path.is_file():
        return False
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    cfg = (summary.get("manifest") or {}).get("config") or {}
    if cfg.get("split") != split or cfg.get("protocol") != PROTOCOL:
        return False
    return n_entries is None or summary.get("n_recordings") == n_entries


def run_peers(preset: str, methods: Iterable[str], out_root: str | Path | None = None, split: str = "test",
              entries=None, n_boot: int = 1000, seed: int = 0, progress: bool = True, generate: bool = True,
              official: str | Path | None = None, dataset_label: str | None = None) -> pd.DataFrame:
    """Evaluate ``methods`` on ``split`` of ``preset`` (windowed protocol); write runs and a tidy table.

    preset:   a synthetic preset name or a clip-cache folder (a variant); ``dataset_label`` names the
              output folder (default: ``preset``).
    methods:  method names (``sspd.evaluate.methods``, peers ``orppg:...``, ``sspd-official``).
    out_root: default ``data/results/peers``. Each method goes to :func:`run_dir`; a method whose folder
              already holds a summary.json for the same split and number of recordings is **not** run again.
    entries:  optional recordings (otherwise :func:`sspd.data.splits.dataset_entries`).
    official: the authors' SSPD weights (default ``sspd.evaluate.sweep.OFFICIAL_WEIGHTS``); ``sspd-official``
              is skipped, and the reason recorded, when the file is absent.
    Writes ``<out_root>/<label>/table.csv`` (:func:`collect_table`) and ``manifest.json`` (git SHA, config,
    hardware, per-method wall time in s, skipped methods). Returns the table.
    """
    from sspd.data.splits import dataset_entries
    from sspd.evaluate.runner import evaluate
    from sspd.evaluate.sweep import OFFICIAL_WEIGHTS, resolve_methods
    from sspd.paths import results_dir

    methods = list(dict.fromkeys(methods))
    if not methods:
        raise ValueError("no methods given")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    label = dataset_label or (Path(preset).name if isinstance(preset, Path) else str(preset))
    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"
    if entries is None:
        entries, _ = dataset_entries(preset, split, generate=generate, progress=progress)
    entries = list(entries)
    folder = out_root / label
    old = _read_manifest(folder)
    wall = dict(old.get("wall_s", {}))
    skipped = dict(old.get("skipped", {}))
    changed = not old
    for name in methods:
        target = run_dir(out_root, label, name)
        if _is_done(target, split, len(entries)):
            if progress:
                print(f"[realism] {label}/{name}: done already, skipped")
            continue
        resolved, why = resolve_methods([name], official=official if official is not None else OFFICIAL_WEIGHTS)
        if why:
            changed = changed or skipped.get(name) != why.get(name)
            skipped.update(why)
            if progress:
                print(f"[realism] {label}/{name}: skipped ({why})")
            continue
        t0 = time.perf_counter()
        evaluate(next(iter(resolved.values())), entries, PROTOCOL, target, method_name=name,
                 dataset_name=label, progress=progress, n_boot=n_boot, seed=seed,
                 config={"split": split, "protocol": PROTOCOL, "study": "realism", "data": "synthetic"})
        wall[name] = round(time.perf_counter() - t0, 2)
        skipped.pop(name, None)
        if progress:
            print(f"[realism] {label}/{name}: {wall[name]:.1f} s")
        _write_manifest(folder, label, split, n_boot, seed, wall, skipped)
        changed = False
    if changed:
        _write_manifest(folder, label, split, n_boot, seed, wall, skipped)
    return collect_table(out_root, label)


def _read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _write_manifest(folder: Path, label, split, n_boot, seed, wall, skipped) -> None:
    from sspd.data.synthetic import PRESETS

    fingerprint = PRESETS[label].fingerprint() if label in PRESETS else None
    atomic_write_json(folder / "manifest.json", {
        "note": "All numbers in this folder are computed on SYNTHETIC data; they are not real-data results.",
        "wall_s": wall, "skipped": skipped,
        "manifest": manifest(config={"dataset": label, "split": split, "protocol": PROTOCOL, "n_boot": n_boot,
                                     "preset_fingerprint": fingerprint}, seed=seed),
    })


def collect_table(out_root: str | Path, preset: str) -> pd.DataFrame:
    """One row per finished method run under ``<out_root>/<preset>/``: video-level MAE, RMSE, ME, r (bpm;
    r unitless) with 95 % subject-bootstrap CIs, mean SNR (dB), n, failures, method run time (s, summed over
    recordings) and ``data`` = "synthetic". Writes it to ``<out_root>/<preset>/table.csv``."""
    from sspd.evaluate.runner import metrics_row

    folder = Path(out_root) / preset
    if not folder.is_dir():
        raise FileNotFoundError(f"no results folder {folder}")
    rows = []
    for summary_path in sorted(folder.glob(f"*-{PROTOCOL}/summary.json")):
        summary = json.loads(summary_path.read_text())
        per_video = summary_path.parent / "per_video.csv"
        runtime = float("nan")
        if per_video.is_file():
            pv = pd.read_csv(per_video)
            if "runtime_s" in pv:
                runtime = float(pv["runtime_s"].sum())
        rows.append({"data": "synthetic", "preset": preset, "method": summary["method"],
                     "split": ((summary.get("manifest") or {}).get("config") or {}).get("split"),
                     **metrics_row(summary, "video", ("MAE", "RMSE", "ME", "r")), "runtime_s": runtime})
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("MAE", kind="stable").reset_index(drop=True)
        with atomic_path(folder / "table.csv") as tmp:
            table.to_csv(tmp, index=False)
    return table


# ----------------------------------------------------------------------------- side by side


def _fmt_ci(v, lo, hi) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{v:.2f}"
    return f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def side_by_side(out_root: str | Path | None = None, presets: Sequence[str] = ("easy", "still", "motion", "hard"),
                 published: Sequence[dict] = PUBLISHED, write: bool = True) -> pd.DataFrame:
    """Synthetic MAE per preset and method beside the published real MAE of the same network.

    Reads ``<out_root>/<preset>/table.csv`` (rebuilt from the run folders) for every preset that has results.
    Per (preset, method): ``synthetic MAE (bpm)`` as "value [95 % CI]" (subject bootstrap), the real dataset
    the preset mimics, ``published real MAE (bpm)`` of the same architecture *and* training set on that
    dataset (classic methods: the same method), its training set, protocol and source; and, in
    ``other published (architecture only)``, results of the same architecture trained elsewhere
    ("arch trained on X: MAE"). Writes ``<out_root>/side_by_side.csv`` and ``.md`` when ``write``.
    """
    from sspd.paths import results_dir

    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"
    pub = published_table(published)
    rows = []
    for preset in presets:
        if not (out_root / preset).is_dir():
            continue
        table = collect_table(out_root, preset)
        real = MIMICS.get(preset.removesuffix("-full"))
        for _, r in table.iterrows():
            arch, train = method_arch(r["method"])
            same = pub[(pub["test"] == real) & (pub["arch"] == arch)] if real else pub.iloc[:0]
            exact = same[same["train"] == train]
            others = same[same["train"] != train]
            row = {"preset": preset, "method": r["method"], "n": r["n"],
                   "synthetic MAE (bpm)": _fmt_ci(r["MAE"], r.get("MAE_lo"), r.get("MAE_hi")),
                   "synthetic_MAE": r["MAE"], "synthetic_MAE_lo": r.get("MAE_lo"),
                   "synthetic_MAE_hi": r.get("MAE_hi"), "real dataset mimicked": real or "none",
                   "published real MAE (bpm)": float(exact["MAE"].iloc[0]) if len(exact) else None,
                   "published train": exact["train"].iloc[0] if len(exact) else None,
                   "published protocol": exact["protocol"].iloc[0] if len(exact) else None,
                   "published source": exact["source"].iloc[0] if len(exact) else None,
                   "other published (architecture only)": "; ".join(
                       f"{o.arch} trained on {o.train}: {o.MAE:g}" for o in others.itertuples()) or None}
            rows.append(row)
    out = pd.DataFrame(rows)
    if write and not out.empty:
        with atomic_path(out_root / "side_by_side.csv") as tmp:
            out.to_csv(tmp, index=False)
        atomic_write_text(out_root / "side_by_side.md", _side_by_side_md(out))
    return out


def _side_by_side_md(df: pd.DataFrame) -> str:
    lines = ["# Synthetic MAE (this study) beside published real-data MAE", "",
             "Synthetic: video-level MAE (bpm) [95 % subject-bootstrap CI], test split, windowed protocol "
             "(10-s windows, 1-s stride). Real: published MAE (bpm) of the same architecture and training set "
             "on the real dataset the preset mimics, other protocol (see `side_by_side.csv` for sources).", "",
             "| preset | mimics | method | synthetic MAE | published real MAE | arch only (real) |",
             "|---|---|---|---|---|---|"]
    for r in df.to_dict("records"):
        pub = r["published real MAE (bpm)"]
        pub = "–" if pub is None or not np.isfinite(pub) else f"{pub:.2f}"
        other = r["other published (architecture only)"]
        other = other if isinstance(other, str) else "–"
        lines.append(f"| {r['preset']} | {r['real dataset mimicked']} | {r['method']} | "
                     f"{r['synthetic MAE (bpm)']} | {pub} | {other} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- ablations


def run_ablations(base: str = "still", methods: Sequence[str] = ("pos",),
                  factors=ABLATION_FACTORS + PROBE_FACTORS,
                  out_root: str | Path | None = None, split: str = "test", n_boot: int = 1000, seed: int = 0,
                  progress: bool = True) -> pd.DataFrame:
    """Score ``methods`` on ``base`` with one nuisance off at a time; write ``<out_root>/ablations/``.

    factors:  (label, sweep factor, level) triples (default :data:`ABLATION_FACTORS` and the signal-strength
              probe :data:`PROBE_FACTORS`); each is rendered
              for the split's subjects only with :func:`sspd.evaluate.variants.variant_dataset` (same people,
              same draws, one knob changed) into data/variants (git-ignored).
    The unmodified reference is the ordinary ``<out_root>/<base>/`` run of the same methods (run here if
    missing). Runs are resumable like :func:`run_peers`. Returns :func:`ablation_table`.
    """
    from sspd.data.splits import load_split, split_subjects
    from sspd.evaluate.variants import variant_dataset, variant_name
    from sspd.paths import results_dir

    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"
    subjects = split_subjects(load_split(base), split)
    run_peers(base, methods, out_root, split=split, n_boot=n_boot, seed=seed, progress=progress)
    abl_root = out_root / "ablations"
    timing = _read_json(abl_root / "render_s.json")
    for label, factor, level in factors:
        name = variant_name(factor, level)
        t0 = time.perf_counter()
        cache = variant_dataset(base, factor, level, subjects=subjects, seed=seed, progress=progress)
        timing.setdefault(name, round(time.perf_counter() - t0, 2))
        atomic_write_json(abl_root / "render_s.json", timing)
        run_peers(cache, methods, abl_root, split=split, n_boot=n_boot, seed=seed, progress=progress,
                  dataset_label=name)
    return ablation_table(out_root, base, factors)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def ablation_table(out_root: str | Path | None = None, base: str = "still",
                   factors=ABLATION_FACTORS + PROBE_FACTORS,
                   write: bool = True) -> pd.DataFrame:
    """MAE (bpm, synthetic) per method and condition: "unmodified" (``<out_root>/<base>``) and each
    "<nuisance> off" (``<out_root>/ablations/<factor>=<level>``), with the CI and the change from unmodified
    (``delta``, bpm; negative = the nuisance was hurting). Writes ``ablations/table.csv`` (long) and
    ``ablations/table_wide.csv`` (methods x conditions, MAE) when ``write``."""
    from sspd.evaluate.variants import variant_name
    from sspd.paths import results_dir

    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"
    abl_root = out_root / "ablations"
    parts = []
    for label, folder in [("unmodified", out_root / base)] + [
            (lab, abl_root / variant_name(f, lv)) for lab, f, lv in factors]:
        if not folder.is_dir():
            continue
        t = collect_table(folder.parent, folder.name)
        if t.empty:
            continue
        parts.append(t.assign(condition=label, variant=folder.name))
    if not parts:
        raise FileNotFoundError(f"no ablation results under {out_root}")
    long = pd.concat(parts, ignore_index=True)
    ref = long[long["condition"] == "unmodified"].set_index("method")["MAE"]
    long["delta"] = long["MAE"] - long["method"].map(ref)
    long = long[["data", "condition", "variant", "method", "n", "MAE", "MAE_lo", "MAE_hi", "delta", "r", "SNR"]]
    order = ["unmodified"] + [lab for lab, _, _ in factors]
    wide = long.pivot(index="method", columns="condition", values="MAE")
    wide = wide[[c for c in order if c in wide.columns]]
    if write:
        abl_root.mkdir(parents=True, exist_ok=True)
        with atomic_path(abl_root / "table.csv") as tmp:
            long.to_csv(tmp, index=False)
        with atomic_path(abl_root / "table_wide.csv") as tmp:
            wide.to_csv(tmp)
    long.attrs["wide"] = wide
    return long


def ablation_verdicts(out_root: str | Path | None = None, base: str = "still",
                      factors=ABLATION_FACTORS + PROBE_FACTORS, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per method and switched-off nuisance: the change in video MAE (bpm) with a **paired** 95 % bootstrap CI.

    The same subjects are rendered with and without the nuisance, so the change is taken subject by subject
    (|error| off - |error| unmodified) and the subjects are resampled together. ``verdict``: "better with it
    off" when the whole CI of the change is below 0 (the nuisance was hurting), "worse with it off" when above,
    else "not resolved" (the CI includes 0). One row per (method, condition) with both runs on the same subjects.
    """
    from sspd.evaluate.variants import variant_name
    from sspd.paths import results_dir

    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"

    def per_subject(folder: Path) -> pd.Series:
        path = folder / "per_video.csv"
        if not path.is_file():
            return pd.Series(dtype=float)
        pv = pd.read_csv(path, dtype={"subject": str})
        return pv[pv["status"] == "ok"].set_index("subject")["abs_error"]

    rows = []
    for unmodified in sorted((out_root / base).glob(f"*-{PROTOCOL}")):
        ref = per_subject(unmodified)
        for label, factor, level in factors:
            off = per_subject(out_root / "ablations" / variant_name(factor, level) / unmodified.name)
            common = ref.index.intersection(off.index)
            if not len(common):
                continue
            a, b = off[common].to_numpy(float), ref[common].to_numpy(float)
            change = paired_change(a, b, n_boot, seed)
            verdict = {-1: "better with it off", 1: "worse with it off", 0: "not resolved"}[change.pop("sign")]
            method = json.loads((unmodified / "summary.json").read_text())["method"]
            rows.append({"method": method, "condition": label, "n": len(common), "MAE unmodified": b.mean(),
                         "MAE off": a.mean(), **change, "verdict": verdict})
    return pd.DataFrame(rows)


def walk_verdicts(folder: str | Path, unit: str = "window", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The reverse of :func:`ablation_verdicts`: from a clean base, add one difference at a time.

    ``folder`` holds sweeps (:func:`sspd.evaluate.sweep.run_sweep`) rendered from a clean base preset (the
    study uses ``easy``), each factor's first level being the base itself. Per factor, method and later level:
    the change in MAE (bpm) against the first level, taken subject by subject (mean |error| over the subject's
    ``unit`` rows at the level, minus the same at the first level) with a paired 95 % bootstrap CI over
    subjects. ``verdict``: "worse" when the whole CI is above 0, "better" when below, else "not
    resolved". Empty (with the columns) when the folder holds no sweep.
    """
    from sspd.evaluate import sweep

    cols = ["factor", "method", "reference", "level", "n", "MAE reference", "MAE level", "change", "change_lo",
            "change_hi", "verdict"]
    df = sweep.load_sweeps(folder)
    df = df[df["unit"] == unit]
    pred, true = df["hr_pred"].to_numpy(float), df["hr_gt"].to_numpy(float)
    df = df[np.isfinite(pred) & np.isfinite(true)].assign(abs_error=lambda d: (d["hr_pred"] - d["hr_gt"]).abs())
    per_subject = df.groupby(["factor", "method", "level_index", "level", "subject"], sort=False)["abs_error"].mean()
    rows = []
    for (factor, method), g in per_subject.groupby(level=["factor", "method"], sort=False):
        g = g.reset_index()
        is_first = g["level_index"] == g["level_index"].min()
        reference = g.loc[is_first, "level"].iloc[0]
        ref = g[is_first].set_index("subject")["abs_error"]
        for (_, level), h in g[~is_first].groupby(["level_index", "level"], sort=True):
            at_level = h.set_index("subject")["abs_error"]
            common = ref.index.intersection(at_level.index)
            if not len(common):
                continue
            a, b = at_level[common].to_numpy(float), ref[common].to_numpy(float)
            change = paired_change(a, b, n_boot, seed)
            verdict = {1: "worse", -1: "better", 0: "not resolved"}[change.pop("sign")]
            rows.append({"factor": factor, "method": method, "reference": reference, "level": level,
                         "n": len(common), "MAE reference": b.mean(), "MAE level": a.mean(), **change,
                         "verdict": verdict})
    return pd.DataFrame(rows, columns=cols)


def walk_lines(steps: pd.DataFrame) -> list[str]:
    """One sentence per resolved step of :func:`walk_verdicts`, then how many steps are not resolved."""
    lines = [f"{r.method}, {r.factor} {r.reference} -> {r.level}: {r['MAE reference']:.2f} -> {r['MAE level']:.2f} bpm "
             f"(change {r.change:+.2f} [{r.change_lo:+.2f}, {r.change_hi:+.2f}]): {r.verdict}"
             for _, r in steps[steps["verdict"] != "not resolved"].iterrows()]
    lines.append(f"{int((steps['verdict'] == 'not resolved').sum())} of {len(steps)} steps are not resolved with "
                 f"these subjects")
    return lines


def at_level(folders: dict, factor: str, level: float, n_boot: int = 1000) -> pd.DataFrame:
    """Each method's MAE [95 % subject-bootstrap CI] at one ``level`` of ``factor`` in several sweep folders, side
    by side: {label: folder} -> one row per method run in all of them, columns ``<label> MAE``, ``<label> MAE_lo``,
    ``<label> MAE_hi``. Different folders may hold different subjects: the intervals are independent, not paired."""
    from sspd.evaluate import sweep

    out = None
    for label, folder in folders.items():
        walk = sweep.load_sweeps(folder)
        curves = sweep.curve_table(walk[walk["factor"] == factor], n_boot=n_boot)
        curves = curves[curves["level"].astype(float) == float(level)]
        part = curves.set_index("method")[["MAE", "MAE_lo", "MAE_hi"]].add_prefix(f"{label} ")
        out = part if out is None else out.join(part, how="inner")
    return out if out is not None else pd.DataFrame()


def coverage(out_root: str | Path | None = None, presets: Sequence[str] = ("easy", "still", "motion", "hard"),
             methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Which methods have a finished run on which preset: a methods x presets frame of MAE (NaN: not run).
    ``methods`` (default :func:`default_methods`) fixes the rows, so methods never run show as gaps."""
    from sspd.paths import results_dir

    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"
    tables = {p: collect_table(out_root, p) for p in presets if (Path(out_root) / p).is_dir()}
    wide = pd.DataFrame({p: t.set_index("method")["MAE"] for p, t in tables.items() if len(t)})
    rows = list(methods) if methods is not None else default_methods()
    rows += [m for m in wide.index if m not in rows]
    return wide.reindex(index=rows, columns=[p for p in presets])


# ----------------------------------------------------------------------------- generator against the literature

_BENTIVOGLIO = ("Bentivoglio et al., Analysis of blink rate patterns in normal subjects, Movement Disorders 12(6) "
                "1028-1034, 1997 (150 adults: mean 17 /min at rest, 26 in conversation, 4.5 reading)")
_DOUGHTY = ("Doughty, Consideration of three types of spontaneous eyeblink activity in normal humans, Optometry and "
            "Vision Science 78(10) 712-725, 2001 (95 % ranges over published studies)")
_STERN = ("Stern, Walrath & Goldstein, The endogenous eyeblink, Psychophysiology 21(1) 22-33, 1984 (closing about "
          "100 ms, vision occluded at most 300 ms, reopening about 100 ms)")
_STRICKER = ("Stricker, Mueller & Gross, Non-contact video-based pulse rate measurement on a mobile service robot, "
             "IEEE RO-MAN 2014 (the PURE dataset), as commonly quoted: translation at about 7 and 14 % of the face "
             "height per second, rotation of about 20 and 35 degrees (quoted values, not re-read from the paper); the "
             "quoted values are approximate, so the range is the quoted value +-10 %")
#: Published ranges the generator's nuisances are checked against: (quantity, unit, low, high, source).
LITERATURE = (
    ("spontaneous blink rate, primary gaze", "blinks/min", 8.0, 21.0, _DOUGHTY),
    ("spontaneous blink rate, conversation", "blinks/min", 10.5, 32.5, _DOUGHTY),
    ("mean blink rate at rest", "blinks/min", 17.0, 17.0, _BENTIVOGLIO),
    ("endogenous blink duration (closing + occlusion + reopening)", "ms", 100.0, 500.0, _STERN),
    ("PURE slow translation (task 03), head speed", "% face height/s", 6.3, 7.7, _STRICKER),
    ("PURE fast translation (task 04), head speed", "% face height/s", 12.6, 15.4, _STRICKER),
    ("PURE small rotation (task 05), yaw amplitude", "deg", 18.0, 22.0, _STRICKER),
    ("PURE medium rotation (task 06), yaw amplitude", "deg", 31.5, 38.5, _STRICKER),
)
#: The generator's motion profile behind each head-motion row of :data:`LITERATURE`, and what is measured on it.
HEAD_MOTION_ROWS = {"PURE slow translation (task 03), head speed": ("slow_translation", "speed"),
                    "PURE fast translation (task 04), head speed": ("fast_translation", "speed"),
                    "PURE small rotation (task 05), yaw amplitude": ("small_rotation", "yaw"),
                    "PURE medium rotation (task 06), yaw amplitude": ("medium_rotation", "yaw")}


def blink_durations_ms(n_blinks: int = 60, seed: int = 0) -> np.ndarray:
    """Durations (ms) of the generator's blinks (:func:`sspd.data.synthetic.motion.blinks`), measured on a 1-kHz
    time grid as the length of each run of non-zero eyelid closure (isolated blinks: a low rate)."""
    from sspd.data.synthetic.motion import blinks

    rate = 6.0  # blinks per minute: rare enough that two blinks seldom touch (a merged pair reads as one long blink)
    t = np.arange(0.0, 60.0 * n_blinks / rate, 1e-3)
    closed = blinks(t, np.random.default_rng(seed), rate_per_min=rate) > 0
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    if closed[0]:
        edges = edges[1:]
    starts, stops = edges[0::2], edges[1::2]
    n = min(len(starts), len(stops))
    return (stops[:n] - starts[:n]).astype(float)  # 1 sample = 1 ms


def head_motion(profile: str, amplitude: float = 1.0, n_clips: int = 40, duration_s: float = 60.0,
                fps: float = 30.0, seed: int = 0) -> pd.DataFrame:
    """Head motion of the generator's ``profile`` (:func:`sspd.data.synthetic.motion.pose_profile`), measured per
    clip as a reader of the real dataset would: ``speed`` the median over 1-s steps of the head's displacement
    (% of the face height per second, horizontal and vertical together), ``yaw`` half the 1st-99th percentile
    range of the yaw angle (degrees). ``amplitude`` is a preset's ``motion_amplitude``."""
    from sspd.data.synthetic.motion import pose_profile

    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 1.0 / fps)
    step = int(round(fps))
    rows = []
    for clip in range(n_clips):
        pose = pose_profile(t, profile, rng, amplitude)
        dx, dy = pose["tx"][step:] - pose["tx"][:-step], pose["ty"][step:] - pose["ty"][:-step]
        lo, hi = np.percentile(pose["yaw"], [1, 99])
        rows.append({"profile": profile, "amplitude": amplitude, "clip": clip,
                     "speed": float(np.median(np.hypot(dx, dy)) * 100.0), "yaw": float((hi - lo) / 2)})
    return pd.DataFrame(rows)


def literature_checks(presets: Sequence[str] = ("still", "motion", "hard"), seed: int = 0,
                      motion_preset: str = "motion") -> pd.DataFrame:
    """The generator's nuisances beside the published ranges of :data:`LITERATURE`.

    Blink rates: each preset's drawn range. Blink durations: measured on the blink model (5th-95th percentile).
    Head motion of the PURE tasks: measured on the generator's profiles (:func:`head_motion`, 5th-95th
    percentile over clips) as designed (amplitude 1) and as ``motion_preset`` renders them (its
    ``motion_amplitude``). ``overlaps`` says whether the two ranges share any value.
    """
    from sspd.data.synthetic import get_preset

    durations = blink_durations_ms(seed=seed)
    generated = {"blinks/min": {p: tuple(get_preset(p).blink_rate_per_min) for p in presets},
                 "ms": {"all presets": (float(np.percentile(durations, 5)), float(np.percentile(durations, 95)))}}
    amplitudes = {"motion profile (x1)": 1.0}
    preset_amplitude = float(get_preset(motion_preset).motion_amplitude)
    amplitudes[f"{motion_preset} preset (x{preset_amplitude:g})"] = preset_amplitude
    rows = []
    for quantity, unit, lo, hi, source in LITERATURE:
        if quantity in HEAD_MOTION_ROWS:
            profile, column = HEAD_MOTION_ROWS[quantity]
            ranges = {}
            for where, amplitude in amplitudes.items():
                measured = head_motion(profile, amplitude, seed=seed)[column]
                ranges[where] = (float(np.percentile(measured, 5)), float(np.percentile(measured, 95)))
        else:
            ranges = generated[unit]
        for where, (g_lo, g_hi) in ranges.items():
            rows.append({"quantity": quantity, "unit": unit, "generator": where, "generator low": g_lo,
                         "generator high": g_hi, "published low": lo, "published high": hi,
                         "overlaps": bool(g_lo <= hi and lo <= g_hi), "source": source})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- crop probe

#: Crops the probe compares: (label, scale), scale a multiple of the face's tight box about its centre, or None
#: for the cache's own crop (the SSPD authors' enlarged first-frame box, about 1.8-1.9x the face's height).
#: rPPG-Toolbox, whose preprocessing produced the training crops of the PURE-trained weights, crops 1.5x the
#: detector's box (Liu et al., rPPG-Toolbox, NeurIPS 2023 D&B, config ``LARGE_BOX_COEF: 1.5``).
CROP_PROBES = (("authors' box (cache)", None), ("1.5x face box", 1.5), ("1.2x face box", 1.2))


def face_fraction(entries) -> np.ndarray:
    """The median tight face box of frame 0, as fractions (top, bottom, left, right) of the crop, over synthetic
    recordings (read from each recording's ``ground_truth.npz``, ``face_boxes_tight``)."""
    boxes = []
    for entry in entries:
        source = Path(entry.meta.get("source") or "")
        gt_path = source / "ground_truth.npz"
        if not gt_path.is_file():
            raise DataError(gt_path, "the crop probe needs the synthetic recording's ground truth (face_boxes_tight)")
        with np.load(gt_path) as gt:
            top, bottom, left, right = np.asarray(gt["face_boxes_tight"][0], dtype=np.float64)
        height, width = entry.frames.shape[1:3]
        boxes.append((top / height, bottom / height, left / width, right / width))
    if not boxes:
        raise ValueError("no recordings given")
    return np.median(np.asarray(boxes), axis=0)


def scaled_box(face: Sequence[float], scale: float) -> tuple[float, float, float, float]:
    """``face`` (top, bottom, left, right fractions) grown ``scale`` times about its centre, clipped to [0, 1]."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    top, bottom, left, right = map(float, face)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    hh, hw = scale * (bottom - top) / 2, scale * (right - left) / 2
    return max(0.0, cy - hh), min(1.0, cy + hh), max(0.0, cx - hw), min(1.0, cx + hw)


class CroppedMethod:
    """``method`` fed a sub-crop of every frame: ``box`` = (top, bottom, left, right) fractions of the frame."""

    def __init__(self, method, box: Sequence[float]):
        top, bottom, left, right = map(float, box)
        if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
            raise ValueError(f"box must be fractions with top < bottom and left < right, got {tuple(box)}")
        self.method, self.box = method, (top, bottom, left, right)

    def __call__(self, frames: np.ndarray, fs: float) -> np.ndarray:
        height, width = frames.shape[1:3]
        top, bottom, left, right = self.box
        rows = slice(int(round(top * height)), max(int(round(bottom * height)), int(round(top * height)) + 1))
        cols = slice(int(round(left * width)), max(int(round(right * width)), int(round(left * width)) + 1))
        return self.method(np.ascontiguousarray(frames[:, rows, cols]), fs)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in label).strip("_")


def run_crop_probe(base: str = "still", methods: Sequence[str] = ("orppg:PhysNet.pure",), probes=CROP_PROBES,
                   out_root: str | Path | None = None, split: str = "test", n_boot: int = 1000, seed: int = 0,
                   progress: bool = True) -> pd.DataFrame:
    """Score ``methods`` on ``base`` with the face cropped as in ``probes`` (see :data:`CROP_PROBES`).

    Is the real-trained networks' failure on synthetic faces a matter of the crop? The cache's crop (the SSPD
    authors' loose box) is the ordinary ``<out_root>/<base>/`` run (run here if missing); every other probe
    crops each frame to the median tight face box of the split (:func:`face_fraction`) grown ``scale`` times,
    and writes ``<out_root>/crop/<label>/``. Resumable like :func:`run_peers`. Returns one row per method and
    crop (MAE with CI, r, the box) and writes ``<out_root>/crop/table.csv``.
    """
    from sspd.data.splits import dataset_entries
    from sspd.evaluate.runner import evaluate
    from sspd.evaluate.sweep import OFFICIAL_WEIGHTS, resolve_methods
    from sspd.paths import results_dir

    out_root = Path(out_root) if out_root is not None else results_dir() / "peers"
    entries, _ = dataset_entries(base, split, progress=progress)
    face = face_fraction(entries)
    crop_root = out_root / "crop"
    loaded = {}  # each method built (and its weights read) once, for every crop
    rows = []
    for label, scale in probes:
        if scale is None:
            run_peers(base, methods, out_root, split=split, entries=entries, n_boot=n_boot, seed=seed,
                      progress=progress)
            folder, box = out_root / base, (0.0, 1.0, 0.0, 1.0)
        else:
            folder, box = crop_root / _slug(label), scaled_box(face, scale)
            for name in methods:
                target = run_dir(crop_root, folder.name, name)
                if _is_done(target, split, len(entries)):
                    continue
                if name not in loaded:
                    resolved, why = resolve_methods([name], official=OFFICIAL_WEIGHTS)
                    if why:
                        raise ValueError(f"{name}: {why[name]}")
                    loaded[name] = next(iter(resolved.values()))
                evaluate(CroppedMethod(loaded[name], box), entries, PROTOCOL, target,
                         method_name=name, dataset_name=f"{base} ({label})", progress=progress, n_boot=n_boot,
                         seed=seed, config={"split": split, "protocol": PROTOCOL, "study": "realism crop probe",
                                            "data": "synthetic", "crop_box": list(box), "face_box": list(face)})
        table = collect_table(folder.parent, folder.name)
        for method in methods:
            hit = table[table["method"] == method]
            if len(hit):
                rows.append({"crop": label, "scale": scale, "box (t, b, l, r)": tuple(round(v, 3) for v in box),
                             **hit.iloc[0][["method", "n", "MAE", "MAE_lo", "MAE_hi", "r", "SNR"]].to_dict()})
    out = pd.DataFrame(rows)
    if len(out):
        crop_root.mkdir(parents=True, exist_ok=True)
        with atomic_path(crop_root / "table.csv") as tmp:
            out.to_csv(tmp, index=False)
    return out


# ----------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["easy", "still", "motion", "hard"])
    parser.add_argument("--methods", nargs="+", default=["all"],
                        help="method names, or 'all' (every peer + pos, chrom, green + sspd-official)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default=None, help="results root (default data/results/peers)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--ablations", action="store_true",
                        help="also run the nuisance ablations on --ablation-base with --ablation-methods")
    parser.add_argument("--ablation-base", default="still")
    parser.add_argument("--ablation-methods", nargs="+",
                        default=["pos", "chrom", "green", "orppg:PhysNet.pure", OFFICIAL])
    parser.add_argument("--only-ablations", action="store_true", help="skip the preset runs")
    parser.add_argument("--crop-probe", nargs="*", metavar="METHOD", default=None,
                        help="only the crop probe (CROP_PROBES) on --ablation-base with these methods "
                             "(default orppg:PhysNet.pure)")
    args = parser.parse_args(argv)
    methods = default_methods() if args.methods == ["all"] else args.methods
    if args.crop_probe is not None:
        table = run_crop_probe(args.ablation_base, args.crop_probe or ["orppg:PhysNet.pure"], out_root=args.out,
                               split=args.split, n_boot=args.n_boot)
        print(table.round(3).to_string(index=False))
        return 0
    if not args.only_ablations:
        for preset in args.presets:
            run_peers(preset, methods, args.out, split=args.split, n_boot=args.n_boot)
        table = side_by_side(args.out, args.presets)
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
            print(table[["preset", "method", "synthetic MAE (bpm)", "published real MAE (bpm)"]].to_string(index=False))
    if args.ablations or args.only_ablations:
        long = run_ablations(args.ablation_base, args.ablation_methods, out_root=args.out, split=args.split,
                             n_boot=args.n_boot)
        print(long.attrs["wide"].round(2).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
