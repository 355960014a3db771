"""Figures for the book: agreement, waveforms, spectra, per-subject errors (matplotlib).

Every function draws into ``ax`` (a new figure's axes when None) and returns the Axes, except
:func:`prediction_figure`, which lays out a whole Figure. Units: heart rate in bpm, frequency in Hz
(HR axes in bpm where stated), time in seconds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sspd import signal as sig
from sspd.evaluate import metrics

__all__ = ["bland_altman", "scatter_pred_true", "waveform_overlay", "spectrum", "per_subject_errors",
           "learning_curve", "predicted_hr_by_step", "prediction_figure", "sweep_curves", "synthetic_vs_real"]


def _axes(ax, figsize=(5, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def bland_altman(pred, true, ax=None, title: str | None = None):
    """Bland–Altman plot: mean of (ĥ, h) vs error ĥ − h, bias and ME ± 1.96·SD limits.

    No √2 inflation and no jitter (book/evaluation_reference.md §3); n is printed in the legend.
    """
    ax = _axes(ax)
    ba = metrics.bland_altman(pred, true)
    ax.scatter(ba["mean"], ba["diff"], s=18, alpha=0.7, edgecolor="none")
    ax.axhline(ba["bias"], color="k", lw=1, label=f"bias {ba['bias']:+.2f} bpm (n = {ba['n']})")
    if np.isfinite(ba["sd"]):
        for lim in (ba["loa_low"], ba["loa_high"]):
            ax.axhline(lim, color="k", lw=1, ls="--")
        ax.plot([], [], "k--", lw=1, label=f"limits {ba['loa_low']:+.2f} / {ba['loa_high']:+.2f} bpm")
    ax.set_xlabel("mean of predicted and true HR (bpm)")
    ax.set_ylabel("predicted − true HR (bpm)")
    ax.legend(fontsize="small", loc="best")
    if title:
        ax.set_title(title)
    return ax


def scatter_pred_true(pred, true, ax=None, title: str | None = None):
    """Predicted vs true HR with the identity line; Pearson r and MAE in the legend."""
    ax = _axes(ax)
    p, t = np.asarray(pred, float), np.asarray(true, float)
    r, m = metrics.pearson_r(p, t), metrics.mae(p, t)
    ax.scatter(t, p, s=18, alpha=0.7, edgecolor="none", label=f"r = {r:.3f}, MAE = {m:.2f} bpm, n = {len(p)}")
    lo, hi = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    pad = 0.05 * (hi - lo + 1e-9)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", lw=1, label="identity")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("true HR (bpm)")
    ax.set_ylabel("predicted HR (bpm)")
    ax.legend(fontsize="small", loc="upper left")
    if title:
        ax.set_title(title)
    return ax


def waveform_overlay(pred, gt, fs: float, ax=None, t0: float = 0.0, title: str | None = None):
    """Z-scored predicted pulse and contact BVP over time; the prediction's sign is flipped when
    it correlates negatively with the BVP (the model's polarity is arbitrary) and the legend
    says so."""
    ax = _axes(ax, figsize=(8, 3))
    p = np.asarray(pred, float)
    g = np.asarray(gt, float)
    if len(p) != len(g):
        raise ValueError(f"pred and gt must have the same length, got {len(p)} and {len(g)}")
    z = lambda x: (x - x.mean()) / (x.std() + 1e-12)  # noqa: E731
    p, g = z(p), z(g)
    r = float(np.mean(p * g))
    sign = -1.0 if r < 0 else 1.0
    t = t0 + np.arange(len(p)) / float(fs)
    ax.plot(t, g, color="k", lw=1.2, label="contact BVP")
    ax.plot(t, sign * p, color="C3", lw=1.2, alpha=0.85,
            label=f"prediction{' (sign flipped)' if sign < 0 else ''}, r = {abs(r):.2f}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("z-score")
    ax.legend(fontsize="small", loc="upper right")
    if title:
        ax.set_title(title)
    return ax


def spectrum(x, fs: float, true_hr: float | None = None, ax=None, nfft=None, fmax: float = 4.0,
             title: str | None = None):
    """Hamming periodogram of ``x`` up to ``fmax`` Hz (x axis in bpm); ``true_hr`` (bpm) marked.

    ``nfft`` defaults to a 0.5-bpm grid (120·fs, as the SNR definition).
    """
    ax = _axes(ax, figsize=(6, 3))
    n = len(np.asarray(x))
    freqs, psd = sig.power_spectrum(x, fs, nfft=nfft if nfft is not None else max(n, int(np.ceil(120 * fs))))
    keep = freqs <= fmax
    ax.plot(freqs[keep] * 60.0, psd[keep] / (psd[keep].max() + 1e-30), color="C0", lw=1.2)
    if true_hr is not None and np.isfinite(true_hr):
        ax.axvline(true_hr, color="k", ls="--", lw=1, label=f"true HR {true_hr:.1f} bpm")
        ax.legend(fontsize="small")
    ax.set_xlabel("frequency (bpm)")
    ax.set_ylabel("normalised power")
    if title:
        ax.set_title(title)
    return ax


def per_subject_errors(df, ax=None, error_col: str = "error", subject_col: str = "subject",
                       title: str | None = None):
    """Mean error per subject with ±1 SD bars and the individual units as points.

    ``df``: one row per unit (video or window) with ``subject`` and ``error`` (ĥ − h, bpm)
    columns, e.g. per_window.csv or per_video.csv of a run.
    """
    ax = _axes(ax, figsize=(7, 3))
    d = df[[subject_col, error_col]].dropna()
    subjects = sorted(d[subject_col].astype(str).unique(), key=lambda s: (len(s), s))
    for i, s in enumerate(subjects):
        e = d.loc[d[subject_col].astype(str) == s, error_col].to_numpy(float)
        jitter = np.linspace(-0.15, 0.15, len(e)) if len(e) > 1 else np.zeros(1)  # deterministic spread
        ax.scatter(i + jitter, e, s=8, alpha=0.4, color="C0", edgecolor="none")
        ax.errorbar(i, e.mean(), yerr=e.std(ddof=1) if len(e) > 1 else 0.0, fmt="o", color="k",
                    capsize=3, ms=4)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(subjects)))
    ax.set_xticklabels(subjects, rotation=90 if len(subjects) > 15 else 0)
    ax.set_xlabel("subject")
    ax.set_ylabel("predicted − true HR (bpm)")
    if title:
        ax.set_title(title)
    return ax


def learning_curve(val_log, metric: str = "MAE", ax=None, title: str | None = None, reference=None):
    """A validation metric against the optimiser step, one line per network.

    ``val_log``: rows with ``step``, ``network`` and ``metric`` (a run's val_log.csv).
    ``reference``: optional {label: value} drawn as horizontal lines (e.g. POS on the same fold).
    """
    ax = _axes(ax, figsize=(5, 3.2))
    for k, (network, d) in enumerate(val_log.groupby("network", sort=False)):
        d = d.sort_values("step")
        ax.plot(d["step"], d[metric], "o-", ms=3, color=f"C{k}", label=network)
    for k, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, ls="--", lw=1, color=f"C{k + 3}", label=label)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel({"MAE": "validation MAE (bpm)", "r": "validation waveform r"}.get(metric, metric))
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def compare_curves(curves: dict, metric: str = "MAE", network: str = "teacher", ax=None,
                   title: str | None = None, x: str = "step"):
    """One validation metric of one network against the step (or the clips seen), one line per run.

    ``curves``: {run name: val_log DataFrame (``step``, ``network``, ``metric``; ``clips`` for
    ``x="clips"``, see ``sspd.train.report.learning_curves``)}; the first run is drawn in black
    as the baseline the others change.
    """
    if x not in ("step", "clips"):
        raise ValueError(f"x must be 'step' or 'clips', got {x!r}")
    ax = _axes(ax, figsize=(5, 3.2))
    for k, (name, log) in enumerate(curves.items()):
        d = log[log["network"] == network].sort_values("step")
        ax.plot(d[x], d[metric], "o-", ms=3, lw=2.0 if k == 0 else 1.2,
                color="k" if k == 0 else f"C{(k - 1) % 10}", label=name)
    ax.set_xlabel({"step": "optimiser step", "clips": "training clips seen"}[x])
    ax.set_ylabel(f"{network}: " + {"MAE": "validation MAE (bpm)", "r": "validation waveform r"}.get(metric, metric))
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return ax


def predicted_hr_by_step(val_videos, network: str = "teacher", ax=None, title: str | None = None):
    """Per validation video: the predicted mean HR at each step (line) and the true HR (dashed)."""
    ax = _axes(ax, figsize=(5, 3.2))
    d = val_videos[val_videos["network"] == network]
    for k, (subject, g) in enumerate(d.groupby("subject", sort=True)):
        g = g.sort_values("step")
        ax.plot(g["step"], g["hr_pred"], "o-", ms=3, color=f"C{k % 10}", label=f"subject {subject}")
        ax.axhline(float(g["hr_gt"].iloc[0]), ls="--", lw=0.8, color=f"C{k % 10}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"{network}: predicted HR (bpm)")
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title)
    return ax


def prediction_figure(result: dict):
    """A whole Figure for one :func:`sspd.inference.predict_video` result: the predicted pulse over
    time, and its spectrum with both HR estimates (periodogram peak, authors' estimator) marked."""
    import matplotlib.pyplot as plt

    bvp, t, fs = result["bvp"], result["timestamps_s"], result["fps"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5))
    ax1.plot(t, bvp, lw=0.8)
    ax1.set(xlabel="time (s)", ylabel="pulse (a.u.)", title=f"{Path(result['video']).name}: {result['model']}")
    spectrum(bvp, fs, ax=ax2)
    ax2.axvline(result["hr_fft_bpm"], color="C1", ls="--", label=f"FFT peak {result['hr_fft_bpm']:.1f} bpm")
    if np.isfinite(result["hr_bpm"]):
        ax2.axvline(result["hr_bpm"], color="C2", ls=":", label=f"authors' HR {result['hr_bpm']:.1f} bpm")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)  # returned to be saved or shown, not left open in pyplot's figure list
    return fig


def sweep_curves(curves, labels: dict | None = None, methods=None, ncols: int = 4, metric: str = "MAE",
                 title: str | None = None):
    """Small multiples of a stress-test sweep: ``metric`` against level, one panel per factor, one line per
    method, with its 95 % CI as a band. Returns the Figure.

    ``curves``: rows with ``factor``, ``level`` (text), ``level_index`` (position in the sweep, mildest first),
    ``method``, ``metric``, ``metric_lo`` and ``metric_hi`` (e.g. :func:`sspd.evaluate.sweep.curve_table`).
    Levels are drawn at equal spacing in sweep order and labelled with their text; ``labels`` maps a factor
    to its x-axis label (level and unit). ``methods`` fixes the lines and their colours (default: as they
    first appear).
    """
    import matplotlib.pyplot as plt

    factors = list(dict.fromkeys(curves["factor"]))
    if not factors:
        raise ValueError("no curves to draw")
    methods = list(methods) if methods is not None else list(dict.fromkeys(curves["method"]))
    nrows = -(-len(factors) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.9 * nrows), squeeze=False)
    for ax, factor in zip(axes.flat, factors):
        d = curves[curves["factor"] == factor]
        ticks = d.drop_duplicates("level_index").sort_values("level_index")
        for k, method in enumerate(methods):
            g = d[d["method"] == method].sort_values("level_index")
            if g.empty:
                continue
            x = g["level_index"].to_numpy(float)
            ax.plot(x, g[metric], "o-", ms=3, lw=1.3, color=f"C{k}", label=method)
            ax.fill_between(x, g[f"{metric}_lo"].to_numpy(float), g[f"{metric}_hi"].to_numpy(float),
                            color=f"C{k}", alpha=0.15, lw=0)
        ax.set_xticks(ticks["level_index"].to_numpy(float))
        long = ticks["level"].astype(str).str.len().max() > 5
        ax.set_xticklabels(ticks["level"].astype(str), rotation=30 if long else 0, ha="right" if long else "center",
                           fontsize=8)
        ax.set_title(factor, fontsize=10)
        ax.set_xlabel((labels or {}).get(factor, "level"), fontsize=8)
        ax.set_ylim(bottom=0)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{metric} (bpm)" if metric == "MAE" else metric)
    for ax in list(axes.flat)[len(factors):]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(methods), frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    if title:
        fig.suptitle(title, y=1.03)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    plt.close(fig)  # returned to be shown or saved, not left open in pyplot's figure list
    return fig


