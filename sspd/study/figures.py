"""Figures of the study chapters (matplotlib): the plan and its cost, the ranked ablations, the
cross-dataset heat map, each row against the network trained on the test set, per-subject
errors, each run against its initial weights and the validation curves. Each draws into ``ax``
(a new figure's when None) and returns the Axes (``transfer_figure``: an array of them, one per
test set); heart-rate errors are in bpm, costs in CPU hours.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plan_figure", "ablation_ranking", "annotated_heatmap", "cross_heatmap", "transfer_figure",
           "subject_heatmap", "control_figure", "learning_curves"]

STATUS_COLOURS = {"done": "C2", "running": "C1", "pending": "0.75", "failed": "C3"}


def _axes(ax, figsize):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plan_figure(status: pd.DataFrame, ax=None, title: str | None = None):
    """Estimated CPU hours of every grid row (group: variant, or the training set of a
    cross-dataset run; summed over seeds and test sets), stacked by status (done, running,
    failed, pending), with the measured hours of the done items as ticks."""
    what = status["variant"].astype(str).where(status["group"] != "cross",
                                               "trained on " + status["train_set"].astype(str))
    d = status.assign(row=status["group"] + ": " + what, hours=status["est_min"].astype(float) / 60)
    order = list(dict.fromkeys(d["row"]))
    ax = _axes(ax, (8, 0.28 * len(order) + 1.2))
    left = np.zeros(len(order))
    for state, colour in STATUS_COLOURS.items():
        h = d[d["status"] == state].groupby("row")["hours"].sum().reindex(order).fillna(0.0).to_numpy()
        n = d[d["status"] == state].groupby("row").size().reindex(order).fillna(0).astype(int)
        if h.any() or state == "pending":
            ax.barh(range(len(order)), h, left=left, color=colour,
                    label=f"{state} ({int(n.sum())} items, {h.sum():.1f} h)")
        left += h
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(order, fontsize=8)
    ax.invert_yaxis()
    measured = d[d["status"] == "done"].groupby("row")["measured_min"].sum(min_count=1).reindex(order) / 60
    if measured.notna().any():
        ax.scatter(measured.to_numpy(), range(len(order)), marker="|", s=120, color="k",
                   label="measured (done items)", zorder=3)
    ax.set_xlabel("estimated CPU time (hours, 2-core CPU)")
    ax.legend(fontsize=8, loc="lower right")
    left_h = d.loc[d["status"] != "done", "hours"].sum()
    ax.set_title(title or f"study grid: {len(d)} items, {d['hours'].sum():.1f} h in all, {left_h:.1f} h left")
    return ax


def _stars(row) -> str:
    """``** `` survives Holm's correction, ``* `` exceeds seed noise uncorrected, else nothing."""
    if row.get("survives_holm"):
        return "** "
    return "* " if row.get("exceeds_seed_noise") else ""


