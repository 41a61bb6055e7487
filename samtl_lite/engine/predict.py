"""Predicting on new images of any size: masks, overlays and a CSV of decisions.

Taught in 06_training. What a production line would run: one image in, one decision out.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from samtl_lite.data.io import list_images, load_image
from samtl_lite.engine.loop import load_model
from samtl_lite.errors import DataError
from samtl_lite.viz import overlay


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Image files from a mix of files and folders (folders: their images, sorted)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += list_images(item)
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"{item}: no such file or folder. Pass image files or folders of images.")
    if not paths:
        raise DataError(f"no images found in {', '.join(map(str, inputs))}")
    return paths


@torch.no_grad()
def run_thresholds(checkpoint: Path) -> dict[str, float]:
    """The thresholds chosen on validation when the run was evaluated (its metrics.json), else 0.5."""
    metrics = checkpoint.parent / "metrics.json"
    chosen = json.loads(metrics.read_text()).get("thresholds", {}) if metrics.is_file() else {}
    return {"score": chosen.get("score") or 0.5, "mask": chosen.get("mask") or 0.5}


@torch.no_grad()
def predict_images(checkpoint: str | Path, inputs: list[str | Path], out: str | Path,
                   score_threshold: float | None = None, mask_threshold: float | None = None,
                   device: str = "cpu") -> Path:
    """Write `<stem>_mask.png`, `<stem>_overlay.png` and `predictions.csv` for each image (taught in 06_training).

    Thresholds default to those the run chose on its validation split."""
    checkpoint = Path(checkpoint)
    model, config, _ = load_model(checkpoint, device)
    chosen = run_thresholds(checkpoint)
    score_threshold = chosen["score"] if score_threshold is None else score_threshold
    mask_threshold = chosen["mask"] if mask_threshold is None else mask_threshold
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in expand_inputs(inputs):
        image = load_image(path, config.in_channels)
        res = model(image[None].to(device))
        score = float(model.sample_scores(res)[0])
        row = {"file": str(path), "score": score, "decision": int(score >= score_threshold)}
        pred = None
        if res.mask_logits is not None:
            pred = (torch.sigmoid(res.mask_logits[0, 0].float()) >= mask_threshold).cpu()
            Image.fromarray(pred.numpy().astype(np.uint8) * 255).save(out / f"{path.stem}_mask.png")
            row["mask_pixels"] = int(pred.sum())
        fig, ax = plt.subplots(figsize=(4, 4 * image.shape[1] / image.shape[2] + 0.4))
        overlay(image, None, pred, ax=ax, title=f"{path.name}: score {score:.3f} -> "
                f"{'DEFECTIVE' if row['decision'] else 'clean'}")
        fig.savefig(out / f"{path.stem}_overlay.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        rows.append(row)
    with open(out / "predictions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out / "predictions.csv"
