"""get_splits: splits by physical part, split CSVs, native channels, resize modes and the options' errors."""

import errno
import io
import os

import numpy as np
import pytest
import torch
from conftest import square_mask, write_gray
from PIL import Image
from torch.utils.data import Subset
from torchvision.transforms import v2

from samtl_lite import DataError
from samtl_lite.data import (
    SyntheticDefects,
    get_dataset,
    get_splits,
    native_channels,
    resize_note,
    split_by_class,
    split_by_group,
)
from samtl_lite.data.stats import dataset_summary, format_summary, image_shapes, median_shape


def refuses_each(csv, cases: dict[str, str], images, masks) -> None:
    """Each split CSV text in `cases` is refused with a DataError matching its message."""
    for text, message in cases.items():
        csv.write_text(text)
        with pytest.raises(DataError, match=message):
            get_splits("folder", 16, False, images, masks, split_csv=csv)

def names_of(split):
    return [split.dataset.samples[i].image.name for i in split.indices]


def make_ksdd(root, n_parts=20, defective_parts=6):
    """kos01..kos20, three 24x12 images each; in the first six parts the middle image has a defect."""
    for p in range(1, n_parts + 1):
        for k in range(3):
            img = write_gray(root / f"kos{p:02d}" / f"Part{k}.jpg", np.full((24, 12), 80))
            box = (2, 2, 6, 6) if p <= defective_parts and k == 1 else None
            write_gray(img.with_name(f"Part{k}_label.bmp"), square_mask(24, 12, box))
    return root


def make_folder(root, names, size=(16, 16), defective=(), colour=False):
    """images/<name>.png and masks/<name>.png; names in `defective` get a 3x4 defect."""
    h, w = size
    for name in names:
        pixels = np.full((h, w, 3), (90, 120, 200) if colour else 100, np.uint8)
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "images" / f"{name}.png")
        write_gray(root / "masks" / f"{name}.png", square_mask(h, w, (1, 1, 4, 5) if name in defective else None))
    return root / "images", root / "masks"


def test_ksdd_is_split_by_part_stratified_and_seeded(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path))
    make_ksdd(tmp_path / "ksdd")
    train, val, test = get_splits("ksdd", size=16, augment=False)
    parts = [{s.dataset.samples[i].defect_class for i in s.indices} for s in (train, val, test)]
    assert [len(p) for p in parts] == [14, 3, 3]  # 6 defective parts: 4/1/1, 14 clean: 10/2/2
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
    assert len(train) + len(val) + len(test) == 60 and len(test) == 9  # whole parts: 3 images each
    defective = {f"kos{p:02d}" for p in range(1, 7)}
    assert [len(p & defective) for p in parts] == [4, 1, 1]
    assert train[0]["image"].shape == (1, 16, 16)
    again = get_splits("ksdd", size=16, augment=False)
    assert [s.indices for s in again] == [s.indices for s in (train, val, test)]
    other = get_splits("ksdd", size=16, augment=False, split_seed=1)
    assert other[2].indices != test.indices


def test_split_by_group_keeps_groups_whole_and_equals_the_plain_split_per_sample():
    groups = ["a", "a", "b", "b", "c", "d", "d", "e"]
    labels = [0, 1, 0, 0, 0, 1, 1, 0]  # defective groups: a, d; clean: b, c, e
    parts = split_by_group(groups, labels, 0.4, 0.0, seed=0)
    train, test = ({groups[i] for i in parts[k]} for k in ("train", "test"))
    assert not train & test and train | test == set("abcde") and parts["val"] == []
    assert len(test) == 2 and len(test & {"a", "d"}) == 1  # round(0.4 * 2) defective, round(0.4 * 3) clean
    plain = split_by_group(range(8), labels, 0.25, 0.25, seed=3)
    assert plain == split_by_class([str(y) for y in labels], 0.25, 0.25, seed=3)


def test_folder_group_regex_keeps_parts_together(tmp_path):
    names = [f"p{k}_{j}" for k in range(10) for j in range(3)]
    images, masks = make_folder(tmp_path, names, defective={f"p{k}_0" for k in range(4)})
    by_image = get_splits("folder", 16, False, images, masks)
    spread = [{n.split("_")[0] for n in names_of(s)} for s in by_image]
    assert spread[0] & (spread[1] | spread[2])  # by image, one part lands in train and in test: leakage
    grouped = get_splits("folder", 16, False, images, masks, group=r"^(p\d+)_")
    parts = [{n.split("_")[0] for n in names_of(s)} for s in grouped]
    assert [len(p) for p in parts] == [6, 2, 2] and len(parts[0] | parts[1] | parts[2]) == 10  # none shared
    whole_match = get_splits("folder", 16, False, images, masks, group=r"p\d+")  # no capture group: whole match
    assert [s.indices for s in whole_match] == [s.indices for s in grouped]


