"""An interactive explorer of a model's decisions: move the thresholds, watch the numbers and the mistakes.

Taught in 08_explore. `Explorer` holds the logic (thresholds -> counts, metrics and the samples to
show) as plain methods that tests drive without a browser; `explore()` only wires ipywidgets to it.
Everything a slider needs is precomputed once by `predict_dataset` (per-sample scores and mask
statistics at a grid of mask thresholds), so a slider move is a few numpy operations on N numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from samtl_lite.engine.evaluate import Predictions, mask_decision_counts, predict_dataset
from samtl_lite.metrics import confusion_at
from samtl_lite.metrics.masks import pixel_miou_from, seg_accuracy_from, seg_miou_from, seg_recall_from

LABELS = {"tp": "defective, caught (TP)", "fn": "defective, missed (FN)", "fp": "clean, false alarm (FP)",
          "tn": "clean, passed (TN)", "precision": "precision", "recall": "recall",
          "seg_tp": "mask: caught", "seg_fn": "mask: missed", "seg_fp": "mask: false alarms",
          "seg_tn": "mask: passed clean", "seg_recall": "Seg_Recall (mask)", "seg_accuracy": "Seg_Accuracy (mask)",
          "seg_miou": "Seg_mIoU", "pixel_miou": "pooled pixel mIoU"}


def size_text(size: int | tuple[int, int] | list[int]) -> str:
    """An input size in words, "128×128 px" or "192×128 px (height×width)": a recipe's `size` is one side or a
    (height, width) pair, and a pair must not be squared (taught in 08_explore)."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return f"{h}×{w} px" if h == w else f"{h}×{w} px (height×width)"


class Explorer:
    """Decisions of one evaluated model at adjustable thresholds (taught in 08_explore).

    `thresholds` (score, mask, min_area) are where the sliders start: the ones chosen on validation
    when the explorer comes from a checkpoint (`Explorer.from_checkpoint`). `shows` names the model,
    data and split in words; every figure's title starts with it."""

    def __init__(self, pred: Predictions, data: Dataset | None = None, model: torch.nn.Module | None = None,
                 thresholds: dict[str, Any] | None = None, shows: str = "") -> None:
        self.pred, self.data, self.model, self.shows = pred, data, model, shows
        self.mask_thresholds = sorted(pred.stats)
        self.thresholds = {"score": 0.5, "mask": 0.5, "min_area": 1, **(thresholds or {})}
        self._masks: dict[int, torch.Tensor] = {}

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, split: str = "test", device: str = "cpu",
                        progress: bool = True) -> Explorer:
        """Load a model, read its data split as it was trained to, predict it once (with a progress bar),
        and start at the thresholds the model carries (taught in 08_explore)."""
        from samtl_lite.engine.modelio import load_model
        from samtl_lite.engine.run import describe_model, splits_of

        model, config, state = load_model(checkpoint, device)
        _, val, test = splits_of(config, augment=False)
        data = {"val": val, "test": test}[split]
        pred = predict_dataset(model, data, max(config.batch_size, 32), device, progress=progress)
        shows = (f"{Path(checkpoint).name}: {describe_model(config)}; {config.data} data, {split} split "
                 f"({len(data)} images of {size_text(config.resolved_size())})")
        return cls(pred, data, model, state.get("thresholds"), shows)

    def numbers(self, score_threshold: float, mask_threshold: float | None = None,
                min_area: int = 1) -> dict[str, float]:
        """Confusion counts, precision and recall of the sample decisions, and the mask metrics."""
        cm = confusion_at(self.pred.score, self.pred.label, score_threshold)
        tp, fp, fn = cm["tp"], cm["fp"], cm["fn"]
        out: dict[str, float] = {**cm, "precision": tp / (tp + fp) if tp + fp else float("nan"),
                                 "recall": tp / (tp + fn) if tp + fn else float("nan")}
        if mask_threshold is not None and self.pred.stats:
            st = self.pred.stats[self.nearest(mask_threshold)]
            out.update({f"seg_{k}": v for k, v in mask_decision_counts(st, min_area).items()})
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

    def sample_options(self, score_threshold: float) -> list[tuple[str, int]]:
        """The sample menu at a score threshold: (label, dataset index) pairs, the head's mistakes first, so the
        menu opens on one: the misses (worst first), the false alarms (worst first), then the defective samples
        caught and the clean ones passed, each in dataset order. A label reads "209 · crack · missed · score 0.133":
        index, class (or defective / clean), the head's decision and its score (taught in 08_explore)."""
        misses, alarms = self.misses(score_threshold), self.false_alarms(score_threshold)
        flagged = self.pred.score >= score_threshold
        caught = [int(i) for i in self.pred.index[(self.pred.label > 0.5) & flagged]]
        passed = [int(i) for i in self.pred.index[(self.pred.label < 0.5) & ~flagged]]
        order = misses + alarms + caught + passed
        where = {int(i): j for j, i in enumerate(self.pred.index)}
        classes = self.pred.meta.get("defect_class")
        options = []
        for i in order:
            j = where[i]
            defective, flagged = self.pred.label[j] > 0.5, self.pred.score[j] >= score_threshold
            kind = (classes[j] if classes and classes[j] else "defective") if defective else "clean"
            decision = {(True, True): "caught", (True, False): "missed", (False, True): "false alarm",
                        (False, False): "passed"}[(bool(defective), bool(flagged))]
            options.append((f"{i} · {kind} · {decision} · score {self.pred.score[j]:.3f}", i))
        return options

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
        """Draw one sample with its true (green) and predicted (red) masks, captioned with its name,
        class and score."""
        from samtl_lite.viz import overlay

        item = self.data[index]
        prob = self.probability(index)
        pred = None if prob is None or not show_pred else prob >= mask_threshold
        score = float(self.pred.score[np.flatnonzero(self.pred.index == index)[0]])
        name = str(item["meta"].get("name", index))
        kind = item["meta"].get("defect_class") or ("defective" if item["label"] > 0.5 else "clean")
        overlay(item["image"], item["mask"] if show_truth else None, pred, ax=ax,
                title=f"{name[-22:]}\n{kind}, score {score:.3f}")

    def gallery(self, kind: str, score_threshold: float, mask_threshold: float, n: int = 8,
                cols: int = 4) -> Any:
        """A figure of the worst `n` misses or false alarms at a threshold, in rows of `cols`, headed
        e.g. "misses (6 of 47)"; None when there are none (taught in 08_explore)."""
        import matplotlib.pyplot as plt

        from samtl_lite.viz import figure_title

        every = self.misses(score_threshold) if kind == "misses" else self.false_alarms(score_threshold)
        shown = every[:n]
        if not shown or self.data is None:
            return None
        rows = -(-len(shown) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows + 0.6), squeeze=False,
                                 layout="constrained")
        for ax in axes.flat:
            ax.axis("off")
        for ax, i in zip(axes.flat, shown):
            ax.axis("on")
            self.panel(i, mask_threshold, ax)
        what = "defective samples called clean" if kind == "misses" else "clean samples called defective"
        lines = [f"{kind} ({len(shown)} of {len(every)}): {what} at score threshold {score_threshold:.3f}, "
                 "worst first", self.shows,
                 f"true mask green, predicted mask red (probability ≥ {mask_threshold})"]
        figure_title(fig, "\n".join(line for line in lines if line))
        return fig

    def viewer_figure(self, index: int, mask_threshold: float, show_truth: bool = True,
                      show_pred: bool = True) -> Any:
        """One sample, large, titled with the model, data and split and what its colours mean (taught in 08_explore)."""
        import matplotlib.pyplot as plt

        from samtl_lite.viz import figure_title

        fig, ax = plt.subplots(figsize=(4.4, 4.8), layout="constrained")
        self.panel(index, mask_threshold, ax, show_truth, show_pred)
        shown = [s for s, on in (("true mask green", show_truth),
                                 (f"predicted mask red (probability ≥ {mask_threshold})", show_pred)) if on]
        ax.set_xlabel("; ".join(shown) or "image only", fontsize=8)
        if self.shows:
            figure_title(fig, self.shows, fontsize=8)
        return fig

    def pr_figure(self, score_threshold: float) -> Any:
        """The precision-recall curve of the sample scores with the current threshold marked (taught in 08_explore)."""
        import matplotlib.pyplot as plt

        from samtl_lite.viz import figure_title, plot_pr_curve

        fig, ax = plt.subplots(figsize=(7.2, 3.8), layout="constrained")
        plot_pr_curve(self.pred.score, self.pred.label, score_threshold, ax=ax)
        counts = f"{len(self.pred.label)} samples, {int(self.pred.label.sum())} defective"
        figure_title(fig, f"{self.shows}\n{counts}: sample decisions" if self.shows else counts)
        return fig


