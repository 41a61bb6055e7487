import warnings

import numpy as np
import pytest
import torch
from conftest import square_mask, write_gray
from PIL import Image
from torch.utils.data import DataLoader, Subset

from samtl_lite import DataError, DatasetNotFoundError
from samtl_lite.data import (
    DAGM,
    ImageMaskFolder,
    KolektorSDD,
    KolektorSDD2,
    MagneticTile,
    data_dir,
    load_mask,
    split_by_class,
)
from samtl_lite.data.catalog import get_dataset
from samtl_lite.data.real import MT_CLASSES, PairDataset, Sample, verify_images
from samtl_lite.data.synthetic import SyntheticDefects


def make_magnetic_tile(root, per_class=10, empty_uneven=1):
    rng = np.random.default_rng(0)
    for cls in MT_CLASSES:
        for k in range(per_class):
            h, w = 40 + k, 60 - k  # sizes vary, as in the real set
            img = root / f"MT_{cls}" / "Imgs" / f"exp{k}_num_{k}.jpg"
            write_gray(img, rng.integers(0, 255, (h, w)))
            defect = cls != "Free" and not (cls == "Uneven" and k < empty_uneven)
            mask = square_mask(h, w, (5, 5, 9, 12) if defect else None)
            mask[5, 12] = 90  # anti-aliased edge below 128 -> background
            write_gray(img.with_suffix(".png"), mask if defect else np.zeros((h, w)))
    return root


@pytest.mark.filterwarnings("ignore:Magnetic Tile")
def test_magnetic_tile_layout_labels_split_and_warning(tmp_path):
    root = make_magnetic_tile(tmp_path / "magnetic_tile")
    with pytest.warns(UserWarning, match=r"empty mask get label 0 \(1\): exp0_num_0"):
        full = MagneticTile(root)
    assert len(full) == 60 and full.labels.sum() == 49  # 5 defect classes x 10, one empty Uneven
    item = full[0]
    assert item["meta"]["defect_class"] == "Blowhole" and item["label"] == 1.0
    assert item["mask"].sum() == 4 * 7 and item["image"].shape == item["mask"].shape == (1, 40, 60)
    assert item["meta"]["area_fraction"] == pytest.approx(28 / (40 * 60))
    train, test = MagneticTile(root, split="train", size=32), MagneticTile(root, split="test", size=32)
    assert (len(train), len(test)) == (42, 18)  # 7 + 3 per class
    names = {s.image for s in train.samples}
    assert names.isdisjoint({s.image for s in test.samples})
    batch = next(iter(DataLoader(train, batch_size=6)))
    assert batch["image"].shape == (6, 1, 32, 32) and batch["label"].shape == (6,)


@pytest.mark.filterwarnings("ignore:Magnetic Tile")
def test_magnetic_tile_reads_its_antialiased_masks_at_128(tmp_path):
    root = make_magnetic_tile(tmp_path / "magnetic_tile", per_class=2)
    assert MagneticTile(root)[0]["mask"].sum() == 28  # the faint edge pixel (90) is background
    assert MagneticTile(root, mask_threshold=1)[0]["mask"].sum() == 29  # ... unless you ask for any non-zero
    splits = [MagneticTile(root, split="test", seed=s).samples for s in (0, 1, 2)]
    assert splits[0] != splits[1] or splits[0] != splits[2]  # the split seed moves the split


def test_split_by_class_is_stratified_seeded_and_complete():
    classes = ["a"] * 10 + ["b"] * 20 + ["c"] * 3
    parts = split_by_class(classes, test_fraction=0.3, val_fraction=0.1, seed=0)
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(33))
    assert [sum(classes[i] == c for i in parts["test"]) for c in "abc"] == [3, 6, 1]
    assert [sum(classes[i] == c for i in parts["val"]) for c in "abc"] == [1, 2, 0]
    assert split_by_class(classes, 0.3, 0.1, seed=0) == parts
    assert split_by_class(classes, 0.3, 0.1, seed=1)["test"] != parts["test"]