def test_folder_group_regex_errors_name_the_file(tmp_path):
    images, masks = make_folder(tmp_path, ["p1_a", "p1_b", "odd"])
    with pytest.raises(DataError, match=r"images/odd.png: the group regex .* finds no part name.*Fix --group"):
        get_splits("folder", 16, False, images, masks, group=r"^(p\d+)_")
    with pytest.raises(DataError, match=r"not a valid regular expression.*Fix --group"):
        get_splits("folder", 16, False, images, masks, group="(")


def test_split_csv_fixes_the_split_and_names_bad_rows(tmp_path):
    images, masks = make_folder(tmp_path, ["a", "b", "c", "d"], defective={"a"})
    csv = tmp_path / "split.csv"
    csv.write_text("file,split\na.png,train\nb.png,val\nc.png,test\nd.png,train\n")
    train, val, test = get_splits("folder", 16, False, images, masks, split_csv=csv)
    assert (names_of(train), names_of(val), names_of(test)) == (["a.png", "d.png"], ["b.png"], ["c.png"])
    cases = {
        "file,split\na.png,train\nzz.png,val\n": r"split.csv, row 3: 'zz.png' is not an image",
        "file,split\na.png,training\n": r"split.csv, row 2: split 'training' is not train, val or test",
        "file,split\na.png,train\nb.png,val\na.png,test\n": r"row 4: a.png is listed again \(first in row 2\)",
        "name,part\na.png,train\n": r"split.csv: the first row must name the columns file,split",
        "file,split\na.png,train\nb.png,val\nc.png,test\n": r"split.csv: 1 images are not listed \(first: d.png\)",
        "file,split\na.png,train\nb.png,train\nc.png,test\nd.png,test\n": r"the val split would be empty",
    }
    refuses_each(csv, cases, images, masks)
    with pytest.raises(DataError, match="either a group regex or a split CSV"):
        get_splits("folder", 16, False, images, masks, split_csv=csv, group="x")


def test_split_csv_from_excel_bom_spaces_encoding_and_semicolons(tmp_path):
    images, masks = make_folder(tmp_path, ["a", "b", "c", "d"], defective={"a"})
    csv = tmp_path / "split.csv"
    expected = (["a.png", "d.png"], ["b.png"], ["c.png"])
    readable = {
        "bom": "\ufefffile,split\r\na.png,train\r\nb.png,val\r\nc.png,test\r\nd.png,train\r\n",  # Excel's CSV UTF-8
        "spaces": "file, split\na.png, train\n b.png ,val \nc.png,  test\nd.png , train\n",
    }
    for text in readable.values():
        csv.write_bytes(text.encode("utf-8"))
        splits = get_splits("folder", 16, False, images, masks, split_csv=csv)
        assert tuple(names_of(s) for s in splits) == expected
    accented, accented_masks = make_folder(tmp_path / "accented", ["a", "b", "c", "é"], defective={"a"})
    csv.write_bytes("file,split\na.png,train\nb.png,val\nc.png,test\né.png,train\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"split.csv: this file is not UTF-8 text \(byte b'\\xe9' at offset 44\)\. "
                       r"Save it as UTF-8 \(in Excel: Save As > CSV UTF-8\)"):
        get_splits("folder", 16, False, accented, accented_masks, split_csv=csv)
    csv.write_text("file,split\na.png,train\nb.png,val\nc.png,test\né.png,train\n", encoding="utf-8")
    assert names_of(get_splits("folder", 16, False, accented, accented_masks, split_csv=csv)[0]) == ["a.png", "é.png"]
    csv.write_text("file;split\na.png;train\nb.png;val\nc.png;test\nd.png;train\n")
    with pytest.raises(DataError, match=r"split.csv: the columns are separated by semicolons \(\['file;split'\]\), "
                       "but the file must be comma-separated"):
        get_splits("folder", 16, False, images, masks, split_csv=csv)


