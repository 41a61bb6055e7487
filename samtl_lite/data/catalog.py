"""Open any supported dataset by name: what the `samtl` command line and the notebooks call."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

from samtl_lite.data.io import as_hw, check_channels, check_resize, is_colour, list_images
from samtl_lite.data.real import (
    DAGM,
    ImageMaskFolder,
    KolektorSDD,
    KolektorSDD2,
    MagneticTile,
    PairDataset,
    split_by_group,
    unwrap,
)
from samtl_lite.data.stats import image_shapes, median_shape
from samtl_lite.data.synthetic import synthetic_benchmark
from samtl_lite.data.transforms import Transform, augmentation
from samtl_lite.errors import DataError

DATASETS = ("synthetic", "magnetic-tile", "ksdd2", "dagm", "ksdd", "folder")
NATIVE_CHANNELS = {"synthetic": 1, "magnetic-tile": 1, "ksdd2": 3, "dagm": 1, "ksdd": 1}
COLOUR_PROBE = 16  # how many images of a folder are looked at to decide whether it is colour
SPLITS = ("train", "val", "test")
FOLDER_ONLY = {"images": None, "masks": None, "group": None, "split_csv": None, "mask_suffix": "",
               "missing_mask": "error"}  # get_splits options that only `folder` reads, with their defaults


def _check_name(name: str, images: str | Path | None = None) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}. Choose one of {', '.join(DATASETS)}.")
    if name == "folder" and images is None:
        raise DataError("--data folder needs --images DIR (and --masks DIR unless all images are clean).")


def get_dataset(
    name: str,
    split: str = "train",
    size: int | tuple[int, int] | None = None,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    **kwargs: Any,
) -> Dataset:
    """A dataset by name and split (taught in 09_real_data). `synthetic` is the fixed benchmark
    (128² unless `size` says otherwise); `folder` needs `images` (and usually `masks`) folders."""
    _check_name(name, images)
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
    return ImageMaskFolder(images, masks, size=size, **kwargs)


def native_channels(name: str, images: str | Path | None = None) -> int:
    """The channel count a dataset is stored with (taught in 09_real_data): 3 for KolektorSDD2, 1 for
    DAGM, KolektorSDD, Magnetic Tile and synthetic; for `folder`, 3 if any of its first 16 images
    (by name) is colour whose channels actually differ, else 1 (gray saved as RGB stays 1)."""
    _check_name(name, images)
    if name != "folder":
        return NATIVE_CHANNELS[name]
    return 3 if any(is_colour(p) for p in list_images(Path(images))[:COLOUR_PROBE]) else 1


def group_keys(files: Sequence[Path], pattern: str) -> list[str]:
    """The group (physical part) of each file: `re.search(pattern, file name)`'s first capture group,
    or the whole match if the pattern has none (taught in 09_real_data). `^(part\\d+)_` puts
    `part07_a.png` and `part07_b.png` in group `part07`. A file it does not match is an error."""
    try:
        rx = re.compile(pattern)
    except re.error as err:
        raise DataError(f"group regex {pattern!r} is not a valid regular expression ({err}). Fix --group.") from None
    keys = []
    for f in files:
        m = rx.search(f.name)
        key = m and (m.group(1) if rx.groups else m.group(0))
        if not key:
            raise DataError(
                f"{f}: the group regex {pattern!r} finds no part name in this file name. Fix --group so it "
                r"matches every image (e.g. '^(part\d+)_' for part07_a.png), or rename the file."
            )
        keys.append(key)
    return keys


def read_split_csv(path: str | Path, files: Sequence[Path]) -> dict[str, list[int]]:
    """{"train", "val", "test"} -> indices into `files`, read from a CSV with the columns `file,split`
    (taught in 09_real_data). `file` is an image's file name, `split` one of train, val, test; every
    image must be listed once. Any other row is an error naming the CSV row: the line of the file it
    starts on, as a text editor numbers it (the header is row 1). The file must be UTF-8 (a byte-order
    mark, as Excel's "CSV UTF-8" writes, is fine) and comma-separated; spaces around names and values are
    ignored, and so are other columns. A semicolon-separated file (Excel's plain "CSV" in many locales) is
    an error that says so, not a guess: a file name may itself hold a comma or a semicolon, and such a name
    must be quoted ("part,07.png"). A quote left open, which would swallow the rows after it, is an error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split CSV not found. Check --split-csv.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except PermissionError:
        raise DataError(f"{path}: permission denied: this user may not read the split CSV. Fix its permissions "
                        f"(e.g. `chmod a+r {path}`), or pass a readable copy to --split-csv.") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: this file is not UTF-8 text (byte {err.object[err.start:err.end]!r} at offset "
                        f"{err.start}). Save it as UTF-8 (in Excel: Save As > CSV UTF-8).") from None
    index = {f.name: i for i, f in enumerate(files)}
    parts: dict[str, list[int]] = {k: [] for k in SPLITS}
    seen: dict[str, int] = {}
    header: list[str] | None = None
    for row, fields, end in _csv_rows(path, text):
        where = f"{path}, row {row}"
        if header is None:
            if not fields:
                continue  # blank lines before the header
            header = [name.strip() for name in fields]
            if not {"file", "split"} <= set(header) and ";" in "".join(header):
                raise DataError(f"{path}: the columns are separated by semicolons ({header}), but the file must be "
                                "comma-separated. Replace each ';' by ',', or export it with ',' as the separator.")
            if not {"file", "split"} <= set(header):
                raise DataError(f"{path}: the first row must name the columns file,split, got {header}. "
                                "Add that header row.")
            at_file, at_split = header.index("file"), header.index("split")
            continue
        if not fields:
            continue  # a blank line
        if end > row:
            raise DataError(f"{where}: a quoted value runs from row {row} on to row {end}, but no file name or split "
                            f"holds a line break: a quote (\") in row {row} is not closed in that row. Close it there, "
                            "or remove it.")
        if any(value.strip() for value in fields[len(header):]):
            raise DataError(f"{where}: {len(fields)} values but the first row names {len(header)} columns "
                            f"({fields}). A file name holding a comma must be quoted (\"part,07.png\"); "
                            "otherwise delete the extra values.")
        name, split = (fields[i].strip() if i < len(fields) else "" for i in (at_file, at_split))
        if split not in parts:
            raise DataError(f"{where}: split {split!r} is not train, val or test. Fix the row.")
        if name not in index:
            raise DataError(f"{where}: {name!r} is not an image of the images folder. Use the file name "
                            "with its extension (e.g. part07_a.png), or delete the row.")
        if name in seen:
            raise DataError(f"{where}: {name} is listed again (first in row {seen[name]}). Keep one row.")
        seen[name] = row
        parts[split].append(index[name])
    if header is None:
        raise DataError(f"{path}: the file is empty, but its first row must name the columns file,split. Add that "
                        "header row and a row `file,split` for each image.")
    unlisted = [f.name for f in files if f.name not in seen]
    if unlisted:
        raise DataError(f"{path}: {len(unlisted)} images are not listed (first: {', '.join(unlisted[:3])}). "
                        "Add a row `file,split` for each image.")
    return {k: sorted(v) for k, v in parts.items()}


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, list[str], int]]:
    """(the line a row starts on, its values, the line it ends on) for each row of a CSV text, blank rows as []:
    a row the csv module cannot read is a DataError naming it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    row = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if "field larger than field limit" in str(err):
                raise DataError(f"{path}, row {row}: a value is over {csv.field_size_limit()} characters long, which "
                                "no file name or split is. Either a quote (\") opened in this row is never closed, "
                                "so the rest of the file reads as one value: close it; or this is not a split CSV "
                                "(one row `file,split` per image): pass the right file to --split-csv.") from None
            raise DataError(f"{path}, row {row}: cannot be read as CSV ({err}). Fix the row, or re-export the "
                            "file as comma-separated UTF-8.") from None
        yield row, fields, reader.line_num
        row = reader.line_num + 1


def _pool_parts(name: str, pool: PairDataset, group: str | None, split_csv: str | Path | None,
                split_seed: int) -> dict[str, list[int]]:
    """70/15/15 of a pool without an official split: by physical part where one is known."""
    files = [s.image for s in pool.samples]
    if split_csv is not None:
        return read_split_csv(split_csv, files)
    if name == "ksdd":
        groups: Sequence[Any] = [s.defect_class for s in pool.samples]  # the part folder, kos01..kos50
    else:
        groups = group_keys(files, group) if group is not None else range(len(files))
    return split_by_group(groups, pool.labels, 0.15, 0.15, split_seed)


def _check_parts(parts: dict[str, list[int]], source: str, names: Sequence[str] = SPLITS) -> None:
    empty = [k for k in names if not parts[k]]
    if empty:
        raise DataError(f"{source}: the {' and '.join(empty)} split would be empty: too few images (or parts) to "
                        "split. Add images, or assign each image a split with --split-csv.")


def get_splits(
    name: str,
    size: int | tuple[int, int] | None = None,
    augment: bool | str = True,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    split_seed: int = 0,
    n_train: int | None = None,
    n_eval: int | None = None,
    channels: int | None = None,
    resize: str = "stretch",
    group: str | None = None,
    split_csv: str | Path | None = None,
    mask_suffix: str = "",
    missing_mask: str = "error",
    mask_threshold: float | None = None,
    transform: Transform | None = None,
) -> tuple[Dataset, Dataset, Dataset]:
    """(train, val, test) of a dataset, with augmentation on train only (taught in 06_training).

    - synthetic: the fixed benchmark's three seeds (128² by default; `n_train`/`n_eval` shrink it);
    - magnetic-tile: stratified 70/30 by class, with 10% of each class's images carved out of the
      training part for validation;
    - ksdd2, dagm: the official train/test split, 15% of train (stratified by label) for validation;
    - ksdd: 70/15/15 by physical part (kos01..kos50), parts stratified by whether they hold a defect;
    - folder: 70/15/15 stratified by label, by image; `group` (a regex, see `group_keys`) splits by
      physical part instead, `split_csv` (`file,split` rows) fixes the split. Images of one part in
      both train and test let a model recognise the part rather than the defect and inflate test scores.
    The split is part of the benchmark: it depends on `split_seed` only, never on a training seed.
    Real datasets are resized to `size` (256² unless given) by `resize`: "stretch" or "pad" (keep
    the aspect ratio, see `fit_and_pad`). `channels=None` reads each dataset's `native_channels`.
    Real datasets are decoded and resized once per run and kept in memory when that fits
    (`PairDataset(cache="auto")`); so are the synthetic training and validation splits, read every epoch.
    `augment` names the training split's augmentation (see `augmentation`; True is "light", False
    "none"); `transform` replaces it. `mask_threshold` (`load_mask`), and for `folder` `mask_suffix`
    and `missing_mask` (`ImageMaskFolder`), say how masks are read.
    """
    check_resize(resize)
    given = {"images": images, "masks": masks, "group": group, "split_csv": split_csv, "mask_suffix": mask_suffix,
             "missing_mask": missing_mask}
    wrong = [k for k, default in FOLDER_ONLY.items() if name != "folder" and given[k] != default]
    if wrong:
        raise DataError(f"{', '.join(wrong)} only apply to the folder dataset, not to {name!r}. Drop them, "
                        "or use --data folder.")
    if group is not None and split_csv is not None:
        raise DataError(f"{split_csv}: give either a group regex or a split CSV, not both. Drop one of them.")
    channels = check_channels(native_channels(name, images) if channels is None else channels)
    size = size or (128 if name == "synthetic" else 256)
    tf = transform if transform is not None else augmentation(augment, size)
    if name == "synthetic":
        return (synthetic_benchmark("train", size, n=n_train, transform=tf, channels=channels, cache="auto"),
                synthetic_benchmark("val", size, n=n_eval, channels=channels, cache="auto"),
                synthetic_benchmark("test", size, n=n_eval, channels=channels))
    opts: dict[str, Any] = {"size": size, "channels": channels, "resize": resize,
                            "mask_threshold": mask_threshold, "cache": "auto"}
    if name == "magnetic-tile":
        return tuple(MagneticTile(split=s, val_fraction=0.1, seed=split_seed, transform=tf if s == "train" else None,
                                  **opts) for s in SPLITS)
    if name in ("ksdd2", "dagm"):  # official train/test; validation carved from train
        plain_pool = get_dataset(name, **opts)
        train_pool = plain_pool.with_transform(tf)
        parts = split_by_group(range(len(plain_pool)), plain_pool.labels, 0.0, 0.15, split_seed)
        _check_parts(parts, name, ("train", "val"))
        return Subset(train_pool, parts["train"]), Subset(plain_pool, parts["val"]), get_dataset(name, "test", **opts)
    if name == "folder":
        opts |= {"images": images, "masks": masks, "mask_suffix": mask_suffix, "missing_mask": missing_mask}
    plain_pool = get_dataset(name, **opts)
    train_pool = plain_pool.with_transform(tf)
    parts = _pool_parts(name, plain_pool, group, split_csv, split_seed)
    _check_parts(parts, str(split_csv or images or name))
    return tuple(Subset(train_pool if k == "train" else plain_pool, parts[k]) for k in SPLITS)


def resize_note(dataset: Dataset, size: int | tuple[int, int] | None, resize: str = "stretch") -> str | None:
    """One line saying how preprocessing changes a dataset's images, when it changes them a lot; else
    None (taught in 09_real_data).

    Looks at the image of median shape among up to 200 (read from the file headers, not decoded): an
    aspect ratio changed more than 1.5x by "stretch", a side shrunk more than 4x, colour read as gray.
    `size` None means the dataset's own `size`. Synthetic data is drawn at its size: never a note.
    """
    shapes = image_shapes(dataset, most=200)
    dataset, _ = unwrap(dataset)
    if shapes is None:
        return None
    path, size = dataset.samples[0].image, size if size is not None else dataset.size
    notes = []
    if size is not None:
        aspect = shapes[:, 1] / shapes[:, 0]
        (w, h), (out_h, out_w) = median_shape(shapes), as_hw(size)
        shape = f"{w}x{h} images (width x height)" if len(np.unique(aspect)) == 1 else \
            f"images of median shape {w}x{h} (width x height; height / width {aspect.min():.2f} to {aspect.max():.2f})"
        if resize == "pad":
            sy = sx = min(out_h / h, out_w / w)
        else:
            sy, sx = out_h / h, out_w / w
        stretch, shrink = max(sx / sy, sy / sx), max(1 / sx, 1 / sy)
        if stretch > 1.5:
            scale = max(out_h, out_w) / max(h, w)
            fit_h, fit_w = (max(16, round(n * scale / 16) * 16) for n in (h, w))  # the encoder's stride
            notes.append(f"stretching {shape} to {out_w}x{out_h} changes their aspect ratio "
                         f"{stretch:.1f}x: use --resize pad, or --size {fit_h} {fit_w} (H W)")
        if shrink > 4:
            notes.append(f"{shape} shrink {shrink:.1f}x to fit {out_w}x{out_h}: defects a few pixels wide "
                         "may vanish; use a larger --size")
    if dataset.channels == 1 and is_colour(path):
        notes.append(f"colour images ({path.name}) are read as gray: use --channels 3 to keep colour")
    return "; ".join(notes) or None
