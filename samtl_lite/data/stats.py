"""What a defect dataset looks like in numbers: how many samples are defective, how small the
defects are, and how few pixels are defect pixels."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm


def dataset_summary(dataset: Dataset, progress: bool = True) -> dict[str, Any]:
    """Counts, defect-area quantiles and the defect-pixel fraction of a dataset (taught in 01_defect_data).

    `defect_pixel_fraction` is why pixel losses are dominated by background: with 25% defective
    samples whose defects cover 0.1% of the image, 1 pixel in 4,000 is a defect pixel.
    """
    labels, areas, contrasts, classes = [], [], [], Counter()
    defect_pixels = total_pixels = 0
    for i in tqdm(range(len(dataset)), desc="summarising", disable=not progress, leave=False):
        item = dataset[i]
        mask = item["mask"]
        labels.append(float(item["label"]))
        defect_pixels += int(mask.sum())
        total_pixels += mask.numel()
        meta = item["meta"]
        classes[meta["defect_class"]] += 1
        if item["label"] > 0:
            areas.append(float(meta["area_fraction"]))
            if "contrast" in meta:
                contrasts.append(float(meta["contrast"]))
    y = np.array(labels)
    a = np.array(areas) if areas else np.array([np.nan])
    summary: dict[str, Any] = {
        "n": len(y),
        "n_defective": int(y.sum()),
        "defect_rate": float(y.mean()) if len(y) else float("nan"),
        "area_fraction_quantiles": {q: float(np.quantile(a, q)) for q in (0.1, 0.5, 0.9)},
        "share_of_defects_below_0.1pct": float(np.mean(a < 0.001)) if areas else float("nan"),
        "defect_pixel_fraction": defect_pixels / max(total_pixels, 1),
        "classes": dict(sorted(classes.items())),
    }
    if contrasts:
        summary["contrast_quantiles"] = {q: float(np.quantile(contrasts, q)) for q in (0.1, 0.5, 0.9)}
    return summary


def format_summary(name: str, s: dict[str, Any]) -> str:
    """`dataset_summary` as a few readable lines for a terminal or a notebook (taught in 01_defect_data)."""
    q = s["area_fraction_quantiles"]
    lines = [
        f"{name}: {s['n']} samples, {s['n_defective']} defective ({100 * s['defect_rate']:.1f}%)",
        f"  defect area (% of image): p10 {100 * q[0.1]:.3f}  median {100 * q[0.5]:.3f}  p90 {100 * q[0.9]:.3f};"
        f" {100 * s['share_of_defects_below_0.1pct']:.0f}% of defective samples below 0.1%",
        f"  defect pixels: 1 in {1 / max(s['defect_pixel_fraction'], 1e-12):,.0f}",
    ]
    if "contrast_quantiles" in s:
        c = s["contrast_quantiles"]
        lines.append(f"  contrast (x background noise std): p10 {c[0.1]:.2f}  median {c[0.5]:.2f}  p90 {c[0.9]:.2f}")
    lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in s["classes"].items()))
    return "\n".join(lines)
