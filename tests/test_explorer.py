import json

import numpy as np
import pytest
import torch

from samtl_lite.data import SyntheticDefects
from samtl_lite.engine import predict_dataset
from samtl_lite.engine.evaluate import Predictions
from samtl_lite.explorer import Explorer, size_text
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


def test_size_text_never_squares_a_pair():
    assert size_text(128) == "128×128 px"
    assert size_text([160, 160]) == "160×160 px"
    assert size_text((192, 128)) == "192×128 px (height×width)"
    assert size_text([128, 192]) == "128×192 px (height×width)"


def test_sample_menu_lists_the_mistakes_first_with_their_decisions():
    # six samples of a subset (dataset indices not 0..5); at 0.5: 3 and 12 missed, 8 a false alarm, 7 caught
    pred = Predictions(np.array([3, 7, 8, 10, 12, 15]), np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
                       np.array([0.2, 0.9, 0.7, 0.1, 0.4, 0.3]),
                       meta={"defect_class": ["crack", "pit", "clean", "clean", "stain", "clean"]})
    explorer = Explorer(pred)
    assert explorer.sample_options(0.5) == [
        ("3 · crack · missed · score 0.200", 3), ("12 · stain · missed · score 0.400", 12),
        ("8 · clean · false alarm · score 0.700", 8), ("7 · pit · caught · score 0.900", 7),
        ("10 · clean · passed · score 0.100", 10), ("15 · clean · passed · score 0.300", 15)]
    # a score equal to the threshold is flagged (score >= threshold), as in confusion_at
    assert explorer.sample_options(0.4)[0] == ("3 · crack · missed · score 0.200", 3)
    assert ("12 · stain · caught · score 0.400", 12) in explorer.sample_options(0.4)
    # nothing missed or flagged wrongly: the caught defective samples come first; no classes: defective / clean
    bare = Explorer(Predictions(pred.index, pred.label, np.array([0.6, 0.9, 0.1, 0.1, 0.8, 0.3])))
    assert [label for label, _ in bare.sample_options(0.5)] == [
        "3 · defective · caught · score 0.600", "7 · defective · caught · score 0.900",
        "12 · defective · caught · score 0.800", "8 · clean · passed · score 0.100",
        "10 · clean · passed · score 0.100", "15 · clean · passed · score 0.300"]


@pytest.mark.parametrize("score_t", [0.0, 0.3, 0.5, 0.7, 1.01])
def test_sample_menu_holds_every_sample_once_and_agrees_with_the_counts(setup, score_t):
    explorer = setup[0]
    options = explorer.sample_options(score_t)
    assert sorted(i for _, i in options) == sorted(int(i) for i in explorer.pred.index)
    cm = confusion_at(explorer.pred.score, explorer.pred.label, score_t)
    decisions = [label.split(" · ")[2] for label, _ in options]
    assert [decisions.count(d) for d in ("caught", "missed", "false alarm", "passed")] == \
        [cm["tp"], cm["fn"], cm["fp"], cm["tn"]]
    first = explorer.misses(score_t) + explorer.false_alarms(score_t)
    assert [i for _, i in options[:len(first)]] == first  # the mistakes open the menu, worst first
    for label, i in options:
        assert label.startswith(f"{i} · ") and label.endswith(f"score {explorer.pred.score[i]:.3f}")


def test_from_checkpoint_starts_at_the_validated_thresholds(tmp_path):
    from samtl_lite.engine import TrainConfig, train_and_evaluate

    config = TrainConfig(epochs=1, batch_size=8, size=(32, 48), n_train=24, n_eval=20)
    chosen = train_and_evaluate(config, tmp_path / "run", progress=False)["thresholds"]
    explorer = Explorer.from_checkpoint(tmp_path / "run" / "best.pt", progress=False)
    assert explorer.thresholds == chosen and len(explorer.pred.label) == 20
    assert explorer.shows == ("best.pt: mtl model, tiny encoder; synthetic data, test split "
                              "(20 images of 32×48 px (height×width))")
    assert explorer.data[0]["image"].shape[-2:] == (32, 48)
    n = explorer.numbers(chosen["score"], chosen["mask"], chosen["min_area"])
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert (n["tp"], n["fp"], n["seg_tp"], n["seg_fp"]) == (test["tp"], test["fp"], test["seg_tp"], test["seg_fp"])
