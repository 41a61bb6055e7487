"""Evaluation: run a model over a dataset once, keep a few numbers per sample, score decisions.

Taught in 06_training and 08_explore. `predict_dataset` keeps, per sample, its score and the
mask statistics at a grid of mask thresholds, so that thresholds can be chosen on the validation
split and applied unchanged to the test split without running the model again. Thresholds are
chosen for *sample decisions*: the score's by F1 (or a false-alarm budget), and the mask's
threshold and `min_area` by the F1 of the decisions the mask makes, never by pixel overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from samtl_lite.data.synthetic import VISIBLE
from samtl_lite.errors import MetricError
from samtl_lite.metrics import (
    average_precision,
    best_f1_threshold,
    confusion_at,
    mask_stats,
    recall_at_fpr,
    recall_by,
    roc_auc,
    threshold_at_fpr,
)
from samtl_lite.metrics.checks import check_fraction, check_samples, check_threshold
from samtl_lite.metrics.masks import pooled_ious_from, seg_accuracy_from, seg_miou_from, seg_recall_from

MASK_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CONTRAST_BINS = (0.0, 1.0, 2.0, 4.0, 8.0, 100.0)  # in background-noise stds
# contrast x sqrt(pixels): below VISIBLE (5) a defect is faint; the bins above say how far above that a model sees
VISIBILITY_BINS = (0.0, VISIBLE, 10.0, 20.0, 40.0, 1000.0)


@dataclass
class Predictions:
    """Per-sample results of one pass over a dataset (taught in 08_explore)."""

    index: np.ndarray  # dataset index of each sample
    label: np.ndarray  # 1.0 defective, 0.0 clean (from the true mask)
    score: np.ndarray  # the model's sample score
    stats: dict[float, dict[str, np.ndarray]] = field(default_factory=dict)  # mask threshold -> mask_stats
    meta: dict[str, list[Any]] = field(default_factory=dict)
    loss_sum: float = float("nan")  # the joint loss summed over samples, when a loss was given

    @property
    def loss(self) -> float:
        """Mean joint loss per sample (nan when none was computed)."""
        return self.loss_sum / max(len(self.index), 1)

    @classmethod
    def merge(cls, parts: list[Predictions]) -> Predictions:
        """Join shards (e.g. from several DDP ranks) and order them by dataset index."""
        index = np.concatenate([p.index for p in parts])
        order = np.argsort(index, kind="stable")
        cat = lambda xs: np.concatenate(xs)[order]  # noqa: E731
        stats = {t: {k: cat([p.stats[t][k] for p in parts]) for k in parts[0].stats[t]} for t in parts[0].stats}
        meta = {k: [v for p in parts for v in p.meta[k]] for k in parts[0].meta}
        return cls(index[order], cat([p.label for p in parts]), cat([p.score for p in parts]), stats,
                   {k: [v[i] for i in order] for k, v in meta.items()}, float(sum(p.loss_sum for p in parts)))


def _meta_lists(meta: dict[str, Any], n: int) -> dict[str, list[Any]]:
    out = {}
    for k, v in meta.items():
        values = v.tolist() if isinstance(v, torch.Tensor) else list(v)
        if len(values) == n:
            out[k] = values
    return out


@torch.no_grad()
def predict_dataset(
    model: torch.nn.Module,
    data: Dataset,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    indices: list[int] | None = None,
    mask_thresholds: tuple[float, ...] = MASK_THRESHOLDS,
    channels_last: bool = False,
    progress: bool = True,
    loss_fn: Callable[..., Any] | None = None,
) -> Predictions:
    """Run `model` over `data` (or the given `indices` of it) and keep per-sample numbers, and the mean
    loss when `loss_fn` is given (taught in 08_explore)."""
    model.eval()
    indices = list(range(len(data))) if indices is None else list(indices)
    loader = DataLoader(Subset(data, indices), batch_size=batch_size, shuffle=False)
    scores, labels, meta, loss_sum = [], [], {}, 0.0 if loss_fn is not None else float("nan")
    stats: dict[float, dict[str, list[np.ndarray]]] = {t: {} for t in mask_thresholds}
    for batch in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        x = batch["image"].to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = model(x)
        score = model.sample_scores(out).float().cpu()
        scores.append(score.numpy())
        if loss_fn is not None:
            loss_sum += float(loss_fn(out, batch["mask"].to(device), batch["label"].to(device)).total) * len(x)
        labels.append(batch["label"].numpy())
        if out.mask_logits is not None:
            prob = torch.sigmoid(out.mask_logits.float()).cpu()
            if not bool(torch.isfinite(prob).all()):
                if bool(torch.isfinite(score).all()):
                    raise MetricError("the model's mask probabilities contain NaN or inf while its sample scores are "
                                      "finite: its weights may have blown up. Lower the learning rate and train "
                                      "again, or check the checkpoint")
                # the pass's scores are NaN too, and every use of them (thresholds, metrics, training) refuses
                # the whole pass: count NaN pixels as background here, so the caller can say what went wrong
                prob = torch.nan_to_num(prob, nan=0.0)
            for t in mask_thresholds:
                for k, v in mask_stats(prob, batch["mask"], threshold=t).items():
                    stats[t].setdefault(k, []).append(v)
        for k, v in _meta_lists(batch["meta"], len(x)).items():
            meta.setdefault(k, []).extend(v)
    joined = {t: {k: np.concatenate(v) for k, v in s.items()} for t, s in stats.items() if s}
    return Predictions(np.asarray(indices), np.concatenate(labels).astype(float), np.concatenate(scores), joined, meta,
                       loss_sum)


MIN_AREAS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # candidate min_area values, in pixels


def mask_decision_counts(stats: dict[str, np.ndarray], min_area: int) -> dict[str, int]:
    """TP, FP, FN, TN of the mask's sample decisions: defective when at least `min_area` pixels are
    predicted (taught in 05_metrics). Statistics of different lengths, or a NaN `min_area`, are a `MetricError`."""
    check_samples(("stats['pred']", stats["pred"]), ("stats['gt']", stats["gt"]), empty_ok=True)
    return confusion_at(stats["pred"], stats["gt"] > 0, check_threshold(min_area, "min_area"))


def f1_of(c: dict[str, int]) -> float:
    """F1 from confusion counts; 0 when nothing is right (taught in 05_metrics)."""
    return 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) if c["tp"] else 0.0


def choose_mask_decision(stats: dict[float, dict[str, np.ndarray]], max_fpr: float | None = None) -> tuple[float, int]:
    """The (mask threshold, min_area) whose *sample* decisions are best on validation (taught in 05_metrics).

    Best means the highest F1 of the mask's decisions (the rule the sample score's threshold uses
    too), or, with `max_fpr`, the highest Seg_Recall among the pairs that flag at most that share
    of clean samples. Ties go to the better Seg_mIoU, then to the smaller min_area. No samples, mask
    thresholds outside [0, 1] or a `max_fpr` outside [0, 1] are a `MetricError`."""
    if max_fpr is not None:
        max_fpr = check_fraction(max_fpr, "max_fpr")
    if not stats or any(len(st["gt"]) == 0 for st in stats.values()):
        raise MetricError("cannot choose a mask decision: there are no mask statistics of any sample; "
                          "predict a split that holds samples with a model that has a mask head")
    candidates = []
    for t, st in stats.items():
        check_fraction(t, "mask threshold")
        check_samples(*((f"stats[{t}]['{k}']", v) for k, v in st.items()))
        n_clean = max(int((st["gt"] == 0).sum()), 1)
        for a in MIN_AREAS:
            if a > st["pixels"].max():
                break
            c = mask_decision_counts(st, a)
            if max_fpr is None:
                key = (f1_of(c),)
            else:
                fpr = c["fp"] / n_clean
                key = (fpr <= max_fpr + 1e-12, c["tp"] if fpr <= max_fpr + 1e-12 else -fpr)
            candidates.append((*key, np.nan_to_num(seg_miou_from(st)), -a, t, a))
    best = max(candidates, key=lambda k: k[:-2])
    return float(best[-2]), int(best[-1])


def choose_thresholds(val: Predictions, max_fpr: float | None = None) -> dict[str, Any]:
    """Thresholds for sample decisions, chosen on validation data (taught in 06_training).

    The sample score's threshold gives the best F1 (or, with `max_fpr`, the most recall at that
    false-alarm rate); the mask's threshold and `min_area` give the best sample decisions from the
    mask by the same rule (`choose_mask_decision`), not the best pixel overlap. No samples, NaN scores,
    labels other than 0/1 or a `max_fpr` outside [0, 1] are a `MetricError`."""
    if max_fpr is not None:
        max_fpr = check_fraction(max_fpr, "max_fpr")
    if max_fpr is None:
        chosen: dict[str, Any] = {"score": best_f1_threshold(val.score, val.label)[0], "rule": "max-F1"}
    else:
        best_f1_threshold(val.score, val.label)  # the same clear error when no defective sample is there
        chosen = {"score": threshold_at_fpr(val.score, val.label, max_fpr), "rule": f"false alarms <= {max_fpr:g}"}
    if val.stats:
        chosen["mask"], chosen["min_area"] = choose_mask_decision(val.stats, max_fpr)
    return chosen


def thresholds_on(pred: Predictions, max_fpr: float | None = None) -> dict[str, Any]:
    """`choose_thresholds` on validation predictions, falling back to 0.5 (and min_area 1) with a note when
    that split has no defective sample, or with `max_fpr` no clean one (taught in 06_training). Any other bad
    input (no samples, NaN scores, a `max_fpr` outside [0, 1]) is raised, not covered by the fallback."""
    if max_fpr is not None:
        check_fraction(max_fpr, "max_fpr")
    check_samples(("scores", pred.score), ("labels", pred.label))
    try:
        return choose_thresholds(pred, max_fpr)
    except MetricError as err:
        print(f"note: {err} Using 0.5.")
        return {"score": 0.5, "mask": 0.5, "min_area": 1, "rule": "fallback 0.5"} if pred.stats else \
            {"score": 0.5, "rule": "fallback 0.5"}


def false_alarm_notes(m: dict[str, Any], split: str = "test") -> list[str]:
    """Notes for decisions that flag most clean samples: the validation threshold of a model that does not
    yet separate clean from defective falls to "flag (nearly) everything", which is the best F1 it has but
    rarely what a user expects (taught in 06_training)."""
    notes = []
    for who, pre, what, key in (("sample head", "", "AP", "ap"), ("mask", "seg_", "Seg_mIoU", "seg_miou")):
        if f"{pre}fp" not in m:
            continue
        fp, clean = m[f"{pre}fp"], m[f"{pre}fp"] + m[f"{pre}tn"]
        if clean and fp > clean / 2:
            notes.append(f"the {who}'s decisions flag {fp} of {clean} clean {split} samples ({what} {m[key]:.3f}): "
                         "at this threshold it does not tell clean from defective. An undertrained model's best F1 "
                         "on validation is often to flag nearly everything: train longer (see the run's curves), or "
                         "set thresholds for a false-alarm budget (samtl train --max-fpr); on data other than the "
                         "model's own, choose them there (samtl evaluate --rechoose).")
    return notes


def gated(stats: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """Mask statistics after zeroing the masks of samples the sample head calls clean (taught in 06_training)."""
    out = dict(stats)
    out["pred"] = np.where(keep, stats["pred"], 0)
    out["inter"] = np.where(keep, stats["inter"], 0)
    return out


def compute_metrics(
    pred: Predictions,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    min_area: int = 1,
    gate: bool = False,
) -> dict[str, Any]:
    """Every metric of a pass, at given thresholds (taught in 06_training): sample AP/AUROC, F1 and
    confusion counts, recall at 1% and 5% false alarms, the decision-linked mask metrics, pooled
    mIoU, and recall by defect area (and by contrast when the data records it). No samples, NaN scores,
    labels other than 0/1, a NaN `score_threshold`, a `mask_threshold` outside [0, 1] or one the pass has no
    statistics for are a `MetricError`."""
    score_threshold = check_threshold(score_threshold, "score_threshold")
    check_samples(("scores", pred.score), ("labels", pred.label))
    y, s = pred.label, pred.score
    if pred.stats:
        mask_threshold = check_fraction(mask_threshold, "mask_threshold")
        if mask_threshold not in pred.stats:
            raise MetricError(f"mask_threshold={mask_threshold:g}: this pass kept mask statistics at "
                              f"{', '.join(f'{t:g}' for t in sorted(pred.stats))} only; use one of those, or "
                              "predict_dataset with mask_thresholds that include it")
    decisions = s >= score_threshold
    cm = confusion_at(s, y, score_threshold)
    out: dict[str, Any] = {
        "n_samples": int(len(y)),
        "n_defective": int(y.sum()),
        "ap": average_precision(s, y),
        "auroc": roc_auc(s, y),
        "score_threshold": float(score_threshold),
        "precision": cm["tp"] / max(cm["tp"] + cm["fp"], 1),
        "recall": cm["tp"] / max(cm["tp"] + cm["fn"], 1),
        "f1": f1_of(cm),
        **cm,
        "recall_at_fpr_1pct": recall_at_fpr(s, y, 0.01),
        "recall_at_fpr_2pct": recall_at_fpr(s, y, 0.02),  # in metrics.json: the GPU recipe's target is set at 2%
        "recall_at_fpr_5pct": recall_at_fpr(s, y, 0.05),
    }
    area = pred.meta.get("area_fraction")
    if area is not None:
        out["recall_by_area"] = {"sample": recall_by(area, decisions, y)}
    binned = {k: (pred.meta[m], bins) for k, m, bins in (("recall_by_contrast", "contrast", CONTRAST_BINS),
                                                         ("recall_by_visibility", "visibility", VISIBILITY_BINS))
              if m in pred.meta}
    for key, (values, bins) in binned.items():
        out[key] = {"sample": recall_by(values, decisions, y, bins)}
    mask_decisions = None
    if pred.stats:
        st = pred.stats[mask_threshold]
        if gate:
            st = gated(st, decisions)
        bg_iou, d_iou = pooled_ious_from(st)
        mc = mask_decision_counts(st, min_area)
        out.update({
            "mask_threshold": float(mask_threshold),
            "min_area": int(min_area),
            "gated": gate,
            **{f"seg_{k}": v for k, v in mc.items()},
            "seg_f1": f1_of(mc),
            "seg_miou": seg_miou_from(st),
            "seg_recall": seg_recall_from(st, min_area),
            "seg_accuracy": seg_accuracy_from(st, min_area),
            "pixel_miou": float(np.nanmean([bg_iou, d_iou])),
            "defect_iou": d_iou,
        })
        mask_decisions = st["pred"] >= min_area
        if area is not None:
            out["recall_by_area"]["mask"] = recall_by(area, mask_decisions, y)
        for key, (values, bins) in binned.items():
            out[key]["mask"] = recall_by(values, mask_decisions, y, bins)
    if "visibility" in pred.meta:
        out.update(by_visibility(pred, decisions, mask_decisions))
    return out


def by_visibility(pred: Predictions, decisions: np.ndarray, mask_decisions: np.ndarray | None) -> dict[str, float]:
    """AP and recall on the *visible* and the *faint* defective samples apart (synthetic data records a
    visibility; see `samtl_lite.data.synthetic.VISIBLE`), each slice ranked against all clean samples
    (taught in 07_experiment)."""
    vis, y = np.asarray(pred.meta["visibility"], dtype=float), pred.label > 0.5
    out: dict[str, float] = {}
    for name, part in (("visible", y & (vis >= VISIBLE)), ("faint", y & (vis < VISIBLE))):
        keep = part | ~y
        out[f"n_{name}"] = int(part.sum())
        out[f"ap_{name}"] = average_precision(pred.score[keep], y[keep]) if part.any() else float("nan")
        out[f"recall_{name}"] = float(decisions[part].mean()) if part.any() else float("nan")
        if mask_decisions is not None:
            out[f"seg_recall_{name}"] = float(mask_decisions[part].mean()) if part.any() else float("nan")
    return out


def metrics_at(pred: Predictions, chosen: dict[str, Any], gate: bool = False) -> dict[str, Any]:
    """`compute_metrics` at thresholds chosen by `choose_thresholds` (taught in 08_explore)."""
    return compute_metrics(pred, chosen["score"], chosen.get("mask", 0.5), chosen.get("min_area", 1), gate)


def per_sample_rows(pred: Predictions, chosen: dict[str, Any]) -> list[dict]:
    """One row per sample for results.csv: name, label, score, the head's and the mask's decisions,
    defect area, IoU (taught in 06_training)."""
    rows = []
    st = pred.stats.get(chosen["mask"]) if "mask" in chosen else None
    names = pred.meta.get("name", [str(i) for i in pred.index])
    for j, i in enumerate(pred.index):
        row = {"index": int(i), "name": names[j], "label": int(pred.label[j]), "score": float(pred.score[j]),
               "decision": int(pred.score[j] >= chosen["score"])}
        for k in ("defect_class", "area_fraction", "contrast", "visibility"):
            if k in pred.meta:
                row[k] = pred.meta[k][j]
        if st is not None:
            union = st["pred"][j] + st["gt"][j] - st["inter"][j]
            row["mask_pixels"] = int(st["pred"][j])
            row["mask_decision"] = int(st["pred"][j] >= chosen["min_area"])
            row["iou"] = float(st["inter"][j] / union) if union else float("nan")
        rows.append(row)
    return rows
