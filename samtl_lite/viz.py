"""Figures: images with their defect masks drawn on top, and galleries of samples.

Taught in 01_defect_data. Masks are drawn as outlines (contours) over a light translucent fill: the
outline keeps the faint defect underneath visible (the point of the picture is to see how hard it
is to spot), and the fill shows masks that have no outline inside the frame, such as a mask
covering the whole image.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_numpy_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """[C,H,W] or [H,W] tensor/array -> [H,W] or [H,W,3] array for `imshow` (taught in 01_defect_data)."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    return arr


def overlay(
    image: torch.Tensor | np.ndarray,
    mask: torch.Tensor | np.ndarray | None = None,
    pred: torch.Tensor | np.ndarray | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """Show an image with the true mask in green and a predicted mask in red, each a translucent fill
    with its outline (taught in 05_metrics)."""
    from matplotlib.colors import ListedColormap

    ax = ax or plt.gca()
    img = to_numpy_image(image)
    ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    for m, colour in ((mask, "lime"), (pred, "red")):
        if m is None:
            continue
        m2 = to_numpy_image(m) > 0.5
        if m2.any():
            ax.imshow(np.ma.masked_where(~m2, m2), cmap=ListedColormap([colour]), alpha=0.25,
                      interpolation="nearest")
            ax.contour(np.pad(m2, 1).astype(float), levels=[0.5], colors=colour, linewidths=1.0,
                       extent=(-1.5, m2.shape[1] + 0.5, m2.shape[0] + 0.5, -1.5), origin="upper")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def figure_title(fig: plt.Figure, text: str, fontsize: float = 9) -> None:
    """Title a figure, each line of `text` wrapped to the figure's width so none is cut off (taught in
    06_training, where every figure of a run names its model, data and split)."""
    chars = max(20, int(fig.get_figwidth() * 72 / (0.58 * fontsize)))  # about 0.58 em per character
    fig.suptitle("\n".join(textwrap.fill(line, chars) for line in text.split("\n")), fontsize=fontsize)


def describe(meta: dict[str, Any]) -> str:
    """A caption from an item's meta: class, defect area, contrast (taught in 01_defect_data)."""
    parts = [str(meta.get("defect_class", ""))]
    if meta.get("area_fraction"):
        parts.append(f"{100 * meta['area_fraction']:.2f}% area")
    if meta.get("contrast"):
        parts.append(f"{meta['contrast']:.1f}σ")
    return "\n".join(p for p in parts if p)


def show_gallery(
    items: Sequence[dict[str, Any]], cols: int = 6, size: float = 2.0, outlines: bool = True, title: str = ""
) -> plt.Figure:
    """A grid of item dicts with mask outlines and captions, `title` above (taught in 01_defect_data)."""
    rows = int(np.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.25), squeeze=False,
                             layout="constrained")  # room for multi-line captions between rows
    for ax in axes.flat:
        ax.axis("off")
    for ax, item in zip(axes.flat, items):
        ax.axis("on")
        overlay(item["image"], item["mask"] if outlines else None, ax=ax, title=describe(item["meta"]))
    if title:
        figure_title(fig, title, fontsize=10)
    return fig


def synthetic_gallery(size: int = 128, n_defective: int = 9, n_clean: int = 3, cols: int = 6) -> plt.Figure:
    """Defective and clean samples of the synthetic benchmark's val split, outlined (taught in 01_defect_data)."""
    from samtl_lite.data.synthetic import synthetic_benchmark

    ds = synthetic_benchmark("val", size=size)
    defective = [i for i, y in enumerate(ds.labels) if y > 0][:n_defective]
    clean = [i for i, y in enumerate(ds.labels) if y == 0][:n_clean]
    title = (f"synthetic benchmark, val split, {size}×{size} px (data only, no model): the first {len(defective)} "
             f"defective samples, true mask outlined green, then {len(clean)} clean ones\n"
             "caption: defect class, defect area (% of image), contrast (in noise standard deviations σ)")
    return show_gallery([ds[i] for i in defective + clean], cols=cols, size=2.2, title=title)