def test_kolektorsdd2(tmp_path):
    for i, defect in enumerate([True, False, False]):
        img = tmp_path / "ksdd2" / "train" / f"{10000 + i}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((63, 23, 3), 120, np.uint8)).save(img)
        write_gray(img.with_name(f"{img.stem}_GT.png"), square_mask(63, 23, (1, 1, 3, 3) if defect else None))
    ds = KolektorSDD2(tmp_path / "ksdd2", split="train")
    assert len(ds) == 3 and ds[0]["image"].shape == (3, 63, 23)
    assert [float(ds[i]["label"]) for i in range(3)] == [1.0, 0.0, 0.0] == ds.labels.tolist()
    with pytest.raises(DataError, match="no images"):
        KolektorSDD2(tmp_path / "ksdd2", split="test")


def test_dagm_missing_label_means_clean(tmp_path):
    folder = tmp_path / "dagm" / "Class3" / "Train"
    for name in ("0001", "0002", "0003"):
        write_gray(folder / f"{name}.PNG", np.full((16, 16), 100))
    write_gray(folder / "Label" / "0002_label.PNG", square_mask(16, 16, (4, 4, 8, 8)))
    ds = DAGM(tmp_path / "dagm", cls=3, split="train")
    assert ds.labels.tolist() == [0.0, 1.0, 0.0]
    assert ds[1]["mask"].sum() == 16 and ds[1]["meta"]["defect_class"] == "Class3"
    with pytest.raises(DatasetNotFoundError, match="Class4"):
        DAGM(tmp_path / "dagm", cls=4)


def test_kolektorsdd_parts(tmp_path):
    for part, defect in (("kos01", True), ("kos02", False)):
        for k in range(2):
            img = write_gray(tmp_path / "ksdd" / part / f"Part{k}.jpg", np.full((50, 20), 80))
            write_gray(img.with_name(f"Part{k}_label.bmp"), square_mask(50, 20, (0, 0, 5, 5) if defect else None))
    ds = KolektorSDD(tmp_path / "ksdd")
    assert len(ds) == 4 and ds.labels.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert ds[3]["meta"]["defect_class"] == "kos02"


def test_image_mask_folder_matching_and_missing_masks(tmp_path):
    imgs, masks = tmp_path / "images", tmp_path / "masks"
    for name in ("a", "b", "c"):
        write_gray(imgs / f"{name}.png", np.full((12, 12), 50))
    write_gray(masks / "a_mask.png", square_mask(12, 12, (0, 0, 2, 2)))
    (imgs / "._a.png").write_bytes(b"Mac OS X metadata")  # macOS's AppleDouble file: not an image, not missing a mask
    with pytest.raises(DataError, match=r"2 images have no mask.*missing_mask='empty' \(--missing-mask empty\)"):
        ImageMaskFolder(imgs, masks, mask_suffix="_mask")
    ds = ImageMaskFolder(imgs, masks, mask_suffix="_mask", missing_mask="empty")
    assert ds.labels.tolist() == [1.0, 0.0, 0.0]
    assert len(ImageMaskFolder(imgs, masks, mask_suffix="_mask", pattern="a*")) == 1
    with pytest.raises(DataError, match="no images match"):
        ImageMaskFolder(imgs, masks, pattern="*.tif")
    (tmp_path / "nested" / "lot1").mkdir(parents=True)
    with pytest.raises(DataError, match=r"It holds folders \(lot1\): the images must lie in the folder itself"):
        ImageMaskFolder(tmp_path / "nested", masks)