def test_options_that_do_not_apply_and_too_few_images_are_errors(tmp_path):
    with pytest.raises(DataError, match=r"group, mask_suffix only apply to the folder dataset, not to 'synthetic'"):
        get_splits("synthetic", group="x", mask_suffix="_m")
    with pytest.raises(DataError, match=r"unknown dataset 'mnist'"):
        get_splits("mnist")
    with pytest.raises(DataError, match=r"resize must be one of stretch, pad"):
        get_splits("synthetic", resize="squash")
    with pytest.raises(DataError, match=r"--data folder needs --images"):
        get_splits("folder")
    images, masks = make_folder(tmp_path, ["a", "b", "c"])
    with pytest.raises(DataError, match=r"images: the val and test split would be empty"):
        get_splits("folder", 16, False, images, masks)


def test_colour_folder_gives_three_channels_end_to_end(tmp_path):
    images, masks = make_folder(tmp_path / "colour", [f"c{k}" for k in range(8)], defective={"c0", "c1"},
                                colour=True)
    assert native_channels("folder", images) == 3
    for split in get_splits("folder", 16, False, images, masks):
        assert split[0]["image"].shape == (3, 16, 16)
        assert not torch.equal(split[0]["image"][0], split[0]["image"][2])  # the colour survived
    gray_rgb, _ = make_folder(tmp_path / "gray", ["g0"], colour=False)  # gray saved as RGB stays gray
    assert Image.open(gray_rgb / "g0.png").mode == "RGB" and native_channels("folder", gray_rgb) == 1
    gray_split = get_splits("folder", 16, False, images, masks, channels=1)[0]
    assert gray_split[0]["image"].shape == (1, 16, 16)


def test_native_channels_reach_every_dataset(tmp_path, monkeypatch):
    assert [native_channels(n) for n in ("synthetic", "magnetic-tile", "ksdd", "dagm", "ksdd2")] == [1, 1, 1, 1, 3]
    train, val, _ = get_splits("synthetic", 32, n_train=2, n_eval=2, channels=3)
    assert train[0]["image"].shape == val[0]["image"].shape == (3, 32, 32)
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path))
    for split, n in (("train", 10), ("test", 2)):
        for i in range(n):
            img = tmp_path / "ksdd2" / split / f"{100 + i}.png"
            img.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((30, 12, 3), (10, 200, 40), np.uint8)).save(img)
            write_gray(img.with_name(f"{img.stem}_GT.png"), square_mask(30, 12, (1, 1, 3, 3) if i < 4 else None))
    splits = get_splits("ksdd2", (32, 16), augment=False)  # default channels: KolektorSDD2's native 3
    assert [len(s) for s in splits] == [8, 2, 2] and all(s[0]["image"].shape == (3, 32, 16) for s in splits)
    make_ksdd(tmp_path / "ksdd", n_parts=8, defective_parts=3)
    assert get_splits("ksdd", 16, False, channels=3)[0][0]["image"].shape == (3, 16, 16)


def test_transform_replaces_the_training_augmentation_only(tmp_path):
    images, masks = make_folder(tmp_path, [f"x{k}" for k in range(8)], defective={f"x{k}" for k in range(8)})
    train, val, _ = get_splits("folder", 16, True, images, masks, transform=v2.RandomHorizontalFlip(p=1.0))
    assert torch.nonzero(train[0]["mask"][0]).tolist() == [[r, c] for r in (1, 2, 3) for c in (11, 12, 13, 14)]
    assert torch.nonzero(val[0]["mask"][0]).tolist() == [[r, c] for r in (1, 2, 3) for c in (1, 2, 3, 4)]


def test_resize_pad_keeps_the_aspect_ratio_end_to_end(tmp_path):
    images, masks = make_folder(tmp_path, [f"w{k}" for k in range(8)], size=(20, 40), defective={"w0", "w1"})
    train, _, _ = get_splits("folder", 16, False, images, masks, resize="pad")
    item = train.dataset[0]  # w0: its 3x4 defect at (1, 1) scales by 0.4 into rows 0-1, columns 0-1
    assert item["image"].shape == (1, 16, 16) and item["image"][:, 8:].eq(0).all()
    assert item["image"][:, :8].sub(100 / 255).abs().max() < 1e-3
    assert torch.nonzero(item["mask"][0]).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    stretched = get_splits("folder", 16, False, images, masks)[0].dataset[0]
    assert stretched["image"].gt(0.3).all()  # stretch fills the square


