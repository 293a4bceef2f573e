"""The report's plots as pure functions: data frames in, PNG bytes out (matplotlib, Agg backend).

Nothing here reads the pipeline's files; :mod:`hst.paper.report` does, and hands the data over.
"""

from __future__ import annotations

import io
import math

import pandas as pd

from hst.errors import DataError


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, dpi: int = 100, tight: bool = True) -> bytes:
    """The figure as PNG bytes (closed afterwards); ``tight`` crops it to its content."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    plt.close(fig)
    return buf.getvalue()


def training_curves(logs: dict[str, pd.DataFrame]) -> bytes:
    """Loss and learning rate against iteration, one line per run (``iteration``, ``loss``, ``lr`` columns)."""
    if not logs:
        raise DataError("no training logs to plot")
    plt = pyplot()
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run, log in logs.items():
        missing = {"iteration", "loss", "lr"} - set(log.columns)
        if missing:
            raise DataError(f"{run}: training log lacks column(s) {', '.join(sorted(missing))}")
        ax_loss.plot(log["iteration"], log["loss"], marker=".", label=run)
        ax_lr.plot(log["iteration"], log["lr"], marker=".", label=run)
    ax_loss.set(xlabel="iteration", ylabel="training loss (mean since last row)", title="Loss")
    ax_lr.set(xlabel="iteration", ylabel="learning rate", title="Learning rate")
    ax_loss.legend(fontsize=7)
    for ax in (ax_loss, ax_lr):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def cost_quality(points: pd.DataFrame) -> bytes:
    """PSNR against parameters and against GMACs (log x), one panel row per task.

    ``points`` columns: method, task, psnr, params, gmacs, ours (bool). Rows without a value are skipped.
    """
    need = {"method", "task", "psnr", "params", "gmacs", "ours"}
    if need - set(points.columns):
        raise DataError(f"cost/quality points lack column(s) {', '.join(sorted(need - set(points.columns)))}")
    tasks = list(dict.fromkeys(points["task"]))
    if not tasks:
        raise DataError("no cost/quality points to plot")
    plt = pyplot()
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(len(tasks), 2, figsize=(10, 4.0 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        sub = points[points["task"] == task]
        for ax, xcol, xlabel in ((row[0], "params", "parameters"), (row[1], "gmacs", "GMACs at 256x256")):
            shown = sub.dropna(subset=[xcol, "psnr"])
            for _, p in shown.iterrows():
                style = dict(marker="*", s=140, color="tab:red") if p["ours"] else dict(marker="o", s=40, color="tab:blue")
                ax.scatter(p[xcol], p["psnr"], **style, zorder=3)
                ax.annotate(p["method"], (p[xcol], p["psnr"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set(xlabel=f"{xlabel} (log scale)", ylabel="PSNR (dB)", title=task)
            ax.grid(alpha=0.3, which="both")
            if shown.empty:
                ax.text(0.5, 0.5, "no point with both values", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return png_bytes(fig)


def psnr_distributions(per_set: dict[str, dict[str, list[float]]]) -> bytes:
    """Per-image PSNR per test set: a box and the points for each of input and the models."""
    if not per_set:
        raise DataError("no per-image scores to plot")
    plt = pyplot()
    n = len(per_set)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, (test_set, series) in zip(axes.flat, per_set.items()):
        labels = list(series)
        values = [series[k] for k in labels]
        ax.boxplot(values, showfliers=False)
        for i, v in enumerate(values, start=1):
            ax.scatter([i] * len(v), v, s=10, alpha=0.6, color="tab:orange", zorder=3)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right", fontsize=7)
        ax.set(title=test_set, ylabel="PSNR (dB)")
        ax.grid(alpha=0.3, axis="y")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return png_bytes(fig)
