"""Data: synthetic defects (the embedded default) and real datasets in their published layouts.

Taught in 01_defect_data.
"""

from samtl_lite.data.catalog import get_dataset, get_splits, native_channels, resize_note
from samtl_lite.data.io import (
    data_dir,
    fit_and_pad,
    load_image,
    load_mask,
    pad_to_multiple,
    resize_image,
    resize_mask,
)
from samtl_lite.data.real import (
    DAGM,
    ImageMaskFolder,
    KolektorSDD,
    KolektorSDD2,
    MagneticTile,
    PairDataset,
    split_by_class,
    split_by_group,
)
from samtl_lite.data.sampler import balanced_sampler
from samtl_lite.data.synthetic import DEFECT_TYPES, SyntheticDefects, polyline_distance, synthetic_benchmark
from samtl_lite.data.transforms import (
    AUGMENTATIONS,
    RandomGamma,
    augmentation,
    augmentation_name,
    default_augmentation,
    make_item,
    strong_augmentation,
)

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
    "strong_augmentation",
    "augmentation",
    "augmentation_name",
    "AUGMENTATIONS",
    "RandomGamma",
    "fit_and_pad",
    "get_dataset",
    "get_splits",
    "load_image",
    "load_mask",
    "make_item",
    "native_channels",
    "pad_to_multiple",
    "polyline_distance",
    "resize_image",
    "resize_mask",
    "resize_note",
    "split_by_class",
    "split_by_group",
    "synthetic_benchmark",
]
