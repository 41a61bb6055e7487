"""Decision-linked segmentation metrics, and the classic pooled mIoU they are contrasted with.

Taught in 05_metrics. Quality control decides per sample. Let P_i and G_i be the predicted and true
defect pixels of sample i; the mask *declares* sample i defective when |P_i| >= `min_area`.

- `seg_miou`: mean IoU over the samples where G_i or P_i is non-empty. A clean sample predicted
  clean does not inflate it; a false alarm on a clean sample enters with IoU 0.
- `seg_recall`: share of truly defective samples that the mask declares defective.
- `seg_accuracy`: share of all samples whose mask-derived decision is right.
- `pixel_miou`: the classic two-class mIoU with pixels pooled over all samples. Background pixels
  dominate it: adding clean samples raises it, whatever the model does on defects.

Everything is computed from four numbers per sample (|P∩G|, |P|, |G|, pixel count): `mask_stats`
makes them, and the functions below and the streaming `SegMetrics` share them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from samtl_lite.errors import MetricError
from samtl_lite.metrics.checks import check_fraction, check_samples
from samtl_lite.metrics.samples import average_precision, roc_auc

ArrayLike = torch.Tensor | np.ndarray


def binarize(masks: ArrayLike, threshold: float = 0.5, name: str = "masks") -> torch.Tensor:
    """Masks [N,H,W] or [N,1,H,W] as bool [N, H*W]: bool kept, numbers >= `threshold` are defect
    (taught in 05_metrics). Works for {0,1} masks and for probabilities alike. NaN or inf values, and a
    `threshold` outside [0, 1], are a `MetricError` naming `name`: NaN would count as background silently."""
    threshold = check_fraction(threshold, "threshold")
    t = torch.as_tensor(masks)
    if t.dim() == 4:
        if t.shape[1] != 1:
            raise MetricError(f"{name} of shape {tuple(t.shape)}: expected [N,1,H,W] or [N,H,W]")
        t = t[:, 0]
    if t.dim() != 3:
        raise MetricError(f"{name} of shape {tuple(t.shape)}: expected [N,1,H,W] or [N,H,W]")
    if t.dtype != torch.bool and t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise MetricError(f"{name} contain NaN or inf ({bad} of {t.numel()} pixels); check the model's outputs "
                          "(a NaN probability would count as background) before computing metrics")
    b = t if t.dtype == torch.bool else t >= threshold
    return b.flatten(1)


def mask_stats(pred: ArrayLike, gt: ArrayLike, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-sample `inter` |P∩G|, `pred` |P|, `gt` |G| and `pixels`, as int64 arrays (taught in 05_metrics)."""
    p, g = binarize(pred, threshold, "predicted masks"), binarize(gt, 0.5, "true masks")
    if p.shape != g.shape:
        raise MetricError(f"prediction and ground truth differ in shape: {tuple(p.shape)} vs {tuple(g.shape)}; "
                          "pass the masks of the same samples at the same size")
    p, g = p.cpu().numpy(), g.cpu().numpy()  # numpy counts bools about 8x faster than torch on CPU
    return {
        "inter": np.count_nonzero(p & g, axis=1).astype(np.int64),
        "pred": np.count_nonzero(p, axis=1).astype(np.int64),
        "gt": np.count_nonzero(g, axis=1).astype(np.int64),
        "pixels": np.full(p.shape[0], p.shape[1], dtype=np.int64),
    }


def _nan_mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")


def seg_miou_from(stats: dict[str, np.ndarray]) -> float:
    """`seg_miou` from `mask_stats` (taught in 05_metrics)."""
    union = stats["pred"] + stats["gt"] - stats["inter"]
    keep = union > 0
    return _nan_mean(stats["inter"][keep] / union[keep])


def seg_recall_from(stats: dict[str, np.ndarray], min_area: int = 1, require_overlap: bool = False) -> float:
    """`seg_recall` from `mask_stats` (taught in 05_metrics)."""
    defective = stats["gt"] > 0
    declared = stats["pred"] >= min_area
    if require_overlap:
        declared &= stats["inter"] > 0
    return _nan_mean(declared[defective])


def seg_accuracy_from(stats: dict[str, np.ndarray], min_area: int = 1) -> float:
    """`seg_accuracy` from `mask_stats` (taught in 05_metrics)."""
    return _nan_mean((stats["pred"] >= min_area) == (stats["gt"] > 0))


def pooled_ious_from(stats: dict[str, np.ndarray]) -> tuple[float, float]:
    """(background IoU, defect IoU) with pixels pooled over all samples; nan where a class is absent
    from both prediction and truth (taught in 05_metrics)."""
    tp = stats["inter"].sum()
    fp = stats["pred"].sum() - tp
    fn = stats["gt"].sum() - tp
    tn = stats["pixels"].sum() - tp - fp - fn
    iou = [tn / (tn + fp + fn) if tn + fp + fn else float("nan"), tp / (tp + fp + fn) if tp + fp + fn else float("nan")]
    return float(iou[0]), float(iou[1])


