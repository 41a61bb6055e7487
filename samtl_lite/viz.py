"""Figures: images with their defect masks drawn on top, and galleries of samples.

Taught in 01_defect_data. Masks are drawn as outlines (contours) over a light translucent fill: the
outline keeps the faint defect underneath visible (the point of the picture is to see how hard it
is to spot), and the fill shows masks that have no outline inside the frame, such as a mask
covering the whole image.
"""

from __future__ import annotations

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
    with its outline (taught in 01_defect_data)."""
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


def describe(meta: dict[str, Any]) -> str:
    """A caption from an item's meta: class, defect area, contrast (taught in 01_defect_data)."""
    parts = [str(meta.get("defect_class", ""))]
    if meta.get("area_fraction"):
        parts.append(f"{100 * meta['area_fraction']:.2f}% area")
    if meta.get("contrast"):
        parts.append(f"{meta['contrast']:.1f}σ")
    return "\n".join(p for p in parts if p)


def show_gallery(
    items: Sequence[dict[str, Any]], cols: int = 6, size: float = 2.0, outlines: bool = True
) -> plt.Figure:
    """A grid of item dicts with mask outlines and captions (taught in 01_defect_data)."""
    rows = int(np.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.25), squeeze=False,
                             layout="constrained")  # room for multi-line captions between rows
    for ax in axes.flat:
        ax.axis("off")
    for ax, item in zip(axes.flat, items):
        ax.axis("on")
        overlay(item["image"], item["mask"] if outlines else None, ax=ax, title=describe(item["meta"]))
    return fig


def synthetic_gallery(size: int = 128, n_defective: int = 9, n_clean: int = 3, cols: int = 6) -> plt.Figure:
    """Defective and clean samples of the synthetic benchmark's val split, outlined (taught in 01_defect_data)."""
    from samtl_lite.data.synthetic import synthetic_benchmark

    ds = synthetic_benchmark("val", size=size)
    defective = [i for i, y in enumerate(ds.labels) if y > 0][:n_defective]
    clean = [i for i, y in enumerate(ds.labels) if y == 0][:n_clean]
    return show_gallery([ds[i] for i in defective + clean], cols=cols, size=2.2)


def plot_pr_curve(scores: Any, labels: Any, threshold: float | None = None, ax: plt.Axes | None = None,
                  label: str | None = None) -> plt.Axes:
    """Precision-recall curve of sample scores, the chosen threshold marked (taught in 05_metrics)."""
    from samtl_lite.metrics import average_precision, confusion_at, pr_curve

    ax = ax or plt.gca()
    c = pr_curve(scores, labels)
    ap = average_precision(scores, labels)
    ax.step(np.r_[0.0, c["recall"]], np.r_[1.0, c["precision"]], where="post",
            label=f"{label + ': ' if label else ''}AP {ap:.3f}")
    if threshold is not None:
        cm = confusion_at(scores, labels, threshold)
        p, r = cm["tp"] / max(cm["tp"] + cm["fp"], 1), cm["tp"] / max(cm["tp"] + cm["fn"], 1)
        ax.plot([r], [p], "o", color="k")
        ax.annotate(f"threshold {threshold:.3f}\nFN {cm['fn']}, FP {cm['fp']}", (r, p), textcoords="offset points",
                    xytext=(-10, -30), ha="right", fontsize=8)
    ax.set(xlabel="recall (share of defective samples caught)", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return ax


HISTORY_CURVES = {"val_ap": "sample AP", "val_f1": "head decisions F1", "val_seg_f1": "mask decisions F1",
                  "val_seg_miou": "Seg_mIoU", "val_pixel_miou": "pooled pixel mIoU"}


def plot_history(history: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Training curves: the loss and its parts, and the validation metrics per epoch at the thresholds
    chosen on validation that epoch; a dotted line marks the epoch `best.pt` kept (taught in 06_training)."""
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for k in ("loss", "loss_seg", "loss_cls", "val_loss"):
        if any(h.get(k) for h in history):
            a.plot(epochs, [h.get(k, np.nan) for h in history], marker=".", label=k.replace("_", " "))
    a.set(xlabel="epoch", ylabel="loss (mean per sample)", yscale="log", title="losses")
    a.legend(fontsize=8)
    for k, label in HISTORY_CURVES.items():
        if k in history[0]:
            b.plot(epochs, [h[k] for h in history], marker=".", label=label)
    kept = [h["epoch"] for h in history if h.get("kept")]
    if kept:
        for ax in (a, b):
            ax.axvline(kept[-1], color="0.4", linestyle=":", linewidth=1)
        b.annotate("kept", (kept[-1], 0.02), fontsize=8, color="0.3", ha="right")
    b.set(xlabel="epoch", ylabel="validation score", ylim=(0, 1.02),
          title="validation, at the thresholds chosen each epoch")
    b.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_recall_by(rows_by_name: dict[str, Sequence[dict[str, Any]]], ax: plt.Axes | None = None,
                   unit: str = "area") -> plt.Axes:
    """Grouped bars of recall per bin, one group per bin holding samples and one bar per model or
    decision rule; the legend sits beside the plot, off the bars (taught in 05_metrics)."""
    ax = ax or plt.gca()
    names = list(rows_by_name)
    keep = [i for i, r in enumerate(rows_by_name[names[0]]) if r["n"]]
    first = [rows_by_name[names[0]][i] for i in keep]
    x = np.arange(len(first))
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        rows = [rows_by_name[name][i] for i in keep]
        recalls = [np.nan if r["recall"] is None else r["recall"] for r in rows]  # None: from JSON
        ax.bar(x + j * width, recalls, width, label=name)
    pct = unit == "area"
    labels = [f"{100 * r['lo']:.3g}–{100 * r['hi']:.3g}%" if pct else f"{r['lo']:g}–{r['hi']:g}" for r in first]
    ax.set_xticks(x + 0.4 - width / 2, [f"{lab}\n(n={r['n']})" for lab, r in zip(labels, first)], fontsize=8)
    ax.set(ylabel="recall (share of defective samples caught)", ylim=(0, 1.05),
           xlabel="defect area (% of image)" if pct else f"defect {unit}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax
