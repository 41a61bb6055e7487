"""The run folder: what a training or evaluation run leaves on disk for people to read.

Taught in 06_training. `config.json`, `history.json`, `metrics.json` (thresholds chosen on
validation, metrics on the evaluated split), `results.csv` (one row per sample), `pr_curve.png`,
`curves.png`, and overlay panels of the worst misses and false alarms, numbered worst first.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from torch.utils.data import Dataset

from samtl_lite.engine.evaluate import Predictions, per_sample_rows
from samtl_lite.viz import figure_title, overlay, plot_history, plot_pr_curve, plot_recall_by


def write_json(path: Path, obj: Any) -> None:
    """Pretty JSON; NaN is written as null so any JSON reader accepts the file (taught in 06_training)."""
    def clean(x: Any) -> Any:
        if isinstance(x, float) and x != x:
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    path.write_text(json.dumps(clean(obj), indent=1))


def write_results_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """`results.csv`: one row per sample (taught in 06_training)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


PANEL_KINDS = {"misses": ("miss", "defective, called clean", "<"),
               "false_alarms": ("false alarm", "clean, called defective", "≥")}


@torch.no_grad()
def write_panels(folder: Path, model: torch.nn.Module, data: Dataset, picks: list[tuple[int, float]],
                 device: torch.device | str, thresholds: dict[str, Any], kind: str, total: int,
                 title: str = "") -> None:
    """Save image / true mask (green) / predicted mask (red) panels as `NN_score_name.png`, NN = rank;
    each says what it shows: model, data and split (`title`), which of the `total` misses or false
    alarms (`kind`) it is, the sample's class and its score against the threshold (taught in 06_training)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    what, decided, cmp = PANEL_KINDS[kind]
    mask_threshold = thresholds.get("mask")
    for rank, (index, score) in enumerate(picks, start=1):
        item = data[index]
        out = model(item["image"][None].to(device))
        pred = None
        if out.mask_logits is not None and mask_threshold is not None:
            pred = (torch.sigmoid(out.mask_logits[0].float()) >= mask_threshold).cpu()
        name = str(item["meta"].get("name", index))
        label = item["meta"].get("defect_class") or ("defective" if item["label"] > 0.5 else "clean")
        fig, ax = plt.subplots(figsize=(4.2, 4.6), layout="constrained")
        overlay(item["image"], item["mask"], pred, ax=ax,
                title=f"{what} {rank} of {total}: {decided}\n{name} ({label})\n"
                      f"score {score:.3f} {cmp} threshold {thresholds['score']:.3f}")
        ax.set_xlabel("true mask green; predicted mask red" + (f" (probability ≥ {mask_threshold})"
                                                                if pred is not None else " (none: no mask head)"),
                      fontsize=7)
        if title:
            figure_title(fig, title, fontsize=8)
        fig.savefig(folder / f"{rank:02d}_{score:.4f}_{Path(name).stem}.png", dpi=90)
        plt.close(fig)


def write_report(out: Path, model: torch.nn.Module, data: Dataset, pred: Predictions, metrics: dict[str, Any],
                 thresholds: dict[str, Any], history: list[dict] | None = None,
                 device: torch.device | str = "cpu", n_panels: int = 8, tag: str = "", title: str = "",
                 split: str = "test") -> None:
    """Write the run folder's report files for one evaluated split (taught in 06_training); `title` says
    which model and data, `split` which split of them the figures show."""
    out.mkdir(parents=True, exist_ok=True)
    write_results_csv(out / f"results{tag}.csv", per_sample_rows(pred, thresholds))
    shows = f"{title}{'; ' if title else ''}{split} split ({len(pred.label)} images, {int(pred.label.sum())} defective)"
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plot_pr_curve(pred.score, pred.label, thresholds["score"], ax=ax)
    figure_title(fig, f"{shows}\nsample decisions: precision-recall")
    fig.savefig(out / f"pr_curve{tag}.png", dpi=100)
    plt.close(fig)
    if "recall_by_area" in metrics:
        fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
        plot_recall_by({f"{k} decision": v for k, v in metrics["recall_by_area"].items()}, ax=ax)
        figure_title(fig, f"{shows}\nrecall by defect size, at the thresholds chosen on validation")
        fig.savefig(out / f"recall_by_area{tag}.png", dpi=100)
        plt.close(fig)
    if history:
        fig = plot_history(history, f"{title}{': ' if title else ''}training history; losses on the train and "
                                    "validation splits, scores on the validation split")
        fig.savefig(out / "curves.png", dpi=100)
        plt.close(fig)
    decided = pred.score >= thresholds["score"]
    misses = sorted(((int(i), float(s)) for i, s, y, d in zip(pred.index, pred.score, pred.label, decided)
                     if y and not d), key=lambda t: t[1])
    alarms = sorted(((int(i), float(s)) for i, s, y, d in zip(pred.index, pred.score, pred.label, decided)
                     if not y and d), key=lambda t: -t[1])
    for kind, picks in (("misses", misses), ("false_alarms", alarms)):
        write_panels(out / f"{kind}{tag}", model, data, picks[:n_panels], device, thresholds, kind, len(picks),
                     shows)


TABLE_ROWS = (
    ("sample AP", "ap", "{:.3f}"),
    ("sample AP, visible defects only", "ap_visible", "{:.3f}"),
    ("sample AUROC", "auroc", "{:.3f}"),
    ("recall @ 5% false alarms", "recall_at_fpr_5pct", "{:.3f}"),
    ("missed defective (FN)", "fn", "{:d}"),
    ("false alarms (FP)", "fp", "{:d}"),
    ("recall at the threshold, visible defects", "recall_visible", "{:.3f}"),
    ("recall at the threshold, faint defects", "recall_faint", "{:.3f}"),
    ("mask: missed defective", "seg_fn", "{:d}"),
    ("mask: false alarms", "seg_fp", "{:d}"),
    ("Seg_Recall", "seg_recall", "{:.3f}"),
    ("Seg_Accuracy", "seg_accuracy", "{:.3f}"),
    ("Seg_mIoU", "seg_miou", "{:.3f}"),
    ("pooled pixel mIoU", "pixel_miou", "{:.3f}"),
)


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table, one column per model, of test metrics and misses by defect size (taught in 07_experiment)."""
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def cell(metrics: dict[str, Any], key: str, fmt: str) -> str:
        value = metrics.get(key)
        return "–" if value is None or value != value else fmt.format(value)

    for label, key, fmt in TABLE_ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(results[n], key, fmt) for n in names) + " |")
    first = results[names[0]].get("recall_by_area", {}).get("sample", [])
    for b, row in enumerate(first):
        if row["n"]:
            label = f"missed, defects {100 * row['lo']:.3g}–{100 * row['hi']:.3g}% of image"
            cells = []
            for n in names:
                r = results[n]["recall_by_area"]["sample"][b]
                cells.append(f"{r['n'] - r['detected']} / {r['n']}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