def test_images_and_masks_in_one_folder_are_told_apart_by_the_suffix(tmp_path, recwarn):
    """KolektorSDD2's layout, 10000.png beside 10000_GT.png: the files ending in the suffix are the masks."""
    for name, box in (("10000", (2, 2, 6, 6)), ("10001", None), ("10002", (0, 0, 3, 3))):
        write_gray(tmp_path / f"{name}.png", np.full((12, 12), 50))
        write_gray(tmp_path / f"{name}_GT.png", square_mask(12, 12, box))
    ds = ImageMaskFolder(tmp_path, tmp_path, mask_suffix="_GT")
    assert [s.image.name for s in ds.samples] == ["10000.png", "10001.png", "10002.png"]
    assert [s.mask.name for s in ds.samples] == ["10000_GT.png", "10001_GT.png", "10002_GT.png"]
    assert ds.labels.tolist() == [1.0, 0.0, 1.0]
    assert int(ds[0]["mask"].sum()) == 16 and not recwarn.list  # 4 x 4 defect pixels; no mask taken for an orphan
    with pytest.raises(DataError, match=r"images and masks are in the same folder, so the masks must be told apart "
                                        r"by a suffix .*\(--mask-suffix _GT\)"):
        ImageMaskFolder(tmp_path, tmp_path / ".")


def test_image_mask_folder_stem_collisions_and_orphan_masks(tmp_path):
    imgs, masks = tmp_path / "images", tmp_path / "masks"
    for name in ("a.png", "b.png"):
        write_gray(imgs / name, np.full((12, 12), 50))
    for name in ("a.png", "a.bmp"):
        write_gray(masks / name, square_mask(12, 12, (0, 0, 2, 2)))
    with pytest.raises(DataError, match=r"masks/a.bmp and .*masks/a.png: two masks with the stem 'a'.*Delete"):
        ImageMaskFolder(imgs, masks)
    (masks / "a.bmp").unlink()
    write_gray(imgs / "b.jpg", np.full((12, 12), 50))
    with pytest.raises(DataError, match=r"images/b.jpg and .*images/b.png: two images with the stem 'b'"):
        ImageMaskFolder(imgs, masks, missing_mask="empty")
    assert len(ImageMaskFolder(imgs, masks, pattern="*.png", missing_mask="empty")) == 2  # the pattern picks one
    for name in ("zz.png", "yy.png", "xx.png", "ww.png", "b.png"):
        write_gray(masks / name, square_mask(12, 12, None))
    with pytest.warns(UserWarning, match=r"masks: 4 masks have no image \(first: ww.png, xx.png, yy.png\)"):
        ds = ImageMaskFolder(imgs, masks, pattern="a*")  # b.png's mask has an image, outside the pattern
    assert len(ds) == 1 and ds.labels.tolist() == [1.0]


def test_mask_of_wrong_size_names_both_files(tmp_path):
    """Found when the dataset is built (the image's size from its header), not when training draws the sample."""
    for name in ("a", "b", "x", "y"):
        write_gray(tmp_path / "i" / f"{name}.png", np.zeros((10, 10)))
        write_gray(tmp_path / "m" / f"{name}.png", np.zeros((10, 12) if name == "x" else (10, 10)))
    with pytest.raises(DataError, match=r"m/x.png: mask is \(10, 12\) \(H, W\) but its image .*i/x.png is \(10, 10\)\. "
                       "Re-export the mask"):
        ImageMaskFolder(tmp_path / "i", tmp_path / "m")


def test_augmented_items_keep_mask_and_label_in_step(tmp_path):
    from torchvision.transforms import v2

    write_gray(tmp_path / "i" / "x.png", np.zeros((10, 10)))
    write_gray(tmp_path / "m" / "x.png", square_mask(10, 10, (0, 0, 2, 3)))
    ds = ImageMaskFolder(tmp_path / "i", tmp_path / "m", transform=v2.RandomHorizontalFlip(p=1.0))
    assert torch.nonzero(ds[0]["mask"][0]).tolist() == [[0, 7], [0, 8], [0, 9], [1, 7], [1, 8], [1, 9]]
    shift_out = v2.RandomAffine(degrees=0, translate=(1.0, 1.0))  # may push the defect out of frame
    ds = ImageMaskFolder(tmp_path / "i", tmp_path / "m", transform=shift_out)
    for _ in range(20):
        item = ds[0]
        assert float(item["label"]) == float(item["mask"].any())


