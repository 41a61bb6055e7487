"""Real surface-defect datasets, read in the layouts their authors published.

Taught in 01_defect_data (Magnetic Tile) and 09_real_data (the others). Every dataset returns the
same item dict as `SyntheticDefects`: `image` [C,H,W] in [0,1], `mask` [1,H,W] in {0,1},
`label` (1.0 when the mask is non-empty, *derived from the mask*), and `meta` with `name`,
`defect_class` and `area_fraction` (defect pixels / all pixels, measured before resizing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from samtl_lite.data.io import (
    IMAGE_EXTENSIONS,
    data_dir,
    list_images,
    load_image,
    load_mask,
    pad_to_multiple,
    resize_image,
    resize_mask,
)
from samtl_lite.data.transforms import Transform, make_item
from samtl_lite.errors import DataError, DatasetNotFoundError


@dataclass(frozen=True)
class Sample:
    """One image on disk, its mask (None = known defect-free) and its class (taught in 09_real_data)."""

    image: Path
    mask: Path | None
    defect_class: str = ""


class PairDataset(Dataset):
    """Image/mask pairs on disk -> item dicts, with resizing, padding and joint augmentation.

    Taught in 01_defect_data. `size` (int or (H, W)) resizes every sample; masks are area-resized
    and thresholded at > 0 so thin scratches survive. `pad_to=32` zero-pads to a multiple of 32.
    Without `size`, samples keep their native size (batch them one at a time, or pass `size`).
    """

    def __init__(
        self,
        samples: list[Sample],
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 1,
        pad_to: int | None = None,
        source: str = "dataset",
    ) -> None:
        if not samples:
            raise DataError(f"{source}: no images found. Check the folder and the file pattern.")
        self.samples = samples
        self.size, self.transform, self.channels, self.pad_to = size, transform, channels, pad_to

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.samples[index]
        image = load_image(s.image, self.channels)
        if s.mask is None:
            mask = torch.zeros((1, *image.shape[-2:]))
        else:
            mask = load_mask(s.mask)
            if mask.shape[-2:] != image.shape[-2:]:
                raise DataError(
                    f"{s.mask}: mask is {tuple(mask.shape[-2:])} (H, W) but its image {s.image} is "
                    f"{tuple(image.shape[-2:])}. Re-export the mask at the image's size."
                )
        meta = {"name": s.image.name, "defect_class": s.defect_class, "area_fraction": float(mask.mean())}
        if self.size is not None:
            image, mask = resize_image(image, self.size), resize_mask(mask, self.size)
        if self.pad_to:
            image, mask = pad_to_multiple(image, self.pad_to), pad_to_multiple(mask, self.pad_to)
        return make_item(image, mask, meta, self.transform)

    @cached_property
    def labels(self) -> np.ndarray:
        """1.0 for samples whose mask is non-empty (reads the masks once, not the images)."""
        return np.array([self._label_of(s) for s in self.samples])

    def _label_of(self, s: Sample) -> float:
        return float(s.mask is not None and bool(load_mask(s.mask).any()))


def _require(root: Path, name: str, script: str) -> Path:
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"{name} not found at {root}. Fetch it with `python data_scripts/{script} --root "
            f"{root.parent}`, or set SAMTL_DATA_DIR to the folder that holds it."
        )
    return root


def split_by_class(classes: list[str], test_fraction: float, val_fraction: float, seed: int) -> dict:
    """Stratified split: within each class, a seeded shuffle puts `test_fraction` of the samples in
    "test", `val_fraction` in "val" and the rest in "train" (taught in 09_real_data).

    Returns {"train", "val", "test", "all"} -> sorted index lists. Classes are visited in sorted
    order with one `numpy` generator, so a split depends only on the file names and the seed.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        by_class.setdefault(c, []).append(i)
    for c in sorted(by_class):
        idx = [by_class[c][j] for j in rng.permutation(len(by_class[c]))]
        n_test = round(test_fraction * len(idx))
        n_val = round(val_fraction * len(idx))
        parts["test"] += idx[:n_test]
        parts["val"] += idx[n_test : n_test + n_val]
        parts["train"] += idx[n_test + n_val :]
    parts = {k: sorted(v) for k, v in parts.items()}
    parts["all"] = list(range(len(classes)))
    return parts


MT_CLASSES = ("Blowhole", "Break", "Crack", "Fray", "Free", "Uneven")


class MagneticTile(PairDataset):
    """Magnetic Tile (Huang et al., 2020): `MT_<Class>/Imgs/<name>.jpg` + same-named `.png` mask
    (taught in 01_defect_data).

    1,344 grayscale crops of varying size; five defect classes and `Free` (defect-free). No
    official split exists: ours is stratified by class, 70/30 train/test, seed 0; `val_fraction`
    carves a validation part out of each class's training part. Four `MT_Uneven` masks are empty:
    those samples get label 0 (the label follows the mask) and a warning names them.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "all",
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 1,
        pad_to: int | None = None,
        test_fraction: float = 0.3,
        val_fraction: float = 0.0,
        seed: int = 0,
    ) -> None:
        root = _require(Path(root) if root else data_dir() / "magnetic_tile", "Magnetic Tile",
                        "get_magnetic_tile.py")
        samples = []
        for cls in MT_CLASSES:
            for img in sorted((root / f"MT_{cls}" / "Imgs").glob("*.jpg")):
                mask = img.with_suffix(".png")
                if not mask.is_file():
                    raise DataError(f"{img}: its mask {mask.name} is missing. Re-download Magnetic Tile.")
                samples.append(Sample(img, mask, cls))
        if not samples:
            raise DataError(f"{root}: no MT_<Class>/Imgs/*.jpg files. Is this the Magnetic Tile folder?")
        parts = split_by_class([s.defect_class for s in samples], test_fraction, val_fraction, seed)
        if split not in parts:
            raise ValueError(f"split must be one of {sorted(parts)}, got {split!r}")
        chosen = [samples[i] for i in parts[split]]
        super().__init__(chosen, size, transform, channels, pad_to, source=str(root))
        empty = [s.image.stem for s, y in zip(chosen, self.labels) if s.defect_class != "Free" and y == 0]
        if empty:
            warnings.warn(
                f"Magnetic Tile: {len(empty)} samples of a defect class have an empty mask and get "
                f"label 0: {', '.join(empty)}",
                stacklevel=2,
            )

    def _label_of(self, s: Sample) -> float:
        """Free samples are clean by construction; only the defect classes' masks are read."""
        return 0.0 if s.defect_class == "Free" else super()._label_of(s)