def ablation_ranking(table: pd.DataFrame, per_run: pd.DataFrame | None = None, metric: str = "MAE",
                     ax=None, title: str | None = None):
    """Ranked rows of :func:`sspd.study.results.ablation_table`: the seed-mean ``metric`` with
    its subject-bootstrap 95 % CI (bar), each seed's value (dots, from ``per_run`` metrics
    rows), the full model's value (dashed line) and the seed-noise band around it; rows whose
    difference from the full model exceeds seed noise are starred (``*``; ``**`` when it also
    survives Holm's correction over the variants). References are grey."""
    ax = _axes(ax, (8, 0.42 * max(len(table), 1) + 1.4))
    if table.empty:
        ax.text(0.5, 0.5, "no results yet", ha="center", va="center", transform=ax.transAxes)
        return ax
    if per_run is not None and "control" in per_run:     # seed dots are trained networks only
        per_run = per_run[~per_run["control"].astype(bool)]
    y = np.arange(len(table))
    for i, row in table.iterrows():
        ref = row["group"] == "reference"
        colour = "0.45" if ref else ("C3" if row.get("exceeds_seed_noise") else "C0")
        lo, hi = row.get(f"{metric}_lo", np.nan), row.get(f"{metric}_hi", np.nan)
        err = np.array([[row[metric] - lo], [hi - row[metric]]]) if np.isfinite([lo, hi]).all() else None
        ax.errorbar(row[metric], i, xerr=err, fmt="D" if ref else "o", color=colour, ms=6, capsize=3)
        if per_run is not None and not ref:
            runs = per_run[(per_run["variant"] == row["variant"]) & (per_run["group"] == row["group"])
                           & (per_run["test_set"] == row["test_set"])]
            ax.scatter(runs[metric], np.full(len(runs), i + 0.18), s=12, color=colour, alpha=0.6,
                       edgecolor="none")
    full = table[(table["group"] == "ablation") & (table["variant"] == "full")]
    if len(full):
        value = float(full[metric].iloc[0])
        ax.axvline(value, color="C0", ls="--", lw=1, label="full model")
        noise = table.loc[(table["group"] == "ablation") & (table["variant"] != "full"), f"noise_{metric}"] \
            if f"noise_{metric}" in table else pd.Series(dtype=float)
        if noise.notna().any():
            band = float(noise.min())
            ax.axvspan(value - band, value + band, color="C0", alpha=0.1, label="seed-noise threshold")
    labels = [f"{_stars(r)}{r['label']}"
              + (f" (n={int(r['n_seeds'])})" if r["group"] == "ablation" and "n_seeds" in r else "")
              for _, r in table.iterrows()]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel({"MAE": "test windowed MAE (bpm)", "RMSE": "test windowed RMSE (bpm)",
                   "r": "test Pearson r of window HRs"}.get(metric, metric))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    where = table["test_set"].iloc[0]
    if title is None and not (table["group"] == "ablation").any():
        title = f"no ablation run done yet: reference methods on {where} (bars: 95 % subject bootstrap)"
    ax.set_title(title or f"ablations on {where} (bars: 95 % subject bootstrap; dots: seeds; "
                 f"* exceeds seed noise, ** also after Holm)", fontsize=9)
    return ax