def synthetic_vs_real(table, ax=None, title: str | None = None):
    """MAE on a synthetic preset (y, with its 95 % CI) against the published MAE of the same method on the real
    dataset the preset mimics (x), one point per (preset, method); log axes, the diagonal y = x dashed.

    ``table``: :func:`sspd.evaluate.realism.side_by_side` rows (``synthetic_MAE``, ``synthetic_MAE_lo``,
    ``synthetic_MAE_hi``, ``published real MAE (bpm)``, ``preset``, ``method``). Rows without a published
    number are left out. Points above the diagonal: the method does worse on the synthetic data than on the real.
    """
    df = table.dropna(subset=["published real MAE (bpm)", "synthetic_MAE"])
    ax = _axes(ax, (6, 5))
    markers = {"still": "o", "motion": "s", "hard": "^", "easy": "D"}
    for _, row in df.iterrows():
        x, y = float(row["published real MAE (bpm)"]), max(float(row["synthetic_MAE"]), 0.01)
        lo, hi = float(row["synthetic_MAE_lo"]), float(row["synthetic_MAE_hi"])
        classic = not str(row["method"]).startswith(("orppg:", "sspd"))
        ax.errorbar(x, y, yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], fmt=markers.get(row["preset"], "o"),
                    color="tab:blue" if classic else "tab:red", ms=6, capsize=2, alpha=0.8)
        ax.annotate(f"{str(row['method']).replace('orppg:', '')} ({row['preset']})", (x, y), fontsize=6,
                    xytext=(4, 2), textcoords="offset points")
    if len(df):
        lim = [0.5 * max(0.05, min(df["published real MAE (bpm)"].min(), df["synthetic_MAE"].clip(lower=0.05).min())),
               2 * max(df["published real MAE (bpm)"].max(), df["synthetic_MAE_hi"].max())]
        ax.plot(lim, lim, "k--", lw=1, label="synthetic = real")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("published MAE on the real dataset (bpm)")
    ax.set_ylabel("MAE on the synthetic preset (bpm, 95 % CI)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="tab:blue", marker="o", ls="", label="classic (no training)"),
               Line2D([], [], color="tab:red", marker="o", ls="", label="trained on real video"),
               Line2D([], [], color="k", ls="--", label="synthetic = real")]
    handles += [Line2D([], [], color="gray", marker=m, ls="", label=p) for p, m in markers.items()
                if p in set(df.get("preset", []))]
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
