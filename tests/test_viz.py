"""Figures stand alone: titles name model, data and split, legends sit off the data, titles fit the figure."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from samtl_lite.data import SyntheticDefects  # noqa: E402
from samtl_lite.engine import metrics_at, predict_dataset  # noqa: E402
from samtl_lite.engine.report import write_report  # noqa: E402
from samtl_lite.metrics import confusion_at  # noqa: E402
from samtl_lite.models import build_model  # noqa: E402
from samtl_lite.viz import figure_title, plot_history, plot_pr_curve, plot_recall_by, show_gallery  # noqa: E402


def legends_off_the_data(fig: Figure) -> None:
    """Every legend of `fig` lies wholly to the right of its axes, and inside the figure."""
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    page, checked = fig.bbox, []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box, plot = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 >= plot.x1, (ax.get_title(), box, plot)
        checked.append(legend)
        assert box.x1 <= page.x1 + 1 and box.y0 >= page.y0 - 1, (box, page)
    assert checked, "no legend to check"


def title_fits(fig: Figure) -> None:
    """The figure's title is drawn inside the figure, not cut at its edges."""
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    box = fig._suptitle.get_window_extent(renderer)
    assert box.x0 >= -1 and box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1, (box, fig.bbox)


def test_pr_curve_marks_the_threshold_with_its_counts_in_a_legend_beside_the_plot():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 1, 0, 0])
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plot_pr_curve(scores, labels, 0.55, ax=ax)
    cm = confusion_at(scores, labels, 0.55)
    assert (cm["tp"], cm["fp"], cm["fn"]) == (3, 1, 1)
    marker = [line for line in ax.lines if line.get_marker() == "o"][0]
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (pytest.approx(3 / 4), pytest.approx(3 / 4))
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("AP ") and "missed (FN) 1, false alarms (FP) 1" in texts[1]
    assert "0–1" in ax.get_xlabel() and "0–1" in ax.get_ylabel()
    legends_off_the_data(fig)
    plt.close(fig)


def test_history_legends_beside_the_plots_and_the_kept_epoch_marked():
    history = [{"epoch": e, "loss": 1.0 / e, "loss_seg": 0.6 / e, "loss_cls": 0.4 / e, "val_loss": 1.2 / e,
                "val_ap": 0.2 * e, "val_seg_f1": 0.1 * e, "val_seg_miou": 0.05 * e, "kept": e == 3}
               for e in (1, 2, 3, 4)]
    fig = plot_history(history, "run x: mtl model, tiny encoder; synthetic data")
    a, b = fig.axes
    assert [line.get_xdata()[0] for line in b.lines if line.get_linestyle() == ":"] == [3]
    assert "kept: epoch 3 (best.pt)" in [t.get_text() for t in b.get_legend().get_texts()]
    assert [t.get_text() for t in a.get_legend().get_texts()][:4] == \
        ["train: total", "train: seg part", "train: cls part", "validation: total"]
    assert "log scale" in a.get_ylabel() and "0–1" in b.get_ylabel()
    legends_off_the_data(fig)
    title_fits(fig)
    plt.close(fig)


def test_history_with_a_negative_total_loss_keeps_every_curve_on_a_linear_axis():
    """A learned loss balance adds log-variances to the total, which then falls below 0: a log axis would hide it."""
    history = [{"epoch": e, "loss": 0.3 - 0.2 * e, "loss_seg": 0.6 / e, "loss_cls": 0.4 / e, "val_loss": 1.2 / e,
                "val_ap": 0.2 * e, "kept": e == 2} for e in (1, 2, 3)]
    fig = plot_history(history)
    a = fig.axes[0]
    assert a.get_yscale() == "linear" and "log" not in a.get_ylabel()
    total = next(line for line in a.lines if line.get_label() == "train: total")
    assert np.allclose(total.get_ydata(), [0.1, -0.1, -0.3])
    plt.close(fig)