def annotated_heatmap(values: pd.DataFrame, text: pd.DataFrame | None = None, ax=None,
                      outline=None, cmap: str = "viridis_r", label: str = "", title: str | None = None,
                      annotate: bool = True, vmin: float | None = None, vmax: float | None = None):
    """A heat map of ``values`` (rows x columns; NaN cells read "not run") with ``text`` (or the
    value) in each cell when ``annotate``; ``outline``: a boolean frame of the same shape whose
    True cells get a frame; ``vmin``/``vmax``: the colour scale's limits (default: the data's)."""
    from matplotlib.patches import Rectangle

    rows, cols = values.shape
    ax = _axes(ax, (min(14.0, max(5.0, (1.3 if annotate else 0.35) * cols + 3)), 0.45 * rows + 1.6))
    data = values.to_numpy(float)
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.figure.colorbar(image, ax=ax, label=label, fraction=0.046, pad=0.04)
    for (i, j), v in np.ndenumerate(data):
        cell = text.iat[i, j] if text is not None else (f"{v:.2f}" if np.isfinite(v) else "")
        dark = False
        if np.isfinite(v):
            red, green, blue, _ = image.cmap(image.norm(v))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        if annotate or not np.isfinite(v):
            ax.text(j, i, cell if np.isfinite(v) else (cell or "not run"), ha="center", va="center",
                    fontsize=7, color="white" if dark else "black")
        if outline is not None and bool(outline.iat[i, j]):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, ec="k"))
    ax.set_xticks(range(values.shape[1]))
    ax.set_xticklabels(values.columns, fontsize=8, rotation=30 if values.shape[1] > 6 else 0)
    ax.set_yticks(range(values.shape[0]))
    ax.set_yticklabels(values.index, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def cross_heatmap(cross: pd.DataFrame, metric: str = "MAE", test_sets=None, train_sets=None, ax=None,
                  title: str | None = None):
    """The cross-dataset matrix of :func:`sspd.study.results.cross_table`: rows = training set
    (full model) or reference method, columns = test sets; each cell the seed-mean ``metric``
    with its seed SD and the number of seeds; intra-dataset cells framed. ``train_sets``: the
    grid's training sets, so that rows not run yet show as "not run"."""
    if cross.empty:
        ax = _axes(ax, (6, 2))
        ax.text(0.5, 0.5, "no results yet", ha="center", va="center", transform=ax.transAxes)
        return ax
    trained = [f"SSPD trained on {s}" for s in (train_sets or [])]
    rows = list(dict.fromkeys([*trained, *cross.sort_values("group", kind="stable")["row"]]))
    cols = list(test_sets) if test_sets is not None else list(dict.fromkeys(cross["test_set"]))
    values = cross.pivot(index="row", columns="test_set", values=metric).reindex(index=rows, columns=cols)

    def cell(r):
        sd = r.get(f"{metric}_sd", np.nan)
        seeds = f"\n± {sd:.2f} (n={int(r['n_seeds'])})" if np.isfinite(sd) else ""
        return f"{r[metric]:.2f}{seeds}"

    text = (cross.assign(cell=cross.apply(cell, axis=1))
            .pivot(index="row", columns="test_set", values="cell").reindex(index=rows, columns=cols).fillna(""))
    outline = pd.DataFrame([[r == f"SSPD trained on {c}" for c in cols] for r in rows], index=rows, columns=cols)
    label = {"MAE": "windowed MAE (bpm)", "RMSE": "windowed RMSE (bpm)", "r": "Pearson r"}.get(metric, metric)
    if title is None and not (cross["group"] == "cross").any():
        title = f"no cross-dataset run done yet: reference methods, test {label}"
    return annotated_heatmap(values, text, ax=ax, outline=outline, label=label,
                             cmap="viridis" if metric == "r" else "viridis_r",
                             title=title or f"test {label}: rows trained on / method, columns tested on "
                                            "(framed: intra-dataset)")


def transfer_figure(table: pd.DataFrame, axes=None, title: str | None = None):
    """:func:`sspd.study.results.transfer_table` as a forest plot, one panel per test set: each
    row's paired per-subject change against the network trained on that test set (bpm; left of
    0: the row errs less), with its 95 % subject-bootstrap CI. Green or red when the difference
    is clear (past seed noise and the CI on the same side of 0), grey when not; squares are SSPD
    trained on another set, circles reference methods. Rows share one order across panels
    (SSPD rows first, then by mean change). Returns the array of Axes."""
    import matplotlib.pyplot as plt

    if table.empty:
        ax = _axes(None if axes is None else np.ravel(axes)[0], (6, 2))
        ax.text(0.5, 0.5, "no test set has a run trained on it yet", ha="center", va="center",
                transform=ax.transAxes)
        return np.array([ax])
    sets = list(dict.fromkeys(table["test_set"]))
    mean = table.groupby("row")["paired_delta"].mean()
    kind = table.drop_duplicates("row").set_index("row")["kind"]
    rows = sorted(mean.index, key=lambda r: (kind[r] != "cross-dataset", mean[r]))
    if axes is None:
        _, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets) + 2.2, 0.32 * len(rows) + 1.6),
                               sharey=True, squeeze=False)
    axes = np.ravel(axes)
    for ax, test_set in zip(axes, sets):
        part = table[table["test_set"] == test_set].set_index("row")
        ax.axvline(0, color="0.3", lw=0.8)
        for i, row in enumerate(rows):
            if row not in part.index:
                continue
            r = part.loc[row]
            colour = ("C3" if r["delta_MAE"] > 0 else "C2") if r["clear"] else "0.45"
            ax.errorbar(r["paired_delta"], i, xerr=[[r["paired_delta"] - r["paired_delta_lo"]],
                                                   [r["paired_delta_hi"] - r["paired_delta"]]],
                        fmt="s" if r["kind"] == "cross-dataset" else "o", color=colour, ms=5, capsize=2)
        first = part.iloc[0]
        ax.set_title(f"tested on {test_set}\nvs {first['intra']} ({first['MAE_intra']:.1f} bpm)", fontsize=8)
        ax.set_xlabel("Δ windowed MAE per subject (bpm)", fontsize=8)
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels(rows, fontsize=8)
    axes[0].invert_yaxis()
    axes[0].figure.suptitle(title or "each row against SSPD trained on the test set itself: paired change, "
                                     "95 % subject CI (colour: clear, past seed noise too)", fontsize=9)
    return axes