class KolektorSDD2(PairDataset):
    """KolektorSDD2 (Božič et al., 2021): `train|test/<id>.png` + `<id>_GT.png`, colour, about
    230x630 (taught in 09_real_data). Loaded with 3 channels by default.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 3,
        pad_to: int | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        root = _require(Path(root) if root else data_dir() / "ksdd2", "KolektorSDD2", "get_ksdd2.py")
        folder = root / split
        samples = []
        for img in sorted(folder.glob("*.png")):
            if img.stem.endswith("_GT"):
                continue
            mask = img.with_name(f"{img.stem}_GT.png")
            if not mask.is_file():
                raise DataError(f"{img}: its mask {mask.name} is missing. Re-download KolektorSDD2.")
            samples.append(Sample(img, mask, "defect"))
        super().__init__(samples, size, transform, channels, pad_to, source=str(folder))


class DAGM(PairDataset):
    """DAGM 2007 (Wieler & Hahn): `Class<k>/{Train,Test}/<name>.PNG`, masks in
    `Label/<name>_label.PNG`; an image without a label file is defect-free (taught in 09_real_data).
    """

    def __init__(
        self,
        root: str | Path | None = None,
        cls: int = 1,
        split: str = "train",
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 1,
        pad_to: int | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        root = _require(Path(root) if root else data_dir() / "dagm", "DAGM 2007", "get_dagm.py")
        folder = root / f"Class{cls}" / split.capitalize()
        if not folder.is_dir():
            raise DatasetNotFoundError(f"{folder} not found: DAGM has Class1..Class10, each with Train/Test.")
        samples = []
        for img in sorted(folder.glob("*.PNG")):
            mask = folder / "Label" / f"{img.stem}_label.PNG"
            samples.append(Sample(img, mask if mask.is_file() else None, f"Class{cls}"))
        super().__init__(samples, size, transform, channels, pad_to, source=str(folder))


class KolektorSDD(PairDataset):
    """KolektorSDD (Tabernik et al., 2019): `kos01`..`kos50`, each `Part<k>.jpg` + `Part<k>_label.bmp`
    (taught in 09_real_data). `meta["defect_class"]` holds the part folder, e.g. `kos07`, so users can
    split by physical part rather than by image.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 1,
        pad_to: int | None = None,
    ) -> None:
        root = _require(Path(root) if root else data_dir() / "ksdd", "KolektorSDD", "get_ksdd.py")
        samples = []
        for part in sorted(root.glob("kos[0-9][0-9]")):
            for img in sorted(part.glob("Part*.jpg")):
                mask = img.with_name(f"{img.stem}_label.bmp")
                if not mask.is_file():
                    raise DataError(f"{img}: its mask {mask.name} is missing. Re-download KolektorSDD.")
                samples.append(Sample(img, mask, part.name))
        super().__init__(samples, size, transform, channels, pad_to, source=str(root))


class ImageMaskFolder(PairDataset):
    """Your own data: images in one folder, masks in another, matched by file stem (taught in 09_real_data).

    The mask of `images/part_001.jpg` is `masks/part_001<mask_suffix>.<any image ext>`. An image
    without a mask is an error, unless you state that such images are defect-free with
    `missing_mask="empty"`: guessing would silently turn unlabelled defects into "clean".
    """

    def __init__(
        self,
        images_dir: str | Path,
        masks_dir: str | Path | None = None,
        mask_suffix: str = "",
        pattern: str = "*",
        missing_mask: str = "error",
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 1,
        pad_to: int | None = None,
    ) -> None:
        if missing_mask not in ("error", "empty"):
            raise ValueError(f"missing_mask must be 'error' or 'empty', got {missing_mask!r}")
        images_dir = Path(images_dir)
        if not images_dir.is_dir():
            raise DatasetNotFoundError(f"{images_dir}: images folder not found.")
        images = [p for p in list_images(images_dir) if p.match(pattern)]
        if not images:
            raise DataError(
                f"{images_dir}: no images match {pattern!r} (extensions {', '.join(IMAGE_EXTENSIONS)}). "
                "Check the folder and the pattern."
            )
        masks: dict[str, Path] = {}
        if masks_dir is not None:
            if not Path(masks_dir).is_dir():
                raise DatasetNotFoundError(f"{masks_dir}: masks folder not found.")
            masks = {p.stem: p for p in list_images(Path(masks_dir))}
        samples = [Sample(p, masks.get(p.stem + mask_suffix)) for p in images]
        missing = [s.image.name for s in samples if s.mask is None]
        if missing and missing_mask == "error":
            raise DataError(
                f"{images_dir}: {len(missing)} images have no mask named <stem>{mask_suffix}.<ext> in "
                f"{masks_dir or '(no masks folder given)'} (first: {', '.join(missing[:3])}). Add the masks, "
                "fix `mask_suffix`, or pass "
                "missing_mask='empty' if those images are defect-free."
            )
        super().__init__(samples, size, transform, channels, pad_to, source=str(images_dir))