def test_recall_bars_are_labelled_with_their_values_and_the_legend_is_beside_them():
    rows = [{"lo": 0.0, "hi": 0.001, "n": 4, "detected": 0, "recall": 0.0},
            {"lo": 0.001, "hi": 0.01, "n": 0, "detected": 0, "recall": None},
            {"lo": 0.01, "hi": 1.0, "n": 5, "detected": 4, "recall": 0.8}]
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    plot_recall_by({"sample decision": rows, "mask decision": rows}, ax=ax, legend_title="decision")
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == ["0.00", "0.00", "0.80", "0.80"]  # the empty bin is left out, a recall of 0 still shows
    assert ax.get_legend().get_title().get_text() == "decision"
    legends_off_the_data(fig)
    plt.close(fig)


def test_figure_title_wraps_long_lines_to_the_figure_width():
    fig, _ = plt.subplots(figsize=(4, 3))
    figure_title(fig, "a " * 80 + "\nsecond line")
    lines = fig._suptitle.get_text().split("\n")
    assert len(lines) > 2 and lines[-1] == "second line" and "".join(lines).replace(" ", "") == "a" * 80 + \
        "secondline"
    title_fits(fig)
    plt.close(fig)


def test_gallery_title():
    data = SyntheticDefects(n=4, size=32, seed=1, defect_rate=1.0)
    fig = show_gallery([data[i] for i in range(4)], cols=2, title="SyntheticDefects(seed=1): four samples")
    assert fig.get_suptitle() == "SyntheticDefects(seed=1): four samples"
    assert [ax.get_title() for ax in fig.axes if ax.axison][0].split("\n")[0] == data[0]["meta"]["defect_class"]
    plt.close(fig)


def test_report_figures_say_model_data_split_and_keep_legends_off_the_data(tmp_path, monkeypatch):
    torch.manual_seed(0)
    data = SyntheticDefects(n=24, size=32, seed=3, defect_rate=0.5)
    model = build_model("mtl").eval()
    pred = predict_dataset(model, data, batch_size=12, progress=False)
    chosen = {"score": float(np.median(pred.score)), "mask": 0.5, "min_area": 1}
    metrics = metrics_at(pred, chosen)
    history = [{"epoch": e, "loss": 1.0, "val_loss": 1.1, "val_ap": 0.5, "val_seg_f1": 0.4, "val_seg_miou": 0.1,
                "kept": e == 1} for e in (1, 2)]
    saved: dict[str, Figure] = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.setdefault(str(path), fig))
    monkeypatch.setattr(plt, "close", lambda fig=None: None)  # keep the figures to read them
    write_report(tmp_path, model, data, pred, metrics, chosen, history, n_panels=2, title="run r: mtl model",
                 split="val")
    named = {Path(p).name: f for p, f in saved.items() if Path(p).parent == tmp_path}
    assert sorted(named) == ["curves.png", "pr_curve.png", "recall_by_area.png"]
    for name in ("pr_curve.png", "recall_by_area.png"):
        title = named[name].get_suptitle()
        assert title.startswith("run r: mtl model; val split (24 images, ") and "defective)" in title, title
        legends_off_the_data(named[name])
        title_fits(named[name])
    assert "training history" in named["curves.png"].get_suptitle()
    legends_off_the_data(named["curves.png"])
    misses = [f for p, f in saved.items() if "/misses/" in p]
    alarms = [f for p, f in saved.items() if "/false_alarms/" in p]
    n_miss = int(((pred.label > 0.5) & (pred.score < chosen["score"])).sum())
    n_alarm = int(((pred.label < 0.5) & (pred.score >= chosen["score"])).sum())
    assert n_miss and n_alarm and len(misses) == min(2, n_miss) and len(alarms) == min(2, n_alarm)
    for rank, fig in enumerate(misses, start=1):
        caption = fig.axes[0].get_title()
        assert caption.startswith(f"miss {rank} of {n_miss}: defective, called clean\n")
        assert f"< threshold {chosen['score']:.3f}" in caption
        assert fig.get_suptitle().startswith("run r: mtl model; val split")
        assert fig.axes[0].get_xlabel() == "true mask green; predicted mask red (probability ≥ 0.5)"
    assert alarms[0].axes[0].get_title().startswith(f"false alarm 1 of {n_alarm}: clean, called defective\n")