def pixel_miou_from(stats: dict[str, np.ndarray]) -> float:
    """`pixel_miou` from `mask_stats`: the mean of the classes present (nan if no pixels at all;
    taught in 05_metrics)."""
    ious = [v for v in pooled_ious_from(stats) if not np.isnan(v)]
    return float(np.mean(ious)) if ious else float("nan")


def seg_miou(pred: ArrayLike, gt: ArrayLike, threshold: float = 0.5) -> float:
    """Mean IoU over samples with a true or a predicted defect; nan when there are none (taught in 05_metrics).

    It measures the masks' shape, so it takes no `min_area`: a 2-pixel false alarm below `min_area`
    is "declared clean" by `seg_recall`/`seg_accuracy` but still enters here with IoU 0."""
    return seg_miou_from(mask_stats(pred, gt, threshold))


def seg_recall(pred: ArrayLike, gt: ArrayLike, min_area: int = 1, require_overlap: bool = False,
               threshold: float = 0.5) -> float:
    """Share of defective samples whose mask has >= `min_area` pixels (and, with `require_overlap`,
    touches the true defect); nan without defective samples (taught in 05_metrics)."""
    return seg_recall_from(mask_stats(pred, gt, threshold), min_area, require_overlap)


def seg_accuracy(pred: ArrayLike, gt: ArrayLike, min_area: int = 1, threshold: float = 0.5) -> float:
    """Share of samples whose mask-derived decision (|P| >= `min_area`) equals |G| > 0 (taught in 05_metrics)."""
    return seg_accuracy_from(mask_stats(pred, gt, threshold), min_area)


def pixel_miou(pred: ArrayLike, gt: ArrayLike, threshold: float = 0.5) -> float:
    """Classic pooled two-class mIoU, the biased reference (taught in 05_metrics)."""
    return pixel_miou_from(mask_stats(pred, gt, threshold))


def defect_iou(pred: ArrayLike, gt: ArrayLike, threshold: float = 0.5) -> float:
    """Pooled IoU of the defect class alone (taught in 05_metrics)."""
    return pooled_ious_from(mask_stats(pred, gt, threshold))[1]


class SegMetrics:
    """Streaming accumulator: `update` batch by batch, `compute` at the end (taught in 05_metrics).

    Keeps four integers per sample (plus its score and scalar meta values), not the masks, so
    evaluating 10,000 masks of 256² takes kilobytes. `compute()` equals the one-shot functions on
    all the data at once.
    """

    def __init__(self, threshold: float = 0.5, min_area: int = 1, require_overlap: bool = False) -> None:
        check_fraction(threshold, "threshold")
        self.threshold, self.min_area, self.require_overlap = threshold, min_area, require_overlap
        self.reset()

    def reset(self) -> None:
        self._stats: dict[str, list[np.ndarray]] = {"inter": [], "pred": [], "gt": [], "pixels": []}
        self._scores: list[np.ndarray] = []
        self._meta: dict[str, list[Any]] = {}

    def update(self, pred_masks: ArrayLike, gt_masks: ArrayLike, scores: ArrayLike | None = None,
               meta: dict[str, Any] | None = None) -> None:
        """Add a batch: predicted masks (bool, {0,1} or probabilities), true masks, optional sample
        scores [B] and optional collated meta (scalar values per sample are kept)."""
        stats = mask_stats(pred_masks, gt_masks, self.threshold)
        for k, v in stats.items():
            self._stats[k].append(v)
        if scores is not None:
            self._scores.append(check_samples(("scores", scores), ("masks", stats["inter"]), empty_ok=True)[0])
        for k, v in (meta or {}).items():
            values = v.tolist() if isinstance(v, torch.Tensor | np.ndarray) else list(v)
            if len(values) == len(stats["inter"]):
                self._meta.setdefault(k, []).extend(values)

    def stats(self) -> dict[str, np.ndarray]:
        """The per-sample `mask_stats` of everything seen so far."""
        return {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in self._stats.items()}

    def scores(self) -> np.ndarray:
        return np.concatenate(self._scores) if self._scores else np.zeros(0)

    def meta(self) -> dict[str, list[Any]]:
        return self._meta

    def compute(self) -> dict[str, float]:
        """Every mask metric, plus sample-level AP and AUROC when scores were given."""
        s = self.stats()
        bg_iou, d_iou = pooled_ious_from(s)
        out = {
            "n_samples": int(len(s["gt"])),
            "n_defective": int((s["gt"] > 0).sum()),
            "seg_miou": seg_miou_from(s),
            "seg_recall": seg_recall_from(s, self.min_area, self.require_overlap),
            "seg_accuracy": seg_accuracy_from(s, self.min_area),
            "pixel_miou": pixel_miou_from(s),
            "defect_iou": d_iou,
            "background_iou": bg_iou,
        }
        scores = self.scores()
        if len(scores):
            labels = (s["gt"] > 0).astype(float)
            out["ap"] = average_precision(scores, labels)
            out["auroc"] = roc_auc(scores, labels)
        return out
