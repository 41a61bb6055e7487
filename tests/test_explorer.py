import json

import numpy as np
import pytest
import torch

from samtl_lite.data import SyntheticDefects
from samtl_lite.engine import predict_dataset
from samtl_lite.explorer import Explorer
from samtl_lite.metrics import confusion_at, pixel_miou, seg_accuracy, seg_miou, seg_recall
from samtl_lite.models import build_model


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = SyntheticDefects(n=40, size=32, seed=5, defect_rate=0.5)
    model = build_model("mtl").eval()
    pred = predict_dataset(model, data, batch_size=16, progress=False)
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.stack([data[i]["image"] for i in range(len(data))])).mask_logits)
    gt = torch.stack([data[i]["mask"] for i in range(len(data))])
    return Explorer(pred, data, model), prob, gt


@pytest.mark.parametrize("score_t", [0.3, 0.45, 0.5, 0.55, 0.9])
@pytest.mark.parametrize("mask_t,min_area", [(0.5, 1), (0.3, 5), (0.8, 1)])
def test_slider_numbers_equal_the_metrics_on_the_masks(setup, score_t, mask_t, min_area):
    explorer, prob, gt = setup
    n = explorer.numbers(score_t, mask_t, min_area)
    cm = confusion_at(explorer.pred.score, explorer.pred.label, score_t)
    assert {k: n[k] for k in cm} == cm
    assert n["seg_recall"] == pytest.approx(seg_recall(prob, gt, min_area=min_area, threshold=mask_t), nan_ok=True)
    assert n["seg_accuracy"] == pytest.approx(seg_accuracy(prob, gt, min_area=min_area, threshold=mask_t))
    assert n["seg_miou"] == pytest.approx(seg_miou(prob, gt, threshold=mask_t), nan_ok=True)
    assert n["pixel_miou"] == pytest.approx(pixel_miou(prob, gt, threshold=mask_t))
    misses, alarms = explorer.misses(score_t), explorer.false_alarms(score_t)
    assert len(misses) == cm["fn"] and len(alarms) == cm["fp"]
    scores = explorer.pred.score
    assert all(np.diff([scores[i] for i in misses]) >= 0) and all(np.diff([scores[i] for i in alarms]) <= 0)


def test_panels_use_the_cached_probability(setup):
    import matplotlib.pyplot as plt

    explorer, prob, _ = setup
    assert torch.allclose(explorer.probability(3), prob[3], atol=1e-6)
    assert explorer.probability(3) is explorer.probability(3)
    fig, ax = plt.subplots()
    explorer.panel(3, 0.5, ax)
    assert "score" in ax.get_title()
    plt.close(fig)
    assert explorer.nearest(0.47) == 0.5


def test_gallery_heading_counts_and_pr_marker(setup):
    import matplotlib.pyplot as plt

    explorer, _, _ = setup
    t = float(np.median(explorer.pred.score))
    total = len(explorer.misses(t))
    fig = explorer.gallery("misses", t, 0.5, n=3, cols=2)
    assert fig._suptitle.get_text().startswith(f"misses ({min(3, total)} of {total})")
    assert fig._suptitle.get_text().endswith("true mask green, predicted mask red (probability ≥ 0.5)")
    assert len([ax for ax in fig.axes if ax.axison]) == min(3, total) and len(fig.axes) == 4  # 2 rows of 2
    plt.close(fig)
    named = Explorer(explorer.pred, explorer.data, explorer.model, shows="m.pt: mtl model; synthetic data, val split")
    fig = named.gallery("misses", t, 0.5, n=3, cols=2)
    assert "\nm.pt: mtl model; synthetic data, val split\n" in fig.get_suptitle()
    plt.close(fig)
    fig = named.viewer_figure(3, 0.5, show_truth=True, show_pred=False)
    assert fig.get_suptitle() == named.shows and fig.axes[0].get_xlabel() == "true mask green"
    plt.close(fig)
    fig = named.pr_figure(t)
    assert fig.get_suptitle().startswith(named.shows + "\n40 samples, ")
    plt.close(fig)
    assert explorer.gallery("false alarms", 1.01, 0.5) is None  # nothing flagged above every score
    n = explorer.numbers(t, 0.5, 4)
    st = explorer.pred.stats[0.5]
    assert n["seg_tp"] == int(((st["pred"] >= 4) & (st["gt"] > 0)).sum())
    fig = explorer.pr_figure(t)
    marker = [line for line in fig.axes[0].lines if line.get_marker() == "o"][0]
    assert marker.get_xdata()[0] == pytest.approx(n["recall"]) and marker.get_ydata()[0] == pytest.approx(
        n["precision"])
    plt.close(fig)
    assert Explorer(explorer.pred, thresholds={"score": 0.3, "mask": 0.7, "min_area": 9}).thresholds == \
        {"score": 0.3, "mask": 0.7, "min_area": 9}


def test_from_checkpoint_starts_at_the_validated_thresholds(tmp_path):
    from samtl_lite.engine import TrainConfig, train_and_evaluate

    config = TrainConfig(epochs=1, batch_size=8, size=32, n_train=24, n_eval=20)
    chosen = train_and_evaluate(config, tmp_path / "run", progress=False)["thresholds"]
    explorer = Explorer.from_checkpoint(tmp_path / "run" / "best.pt", progress=False)
    assert explorer.thresholds == chosen and len(explorer.pred.label) == 20
    assert explorer.shows == "best.pt: mtl model, tiny encoder; synthetic data, test split (20 images of 32×32 px)"
    n = explorer.numbers(chosen["score"], chosen["mask"], chosen["min_area"])
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert (n["tp"], n["fp"], n["seg_tp"], n["seg_fp"]) == (test["tp"], test["fp"], test["seg_tp"], test["seg_fp"])
