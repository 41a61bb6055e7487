import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score, roc_curve

from samtl_lite import MetricError
from samtl_lite.metrics import (
    SegMetrics,
    average_precision,
    best_f1_threshold,
    confusion_at,
    defect_iou,
    mask_stats,
    pixel_miou,
    recall_at_fpr,
    recall_by,
    roc_auc,
    seg_accuracy,
    seg_miou,
    seg_recall,
)


def masks(*pixel_sets, size=4):
    """[N, size, size] bool masks, each given as a list of flat pixel indices."""
    out = torch.zeros(len(pixel_sets), size * size, dtype=torch.bool)
    for i, pixels in enumerate(pixel_sets):
        out[i, list(pixels)] = True
    return out.view(len(pixel_sets), size, size)


# Four samples of 4x4 = 16 pixels:
#   0: hit        G = {0,1,2,3}, P = {2,3,4}   -> inter 2, union 5, IoU 0.4
#   1: missed     G = {5},       P = {}        -> IoU 0, declared clean
#   2: false alarm G = {},       P = {7,8}     -> IoU 0, declared defective
#   3: true negative G = {},     P = {}        -> not in seg_miou
GT = masks([0, 1, 2, 3], [5], [], [])
PRED = masks([2, 3, 4], [], [7, 8], [])


def test_hand_computed_case():
    assert seg_miou(PRED, GT) == pytest.approx((0.4 + 0 + 0) / 3)
    assert seg_recall(PRED, GT) == pytest.approx(1 / 2)
    assert seg_accuracy(PRED, GT) == pytest.approx(2 / 4)  # samples 0 and 3 decided right
    # pooled: TP 2, FP 3 (pixel 4, 7, 8), FN 3 (pixels 0, 1, 5), TN 64 - 8 = 56
    assert defect_iou(PRED, GT) == pytest.approx(2 / 8)
    assert pixel_miou(PRED, GT) == pytest.approx((56 / 62 + 2 / 8) / 2)


def test_true_negative_changes_pixel_miou_not_seg_miou():
    more_gt, more_pred = torch.cat([GT, masks([])]), torch.cat([PRED, masks([])])
    assert seg_miou(more_pred, more_gt) == seg_miou(PRED, GT)
    assert pixel_miou(more_pred, more_gt) > pixel_miou(PRED, GT)


def test_false_positive_on_clean_sample_enters_seg_miou_and_lowers_accuracy():
    gt, pred = GT[:1], PRED[:1]
    gt2, pred2 = torch.cat([gt, masks([])]), torch.cat([pred, masks([9])])
    assert seg_miou(pred2, gt2) == pytest.approx(0.4 / 2)
    assert seg_accuracy(pred2, gt2) == 0.5 and seg_accuracy(pred, gt) == 1.0


def test_min_area_and_require_overlap():
    gt, pred = masks([0], [5, 6]), masks([15], [5, 6])
    assert seg_recall(pred, gt) == 1.0  # both declared defective
    assert seg_recall(pred, gt, require_overlap=True) == 0.5  # sample 0's mask is in the wrong place
    assert seg_recall(pred, gt, min_area=2) == 0.5  # sample 0's single pixel is below min_area
    assert seg_accuracy(pred, gt, min_area=2) == 0.5


def test_all_empty_dataset():
    empty = masks([], [], [])
    assert np.isnan(seg_miou(empty, empty)) and np.isnan(seg_recall(empty, empty))
    assert seg_accuracy(empty, empty) == 1.0
    assert pixel_miou(empty, empty) == 1.0  # background IoU alone; the defect class is absent
    assert np.isnan(defect_iou(empty, empty))


@pytest.mark.parametrize("n_extra", [1, 10, 1000])
def test_adding_clean_samples_is_invisible_to_sample_metrics_but_raises_pooled_miou(n_extra):
    gt, pred = torch.cat([GT, masks(*[[]] * n_extra)]), torch.cat([PRED, masks(*[[]] * n_extra)])
    assert seg_miou(pred, gt) == seg_miou(PRED, GT)
    assert seg_recall(pred, gt) == seg_recall(PRED, GT)
    assert pixel_miou(pred, gt) > pixel_miou(PRED, GT)


