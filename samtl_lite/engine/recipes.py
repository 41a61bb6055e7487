"""Named training recipes: the one place where the numbers of every documented run live.

Taught in 06_training. `samtl train --recipe NAME`, `samtl demo`, `samtl experiment` and the
notebooks all read these entries, so a number changed here changes every one of them. A recipe is
a partial `TrainConfig`: the fields it names, on top of the defaults.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from samtl_lite.engine.config import TrainConfig, pick_device
from samtl_lite.settings import fast_mode

# the CPU recipes read each image twice, standardised and with its lighting taken away (`normalize="flatten"`,
# 03_heads): on Magnetic Tile that took mtl from AP 0.966 ± 0.019 to 0.973 ± 0.004 over three seeds, and its masks'
# Seg_mIoU from 0.41 to 0.48 (docs/probes.md, "Taking the lighting away"). The synthetic recipes pad the lighting
# estimate as they were recorded, by mirror_pad (the default); Magnetic Tile's pad by a plain reflection (below)
DEMO_CPU = {"data": "synthetic", "encoder": "tiny", "size": 128, "epochs": 3, "batch_size": 16,
            "n_train": 2000, "n_eval": 500, "normalize": "flatten"}
SYNTHETIC_GPU = {"data": "synthetic", "encoder": "resnet18", "size": 256, "epochs": 30, "batch_size": 32,
                 "n_train": 2000, "n_eval": 1000}
# Magnetic Tile on a CPU: its tiles vary in shape (height / width 0.37 to 2.81, median 1.18), so any one size
# stretches some; 192x128 (H x W) was chosen by measurement. An epoch there costs about half what it does at
# 256x176, and 54 of them beat 30 at the larger size; weight decay 0.05 and the weights' moving average steady
# the seeds (docs/probes.md, "The weakest seed, probed"); most defective tiles have defect pixels at the border, which
# the lighting estimate keeps when padded by a plain reflection (AP 0.973 -> 0.986 over three paired seeds; recorded
# 0.983 ± 0.003; docs/probes.md, "At the border")
MT_CPU = {"encoder": "tiny", "size": [192, 128], "epochs": 54, "batch_size": 16, "weight_decay": 0.05, "ema": 0.99,
          "normalize": "flatten", "lighting_pad": "reflect"}
# on a GPU: the ResNet-18 U-Net, with what the CPU recipe found (its H x W shape, weight decay, moving average);
# it reads the standardised image only: on the H200 the flattened view bought nothing clear (one seed: AP 0.991 ->
# 0.990, masks' Seg_mIoU 0.619 -> 0.574; docs/probes.md, "The flattened view on a GPU")
MT_GPU = {"encoder": "resnet18", "size": [384, 256], "epochs": 60, "batch_size": 16, "weight_decay": 0.05, "ema": 0.99}
RECIPES: dict[str, dict[str, Any]] = {
    "demo": DEMO_CPU,  # `samtl demo` on a CPU: both models in 2-3 minutes on 2 cores
    "demo-gpu": SYNTHETIC_GPU,
    # the generator draws without limit, and the tiny model keeps gaining from new images: one pass over 40,000
    # beats 20 passes over 2,000, which it learns by heart; 64,000 (about 8 minutes a run on 2 cores) beat 40,000
    # on the mean of three seeds, seg-only on every seed (docs/probes.md, "How the synthetic recipe was chosen")
    "synthetic-cpu": {**DEMO_CPU, "epochs": 1, "n_train": 64000},
    "synthetic-gpu": SYNTHETIC_GPU,
    "synthetic-fast": {**DEMO_CPU, "size": 64, "epochs": 2, "n_train": 192, "n_eval": 96},  # SAMTL_FAST=1
    # 06_training's lesson, `recipe_for("lesson")`: enough epochs that the kept epoch is a choice among several, in
    # the time a class has (full mode a few minutes on 2 cores; fast mode about a minute)
    "lesson-cpu": {**DEMO_CPU, "epochs": 5},
    "lesson-gpu": {**SYNTHETIC_GPU, "epochs": 5},
    "lesson-fast": {**DEMO_CPU, "size": 64, "epochs": 4, "n_train": 768, "n_eval": 96},
    "mt-cpu": {"data": "magnetic-tile", **MT_CPU},
    "mt-gpu": {"data": "magnetic-tile", **MT_GPU},
    "mt-fast": {"data": "magnetic-tile", "encoder": "tiny", "size": 64, "epochs": 1, "batch_size": 16,
                "normalize": "flatten", "lighting_pad": "reflect"},  # smoke test
    # other real data, when `samtl train` names no recipe: Magnetic Tile's settings at its pixel budget (160 x 160),
    # which `samtl train` reshapes to the data's median image (SHAPED, `shaped_size`); --size H W overrides it
    "real-cpu": {**MT_CPU, "size": 160},
    "real-gpu": {**MT_GPU, "size": 320},
}
# recipes whose square `size` is a pixel budget: `samtl train` gives it the shape of the data's median image, since
# real data are rarely square (KolektorSDD2's parts are about 2.7x taller than wide)
SHAPED = ("real-cpu", "real-gpu")
# `samtl experiment --recipe cpu|gpu`: which named recipe trains each dataset
EXPERIMENTS: dict[str, dict[str, str]] = {
    "cpu": {"synthetic": "synthetic-cpu", "magnetic-tile": "mt-cpu"},
    "gpu": {"synthetic": "synthetic-gpu", "magnetic-tile": "mt-gpu"},
}


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """The `TrainConfig` of a named recipe, with `overrides` (None values ignored) on top (taught in 06_training)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[name], **{k: v for k, v in overrides.items() if v is not None}})


def recipe_for(data: str, fast: bool | None = None) -> str:
    """The recipe name a notebook uses for `data` ("synthetic", "mt", or "lesson": 06_training's short synthetic
    runs): `-gpu` on CUDA, `-fast` in fast mode, else `-cpu` (taught in 06_training). `fast` is the notebook's mode
    switch; None reads SAMTL_FAST."""
    fast = fast_mode() if fast is None else fast
    return f"{data}-{'gpu' if torch.cuda.is_available() else 'fast' if fast else 'cpu'}"


def default_recipe(data: str, device: str = "auto") -> str | None:
    """The recipe `samtl train` uses when none is named (taught in 06_training).

    `mt-*` for Magnetic Tile, `real-*` for other real data, `-gpu` when `device` means CUDA, else `-cpu`; None for
    synthetic data, which keep `TrainConfig`'s defaults."""
    if data == "synthetic":
        return None
    return f"{'mt' if data == 'magnetic-tile' else 'real'}-{'gpu' if pick_device(device).type == 'cuda' else 'cpu'}"


def default_demo_recipe() -> str:
    """`demo-gpu` when CUDA is available, else `demo` (taught in 07_experiment)."""
    return "demo-gpu" if torch.cuda.is_available() else "demo"


def shaped_size(shape: tuple[int, int], pixels: int, stride: int = 16) -> list[int]:
    """[H, W] of about `pixels` pixels in the aspect ratio of `shape` (width, height), each side a multiple of
    the encoder's `stride` (taught in 09_real_data): the input keeps the images' proportions, so defects are
    shrunk alike in both directions instead of squashed in one. A side never falls below `stride`; the other
    then takes the rest of the pixels."""
    w, h = shape
    height = max(stride, round(math.sqrt(pixels * h / w) / stride) * stride)
    return [height, max(stride, round(pixels / height / stride) * stride)]