def subject_heatmap(subjects: pd.DataFrame, test_set: str, rows: str = "label", ax=None,
                    title: str | None = None):
    """Per-subject windowed MAE (:func:`sspd.study.results.subject_table`) on one test set:
    rows = variants or methods, columns = test subjects."""
    d = subjects[subjects["test_set"] == test_set]
    if d.empty:
        ax = _axes(ax, (6, 2))
        ax.text(0.5, 0.5, f"no per-subject results on {test_set}", ha="center", va="center",
                transform=ax.transAxes)
        return ax
    order = sorted(d["subject"].astype(str).unique(), key=lambda s: (len(s), s))
    values = d.pivot(index=rows, columns="subject", values="MAE").reindex(columns=order)
    values = values.loc[values.mean(axis=1).sort_values().index]
    return annotated_heatmap(values, ax=ax, label="subject windowed MAE (bpm)", annotate=len(order) <= 16,
                             title=title or f"per-subject error on {test_set} (mean over seeds)")


def control_figure(controls: pd.DataFrame, ax=None, title: str | None = None):
    """Each row of :func:`sspd.study.results.control_table`: the seed-mean windowed MAE of its
    initial weights (open circle) and after training (filled), joined by an arrow; green when
    the paired subject-bootstrap CI of the change lies wholly below 0 ("learned"), grey when it
    does not. The change and its CI are written beside each row."""
    ax = _axes(ax, (8, 0.42 * max(len(controls), 1) + 1.4))
    if controls.empty:
        ax.text(0.5, 0.5, "no run scored with its initial weights yet", ha="center", va="center",
                transform=ax.transAxes)
        return ax
    labels = (controls["row"] + " → " + controls["test_set"]) if controls["test_set"].nunique() > 1 \
        else controls["row"]
    right = float(np.nanmax(controls[["MAE_trained", "MAE_initial"]].to_numpy(float)))
    for i, r in enumerate(controls.itertuples()):
        colour = "C2" if r.learned else "0.5"
        ax.annotate("", xy=(r.MAE_trained, i), xytext=(r.MAE_initial, i),
                    arrowprops=dict(arrowstyle="->", color=colour, lw=1.5))
        ax.scatter([r.MAE_initial], [i], facecolor="white", edgecolor=colour, s=40, zorder=3)
        ax.scatter([r.MAE_trained], [i], color=colour, s=40, zorder=3)
        ax.text(right * 1.04, i, f"{r.change:+.1f} [{r.change_lo:+.1f}, {r.change_hi:+.1f}] (n={r.n_seeds})",
                va="center", fontsize=7)
    ax.set_xlim(0, right * 1.45)
    ax.set_yticks(range(len(controls)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test windowed MAE (bpm): initial weights (open) → trained (filled)")
    ax.set_title(title or "did training learn? change trained − initial, paired 95 % subject bootstrap "
                          "(green: CI below 0)", fontsize=9)
    return ax


def learning_curves(curves: pd.DataFrame, by: str = "label", ax=None, title: str | None = None):
    """Validation windowed MAE against training step (:func:`sspd.study.results.learning_curves`):
    one colour per ``by`` value, a thin line per seed and a thick one for the mean over seeds;
    a star marks the step validation chose in each run."""
    ax = _axes(ax, (8, 4))
    if curves.empty:
        ax.text(0.5, 0.5, "no published training run yet", ha="center", va="center", transform=ax.transAxes)
        return ax
    for k, (name, g) in enumerate(curves.groupby(by, sort=False)):
        colour = f"C{k % 10}"
        for _, run in g.groupby("id"):
            ax.plot(run["step"], run["MAE"], color=colour, lw=0.8, alpha=0.5)
            chosen = run[run["chosen"].astype(bool)]
            ax.scatter(chosen["step"], chosen["MAE"], marker="*", s=70, color=colour, zorder=3)
        mean = g.groupby("step")["MAE"].mean()
        ax.plot(mean.index, mean.to_numpy(), color=colour, lw=2.2, label=f"{name} (n={g['id'].nunique()})")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation windowed MAE (bpm)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title or "validation curves (thin: seeds; thick: mean; star: the step validation chose)",
                 fontsize=9)
    return ax