def test_resize_note_names_what_happens_and_the_fix(tmp_path):
    tall, tall_masks = make_folder(tmp_path / "tall", [f"t{k}" for k in range(8)], size=(60, 20), defective={"t0"})
    train = get_splits("folder", 32, False, tall, tall_masks)[0]
    note = resize_note(train, 32, "stretch")
    assert "60" in note and "aspect ratio 3.0x" in note and "--resize pad, or --size 32 16 (H W)" in note
    assert resize_note(train, None, "stretch") == note  # None: the size the dataset was built with
    assert resize_note(train, 32, "pad") is None  # shrinks 1.9x, keeps the shape: nothing notable
    assert "shrink 7.5x" in resize_note(train, 8, "pad") and "larger --size" in resize_note(train, 8, "pad")
    colour, colour_masks = make_folder(tmp_path / "colour", [f"c{k}" for k in range(8)], defective={"c0"},
                                       colour=True)
    gray = get_splits("folder", 16, False, colour, colour_masks, channels=1)[0]
    note = resize_note(gray, 16, "stretch")
    assert note == "colour images (c0.png) are read as gray: use --channels 3 to keep colour"
    assert resize_note(get_splits("folder", 16, False, colour, colour_masks)[0], 16, "stretch") is None
    assert resize_note(get_splits("synthetic", 32, n_train=2, n_eval=2)[0], 32, "stretch") is None


def test_image_shapes_and_the_note_follow_the_median_shape_of_varied_images(tmp_path):
    """Images of three shapes: the shapes come from the headers in the split's own order, the note and the summary
    use the median shape (not the first file's) and say how much the shapes vary."""
    shapes = {"a": (20, 60), "b": (36, 44), "c": (60, 20), "d": (44, 36), "e": (40, 40), "f": (60, 20)}  # (H, W)
    images, masks = tmp_path / "images", tmp_path / "masks"
    for name, size in shapes.items():
        make_folder(tmp_path, [name], size=size, defective={"a"})
    pool = get_dataset("folder", images=images, masks=masks, size=32)
    assert image_shapes(pool).tolist() == [[w, h] for h, w in shapes.values()]  # (width, height), file order
    assert image_shapes(Subset(Subset(pool, [5, 0, 1]), [2, 1])).tolist() == [[44, 36], [60, 20]]
    assert image_shapes(pool, most=3).tolist() == [[60, 20], [20, 60], [40, 40]]  # every 2nd file
    with pytest.raises(ValueError, match="at least 1"):
        image_shapes(pool, most=0)
    # height / width sorted: a 0.33, b 0.82, e 1, d 1.22, c 3, f 3: the median is d's, 36x44; the medians of the
    # widths and of the heights taken apart (38 and 42) would describe no image
    assert median_shape(image_shapes(pool)) == (36, 44)
    assert resize_note(pool, 32, "stretch") is None  # the median shape is near square: the first file's 3:1 is not
    note = resize_note(pool, (32, 8), "stretch")
    assert note.startswith("stretching images of median shape 36x44 (width x height; height / width 0.33 to 3.00)")
    assert "aspect ratio 3.3x" in note and "--size 32 32 (H W)" in note
    summary = dataset_summary(pool, progress=False)
    assert summary["median_width_height"] == [36, 44]
    assert summary["height_over_width_quantiles"][0.0] == pytest.approx(1 / 3)
    assert summary["height_over_width_quantiles"][1.0] == 3.0
    assert "image files: median shape 36x44 (width x height); height / width: min 0.33" in format_summary("f", summary)
    assert image_shapes(SyntheticDefects(n=4, size=16)) is None
    assert "image files" not in format_summary("s", dataset_summary(SyntheticDefects(n=4, size=16), progress=False))
    clean = format_summary("c", dataset_summary(SyntheticDefects(n=4, size=16, defect_rate=0.0), progress=False))
    assert clean.splitlines()[:2] == ["c: 4 samples, 0 defective (0.0%)", "  no defect pixels: every mask is empty (or "
                                      "missing), so there are no defect areas to summarise"] and "nan" not in clean


