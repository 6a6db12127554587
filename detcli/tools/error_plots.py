"""Figures of ``det analyze-errors``: the stacked PR areas per category and area range, and extras.

File names are those of mmdetection's ``coco_error_analysis.py`` (``bbox-person-allarea.png``,
``bbox-allclass-small.png``, ``bbox-person-ap bar plot.png``...), so scripts that collect
them keep working.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detcli.evaluation.error_analysis import AREA_NAMES, CURVES, ErrorAnalysis
from detcli.visualization.figures import headless_pyplot, save_figure

# Fill colours, from the strictest curve to the most lenient: greys for the two plain PR
# curves, then one colour per kind of error (localisation, similar class, other class,
# background, missed); the customary colours of Hoiem-style COCO analysis plots.
CURVE_COLORS = [(0.82, 0.82, 0.82), (0.96, 0.96, 0.96), (0.31, 0.51, 0.74), (0.75, 0.31, 0.30),
                (0.36, 0.90, 0.38), (0.50, 0.39, 0.64), (1.0, 0.6, 0.0)]


def plot_curves(analysis: ErrorAnalysis, out_dir: str | Path, category: int | None = None) -> list[str]:
    """One stacked-area PR figure per area range for the category at index ``category``
    (``None``: the mean over categories, named ``allclass``); returns the files written."""
    plt = headless_pyplot()
    curves = analysis.curves(category)
    aucs = analysis.auc(category)
    name = "allclass" if category is None else analysis.cat_names[category]
    written = []
    for a, area in enumerate(AREA_NAMES[: curves.shape[2]]):
        title = f"{analysis.iou_type}-{name}-{area}"
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        lower = np.zeros_like(analysis.recall)
        for c, curve in enumerate(CURVES):
            upper = curves[c, :, a]
            ax.plot(analysis.recall, upper, color="black", linewidth=0.5)
            ax.fill_between(analysis.recall, lower, upper, color=CURVE_COLORS[c], label=f"[{aucs[c, a]:.3f}]{curve}")
            lower = upper
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1), title=title)
        ax.legend(loc="lower left", fontsize="small")
        written.append(save_figure(fig, Path(out_dir) / f"{title}.png"))
    return written


def plot_bars(analysis: ErrorAnalysis, out_dir: str | Path, category: int | None = None) -> str:
    """``--extraplots``: the areas under C75..BG as bars, one group per area range."""
    plt = headless_pyplot()
    aucs = analysis.auc(category)
    name = "allclass" if category is None else analysis.cat_names[category]
    title = f"{analysis.iou_type}-{name}-ap bar plot"
    areas = AREA_NAMES[: aucs.shape[1]]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    x = np.arange(len(areas))
    width = 0.6 / len(CURVES)
    for c, curve in enumerate(CURVES[:-1]):  # FN is 1 everywhere: no bar
        bars = ax.bar(x - 0.3 + (c + 1) * width, aucs[c], width, label=curve)
        ax.bar_label(bars, labels=[f"{100 * v:.0f}" for v in aucs[c]], fontsize="x-small", padding=2)
    ax.set(ylabel="Mean Average Precision (mAP)", title=title, xticks=x, xticklabels=list(areas))
    ax.legend(fontsize="small")
    return save_figure(fig, Path(out_dir) / f"{title}.png")


def plot_gt_area_counts(counts: dict[str, int], out_dir: str | Path) -> str:
    """``--extraplots``: how many (non-crowd) ground-truth objects fall in each area range."""
    plt = headless_pyplot()
    title = "number of annotations per area group"
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    bars = ax.bar(np.arange(len(counts)), list(counts.values()), 0.6)
    ax.bar_label(bars, fontsize="x-small", padding=2)
    ax.set(ylabel="Number of annotations", title=title, xticks=np.arange(len(counts)), xticklabels=list(counts))
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / f"{title}.png")


def plot_gt_area_histogram(areas: np.ndarray, out_dir: str | Path) -> str:
    """``--extraplots``: the histogram of the ground-truth objects' square-root areas."""
    plt = headless_pyplot()
    title = "gt annotation areas histogram plot"
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.hist(np.sqrt(np.asarray(areas, dtype=np.float64)), bins=100)
    ax.set(xlabel="Squareroot Area", ylabel="Number of annotations", title=title)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / f"{title}.png")
