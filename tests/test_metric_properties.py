"""Every public metric and threshold function on empty, constant, NaN, out-of-range and mismatched input:
a finite (or documented NaN) answer, or the package's `MetricError` naming the argument, never IndexError,
ZeroDivisionError or a silent wrong number. Hand-computed edge cases are checked against sklearn."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from samtl_lite.engine.evaluate import (
    Predictions,
    choose_mask_decision,
    choose_thresholds,
    compute_metrics,
    mask_decision_counts,
    thresholds_on,
)
from samtl_lite.errors import MetricError
from samtl_lite.metrics import (
    SegMetrics,
    average_precision,
    best_f1_threshold,
    binarize,
    confusion_at,
    mask_stats,
    pr_curve,
    recall_at_fpr,
    recall_by,
    roc_auc,
    seg_miou,
    threshold_at_fpr,
)

NAN, INF = float("nan"), float("inf")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Scores: ordinary probabilities, a few repeated values (ties, constant arrays) and now and then NaN or inf.
score_values = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([NAN, INF, -INF]))
label_values = st.one_of(st.sampled_from([0, 1]), st.sampled_from([0.5, 2, -1, NAN]))


@st.composite
def samples(draw):
    """(scores, labels): usually valid and of one length; sometimes empty, mismatched, non-finite or non-binary."""
    n = draw(st.integers(0, 12))
    if draw(st.booleans()):  # valid
        scores = draw(st.lists(st.floats(0, 1) | st.sampled_from([0.0, 0.5, 1.0]), min_size=n, max_size=n))
        if draw(st.booleans()) and scores:
            scores = [scores[0]] * n  # constant
        labels = draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n))
    else:
        scores = draw(st.lists(score_values, min_size=n, max_size=n))
        labels = draw(st.lists(label_values, min_size=draw(st.integers(0, 12)), max_size=12))
    return scores, labels


def problem(scores, labels) -> str | None:
    """Why these inputs must be refused (by the rules the library documents), or None when they are fine."""
    if len(scores) != len(labels):
        return "lengths differ"
    if not scores:
        return "no samples"
    if not all(math.isfinite(s) for s in scores):
        return "NaN or inf"
    if not all(math.isfinite(y) for y in labels):
        return "NaN or inf"
    if any(y not in (0, 1) for y in labels):
        return "0 (clean) or 1"
    return None


def in_unit(x: float) -> bool:
    return 0.0 <= x <= 1.0


@SETTINGS
@given(samples())
def test_sample_metrics_answer_or_refuse(data):
    scores, labels = data
    why = problem(scores, labels)
    functions = {
        "pr_curve": lambda: pr_curve(scores, labels),
        "average_precision": lambda: average_precision(scores, labels),
        "roc_auc": lambda: roc_auc(scores, labels),
        "best_f1_threshold": lambda: best_f1_threshold(scores, labels),
        "threshold_at_fpr": lambda: threshold_at_fpr(scores, labels, 0.1),
        "recall_at_fpr": lambda: recall_at_fpr(scores, labels, 0.1),
    }
    if why is not None:
        for f in functions.values():
            with pytest.raises(MetricError, match=re.escape(why)):
                f()
        if why != "no samples":
            with pytest.raises(MetricError, match=re.escape(why)):
                confusion_at(scores, labels, 0.5)
        if problem([0.0] * len(scores), labels) not in (None, "no samples"):  # recall_by takes no scores
            with pytest.raises(MetricError, match=re.escape(problem([0.0] * len(scores), labels))):
                recall_by([0.001] * len(scores), labels, labels)
        return
    y = np.asarray(labels) == 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    ap, auc = average_precision(scores, labels), roc_auc(scores, labels)
    assert math.isnan(ap) if n_pos == 0 else (in_unit(ap) and ap == pytest.approx(average_precision_score(y, scores)))
    if n_pos and n_neg:
        assert auc == pytest.approx(roc_auc_score(y, scores))
    else:
        assert math.isnan(auc)
    if n_pos == 0:
        with pytest.raises(MetricError, match="no defective sample"):
            best_f1_threshold(scores, labels)
    else:
        t, f1 = best_f1_threshold(scores, labels)
        assert t in scores and 0 < f1 <= 1
    if n_neg == 0:
        with pytest.raises(MetricError, match="no clean sample"):
            threshold_at_fpr(scores, labels, 0.1)
    else:
        t = threshold_at_fpr(scores, labels, 0.1)
        assert math.isfinite(t) and np.mean(np.asarray(scores)[~y] >= t) <= 0.1 + 1e-12
    r = recall_at_fpr(scores, labels, 0.1)
    assert math.isnan(r) if (n_pos == 0 or n_neg == 0) else in_unit(r)
    cm = confusion_at(scores, labels, 0.5)
    assert sum(cm.values()) == len(scores) and cm["tp"] + cm["fn"] == n_pos
    rows = recall_by([0.001] * len(scores), labels, labels)
    assert sum(row["n"] for row in rows) == n_pos


def test_empty_input_is_a_metric_error_or_zero_counts():
    for f in (pr_curve, average_precision, roc_auc, best_f1_threshold):
        with pytest.raises(MetricError, match="no samples"):
            f([], [])
    for f in (threshold_at_fpr, recall_at_fpr):
        with pytest.raises(MetricError, match="no samples"):
            f([], [], 0.05)
    assert confusion_at([], [], 0.5) == {"tp": 0, "fp": 0, "fn": 0, "tn": 0}  # counts of nothing are defined
    assert all(row["n"] == 0 and math.isnan(row["recall"]) for row in recall_by([], [], []))


def test_constant_scores_by_hand():
    scores, labels = [0.3] * 4, [1, 0, 0, 1]  # one threshold: everything flagged, precision 1/2, recall 1
    assert average_precision(scores, labels) == 0.5 == average_precision_score(labels, scores)
    assert roc_auc(scores, labels) == 0.5 == roc_auc_score(labels, scores)
    assert best_f1_threshold(scores, labels) == (0.3, pytest.approx(2 / 3))
    assert recall_at_fpr(scores, labels, 0.0) == 0.0 and recall_at_fpr(scores, labels, 1.0) == 1.0
    with pytest.raises(MetricError, match=re.escape("labels must be 0 (clean) or 1 (defective)")):
        average_precision(scores, [0.5] * 4)  # constant soft labels were read as "all clean": AP nan


# Six samples; clean scores 0.8, 0.5, 0.4. At fpr 0 the threshold is just above 0.8: of the defective 0.9, 0.7,
# 0.6 only 0.9 is caught (1/3). At 1/3 one clean sample (0.8) may be flagged: the threshold is just above 0.5,
# and all three are caught. At 1 everything is flagged.
EDGE_SCORES, EDGE_LABELS = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 1, 0, 0]


def test_recall_at_fpr_edges_by_hand_and_against_sklearn():
    fprs, tprs, _ = roc_curve(EDGE_LABELS, EDGE_SCORES, drop_intermediate=False)
    for fpr, recall in ((0.0, 1 / 3), (0.2, 1 / 3), (1 / 3, 1.0), (1.0, 1.0)):
        assert recall_at_fpr(EDGE_SCORES, EDGE_LABELS, fpr) == pytest.approx(recall)
        assert recall == pytest.approx(tprs[fprs <= fpr + 1e-12].max())
    for outside in (np.nextafter(0.0, -1.0), np.nextafter(1.0, 2.0)):  # the edges are answered, past them refused
        with pytest.raises(MetricError, match="not in \\[0, 1\\]"):
            recall_at_fpr(EDGE_SCORES, EDGE_LABELS, outside)


def test_threshold_at_fpr_edges_by_hand():
    assert threshold_at_fpr(EDGE_SCORES, EDGE_LABELS, 1.0) == 0.4  # the lowest score: everything flagged
    assert threshold_at_fpr(EDGE_SCORES, EDGE_LABELS, 0.0) == np.nextafter(0.8, 1)  # just above the top clean score
    with pytest.raises(MetricError, match="fpr=-0.01 is not in"):
        threshold_at_fpr(EDGE_SCORES, EDGE_LABELS, -0.01)


@pytest.mark.parametrize("fpr", [-0.1, 1.5, NAN, INF, "0.05", None])
def test_a_false_alarm_rate_outside_zero_one_is_refused(fpr):
    # recall_at_fpr(fpr=-0.1) used to return 1.0: "fewer than no false alarms" was read as "flag everything"
    for f in (recall_at_fpr, threshold_at_fpr):
        with pytest.raises(MetricError, match="fpr"):
            f(EDGE_SCORES, EDGE_LABELS, fpr)


def test_a_nan_threshold_is_refused_not_read_as_all_clean():
    with pytest.raises(MetricError, match="threshold is NaN"):
        confusion_at(EDGE_SCORES, EDGE_LABELS, NAN)
    # infinite thresholds are well defined: flag nothing, or everything
    assert confusion_at(EDGE_SCORES, EDGE_LABELS, INF) == {"tp": 0, "fp": 0, "fn": 3, "tn": 3}
    assert confusion_at(EDGE_SCORES, EDGE_LABELS, -INF) == {"tp": 3, "fp": 3, "fn": 0, "tn": 0}


def test_mismatched_lengths_are_refused_not_broadcast():
    with pytest.raises(MetricError, match="scores 3, labels 1"):
        confusion_at([0.1, 0.2, 0.9], [1], 0.5)  # a single label would broadcast to every sample
    with pytest.raises(MetricError, match="values 2, decisions 3, labels 3"):
        recall_by([0.001, 0.002], [1, 0, 1], [1, 1, 1])


# Masks: two 2x2 samples, one with a defect pixel.
GT = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])


@SETTINGS
@given(st.lists(st.floats(0, 1) | st.sampled_from([NAN, INF, -INF]), min_size=8, max_size=8),
       st.floats(0, 1) | st.sampled_from([NAN, -0.5, 1.5]))
def test_mask_metrics_refuse_non_finite_probabilities_and_bad_thresholds(pixels, threshold):
    prob = torch.tensor(pixels).view(2, 2, 2)
    if not (0 <= threshold <= 1):
        with pytest.raises(MetricError, match="threshold"):
            mask_stats(prob, GT, threshold)
    elif not all(math.isfinite(p) for p in pixels):
        with pytest.raises(MetricError, match="predicted masks contain NaN or inf"):
            seg_miou(prob, GT, threshold)  # used to read NaN as background: Seg_mIoU 0.0
        with pytest.raises(MetricError, match="NaN or inf"):
            SegMetrics(threshold).update(prob, GT)
    else:
        stats = mask_stats(prob, GT, threshold)
        assert stats["pred"].tolist() == (prob >= threshold).flatten(1).sum(1).tolist()
        v = seg_miou(prob, GT, threshold)
        assert in_unit(v) or (math.isnan(v) and stats["pred"].sum() == 0)


def test_mask_inputs_that_do_not_match():
    with pytest.raises(MetricError, match="differ in shape"):
        mask_stats(torch.zeros(3, 2, 2), GT)
    with pytest.raises(MetricError, match="true masks of shape"):
        binarize(torch.zeros(2, 2), name="true masks")
    acc = SegMetrics()
    with pytest.raises(MetricError, match="scores 1, masks 2"):
        acc.update(GT, GT, scores=[0.5])
    with pytest.raises(MetricError, match="scores contain NaN"):
        acc.update(GT, GT, scores=[0.5, NAN])


def predictions(scores, labels, pred_pixels=None) -> Predictions:
    """A pass over len(scores) samples of 4 pixels; `pred_pixels[i]` predicted pixels, labels[i] true ones."""
    n = len(scores)
    pred = np.asarray(pred_pixels if pred_pixels is not None else [0] * n, dtype=np.int64)
    gt = np.asarray([int(y == 1) for y in labels[:n]] + [0] * (n - len(labels)), dtype=np.int64)
    st_ = {"inter": np.minimum(pred, gt), "pred": pred, "gt": gt, "pixels": np.full(n, 4, np.int64)}
    return Predictions(np.arange(n), np.asarray(labels, dtype=float), np.asarray(scores, dtype=np.float32),
                       {0.5: st_})


@SETTINGS
@given(samples(), st.sampled_from([None, 0.0, 0.05, 1.0, -0.1, 2.0, NAN]))
def test_choosing_thresholds_answers_or_refuses(data, max_fpr):
    scores, labels = data
    pred = predictions(scores, labels, [int(4 * s) if math.isfinite(s) else 0 for s in scores])
    why = problem(scores, labels)
    bad_fpr = max_fpr is not None and not (0 <= max_fpr <= 1)
    if bad_fpr:
        why = "max_fpr"
    elif why is None and not any(y == 1 for y in labels):
        why = "no defective sample"
    elif why is None and max_fpr is not None and not any(y == 0 for y in labels):
        why = "no clean sample"
    if why is not None:
        with pytest.raises(MetricError, match=re.escape(why)):
            choose_thresholds(pred, max_fpr)
        if why in ("no defective sample", "no clean sample"):  # what thresholds_on covers with its fallback
            assert thresholds_on(pred, max_fpr) == {"score": 0.5, "mask": 0.5, "min_area": 1, "rule": "fallback 0.5"}
        else:
            with pytest.raises(MetricError, match=re.escape(why)):
                thresholds_on(pred, max_fpr)
        return
    chosen = choose_thresholds(pred, max_fpr)
    assert math.isfinite(chosen["score"]) and chosen["mask"] == 0.5 and chosen["min_area"] in (1, 2, 4)
    m = compute_metrics(pred, chosen["score"], chosen["mask"], chosen["min_area"])
    assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == len(scores) == m["n_samples"]
    assert in_unit(m["f1"]) and in_unit(m["seg_f1"]) and in_unit(m["seg_accuracy"])


def test_compute_metrics_refuses_what_would_be_silent():
    pred = predictions([0.9, 0.2, 0.7, 0.1], [1, 0, 1, 0], [4, 0, 1, 0])
    with pytest.raises(MetricError, match="score_threshold is NaN"):
        compute_metrics(pred, NAN)  # used to call every sample clean
    with pytest.raises(MetricError, match=r"mask_threshold=0.3: this pass kept mask statistics at 0.5 only"):
        compute_metrics(pred, 0.5, 0.3)
    with pytest.raises(MetricError, match="mask_threshold"):
        compute_metrics(pred, 0.5, NAN)
    with pytest.raises(MetricError, match="scores 4, labels 3"):
        compute_metrics(Predictions(pred.index, pred.label[:3], pred.score, pred.stats), 0.5)
    with pytest.raises(MetricError, match="no samples"):
        compute_metrics(predictions([], []), 0.5)
    m = compute_metrics(pred, 0.5)  # and on valid input, numbers by hand: scores >= 0.5 are 0.9 and 0.7
    assert (m["tp"], m["fp"], m["fn"], m["tn"], m["f1"], m["ap"], m["auroc"]) == (2, 0, 0, 2, 1.0, 1.0, 1.0)
    assert (m["seg_tp"], m["seg_fp"], m["seg_fn"], m["seg_tn"]) == (2, 0, 0, 2)


def test_mask_decisions_refuse_empty_and_bad_input():
    with pytest.raises(MetricError, match="no mask statistics"):
        choose_mask_decision({})
    with pytest.raises(MetricError, match="no mask statistics"):
        choose_mask_decision(predictions([], []).stats)
    with pytest.raises(MetricError, match="no samples"):
        choose_thresholds(predictions([], []))
    good = predictions([0.9, 0.1], [1, 0], [2, 0]).stats
    with pytest.raises(MetricError, match="mask threshold"):
        choose_mask_decision({NAN: good[0.5]})
    with pytest.raises(MetricError, match="max_fpr"):
        choose_mask_decision(good, max_fpr=-0.1)
    lopsided = dict(good[0.5], gt=np.array([1]))
    with pytest.raises(MetricError, match="lengths differ"):
        choose_mask_decision({0.5: lopsided})
    with pytest.raises(MetricError, match="lengths differ"):
        mask_decision_counts(lopsided, 1)
    with pytest.raises(MetricError, match="min_area is NaN"):
        mask_decision_counts(good[0.5], NAN)
    # by hand: sample 0 has 2 predicted pixels and a defect, sample 1 none and no defect
    assert mask_decision_counts(good[0.5], 2) == {"tp": 1, "fp": 0, "fn": 0, "tn": 1}
    assert mask_decision_counts(good[0.5], 3) == {"tp": 0, "fp": 0, "fn": 1, "tn": 1}
    assert choose_mask_decision(good) == (0.5, 1)