def test_missing_dataset_names_the_fetch_script(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    for name, script in (("magnetic-tile", "get_magnetic_tile.py"), ("ksdd2", "get_ksdd2.py"),
                         ("dagm", "get_dagm.py"), ("ksdd", "get_ksdd.py")):
        with pytest.raises(DatasetNotFoundError, match=script):
            get_dataset(name)


@pytest.mark.filterwarnings("ignore:Magnetic Tile")
def test_real_magnetic_tile_copy(real_magnetic_tile):
    with pytest.warns(UserWarning, match=r"empty mask get label 0 \(4\)"):
        ds = MagneticTile(real_magnetic_tile)
    assert len(ds) == 1344 and int(ds.labels.sum()) == 388
    counts = {c: sum(s.defect_class == c for s in ds.samples) for c in MT_CLASSES}
    assert counts["Free"] == 952 and sum(counts.values()) - counts["Free"] == 392
    for i in range(0, len(ds), 7):  # a spread of samples: sizes agree, masks binary
        item = ds[i]
        assert item["image"].shape == item["mask"].shape
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        assert float(item["label"]) == ds.labels[i]
    test = MagneticTile(real_magnetic_tile, split="test")
    assert len(test) == sum(round(0.3 * n) for n in counts.values())
    thin = next(i for i, s in enumerate(ds.samples) if s.image.name == "exp1_num_320649.jpg")  # a thin Break
    assert ds[thin]["mask"].sum() == 132  # read at 128: its anti-aliased halo (77 faint pixels) stays background
    assert load_mask(ds.samples[thin].mask).sum() == 209


def test_cache_gives_the_same_items_and_reads_each_file_once(tmp_path):
    samples = []
    for i in range(3):
        img = write_gray(tmp_path / f"{i}.png", np.random.default_rng(i).integers(0, 255, (40, 30)))
        mask = write_gray(tmp_path / f"{i}_m.png", square_mask(40, 30, (5, 5, 9, 20) if i else None))
        samples.append(Sample(img, mask))
    plain = PairDataset(samples, size=24)
    cached = PairDataset(samples, size=24, cache=True)
    assert PairDataset(samples, size=24, cache="auto").cache == {}
    assert PairDataset(samples, cache="auto").cache is None  # native sizes: nothing to cache
    first = [cached[i] for i in range(3)]
    for i in range(3):  # the cache keeps exactly what the files give
        assert torch.equal(first[i]["image"], plain[i]["image"]) and torch.equal(first[i]["mask"], plain[i]["mask"])
    for p in tmp_path.glob("*.png"):
        p.unlink()  # a cached dataset no longer needs the files
    for i in range(3):
        again, ref = cached[i], first[i]
        assert torch.equal(again["image"], ref["image"]) and torch.equal(again["mask"], ref["mask"])
        assert again["meta"] == ref["meta"] and again["label"] == ref["label"]
        again["image"].mul_(0)  # a caller changing an item must not change the cache
    assert torch.equal(cached[1]["image"], first[1]["image"])


def make_noise_folder(root, n):
    """images/img00.png ... of random pixels (so each PNG holds a real compressed stream) and 0/255 masks."""
    rng = np.random.default_rng(0)
    for k in range(n):
        write_gray(root / "images" / f"img{k:02d}.png", rng.integers(0, 255, (16, 16)))
        write_gray(root / "masks" / f"img{k:02d}.png", square_mask(16, 16, (2, 2, 5, 6) if k % 3 == 0 else None))
    return root / "images", root / "masks"


def test_verify_images_finds_a_truncated_image_past_the_first_files(tmp_path):
    images, masks = make_noise_folder(tmp_path, 25)
    bad = images / "img19.png"  # the 20th image: its header is intact, its pixel data cut in half
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    pool = ImageMaskFolder(images, masks, size=8, cache=True)  # built: masks and headers read, images not
    assert pool[0]["image"].shape == (1, 8, 8)
    message = r"images/img19.png: cannot decode this image .*corrupt or truncated"
    with pytest.raises(DataError, match=message):
        verify_images(pool, progress=False)
    with pytest.raises(DataError, match=message):  # through nested Subsets, as get_splits returns them
        verify_images(Subset(Subset(pool, list(range(10, 25))), [3, 9, 12]), progress=False)
    pool.cache.clear()
    verify_images(Subset(Subset(pool, list(range(10, 25))), [3, 8, 12]), progress=False)  # 13, 18, 22: good files
    assert sorted(pool.cache) == [13, 18, 22]  # exactly the samples the split reaches, decoded once, kept


def test_verify_images_fills_the_cache_of_a_good_dataset(tmp_path):
    images, masks = make_noise_folder(tmp_path, 12)
    cached, plain = ImageMaskFolder(images, masks, size=8, cache=True), ImageMaskFolder(images, masks, size=8)
    verify_images(cached, progress=False)
    assert sorted(cached.cache) == list(range(12))
    plain.verify(progress=False)  # without a cache: every file decoded, nothing kept
    assert plain.cache is None
    expected = [plain[i] for i in range(12)]
    for p in [*images.iterdir(), *masks.iterdir()]:
        p.unlink()  # from now on, every item must come from the cache
    for i in range(12):
        assert torch.equal(cached[i]["image"], expected[i]["image"])
        assert torch.equal(cached[i]["mask"], expected[i]["mask"])
    assert cached[3]["mask"].sum() == 4 and cached[3]["label"] == 1.0  # a 3x4 defect, area-resized 16 -> 8: 2x2
    assert verify_images(SyntheticDefects(n=2, size=16), progress=False) is None  # drawn in memory: nothing to check


def write_masks(root, coverage):
    """images/<k>.png and masks/<k>.png whose defect covers the first `coverage[k]` of 20 rows."""
    for k, rows in enumerate(coverage):
        write_gray(root / "images" / f"s{k}.png", np.full((20, 10), 90))
        mask = np.zeros((20, 10))
        mask[:rows] = 255
        write_gray(root / "masks" / f"s{k}.png", mask)
    return root / "images", root / "masks"


def test_inverted_masks_get_one_warning_and_ordinary_ones_none(tmp_path):
    images, masks = write_masks(tmp_path / "inverted", [20, 18, 17, 0, 19, 3])  # defect white over 85-100%
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageMaskFolder(images, masks)
    assert [str(w.message) for w in caught] == [
        f"{masks}: 4 of 5 non-empty masks mark more than 50% of their image as defect (first: s0.png). Are the "
        "masks inverted? Defects must be the non-zero pixels: invert them (defect white, background black)."]
    assert ds.labels.tolist() == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImageMaskFolder(*write_masks(tmp_path / "ordinary", [1, 6, 0, 3, 2]))  # 5% to 30% of the image
        ImageMaskFolder(*write_masks(tmp_path / "half", [20, 19, 2, 4]))  # large in only half of them
        ImageMaskFolder(*write_masks(tmp_path / "clean", [0, 0]))


def test_jpeg_masks_warn_unless_a_threshold_is_given(tmp_path):
    for name in ("a", "b", "c"):
        write_gray(tmp_path / "images" / f"{name}.png", np.full((16, 16), 90))
        write_gray(tmp_path / "masks" / f"{name}.jpg", square_mask(16, 16, (4, 4, 8, 10)))  # 24 defect pixels
    jpeg = tmp_path / "masks" / "a.jpg"
    assert load_mask(jpeg).sum() > 24 and load_mask(jpeg, threshold=128).sum() == 24  # the noise reads as defect
    with pytest.warns(UserWarning) as caught:
        ImageMaskFolder(tmp_path / "images", tmp_path / "masks")
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'masks'}: 3 masks are JPEG files (first: a.jpg), whose compression noise reads as defect, "
        "since any non-zero pixel is. Save the masks as PNG, or pass mask_threshold=128 (--mask-level 128) to "
        "count only the bright pixels."]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = ImageMaskFolder(tmp_path / "images", tmp_path / "masks", mask_threshold=128)
    assert ds[0]["mask"].sum() == 24