def test_input_forms_agree():
    probs = PRED.float() * 0.9 + 0.05  # probabilities
    for pred in (PRED, PRED.int(), PRED.float().numpy(), probs, PRED[:, None]):
        assert seg_miou(pred, GT) == pytest.approx(seg_miou(PRED, GT))
    assert seg_recall(probs, GT, threshold=0.99) == 0.0  # nothing reaches 0.99
    with pytest.raises(ValueError, match="differ in shape"):
        seg_miou(PRED[:, :2], GT)


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.random((50, 16, 16)) > 0.97)
    gt[::3] = False
    prob = torch.from_numpy(rng.random((50, 1, 16, 16))).float()
    scores = torch.from_numpy(rng.random(50))
    acc = SegMetrics(threshold=0.9, min_area=2)
    for start in range(0, 50, 7):
        acc.update(prob[start:start + 7], gt[start:start + 7, None].float(), scores[start:start + 7],
                   meta={"area_fraction": gt[start:start + 7].float().mean((1, 2))})
    r = acc.compute()
    assert r["seg_miou"] == pytest.approx(seg_miou(prob, gt, threshold=0.9))
    assert r["seg_recall"] == pytest.approx(seg_recall(prob, gt, min_area=2, threshold=0.9))
    assert r["seg_accuracy"] == pytest.approx(seg_accuracy(prob, gt, min_area=2, threshold=0.9))
    assert r["pixel_miou"] == pytest.approx(pixel_miou(prob, gt, threshold=0.9))
    labels = gt.flatten(1).any(1).numpy()
    assert r["ap"] == pytest.approx(average_precision_score(labels, scores.numpy()))
    assert r["n_samples"] == 50 and len(acc.meta()["area_fraction"]) == 50
    acc.reset()
    assert acc.compute()["n_samples"] == 0


@pytest.mark.parametrize("seed", range(8))
def test_sample_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    labels = rng.random(n) < rng.uniform(0.05, 0.6)
    labels[0], labels[1] = True, False
    scores = np.round(rng.random(n) + labels * rng.uniform(0, 0.8), 1 if seed % 2 else 6)  # ties on odd seeds
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores))
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    t = float(np.median(scores))
    tn, fp, fn, tp = confusion_matrix(labels, scores >= t, labels=[False, True]).ravel()
    assert confusion_at(scores, labels, t) == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    for target in (0.0, 0.01, 0.05, 0.3):
        assert recall_at_fpr(scores, labels, target) == pytest.approx(tpr[fpr <= target + 1e-12].max())


def test_best_f1_threshold_by_hand_and_without_positives():
    scores, labels = [0.9, 0.8, 0.7, 0.3, 0.2], [1, 0, 1, 0, 0]
    # thresholds 0.9: P 1, R .5, F1 .667; 0.8: P .5, R .5; 0.7: P .667, R 1, F1 .8; lower: worse
    threshold, f1 = best_f1_threshold(scores, labels)
    assert threshold == 0.7 and f1 == pytest.approx(0.8)
    assert confusion_at(scores, labels, threshold) == {"tp": 2, "fp": 1, "fn": 0, "tn": 2}
    with pytest.raises(MetricError, match="no defective sample"):
        best_f1_threshold([0.1, 0.5], [0, 0])
    assert np.isnan(average_precision([0.1, 0.5], [0, 0])) and np.isnan(roc_auc([0.1], [1]))
    with pytest.raises(MetricError, match="NaN"):
        average_precision([0.1, float("nan")], [0, 1])


def test_recall_by_area_bins():
    area = [0.00005, 0.0002, 0.0002, 0.005, 0.5, 0.0]
    decided = [1, 0, 1, 1, 1, 1]
    labels = [1, 1, 1, 1, 1, 0]  # the last sample is clean: not counted
    rows = recall_by(area, decided, labels)
    assert [(r["n"], r["detected"]) for r in rows] == [(1, 1), (2, 1), (0, 0), (0, 0), (1, 1), (1, 1)]
    assert rows[1]["recall"] == 0.5 and np.isnan(rows[2]["recall"])
    contrast_rows = recall_by([0.5, 3.0, 6.0], [0, 1, 1], [1, 1, 1], bins=(0, 1, 4, 8))
    assert [r["recall"] for r in contrast_rows] == [0.0, 1.0, 1.0]


def test_mask_stats_counts():
    s = mask_stats(PRED, GT)
    assert s["inter"].tolist() == [2, 0, 0, 0] and s["pred"].tolist() == [3, 0, 2, 0]
    assert s["gt"].tolist() == [4, 1, 0, 0] and s["pixels"].tolist() == [16] * 4


def test_streaming_require_overlap():
    gt, pred = masks([0], [5, 6]), masks([15], [5, 6])
    acc = SegMetrics(require_overlap=True)
    acc.update(pred, gt)
    assert acc.compute()["seg_recall"] == seg_recall(pred, gt, require_overlap=True) == 0.5
