"""Data: synthetic defects (the embedded default) and real datasets in their published layouts.

Taught in 01_defect_data.
"""

from samtl_lite.data.catalog import get_dataset, get_splits
from samtl_lite.data.io import data_dir, load_image, load_mask, pad_to_multiple, resize_image, resize_mask
from samtl_lite.data.real import (
    DAGM,
    ImageMaskFolder,
    KolektorSDD,
    KolektorSDD2,
    MagneticTile,
    PairDataset,
    split_by_class,
)
from samtl_lite.data.sampler import balanced_sampler
from samtl_lite.data.synthetic import DEFECT_TYPES, SyntheticDefects, polyline_distance, synthetic_benchmark
from samtl_lite.data.transforms import default_augmentation, make_item

__all__ = [
    "DAGM",
    "DEFECT_TYPES",
    "ImageMaskFolder",
    "KolektorSDD",
    "KolektorSDD2",
    "MagneticTile",
    "PairDataset",
    "SyntheticDefects",
    "balanced_sampler",
    "data_dir",
    "default_augmentation",
    "get_dataset",
    "get_splits",
    "load_image",
    "load_mask",
    "make_item",
    "pad_to_multiple",
    "polyline_distance",
    "resize_image",
    "resize_mask",
    "split_by_class",
    "synthetic_benchmark",
]