def test_mask_options_reach_the_folder_dataset(tmp_path):
    images = tmp_path / "images"
    for k in range(8):
        write_gray(images / f"s{k}.png", np.full((16, 16), 70))
    for k in range(3):  # 0/255 masks with an anti-aliased edge: 12 pixels at 255, 4 faint ones at 60
        mask = square_mask(16, 16, (2, 2, 5, 6))
        mask[5, 2:6] = 60
        write_gray(tmp_path / "masks" / f"s{k}_m.png", mask)
    with pytest.raises(DataError, match=r"5 images have no mask named <stem>_m"):
        get_splits("folder", 16, False, images, tmp_path / "masks", mask_suffix="_m")
    options = {"mask_suffix": "_m", "missing_mask": "empty"}
    pool = get_splits("folder", 16, False, images, tmp_path / "masks", **options)[0].dataset
    assert pool.labels.tolist() == [1.0] * 3 + [0.0] * 5 and pool[0]["mask"].sum() == 16
    strict = get_splits("folder", 16, False, images, tmp_path / "masks", mask_threshold=128, **options)[0].dataset
    assert strict[0]["mask"].sum() == 12


def test_a_folders_training_and_plain_pools_share_one_reading_of_the_masks(tmp_path, monkeypatch):
    import samtl_lite.data.real as real

    for i in range(12):
        write_gray(tmp_path / "images" / f"{i:02d}.png", np.full((20, 20), 10 * i))
        write_gray(tmp_path / "masks" / f"{i:02d}.png", square_mask(20, 20, (2, 2, 6, 6) if i % 2 else None))
    read, load_mask = [], real.load_mask
    monkeypatch.setattr(real, "load_mask", lambda path, *a: read.append(path.name) or load_mask(path, *a))
    train, val, test = get_splits("folder", 16, "light", tmp_path / "images", tmp_path / "masks")
    assert sorted(read) == [f"{i:02d}.png" for i in range(12)]  # once each, not once per pool
    assert train.dataset.transform is not None and val.dataset.transform is None is test.dataset.transform
    assert train.dataset.cache is val.dataset.cache and np.array_equal(train.dataset.labels, val.dataset.labels)


def test_split_csv_rows_the_csv_module_cannot_read_name_the_row_and_the_fix(tmp_path):
    images, masks = make_folder(tmp_path, ["a", "b", "c", "d"], defective={"a"})
    csv = tmp_path / "split.csv"
    cases = {  # row = the line of the file a row starts on, the header being row 1
        "file,split\na.png,train\nb.png," + "x" * 200_000 + "\n": r"row 3: a value is over 131072 characters long, "
        r"which no file name or split is\. Either a quote \(\"\) opened in this row is never closed",
        'file,split\na.png,train\n"b.png,val\nc.png,test\nd.png,train\n': r"row 3: a quoted value runs from row 3 "
        r"on to row 5, but no file name or split holds a line break: a quote \(\"\) in row 3 is not closed in that row",
        'file,split\n"a\n.png",train\nb.png,oops\n': r"row 2: a quoted value runs from row 2 on to row 3",
        "file,split\na.png,train\npart,07.png,val\n": r"row 3: 3 values but the first row names 2 columns "
        r"\(\['part', '07.png', 'val'\]\)\. A file name holding a comma must be quoted",
        "\n\nfile,split\n\na.png,train\n\nb.png,training\n": r"row 7: split 'training' is not train, val or test",
        "": r"split.csv: the file is empty, but its first row must name the columns file,split",
    }
    refuses_each(csv, cases, images, masks)
    csv.write_text('\nfile,split,note\na.png,train,\nb.png,val,from line 2\n"c.png",test\nd.png,train,,\n')
    splits = get_splits("folder", 16, False, images, masks, split_csv=csv)  # blank lines, notes, empty trailing cells
    assert tuple(names_of(s) for s in splits) == (["a.png", "d.png"], ["b.png"], ["c.png"])


def test_split_csv_without_read_permission_says_so(tmp_path, monkeypatch):
    images, masks = make_folder(tmp_path, ["a", "b", "c", "d"], defective={"a"})
    csv = tmp_path / "split.csv"
    csv.write_text("file,split\na.png,train\nb.png,val\nc.png,test\nd.png,train\n")
    csv.chmod(0)
    if os.access(csv, os.R_OK):  # root reads it anyway: fail the opening as the system would for another user
        real_open = io.open

        def refusing_open(file, *args, **kwargs):
            if os.path.abspath(file) == os.path.abspath(csv):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(io, "open", refusing_open)
    with pytest.raises(DataError, match=r"split.csv: permission denied: this user may not read the split CSV\. Fix "
                       r"its permissions \(e\.g\. `chmod a\+r .*split.csv`\)"):
        get_splits("folder", 16, False, images, masks, split_csv=csv)
