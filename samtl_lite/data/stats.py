"""What a defect dataset looks like in numbers: how many samples are defective, how small the
defects are, and how few pixels are defect pixels."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from samtl_lite.data.io import image_size
from samtl_lite.data.real import PairDataset, unwrap


def image_shapes(dataset: Dataset, most: int | None = None) -> np.ndarray | None:
    """(width, height) of a dataset's image files, read from their headers, at most `most` of them spread evenly;
    None for data drawn in memory (taught in 09_real_data). Real datasets vary: Magnetic Tile's tiles range
    from 2.7x wider than tall to 2.8x taller than wide, so one input size stretches some of them."""
    dataset, index = unwrap(dataset)
    if most is not None and most < 1:
        raise ValueError(f"most must be at least 1, not {most}")
    if not isinstance(dataset, PairDataset) or not index:
        return None
    if most is not None and len(index) > most:
        index = index[:: -(-len(index) // most)]
    return np.array([image_size(dataset.samples[i].image) for i in index])


def median_shape(shapes: np.ndarray) -> tuple[int, int]:
    """(width, height) of the image whose height / width is the median of `image_shapes` (taught in 09_real_data):
    a real image's shape, unlike the medians of widths and heights taken apart."""
    aspect = shapes[:, 1] / shapes[:, 0]
    w, h = shapes[np.argsort(aspect, kind="stable")[len(aspect) // 2]]
    return int(w), int(h)


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
    shapes = image_shapes(dataset)
    if shapes is not None:
        summary["median_width_height"] = list(median_shape(shapes))
        summary["height_over_width_quantiles"] = {q: float(np.quantile(shapes[:, 1] / shapes[:, 0], q))
                                                  for q in (0.0, 0.1, 0.5, 0.9, 1.0)}
    return summary


def format_summary(name: str, s: dict[str, Any]) -> str:
    """`dataset_summary` as a few readable lines for a terminal or a notebook (taught in 01_defect_data)."""
    q = s["area_fraction_quantiles"]
    lines = [f"{name}: {s['n']} samples, {s['n_defective']} defective ({100 * s['defect_rate']:.1f}%)"]
    if s["n_defective"]:
        lines += [f"  defect area (% of image): p10 {100 * q[0.1]:.3f}  median {100 * q[0.5]:.3f}  p90 "
                  f"{100 * q[0.9]:.3f}; {100 * s['share_of_defects_below_0.1pct']:.0f}% of defective samples below "
                  "0.1%",
                  f"  defect pixels: 1 in {1 / s['defect_pixel_fraction']:,.0f}"]
    else:
        lines.append("  no defect pixels: every mask is empty (or missing), so there are no defect areas to summarise")
    if "contrast_quantiles" in s:
        c = s["contrast_quantiles"]
        lines.append(f"  contrast (x background noise std): p10 {c[0.1]:.2f}  median {c[0.5]:.2f}  p90 {c[0.9]:.2f}")
    if "height_over_width_quantiles" in s:
        (w, h), a = s["median_width_height"], s["height_over_width_quantiles"]
        lines.append(f"  image files: median shape {w}x{h} (width x height); height / width: min {a[0.0]:.2f}  p10 "
                     f"{a[0.1]:.2f}  median {a[0.5]:.2f}  p90 {a[0.9]:.2f}  max {a[1.0]:.2f}")
    if any(s["classes"]):  # a folder's samples have no class
        lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in s["classes"].items()))
    return "\n".join(lines)
