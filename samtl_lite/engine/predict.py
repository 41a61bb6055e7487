"""Predicting on new images of any size: masks, overlays and a CSV of decisions.

Taught in 06_training. What a production line would run: one image in, one decision out. Each
image is prepared exactly as the model's training data was (its recorded size, resize mode and
channels), decided with the thresholds the model carries, and its mask is mapped back to the
image's own size.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from samtl_lite.data.io import IMAGE_EXTENSIONS, fitted_hw, image_size, list_images, load_image
from samtl_lite.data.real import PairDataset, Sample
from samtl_lite.engine.modelio import load_model
from samtl_lite.errors import CheckpointError, DataError
from samtl_lite.viz import figure_title, overlay


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Image files from a mix of files and folders (folders: their images, sorted; taught in 06_training)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += list_images(item)
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"{item}: no such file or folder. Pass image files or folders of images.")
    if not paths:
        raise DataError(f"{', '.join(map(str, inputs))}: no images (files ending {', '.join(IMAGE_EXTENSIONS)}) in "
                        "these folders. Check the paths, or convert the images to one of those formats.")
    return paths


def output_names(paths: list[Path]) -> list[str]:
    """A distinct output name per input: the stem, else the file name, else the path with `__` for `/`,
    so that inputs sharing a stem never overwrite each other's outputs (taught in 06_training)."""
    for name_of in (lambda p: p.stem, lambda p: p.name.replace(".", "_"),
                    lambda p: "__".join(p.resolve().parts[1:]).replace(".", "_")):
        names = [name_of(p) for p in paths]
        if len(set(names)) == len(names):
            return names
    repeated = [p for p, n in Counter(map(Path.resolve, paths)).items() if n > 1]
    raise DataError(f"{repeated[0]} is given more than once. Pass each image once.")


