"""Real surface-defect datasets, read in the layouts their authors published.

Taught in 01_defect_data (Magnetic Tile) and 09_real_data (the others). Every dataset returns the
same item dict as `SyntheticDefects`: `image` [C,H,W] in [0,1], `mask` [1,H,W] in {0,1},
`label` (1.0 when the mask is non-empty, *derived from the mask*), and `meta` with `name`,
`defect_class` and `area_fraction` (defect pixels / all pixels, measured before resizing).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from tqdm.auto import tqdm

from samtl_lite.data.io import (
    IMAGE_EXTENSIONS,
    cache_fits,
    check_resize,
    data_dir,
    fit_and_pad,
    image_size,
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

    Taught in 09_real_data. `size` (int or (H, W)) resizes every sample: `resize="stretch"` ignores
    the aspect ratio, `resize="pad"` keeps it and zero-pads to `size` (see `fit_and_pad`). Masks are
    area-resized and thresholded at > 0 so thin scratches survive. `pad_to=32` zero-pads to a multiple
    of 32. Without `size`, samples keep their native size (batch them one at a time, or pass `size`).
    `mask_threshold` is how mask files are read (see `load_mask`): None means any non-zero value.
    `cache=True` keeps each sample after decoding and resizing (float32 image, bool mask: exactly what
    the files give), so an epoch pays for the augmentation only; `"auto"` caches when `size` is set and
    the cache fits (`cache_fits`).
    Building the dataset reads every mask once, not the images: `labels` (1.0 where the mask is non-empty)
    follows the masks, a mask whose size differs from its image's (read from the image file's header) is a
    DataError at once, and masks that look inverted get a warning (`_warn_inverted`). `verify` decodes
    the images too.
    """

    def __init__(
        self,
        samples: list[Sample],
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        channels: int = 1,
        pad_to: int | None = None,
        source: str = "dataset",
        resize: str = "stretch",
        mask_threshold: float | None = None,
        cache: bool | str = False,
    ) -> None:
        if not samples:
            raise DataError(f"{source}: no images found. Check the folder and the file pattern.")
        self.samples = samples
        self.size, self.transform, self.channels, self.pad_to = size, transform, channels, pad_to
        self.resize, self.mask_threshold = check_resize(resize), mask_threshold
        if cache == "auto":
            cache = cache_fits(len(samples), size, channels)
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor, dict[str, Any]]] | None = {} if cache else None
        fractions = np.array([self._defect_fraction(s) for s in samples])
        self.labels = (fractions > 0).astype(np.float64)
        _warn_inverted(samples, fractions)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, mask, meta = self._sample(index)
        return make_item(image, mask, dict(meta), self.transform)

    def _sample(self, index: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """One sample before augmentation: from the cache, else decoded (and cached when caching)."""
        if self.cache is not None and index in self.cache:
            image, mask, meta = self.cache[index]
            return image.clone(), mask.float(), meta  # the cache stays as read
        image, mask, meta = self._prepare(index)
        if self.cache is not None:
            self.cache[index] = (image.clone(), mask.bool(), meta)
        return image, mask, meta

    def with_transform(self, transform: Any) -> PairDataset:
        """The same samples, labels and cache with another `transform` (taught in 09_real_data): a training pool
        and its un-augmented twin read each mask once and decode each image once between them."""
        twin = copy.copy(self)
        twin.transform = transform
        return twin

    def verify(self, indices: Sequence[int] | None = None, progress: bool = True) -> None:
        """Decode every image (or those at `indices`) once, so that a corrupt file is a DataError naming it
        before training rather than when the sampler draws it, hours in (taught in 09_real_data). The
        decoded samples go through `__getitem__`'s path: a caching dataset ends with its cache filled."""
        index = range(len(self)) if indices is None else indices
        for i in tqdm(index, desc="checking images", disable=not progress, leave=False):
            self._sample(i)

    def _prepare(self, index: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Decode, check and resize one sample."""
        s = self.samples[index]
        image = load_image(s.image, self.channels)
        if s.mask is None:
            mask = torch.zeros((1, *image.shape[-2:]))
        else:
            mask = load_mask(s.mask, self.mask_threshold)
            _check_mask_size(s, tuple(mask.shape[-2:]), tuple(image.shape[-2:]))
        meta = {"name": s.image.name, "defect_class": s.defect_class, "area_fraction": float(mask.mean())}
        if self.size is not None and self.resize == "pad":
            image, mask = fit_and_pad(image, mask, self.size)
        elif self.size is not None:
            image, mask = resize_image(image, self.size), resize_mask(mask, self.size)
        if self.pad_to:
            image, mask = pad_to_multiple(image, self.pad_to), pad_to_multiple(mask, self.pad_to)
        return image, mask, meta

    def _defect_fraction(self, s: Sample) -> float:
        """Defect pixels / all pixels of a sample's mask (0.0 without one), its size checked against the
        image file's header."""
        if s.mask is None:
            return 0.0
        mask = load_mask(s.mask, self.mask_threshold)
        width, height = image_size(s.image)
        _check_mask_size(s, tuple(mask.shape[-2:]), (height, width))
        return float(mask.mean())


def _check_mask_size(s: Sample, mask_hw: tuple[int, ...], image_hw: tuple[int, ...]) -> None:
    """A mask of another size than its image is a DataError naming both files and both sizes (H, W)."""
    if mask_hw != image_hw:
        raise DataError(f"{s.mask}: mask is {mask_hw} (H, W) but its image {s.image} is {image_hw}. Re-export "
                        "the mask at the image's size.")


INVERTED_AREA = 0.5  # a mask marking more than this share of its image as defect looks inverted


def _warn_inverted(samples: Sequence[Sample], fractions: np.ndarray) -> None:
    """Warn once when more than half of the non-empty masks mark more than half of their image as defect.
    Defects are small (Magnetic Tile's 388 non-empty masks: median 0.5% of the image, largest 48.5%), so such
    masks are more likely inverted (defect black, background white) than right."""
    defective = fractions > 0
    large = fractions > INVERTED_AREA
    if large.sum() * 2 > defective.sum():
        first = samples[int(np.argmax(large))].mask
        warnings.warn(
            f"{first.parent}: {int(large.sum())} of {int(defective.sum())} non-empty masks mark more than "
            f"{INVERTED_AREA:.0%} of their image as defect (first: {first.name}). Are the masks inverted? "
            "Defects must be the non-zero pixels: invert them (defect white, background black).",
            stacklevel=3,
        )


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


def split_by_group(
    groups: Sequence[Hashable], labels: Sequence[float] | np.ndarray, test_fraction: float, val_fraction: float,
    seed: int,
) -> dict:
    """Split whole groups (e.g. the physical part each image shows), stratified by whether a group holds
    any defective sample (taught in 09_real_data).

    All samples of a group land in one part: images of one part in both train and test would let a
    model recognise the part instead of the defect and inflate test scores. The groups, in sorted
    order, are split by `split_by_class`; with one group per sample this is a plain stratified split.
    """
    keys = sorted(set(groups))
    defective = dict.fromkeys(keys, False)
    for g, y in zip(groups, labels):
        defective[g] = defective[g] or y > 0.5
    by_group = split_by_class([str(int(defective[k])) for k in keys], test_fraction, val_fraction, seed)
    part_of = {keys[i]: name for name in ("train", "val", "test") for i in by_group[name]}
    parts = {name: [i for i, g in enumerate(groups) if part_of[g] == name] for name in ("train", "val", "test")}
    parts["all"] = list(range(len(groups)))
    return parts


MT_CLASSES = ("Blowhole", "Break", "Crack", "Fray", "Free", "Uneven")
MT_MASK_THRESHOLD = 128  # Magnetic Tile's masks are anti-aliased 0..255: the faint edge is not defect


def _check_split(split: str, choices: Sequence[str], name: str) -> None:
    if split not in choices:
        raise DataError(f"{name}: split must be one of {', '.join(choices)}, got {split!r}.")


class MagneticTile(PairDataset):
    """Magnetic Tile (Huang et al., 2020): `MT_<Class>/Imgs/<name>.jpg` + same-named `.png` mask
    (taught in 01_defect_data).

    1,344 grayscale crops of varying size; five defect classes and `Free` (defect-free). No
    official split exists: ours is stratified by class, 70/30 train/test, seed 0; `val_fraction`
    carves a validation part out of each class's training part. Four `MT_Uneven` masks are empty:
    those samples get label 0 (the label follows the mask) and a warning names them. The masks are
    anti-aliased, so they are read at `mask_threshold=128` unless you pass another (1 = any non-zero).
    `options` are `PairDataset`'s: size, transform, channels, pad_to, resize, mask_threshold.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "all",
        *,
        test_fraction: float = 0.3,
        val_fraction: float = 0.0,
        seed: int = 0,
        **options: Any,
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
        _check_split(split, sorted(parts), "Magnetic Tile")
        chosen = [samples[i] for i in parts[split]]
        if options.get("mask_threshold") is None:
            options["mask_threshold"] = MT_MASK_THRESHOLD
        super().__init__(chosen, source=str(root), **options)
        empty = [s.image.stem for s, y in zip(chosen, self.labels) if s.defect_class != "Free" and y == 0]
        if empty:
            warnings.warn(
                f"Magnetic Tile, {split} split: samples of a defect class with an empty mask get label 0 "
                f"({len(empty)}): {', '.join(empty)}",
                stacklevel=2,
            )

    def _defect_fraction(self, s: Sample) -> float:
        """Free samples are clean by construction; only the defect classes' masks are read."""
        return 0.0 if s.defect_class == "Free" else super()._defect_fraction(s)


class KolektorSDD2(PairDataset):
    """KolektorSDD2 (Božič et al., 2021): `train|test/<id>.png` + `<id>_GT.png`, colour, about
    230x630 (taught in 09_real_data). Loaded with 3 channels unless `channels` says otherwise;
    `options` are `PairDataset`'s.
    """

    def __init__(self, root: str | Path | None = None, split: str = "train", **options: Any) -> None:
        _check_split(split, ("train", "test"), "KolektorSDD2")
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
        options.setdefault("channels", 3)
        super().__init__(samples, source=str(folder), **options)


class DAGM(PairDataset):
    """DAGM 2007 (Wieler & Hahn): `Class<k>/{Train,Test}/<name>.PNG`, masks in
    `Label/<name>_label.PNG`; an image without a label file is defect-free (taught in 09_real_data).
    `options` are `PairDataset`'s.
    """

    def __init__(self, root: str | Path | None = None, cls: int = 1, split: str = "train", **options: Any) -> None:
        _check_split(split, ("train", "test"), "DAGM")
        root = _require(Path(root) if root else data_dir() / "dagm", "DAGM 2007", "get_dagm.py")
        folder = root / f"Class{cls}" / split.capitalize()
        if not folder.is_dir():
            raise DatasetNotFoundError(f"{folder} not found: DAGM has Class1..Class10, each with Train/Test.")
        samples = []
        for img in sorted(folder.glob("*.PNG")):
            mask = folder / "Label" / f"{img.stem}_label.PNG"
            samples.append(Sample(img, mask if mask.is_file() else None, f"Class{cls}"))
        super().__init__(samples, source=str(folder), **options)


class KolektorSDD(PairDataset):
    """KolektorSDD (Tabernik et al., 2019): `kos01`..`kos50`, each `Part<k>.jpg` + `Part<k>_label.bmp`
    (taught in 09_real_data). `meta["defect_class"]` holds the part folder, e.g. `kos07`: `get_splits`
    splits by physical part, not by image. `options` are `PairDataset`'s.
    """

    def __init__(self, root: str | Path | None = None, **options: Any) -> None:
        root = _require(Path(root) if root else data_dir() / "ksdd", "KolektorSDD", "get_ksdd.py")
        samples = []
        for part in sorted(root.glob("kos[0-9][0-9]")):
            for img in sorted(part.glob("Part*.jpg")):
                mask = img.with_name(f"{img.stem}_label.bmp")
                if not mask.is_file():
                    raise DataError(f"{img}: its mask {mask.name} is missing. Re-download KolektorSDD.")
                samples.append(Sample(img, mask, part.name))
        super().__init__(samples, source=str(root), **options)


def _by_stem(files: list[Path], kind: str, fix: str) -> dict[str, Path]:
    """{stem: file}; two files with one stem (e.g. `a.png` and `a.bmp`) are a DataError naming both."""
    found: dict[str, Path] = {}
    for f in files:
        if f.stem in found:
            raise DataError(f"{found[f.stem]} and {f}: two {kind} with the stem {f.stem!r}, so which one "
                            f"belongs to which is ambiguous. {fix}")
        found[f.stem] = f
    return found


class ImageMaskFolder(PairDataset):
    """Your own data: images in one folder, masks in another, matched by file stem (taught in 09_real_data).

    The mask of `images/part_001.jpg` is `masks/part_001<mask_suffix>.<any image ext>`. Images and masks
    may share one folder (KolektorSDD2's `10000.png` beside `10000_GT.png`): there the files whose stem
    ends with `mask_suffix` are the masks, and the suffix must be given. An image
    without a mask is an error, unless you state that such images are defect-free with
    `missing_mask="empty"`: guessing would silently turn unlabelled defects into "clean". Two files
    with one stem in a folder are an error; masks without an image get a warning.
    `options` are `PairDataset`'s: size, transform, channels, pad_to, resize, mask_threshold.
    """

    def __init__(
        self,
        images_dir: str | Path,
        masks_dir: str | Path | None = None,
        mask_suffix: str = "",
        pattern: str = "*",
        missing_mask: str = "error",
        **options: Any,
    ) -> None:
        if missing_mask not in ("error", "empty"):
            raise DataError(f"missing_mask must be 'error' or 'empty', got {missing_mask!r}. Pass --missing-mask "
                            "error (every image needs a mask) or empty (images without one are defect-free).")
        images_dir = Path(images_dir)
        listed = list_images(images_dir)
        shared = masks_dir is not None and Path(masks_dir).resolve() == images_dir.resolve()
        if shared and not mask_suffix:
            raise DataError(f"{images_dir}: images and masks are in the same folder, so the masks must be told apart "
                            "by a suffix (KolektorSDD2's are <stem>_GT.png). Pass it: mask_suffix='_GT' "
                            "(--mask-suffix _GT).")
        if shared:  # the files whose stem ends with the suffix are the masks, the others the images
            mask_files = [f for f in listed if f.stem.endswith(mask_suffix)]
            listed = [f for f in listed if not f.stem.endswith(mask_suffix)]
        chosen = _by_stem([p for p in listed if p.match(pattern)], "images", "Keep one of them, or rename the other.")
        images = list(chosen.values())
        if not images:
            inside = sorted(p.name for p in images_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            where = f" It holds folders ({', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''}): the images " \
                "must lie in the folder itself; give the folder that holds them." if inside else ""
            raise DataError(
                f"{images_dir}: no images match {pattern!r} (extensions {', '.join(IMAGE_EXTENSIONS)}). "
                f"Check the folder and the pattern.{where}"
            )
        masks: dict[str, Path] = {}
        if masks_dir is not None:
            masks = _by_stem(mask_files if shared else list_images(Path(masks_dir)), "masks", "Delete the stale one.")
            _warn_orphans(masks, {p.stem + mask_suffix for p in listed}, masks_dir)
        samples = [Sample(p, masks.get(p.stem + mask_suffix)) for p in images]
        if options.get("mask_threshold") is None:
            _warn_jpeg_masks([s.mask for s in samples if s.mask is not None], masks_dir)
        missing = [s.image.name for s in samples if s.mask is None]
        if missing and missing_mask == "error":
            raise DataError(
                f"{images_dir}: {len(missing)} images have no mask named <stem>{mask_suffix}.<ext> in "
                f"{masks_dir or '(no masks folder given)'} (first: {', '.join(missing[:3])}). Add the masks, "
                "fix `mask_suffix` (--mask-suffix), or pass missing_mask='empty' (--missing-mask empty) if those "
                "images are defect-free."
            )
        super().__init__(samples, source=str(images_dir), **options)


def _warn_jpeg_masks(masks: list[Path], masks_dir: str | Path | None) -> None:
    """JPEG's compression noise (values 1-15 around every edge) is defect under the any-non-zero rule."""
    jpeg = [m.name for m in masks if m.suffix.lower() in (".jpg", ".jpeg")]
    if jpeg:
        warnings.warn(
            f"{masks_dir}: {len(jpeg)} masks are JPEG files (first: {jpeg[0]}), whose compression noise reads as "
            "defect, since any non-zero pixel is. Save the masks as PNG, or pass mask_threshold=128 "
            "(--mask-level 128) to count only the bright pixels.",
            stacklevel=3,
        )


def _warn_orphans(masks: dict[str, Path], expected: set[str], masks_dir: str | Path) -> None:
    """Masks whose image is missing are probably a renamed or deleted image: say so, do not stop."""
    orphans = sorted(masks[stem].name for stem in masks.keys() - expected)
    if orphans:
        warnings.warn(
            f"{masks_dir}: {len(orphans)} masks have no image (first: {', '.join(orphans[:3])}); they are "
            "ignored. Restore the images, or fix `mask_suffix` (--mask-suffix) if the names differ by more than the "
            "suffix.",
            stacklevel=3,
        )


def unwrap(dataset: Dataset) -> tuple[Dataset, list[int]]:
    """The dataset under any (nested) `Subset`s, and the indices of it that `dataset` reaches: how
    `image_shapes` and `verify_images` reach a split's files (taught in 09_real_data)."""
    index = list(range(len(dataset)))
    while isinstance(dataset, Subset):
        index = [dataset.indices[i] for i in index]
        dataset = dataset.dataset
    return dataset, index


def verify_images(dataset: Dataset, progress: bool = True) -> None:
    """`PairDataset.verify` for the samples a dataset reaches, through any (nested) `Subset`s; data drawn in
    memory (synthetic) has no files to check (taught in 09_real_data)."""
    dataset, index = unwrap(dataset)
    if isinstance(dataset, PairDataset):
        dataset.verify(index, progress)
