"""Open any supported dataset by name: what the `samtl` command line and the notebooks call."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from samtl_lite.data.real import DAGM, ImageMaskFolder, KolektorSDD, KolektorSDD2, MagneticTile
from samtl_lite.data.synthetic import synthetic_benchmark

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