def _check_out(out: Path, inputs: list[str | Path], paths: list[Path], names: list[str], overwrite: bool) -> None:
    """Refuse, before anything is written, an `out` that is an input folder (its outputs would be read as inputs
    next time) or that holds files this run writes which no earlier predict wrote there (no `predictions.csv`);
    earlier predictions are replaced only with `overwrite`, and only the files this run writes."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file, not a folder. Give --out a folder name (it is created if missing).")
    folders = {Path(i).resolve() for i in inputs if Path(i).is_dir()} | {p.parent.resolve() for p in paths}
    if out.resolve() in folders:
        raise DataError(f"{out} is an input folder: the masks and overlays written there would be read as images by "
                        "the next predict on it. Choose another --out folder: nothing was written.")
    writes = [out / f"{name}_{kind}.png" for name in names for kind in ("mask", "overlay")] + [out / "predictions.csv"]
    taken = [p.name for p in writes if p.exists()]
    first = f"{', '.join(taken[:3])}{', ...' if len(taken) > 3 else ''}"
    if taken and not (out / "predictions.csv").is_file():
        raise DataError(f"{out} holds files that this predict would replace ({first}) and that no earlier predict "
                        "wrote (there is no predictions.csv). Choose another --out folder: nothing was written.")
    if taken and not overwrite:
        raise DataError(f"{out} already holds predictions ({first}). Pass --overwrite to replace them, or choose "
                        "another --out folder: nothing was written.")


def back_to_native(prob: torch.Tensor, native_hw: tuple[int, int], size: Any, resize: str) -> torch.Tensor:
    """Map a probability map [H, W] at the model's input size back onto the image's own pixels
    (taught in 06_training)."""
    if resize == "pad":
        h, w = fitted_hw(native_hw, size)
        prob = prob[:h, :w]
    return F.interpolate(prob[None, None], size=native_hw, mode="bilinear", align_corners=False)[0, 0]


def overlay_figure(image: torch.Tensor, pred: torch.Tensor | None, name: str, model: str, score: float,
                   chosen: dict[str, Any], mask_pixels: int | None = None) -> plt.Figure:
    """One image's overlay, saying which `model` made it, its score against the threshold and the decision,
    what the red means and the mask's own decision (`mask_pixels`: at the model's input size;
    taught in 06_training)."""
    defective = score >= chosen["score"]
    fig, ax = plt.subplots(figsize=(4, 4 * image.shape[-2] / image.shape[-1] + 0.9), layout="constrained")
    overlay(image, None, pred, ax=ax, title=f"{name}: score {score:.3f} {'≥' if defective else '<'} threshold "
            f"{chosen['score']:.3f} -> {'DEFECTIVE' if defective else 'clean'}")
    flagged = mask_pixels is not None and mask_pixels >= chosen["min_area"]
    ax.set_xlabel("no mask: the model has no mask head" if pred is None else
                  f"red: predicted defect mask, pixels of probability ≥ {chosen['mask']:g} (mask threshold)"
                  + ("" if mask_pixels is None else f"\nmask decision: {mask_pixels} px at the model's input size "
                     f"{'≥' if flagged else '<'} min_area {chosen['min_area']} -> "
                     f"{'defective' if flagged else 'clean'}"), fontsize=7)
    figure_title(fig, f"model {model}", fontsize=8)
    return fig


def _check_finite(res: Any, score: float, checkpoint: Path, path: Path) -> None:
    """Refuse an output holding NaN or inf: a NaN score is below every threshold, so the image would be called
    clean, and a NaN mask probability would be drawn as background."""
    parts = [("sample scores", torch.tensor(score))]
    if res.mask_logits is not None:
        parts.append(("mask probabilities", torch.sigmoid(res.mask_logits.float())))
    for what, values in parts:
        if not bool(torch.isfinite(values).all()):
            raise CheckpointError(f"{checkpoint}: the model's {what} on {path} hold NaN or inf, so no decision can be "
                                  "made: its weights may have blown up. Use an earlier checkpoint of the run "
                                  "(best.pt), or train again with a lower learning rate. Nothing was written.")


@torch.no_grad()
def predict_images(checkpoint: str | Path, inputs: list[str | Path], out: str | Path,
                   overrides: dict[str, Any] | None = None, device: str = "cpu", overwrite: bool = False) -> Path:
    """Write `<name>_mask.png`, `<name>_overlay.png` and `predictions.csv` for each image (taught in 06_training).

    Thresholds are those the model carries (chosen on its validation split); `overrides` may set
    `score`, `mask` or `min_area`, and each override is printed. An `out` folder that already holds
    predictions is refused unless `overwrite`, which replaces only the files this run writes; an input
    folder, or files of the same names that no earlier predict wrote, are refused (see `_check_out`)."""
    checkpoint = Path(checkpoint)
    out = Path(out)
    paths = expand_inputs(inputs)
    names = output_names(paths)
    _check_out(out, inputs, paths, names, overwrite)
    model, config, state = load_model(checkpoint, device)
    chosen = {"score": 0.5, "mask": 0.5, "min_area": 1, **(state.get("thresholds") or {})}
    if not state.get("thresholds"):
        print(f"note: {checkpoint} carries no thresholds (its run was not evaluated): using 0.5 and min_area 1")
    for key, value in (overrides or {}).items():
        if value is not None:
            print(f"note: {key} threshold {value} instead of the model's {chosen[key]}")
            chosen[key] = value
    size = config.resolved_size()
    images = PairDataset([Sample(p, None) for p in paths], size=size, channels=config.in_channels,
                         resize=config.resize, source="inputs")
    # every image is decided before anything is written: an output refused halfway (see `_check_finite`) would
    # otherwise leave masks without a predictions.csv, which the next predict into `out` refuses to replace
    rows, masks = [], []
    for i, path in enumerate(paths):
        res = model(images[i]["image"][None].to(device))
        score = float(model.sample_scores(res)[0])
        _check_finite(res, score, checkpoint, path)
        row: dict[str, Any] = {"file": str(path), "score": score, "decision": int(score >= chosen["score"])}
        png = None
        if res.mask_logits is not None:
            prob = torch.sigmoid(res.mask_logits[0, 0].float()).cpu()
            row["mask_pixels"] = int((prob >= chosen["mask"]).sum())  # at the model's input size, as min_area is
            row["mask_decision"] = int(row["mask_pixels"] >= chosen["min_area"])
            native_hw = image_size(path)[::-1]
            pred = back_to_native(prob, native_hw, size, config.resize) >= chosen["mask"]
            png = io.BytesIO()  # kept as a PNG: a few bytes per image, whatever its size
            Image.fromarray(pred.numpy().astype(np.uint8) * 255).save(png, format="PNG")
        rows.append(row)
        masks.append(png)
    out.mkdir(parents=True, exist_ok=True)
    for path, name, row, png in zip(paths, names, rows, masks):
        image = load_image(path, config.in_channels)
        pred = None
        if png is not None:
            (out / f"{name}_mask.png").write_bytes(png.getvalue())
            pred = torch.from_numpy(np.asarray(Image.open(io.BytesIO(png.getvalue()))) > 0)
        fig = overlay_figure(image, pred, path.name, f"{checkpoint} ({config.model} model, {config.encoder} "
                             f"encoder, trained on {config.data})", row["score"], chosen, row.get("mask_pixels"))
        fig.savefig(out / f"{name}_overlay.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
    with open(out / "predictions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out / "predictions.csv"
