"""Metrics tied to decisions (taught in 05_metrics): per-sample mask metrics, pooled mIoU for contrast,
and sample-level ranking and decision metrics."""

from samtl_lite.metrics.masks import (
    SegMetrics,
    binarize,
    defect_iou,
    mask_stats,
    pixel_miou,
    seg_accuracy,
    seg_miou,
    seg_recall,
)
from samtl_lite.metrics.samples import (
    AREA_BINS,
    average_precision,
    best_f1_threshold,
    confusion_at,
    pr_curve,
    recall_at_fpr,
    recall_by,
    roc_auc,
    threshold_at_fpr,
)

__all__ = [
    "AREA_BINS",
    "SegMetrics",
    "average_precision",
    "best_f1_threshold",
    "binarize",
    "confusion_at",
    "defect_iou",
    "mask_stats",
    "pixel_miou",
    "pr_curve",
    "recall_at_fpr",
    "recall_by",
    "roc_auc",
    "seg_accuracy",
    "seg_miou",
    "seg_recall",
    "threshold_at_fpr",
]
