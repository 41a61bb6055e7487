"""Open any supported dataset by name: what the `samtl` command line and the notebooks call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Subset

from samtl_lite.data.real import DAGM, ImageMaskFolder, KolektorSDD, KolektorSDD2, MagneticTile, split_by_class
from samtl_lite.data.synthetic import synthetic_benchmark
from samtl_lite.data.transforms import default_augmentation

DATASETS = ("synthetic", "magnetic-tile", "ksdd2", "dagm", "ksdd", "folder")


def get_dataset(
    name: str,
    split: str = "train",
    size: int | tuple[int, int] | None = None,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    **kwargs,
) -> Dataset:
    """A dataset by name and split (taught in 01_defect_data). `synthetic` is the fixed benchmark
    (128² unless `size` says otherwise); `folder` needs `images` (and usually `masks`) folders."""
    if name == "synthetic":
        return synthetic_benchmark(split, size=size or 128, **kwargs)
    if name == "magnetic-tile":
        return MagneticTile(split=split, size=size, **kwargs)
    if name == "ksdd2":
        return KolektorSDD2(split=split, size=size, **kwargs)
    if name == "dagm":
        return DAGM(split=split, size=size, **kwargs)
    if name == "ksdd":
        return KolektorSDD(size=size, **kwargs)
    if name == "folder":
        if images is None:
            raise ValueError("--data folder needs --images DIR (and --masks DIR unless all images are clean)")
        return ImageMaskFolder(images, masks, size=size, **kwargs)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def stratified_parts(labels: np.ndarray, fractions: dict[str, float], seed: int = 0) -> dict[str, list[int]]:
    """Split indices so each part keeps the share of defective samples: `fractions` of the clean and
    of the defective samples go to each named part, the rest to "train" (taught in 09_real_data)."""
    parts = split_by_class([str(int(y > 0.5)) for y in labels], fractions.get("test", 0.0),
                           fractions.get("val", 0.0), seed)
    return {k: parts[k] for k in ("train", "val", "test")}


def get_splits(
    name: str,
    size: int | tuple[int, int] | None = None,
    augment: bool = True,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    seed: int = 0,
    n_train: int | None = None,
    n_eval: int | None = None,
) -> tuple[Dataset, Dataset, Dataset]:
    """(train, val, test) of a dataset, with augmentation on train only (taught in 06_training).

    - synthetic: the fixed benchmark's three seeds (128² by default; `n_train`/`n_eval` shrink it);
    - magnetic-tile: the stratified 70/30 split by class, seed 0, with 10% of the images (per class)
      carved out of the training part for validation;
    - ksdd2, dagm: the official train/test split, 15% of train (stratified by label) for validation;
    - ksdd, folder: one pool split 70/15/15, stratified by label.
    Real datasets are resized to `size`, 256² unless given.
    """
    tf = default_augmentation() if augment else None
    if name == "synthetic":
        size = size or 128
        return (synthetic_benchmark("train", size, n=n_train, transform=tf),
                synthetic_benchmark("val", size, n=n_eval), synthetic_benchmark("test", size, n=n_eval))
    size = size or 256
    if name == "magnetic-tile":
        return tuple(MagneticTile(split=s, size=size, val_fraction=0.1, transform=tf if s == "train" else None)
                     for s in ("train", "val", "test"))
    if name in ("ksdd2", "dagm"):  # official train/test; validation carved from train
        train_pool = get_dataset(name, split="train", size=size, transform=tf)
        plain_pool = get_dataset(name, split="train", size=size)
        parts = stratified_parts(plain_pool.labels, {"val": 0.15}, seed)
        return Subset(train_pool, parts["train"]), Subset(plain_pool, parts["val"]), get_dataset(name, "test", size)
    train_pool = get_dataset(name, size=size, transform=tf, images=images, masks=masks)
    plain_pool = get_dataset(name, size=size, images=images, masks=masks)
    parts = stratified_parts(plain_pool.labels, {"val": 0.15, "test": 0.15}, seed)
    return tuple(Subset(train_pool if k == "train" else plain_pool, parts[k]) for k in ("train", "val", "test"))
