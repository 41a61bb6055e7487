"""Sample-level metrics: how well a per-sample defect score separates defective from clean parts.

Taught in 05_metrics. A score ranks samples; a threshold turns it into decisions (defective when
score >= threshold). AP and AUROC judge the ranking; the confusion counts, F1 and recall at a fixed
false-alarm rate judge decisions, which is what a production line lives with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from samtl_lite.errors import MetricError

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


def to_numpy(x: ArrayLike) -> np.ndarray:
    """A tensor, array or list as a flat float64 numpy array (tensors are detached and moved to the CPU;
    taught in 05_metrics)."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _arrays(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s, y = to_numpy(scores), to_numpy(labels) > 0.5
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not np.isfinite(s).all():
        raise MetricError("scores contain NaN or inf; check the model's outputs before computing metrics")
    return s, y


def pr_curve(scores: ArrayLike, labels: ArrayLike) -> dict[str, np.ndarray]:
    """Precision and recall at every distinct score used as threshold, highest first (taught in 05_metrics)."""
    s, y = _arrays(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = last + 1 - tp
    n_pos = y.sum()
    return {
        "threshold": s[last],
        "tp": tp,
        "fp": fp,
        "precision": tp / (tp + fp),
        "recall": tp / n_pos if n_pos else np.full(len(tp), np.nan),
    }


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the step PR curve, `Σ (R_n - R_{n-1}) P_n`, as sklearn's `average_precision_score`
    computes it; nan without defective samples (taught in 05_metrics)."""
    c = pr_curve(scores, labels)
    if np.isnan(c["recall"]).any():
        return float("nan")
    return float(np.sum(np.diff(np.r_[0.0, c["recall"]]) * c["precision"]))


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Probability that a random defective sample scores above a random clean one (ties count half):
    the area under the ROC curve; nan unless both classes are present (taught in 05_metrics)."""
    s, y = _arrays(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):  # tied scores share their average rank
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def best_f1_threshold(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over the PR curve; decisions are score >= threshold
    (taught in 05_metrics). Raises MetricError without defective samples: any threshold would do, so
    none is meaningful."""
    c = pr_curve(scores, labels)
    if np.isnan(c["recall"]).any():
        raise MetricError(
            "cannot choose a threshold: the samples given contain no defective sample. Use a validation "
            "split with defective samples (e.g. a stratified split), or set the threshold by hand."
        )
    p, r = c["precision"], c["recall"]
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    best = int(np.argmax(f1))
    return float(c["threshold"][best]), float(f1[best])


def confusion_at(scores: ArrayLike, labels: ArrayLike, threshold: float) -> dict[str, int]:
    """TP, FP, FN, TN when samples with score >= `threshold` are declared defective (taught in 05_metrics)."""
    s, y = _arrays(scores, labels)
    d = s >= threshold
    return {"tp": int((d & y).sum()), "fp": int((d & ~y).sum()), "fn": int((~d & y).sum()), "tn": int((~d & ~y).sum())}


def threshold_at_fpr(scores: ArrayLike, labels: ArrayLike, fpr: float) -> float:
    """The lowest threshold at which at most `fpr` of the clean samples are declared defective
    (decisions are score >= threshold; taught in 09_real_data). Raises MetricError without clean samples."""
    s, y = _arrays(scores, labels)
    neg = np.sort(s[~y])[::-1]
    if len(neg) == 0:
        raise MetricError("cannot set a false-alarm budget: the samples given contain no clean sample.")
    allowed = int(np.floor(fpr * len(neg) + 1e-9))
    if allowed >= len(neg):
        return float(s.min())
    return float(np.nextafter(neg[allowed], np.inf))  # just above the first clean score not allowed


def recall_at_fpr(scores: ArrayLike, labels: ArrayLike, fpr: float) -> float:
    """The highest share of defective samples caught while at most `fpr` of clean samples raise a
    false alarm (taught in 05_metrics). E.g. `fpr=0.01`: one clean part in a hundred is rejected."""
    s, y = _arrays(scores, labels)
    if y.all() or not y.any():
        return float("nan")
    return float(np.mean(s[y] >= threshold_at_fpr(s, y, fpr)))


AREA_BINS = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1.0)


def recall_by(values: ArrayLike, decisions: ArrayLike, labels: ArrayLike,
              bins: Sequence[float] = AREA_BINS) -> list[dict[str, float]]:
    """Recall of defective samples, bin by bin of a per-sample value such as defect area fraction
    (default log-spaced bins) or contrast (taught in 05_metrics). Bins are [lo, hi); the last is closed."""
    v, d, y = to_numpy(values), to_numpy(decisions) > 0.5, to_numpy(labels) > 0.5
    rows = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        inside = (v >= lo) & ((v < hi) if i < len(bins) - 2 else (v <= hi)) & y
        n = int(inside.sum())
        rows.append({"lo": lo, "hi": hi, "n": n, "detected": int(d[inside].sum()),
                     "recall": float(d[inside].mean()) if n else float("nan")})
    return rows