def plot_pr_curve(scores: Any, labels: Any, threshold: float | None = None, ax: plt.Axes | None = None,
                  label: str | None = None) -> plt.Axes:
    """Precision-recall curve of sample scores, the chosen threshold marked; the legend, with the AP and the
    threshold's counts, sits beside the plot, off the curve (taught in 06_training)."""
    from samtl_lite.metrics import average_precision, confusion_at, pr_curve

    ax = ax or plt.gca()
    c = pr_curve(scores, labels)
    ap = average_precision(scores, labels)
    ax.step(np.r_[0.0, c["recall"]], np.r_[1.0, c["precision"]], where="post",
            label=f"{label + ': ' if label else ''}AP {ap:.3f}")
    if threshold is not None:
        cm = confusion_at(scores, labels, threshold)
        p, r = cm["tp"] / max(cm["tp"] + cm["fp"], 1), cm["tp"] / max(cm["tp"] + cm["fn"], 1)
        ax.plot([r], [p], "o", color="k",
                label=f"score threshold {threshold:.3f}:\nmissed (FN) {cm['fn']}, false alarms (FP) {cm['fp']}")
    ax.set(xlabel="recall (share of defective samples caught, 0–1)",
           ylabel="precision (share of flagged\nsamples that are defective, 0–1)", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


HISTORY_CURVES = {"val_ap": "sample AP", "val_f1": "head decisions F1", "val_seg_f1": "mask decisions F1",
                  "val_seg_miou": "Seg_mIoU", "val_pixel_miou": "pooled pixel mIoU"}
LOSS_CURVES = {"loss": "train: total", "loss_seg": "train: seg part", "loss_cls": "train: cls part",
               "val_loss": "validation: total"}


def plot_history(history: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Training curves: the loss and its parts, and the validation metrics per epoch at the thresholds
    chosen on validation that epoch; a dotted line marks the epoch `best.pt` kept, legends sit beside
    the plots (taught in 06_training)."""
    from matplotlib.ticker import LogLocator, MaxNLocator, StrMethodFormatter

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
    losses = {label: [h.get(k, np.nan) for h in history] for k, label in LOSS_CURVES.items()
              if any(h.get(k) for h in history)}
    for label, values in losses.items():
        a.plot(epochs, values, marker=".", label=label)
    # a learned loss balance (uncertainty weighting) adds log-variances to the total, which can fall below 0:
    # a log axis would drop it, so such a history is drawn on a linear axis
    if all(v > 0 for values in losses.values() for v in values if np.isfinite(v)):
        a.set(xlabel="epoch", ylabel="loss (mean per sample, log scale)", yscale="log", title="losses")
        a.yaxis.set_minor_locator(LogLocator(subs=(2, 3, 5)))  # labelled in plain numbers between powers of 10
        for axis_formatter in (a.yaxis.set_major_formatter, a.yaxis.set_minor_formatter):
            axis_formatter(StrMethodFormatter("{x:.3g}"))
    else:
        a.set(xlabel="epoch", ylabel="loss (mean per sample)", title="losses")
    for k, label in HISTORY_CURVES.items():
        if k in history[0]:
            b.plot(epochs, [h[k] for h in history], marker=".", label=label)
    kept = [h["epoch"] for h in history if h.get("kept")]
    for ax in (a, b) if kept else ():
        ax.axvline(kept[-1], color="0.4", linestyle=":", linewidth=1, label=f"kept: epoch {kept[-1]} (best.pt)")
    b.set(xlabel="epoch", ylabel="validation score (0–1)", ylim=(0, 1.02),
          title="validation split, at the thresholds chosen each epoch")
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if title:
        figure_title(fig, title, fontsize=10)
    return fig


def plot_recall_by(rows_by_name: dict[str, Sequence[dict[str, Any]]], ax: plt.Axes | None = None,
                   unit: str = "area", legend_title: str | None = None) -> plt.Axes:
    """Grouped bars of recall per bin, one group per bin holding samples and one bar per model or
    decision rule, each labelled with its value; the legend, headed `legend_title`, sits beside the plot,
    off the bars (taught in 07_experiment)."""
    ax = ax or plt.gca()
    names = list(rows_by_name)
    keep = [i for i, r in enumerate(rows_by_name[names[0]]) if r["n"]]
    first = [rows_by_name[names[0]][i] for i in keep]
    x = np.arange(len(first))
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        rows = [rows_by_name[name][i] for i in keep]
        recalls = [np.nan if r["recall"] is None else r["recall"] for r in rows]  # None: from JSON
        bars = ax.bar(x + j * width, recalls, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)  # a recall of 0 shows as "0.00", not as nothing
    pct = unit == "area"
    labels = [f"{100 * r['lo']:.3g}–{100 * r['hi']:.3g}%" if pct else f"{r['lo']:g}–{r['hi']:g}" for r in first]
    ax.set_xticks(x + 0.4 - width / 2, [f"{lab}\n(n={r['n']})" for lab, r in zip(labels, first)], fontsize=8)
    ax.set(ylabel="recall (share of defective\nsamples caught, 0–1)", ylim=(0, 1.1),
           xlabel="defect area (% of image)" if pct else f"defect {unit}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, title=legend_title,
              title_fontsize=8, alignment="left")
    return ax
