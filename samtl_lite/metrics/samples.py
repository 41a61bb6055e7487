"""Sample-level metrics: how well a per-sample defect score separates defective from clean parts.

Taught in 05_metrics. A score ranks samples; a threshold turns it into decisions (defective when
score >= threshold). AP and AUROC judge the ranking; the confusion counts, F1 and recall at a fixed
false-alarm rate judge decisions, which is what a production line lives with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samtl_lite.errors import MetricError
from samtl_lite.metrics.checks import ArrayLike, check_fraction, check_samples, check_threshold


def _arrays(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels checked by `check_samples`: one length, finite, labels 0/1, at least one sample."""
    s, y = check_samples(("scores", scores), ("labels", labels))
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
    """TP, FP, FN, TN when samples with score >= `threshold` are declared defective; all zero on no samples
    (taught in 05_metrics). A NaN threshold is a `MetricError`."""
    threshold = check_threshold(threshold)
    s, y = check_samples(("scores", scores), ("labels", labels), empty_ok=True)
    d = s >= threshold
    return {"tp": int((d & y).sum()), "fp": int((d & ~y).sum()), "fn": int((~d & y).sum()), "tn": int((~d & ~y).sum())}


def threshold_at_fpr(scores: ArrayLike, labels: ArrayLike, fpr: float) -> float:
    """The lowest threshold at which at most `fpr` of the clean samples are declared defective
    (decisions are score >= threshold; taught in 09_real_data). Raises MetricError without clean samples,
    and when `fpr` is not in [0, 1]."""
    fpr = check_fraction(fpr, "fpr")
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
    false alarm (taught in 05_metrics). E.g. `fpr=0.01`: one clean part in a hundred is rejected.
    nan unless both classes are present; `fpr` outside [0, 1] is a `MetricError`."""
    fpr = check_fraction(fpr, "fpr")
    s, y = _arrays(scores, labels)
    if y.all() or not y.any():
        return float("nan")
    return float(np.mean(s[y] >= threshold_at_fpr(s, y, fpr)))


AREA_BINS = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1.0)


def recall_by(values: ArrayLike, decisions: ArrayLike, labels: ArrayLike,
              bins: Sequence[float] = AREA_BINS) -> list[dict[str, float]]:
    """Recall of defective samples, bin by bin of a per-sample value such as defect area fraction
    (default log-spaced bins) or contrast (taught in 05_metrics). Bins are [lo, hi); the last is closed."""
    v, d, y = check_samples(("values", values), ("decisions", decisions), ("labels", labels), empty_ok=True)
    rows = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        inside = (v >= lo) & ((v < hi) if i < len(bins) - 2 else (v <= hi)) & y
        n = int(inside.sum())
        rows.append({"lo": lo, "hi": hi, "n": n, "detected": int(d[inside].sum()),
                     "recall": float(d[inside].mean()) if n else float("nan")})
    return rows