def explore(explorer: Explorer, n_gallery: int = 8):  # pragma: no cover - exercised in the browser check
    """ipywidgets over an `Explorer`: threshold sliders starting at the validated thresholds, live
    numbers, the PR curve with the current threshold, galleries of misses and false alarms, and a
    sample viewer whose menu opens on the worst mistake (taught in 08_explore).

    The score slider moves in steps of 0.001; a number typed into its readout is kept as typed, so any
    threshold can be set (a sample's score, say), though the readout shows it to three decimals. Rows wrap: on a
    narrow screen the PR curve and the viewer go below the controls rather than squeezing them (a squeezed
    slider cuts its readout off)."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    t = explorer.thresholds
    style = {"description_width": "150px"}  # the descriptions in full

    def fixed(width: str) -> Any:
        return w.Layout(width=width, flex="0 0 auto")  # never squeezed below its width

    score = w.FloatSlider(value=t["score"], min=0.0, max=1.0, step=0.001, description="sample score ≥",
                          readout_format=".3f", continuous_update=False, style=style, layout=fixed("440px"))
    mask = w.SelectionSlider(options=explorer.mask_thresholds, value=explorer.nearest(t["mask"]),
                             description="mask probability ≥", style=style, layout=fixed("440px"))
    area = w.IntSlider(value=t["min_area"], min=1, max=max(256, 2 * t["min_area"]), description="min_area (pixels)",
                       style=style, layout=fixed("440px"))
    table, pr, misses, alarms = w.HTML(), w.Output(), w.Output(), w.Output()
    index = w.Dropdown(options=explorer.sample_options(score.value), description="sample",
                       style={"description_width": "60px"}, layout=fixed("380px"))
    truth, predicted, viewer = w.Checkbox(True, description="true mask"), w.Checkbox(True, description="prediction"), \
        w.Output()

    def refresh_numbers(_: Any = None) -> None:
        n = explorer.numbers(score.value, mask.value, area.value)
        rows = "".join(f"<tr><td>{LABELS.get(k, k)}</td><td style='text-align:right'>"
                       f"{v if isinstance(v, int) else f'{v:.3f}'}</td></tr>" for k, v in n.items())
        table.value = f"<table>{rows}</table>"

    def refresh_pictures(_: Any = None) -> None:
        with pr:
            pr.clear_output(wait=True)
            explorer.pr_figure(score.value)
            plt.show()
        for out, kind in ((misses, "misses"), (alarms, "false alarms")):
            out.clear_output(wait=True)
            with out:
                if explorer.gallery(kind, score.value, mask.value, n_gallery) is None:
                    print(f"no {kind} at this threshold")
                plt.show()

    def refresh_viewer(_: Any = None) -> None:
        viewer.clear_output(wait=True)
        with viewer:
            if explorer.data is not None:
                explorer.viewer_figure(index.value, mask.value, truth.value, predicted.value)
                plt.show()

    def relabel(_: Any = None) -> None:  # the decisions in the menu follow the score threshold
        shown = index.value
        index.unobserve(refresh_viewer, "value")
        index.options = explorer.sample_options(score.value)  # selects the first option
        index.value = shown  # the sample on view stays
        index.observe(refresh_viewer, "value")

    for s in (score, mask, area):
        s.observe(refresh_numbers, "value")
    score.observe(refresh_pictures, "value")
    score.observe(relabel, "value")
    mask.observe(refresh_pictures, "value")
    for s in (index, truth, predicted, mask):
        s.observe(refresh_viewer, "value")
    refresh_numbers()
    refresh_pictures()
    refresh_viewer()
    wrap = w.Layout(flex_flow="row wrap", align_items="flex-start")
    pr.layout = w.Layout(flex="1 1 420px", max_width="760px")  # beside the controls, scaled down to fit if need be
    ui = w.VBox([w.HBox([w.VBox([score, mask, area, table], layout=fixed("460px")), pr], layout=wrap),
                 w.HTML("<h4>misses</h4>"), misses, w.HTML("<h4>false alarms</h4>"), alarms,
                 w.HBox([w.VBox([index, truth, predicted], layout=fixed("400px")), viewer], layout=wrap)])
    display(ui)
    return ui
