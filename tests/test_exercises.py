"""Every checker passes a correct solution, fails a wrong one, and reports a placeholder as not attempted."""

import numpy as np
import pytest
import torch

from samtl_lite import exercises as ex


def placeholder(*args, **kwargs):
    raise NotImplementedError("your code here")


def blob(shape, centre, radius):
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(ys - centre[0], xs - centre[1]) <= radius


def receptive_fields(n_stages=4, kernel=3):
    r, j, out = 1, 1, []
    for _ in range(n_stages):
        for stride in (2, 1):
            r, j = r + (kernel - 1) * j, j * stride
        out.append(r)
    return out


def topk(mask_logits, k):
    return torch.sigmoid(mask_logits.flatten(1)).topk(k, dim=1).values.mean(1)


def tversky(logits, target, alpha=0.5, beta=0.5, smooth=1.0):
    p, t = torch.sigmoid(logits).flatten(1), target.flatten(1)
    tp, fp, fn = (p * t).sum(1), (p * (1 - t)).sum(1), ((1 - p) * t).sum(1)
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()


def recall_overlap(inter, n_pred, n_gt, min_area=1):
    defective = n_gt > 0
    return float(((n_pred >= min_area) & (inter > 0))[defective].mean()) if defective.any() else float("nan")


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def sign_agreement(summary, metric):
    m, s = np.array(summary["mtl"][metric]["values"]), np.array(summary["seg-only"][metric]["values"])
    return float(np.mean(m > s))


def threshold_for_recall(scores, labels, target):
    pos = np.sort(scores[labels > 0.5])[::-1]
    return float(pos[int(np.ceil(target * len(pos))) - 1])


def empty_masks(ds):
    return [s.image.stem for s, y in zip(ds.samples, ds.labels) if s.defect_class != "Free" and y == 0]


CASES = [
    (ex.check_blob, blob, lambda s, c, r: blob(s, c, r + 1)),
    (ex.check_receptive_fields, receptive_fields, lambda n_stages, kernel: receptive_fields(n_stages, 3)),
    (ex.check_topk_score, topk, lambda x, k: torch.sigmoid(x.flatten(1)).amax(1)),
    (ex.check_tversky, tversky, lambda z, t, a, b, s: tversky(z, t, b, a, s)),
    (ex.check_seg_recall_overlap, recall_overlap, lambda i, p, g, m=1: recall_overlap(p, p, g, m)),
    (ex.check_same_weights, same_weights, lambda a, b: all(torch.allclose(a[k], b[k]) for k in a)),
    (ex.check_sign_agreement, sign_agreement, lambda s, m: float(np.mean(np.array(s["mtl"][m]["values"])
                                                                       >= np.array(s["seg-only"][m]["values"])))),
    (ex.check_threshold_for_recall, threshold_for_recall, lambda s, y, t: float(np.quantile(s[y > 0.5], 1 - t))),
    (ex.check_empty_defect_masks, empty_masks, lambda ds: [s.image.stem for s in ds.samples][:2]),
]


@pytest.mark.parametrize("check,right,wrong", CASES, ids=[c[0].__name__ for c in CASES])
def test_checker_passes_right_fails_wrong_and_waits_for_placeholders(check, right, wrong, capsys):
    assert check(right) is True
    assert "pass" in capsys.readouterr().out
    assert check(wrong) is False
    assert "not right yet" in capsys.readouterr().out
    assert check(placeholder) is False
    assert "not attempted yet" in capsys.readouterr().out


def test_a_crashing_solution_is_reported_not_raised(capsys):
    assert ex.check_topk_score(lambda x, k: x.nonexistent) is False
    assert "raised AttributeError" in capsys.readouterr().out
