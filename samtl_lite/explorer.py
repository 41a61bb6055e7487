"""An interactive explorer of a model's decisions: move the thresholds, watch the numbers and the mistakes.

Taught in 08_explore. `Explorer` holds the logic (thresholds -> counts, metrics and the samples to
show) as plain methods that tests drive without a browser; `explore()` only wires ipywidgets to it.
Everything a slider needs is precomputed once by `predict_dataset` (per-sample scores and mask
statistics at a grid of mask thresholds), so a slider move is a few numpy operations on N numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from samtl_lite.engine.evaluate import Predictions
from samtl_lite.metrics import confusion_at
from samtl_lite.metrics.masks import pixel_miou_from, seg_accuracy_from, seg_miou_from, seg_recall_from


class Explorer:
    """Decisions of one evaluated model at adjustable thresholds (taught in 08_explore)."""

    def __init__(self, pred: Predictions, data: Dataset | None = None, model: torch.nn.Module | None = None) -> None:
        self.pred, self.data, self.model = pred, data, model
        self.mask_thresholds = sorted(pred.stats)
        self._masks: dict[int, torch.Tensor] = {}

    def numbers(self, score_threshold: float, mask_threshold: float | None = None,
                min_area: int = 1) -> dict[str, float]:
        """Confusion counts, precision and recall of the sample decisions, and the mask metrics."""
        cm = confusion_at(self.pred.score, self.pred.label, score_threshold)
        tp, fp, fn = cm["tp"], cm["fp"], cm["fn"]
        out: dict[str, float] = {**cm, "precision": tp / (tp + fp) if tp + fp else float("nan"),
                                 "recall": tp / (tp + fn) if tp + fn else float("nan")}
        if mask_threshold is not None and self.pred.stats:
            st = self.pred.stats[self.nearest(mask_threshold)]
            out.update(seg_recall=seg_recall_from(st, min_area), seg_accuracy=seg_accuracy_from(st, min_area),
                       seg_miou=seg_miou_from(st), pixel_miou=pixel_miou_from(st))
        return out

    def nearest(self, mask_threshold: float) -> float:
        """The precomputed mask threshold closest to the one asked for."""
        return min(self.mask_thresholds, key=lambda t: abs(t - mask_threshold))

    def misses(self, score_threshold: float, n: int | None = None) -> list[int]:
        """Dataset indices of defective samples called clean, lowest score (worst) first."""
        j = np.flatnonzero((self.pred.label > 0.5) & (self.pred.score < score_threshold))
        return [int(self.pred.index[k]) for k in j[np.argsort(self.pred.score[j], kind="stable")]][:n]

    def false_alarms(self, score_threshold: float, n: int | None = None) -> list[int]:
        """Dataset indices of clean samples called defective, highest score (worst) first."""
        j = np.flatnonzero((self.pred.label < 0.5) & (self.pred.score >= score_threshold))
        return [int(self.pred.index[k]) for k in j[np.argsort(-self.pred.score[j], kind="stable")]][:n]

    @torch.no_grad()
    def probability(self, index: int) -> torch.Tensor | None:
        """The model's defect probability map of one sample, computed once and cached."""
        if self.model is None or self.data is None:
            return None
        if index not in self._masks:
            self.model.eval()
            device = next(self.model.parameters()).device
            out = self.model(self.data[index]["image"][None].to(device))
            self._masks[index] = None if out.mask_logits is None else torch.sigmoid(out.mask_logits[0].float()).cpu()
        return self._masks[index]

    def panel(self, index: int, mask_threshold: float, ax: Any, show_truth: bool = True,
              show_pred: bool = True) -> None:
        """Draw one sample with its true (green) and predicted (red) mask outlines."""
        from samtl_lite.viz import overlay

        item = self.data[index]
        prob = self.probability(index)
        pred = None if prob is None or not show_pred else prob >= mask_threshold
        score = float(self.pred.score[np.flatnonzero(self.pred.index == index)[0]])
        overlay(item["image"], item["mask"] if show_truth else None, pred, ax=ax,
                title=f"{item['meta'].get('name', index)}\nscore {score:.3f}")


def explore(explorer: Explorer, n_gallery: int = 6):  # pragma: no cover - exercised in the browser check
    """ipywidgets over an `Explorer`: threshold sliders, live numbers, galleries and a sample viewer
    (taught in 08_explore)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    score = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.005, description="score thr", readout_format=".3f",
                          continuous_update=True)
    mask = w.SelectionSlider(options=explorer.mask_thresholds, value=explorer.nearest(0.5), description="mask thr")
    area = w.IntSlider(value=1, min=1, max=200, description="min_area")
    table, gallery = w.HTML(), w.Output()
    index = w.Dropdown(options=[int(i) for i in explorer.pred.index], description="sample")
    truth, predicted, viewer = w.Checkbox(True, description="true mask"), w.Checkbox(True, description="prediction"), \
        w.Output()

    def refresh_numbers(_: Any = None) -> None:
        n = explorer.numbers(score.value, mask.value, area.value)
        rows = "".join(f"<tr><td>{k}</td><td>{v if isinstance(v, int) else f'{v:.3f}'}</td></tr>" for k, v in n.items())
        table.value = f"<table>{rows}</table>"

    def refresh_gallery(_: Any = None) -> None:
        gallery.clear_output(wait=True)
        with gallery:
            picks = [("miss", i) for i in explorer.misses(score.value, n_gallery)] + \
                    [("false alarm", i) for i in explorer.false_alarms(score.value, n_gallery)]
            if not picks or explorer.data is None:
                print("no misses or false alarms at this threshold")
                return
            fig, axes = plt.subplots(1, len(picks), figsize=(2.2 * len(picks), 2.6), squeeze=False)
            for ax, (kind, i) in zip(axes[0], picks):
                explorer.panel(i, mask.value, ax)
                ax.set_xlabel(kind, fontsize=8)
            plt.show()

    def refresh_viewer(_: Any = None) -> None:
        viewer.clear_output(wait=True)
        with viewer:
            if explorer.data is not None:
                fig, ax = plt.subplots(figsize=(4, 4))
                explorer.panel(index.value, mask.value, ax, truth.value, predicted.value)
                plt.show()

    for s in (score, mask, area):
        s.observe(refresh_numbers, "value")
    score.observe(refresh_gallery, "value")
    mask.observe(refresh_gallery, "value")
    for s in (index, truth, predicted, mask):
        s.observe(refresh_viewer, "value")
    refresh_numbers()
    refresh_gallery()
    refresh_viewer()
    ui = w.VBox([w.HBox([w.VBox([score, mask, area]), table]), gallery,
                 w.HBox([w.VBox([index, truth, predicted]), viewer])])
    display(ui)
    return ui
