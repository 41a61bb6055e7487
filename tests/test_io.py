import builtins
import errno
import io
import os

import numpy as np
import pytest
import torch
from conftest import write_gray
from PIL import Image

from samtl_lite import DataError
from samtl_lite.data import fit_and_pad, load_image, load_mask, pad_to_multiple, resize_image, resize_mask
from samtl_lite.data.io import check_resize


def test_mask_rule_any_non_zero_or_the_given_threshold(tmp_path):
    ramp = write_gray(tmp_path / "aa.png", np.array([[0, 1, 127, 128, 200, 255]], np.uint8))
    assert load_mask(ramp)[0, 0].tolist() == [0, 1, 1, 1, 1, 1]  # any non-zero value is defect
    assert load_mask(ramp, threshold=128)[0, 0].tolist() == [0, 0, 0, 1, 1, 1]  # value >= threshold
    zero_one = np.array([[0, 1, 1, 0]], np.uint8)
    assert load_mask(write_gray(tmp_path / "01.png", zero_one))[0, 0].tolist() == [0, 1, 1, 0]
    assert load_mask(write_gray(tmp_path / "empty.png", np.zeros((3, 3)))).sum() == 0


def test_sixteen_bit_masks_with_small_values(tmp_path):
    mask = np.zeros((16, 16), np.uint16)
    mask[2:5, 3:7] = 1000  # 12 defect pixels, stored as 1000 of 65535
    Image.fromarray(mask).save(tmp_path / "m1000.png")
    read = load_mask(tmp_path / "m1000.png")
    assert read.shape == (1, 16, 16) and read.sum() == 12 and read[0, 2:5, 3:7].min() == 1
    assert load_mask(tmp_path / "m1000.png", threshold=500).sum() == 12  # threshold in the file's units
    Image.fromarray((mask > 0).astype(np.uint16)).save(tmp_path / "m01.png")
    assert load_mask(tmp_path / "m01.png").sum() == 12
    with pytest.raises(DataError, match=r"m01.png: mask values go up to 1, all below mask_threshold 128"):
        load_mask(tmp_path / "m01.png", threshold=128)  # the defect would vanish: an error, not an empty mask
    with pytest.raises(DataError, match=r"m01.png: mask_threshold must be > 0"):
        load_mask(tmp_path / "m01.png", threshold=0)


def test_label_map_mask_is_an_error_naming_the_file(tmp_path):
    path = write_gray(tmp_path / "labels.png", np.array([[0, 1, 2, 3]]))
    with pytest.raises(DataError, match=r"labels.png: mask values \[1, 2, 3\].*label map.*--mask-level"):
        load_mask(path)
    assert load_mask(path, threshold=2)[0, 0].tolist() == [0, 0, 1, 1]  # the user said which values are defect
    few_large = write_gray(tmp_path / "edge.png", np.array([[0, 40, 255, 255]]))  # an anti-aliased edge
    assert load_mask(few_large)[0, 0].tolist() == [0, 1, 1, 1]
    Image.fromarray(np.array([[0, 0.5, 1.0]], np.float32)).save(tmp_path / "soft.tif")  # float: not a label map
    assert load_mask(tmp_path / "soft.tif")[0, 0].tolist() == [0, 1, 1]


def test_corrupt_and_missing_images_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    good = write_gray(tmp_path / "good.png", np.full((20, 20), 9))
    bad.write_bytes(good.read_bytes()[:40])  # truncated
    with pytest.raises(DataError, match="broken.png.*corrupt"):
        load_image(bad)
    with pytest.raises(DataError, match="nope.png"):
        load_image(tmp_path / "nope.png")


def test_sixteen_bit_rgba_palette_and_gray_colour_mix(tmp_path):
    arr16 = np.tile(np.array([[0, 65535], [32768, 1000]], np.uint16), (4, 4))
    Image.fromarray(arr16).save(tmp_path / "deep.png")
    img = load_image(tmp_path / "deep.png")
    assert torch.allclose(img[0], torch.tensor(arr16 / 65535.0, dtype=torch.float32))

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10  # red, almost transparent: alpha is dropped
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png", channels=3)[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert load_image(tmp_path / "rgba.png")[0, 0, 0] == pytest.approx(0.299)

    Image.fromarray(np.full((8, 8), 200, np.uint8)).convert("P").save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png")[0, 0, 0] == pytest.approx(200 / 255, abs=1e-3)

    gray = write_gray(tmp_path / "g.png", np.full((8, 8), 51))
    assert load_image(gray, channels=3).shape == (3, 8, 8)
    assert torch.allclose(load_image(gray, channels=3)[:, 0, 0], torch.full((3,), 0.2))
    with pytest.raises(DataError, match=r"channels must be 1 .*got 4\. Pass --channels"):
        load_image(gray, channels=4)


def test_too_small_image_names_the_file(tmp_path):
    path = write_gray(tmp_path / "speck.png", np.zeros((5, 30)))
    with pytest.raises(DataError, match=r"speck.png: image is 30x5 pixels.*under the 8"):
        load_image(path)
    assert load_image(write_gray(tmp_path / "ok.png", np.zeros((8, 30)))).shape == (1, 8, 30)


def test_decompression_bomb_is_a_data_error(tmp_path, monkeypatch):
    warn = write_gray(tmp_path / "big.png", np.zeros((40, 40)))  # 1,600 pixels: over the limit, Pillow warns
    error = write_gray(tmp_path / "huge.png", np.zeros((50, 50)))  # 2,500: over twice the limit, Pillow raises
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for path in (warn, error):
        for load in (load_image, load_mask):
            with pytest.raises(DataError, match=rf"{path.name}: .*decompression bomb.*MAX_IMAGE_PIXELS"):
                load(path)


def test_one_pixel_scratch_survives_downscaling():
    mask = torch.zeros(1, 512, 512)
    rows = (np.arange(40, 470) * 0.37 + 100).astype(int)
    mask[0, rows, np.arange(40, 470)] = 1.0  # a slanted 1-px line
    small = resize_mask(mask, 128)
    ys, xs = torch.nonzero(mask[0], as_tuple=True)
    assert small[0, ys // 4, xs // 4].min() == 1.0  # every cell holding a defect pixel is marked
    assert small.sum() <= 2 * 430 / 4 + 10  # ... and the line stays thin
    nearest = torch.nn.functional.interpolate(mask[None], size=(128, 128), mode="nearest")[0]
    assert nearest.sum() < small.sum()  # the naive resize loses most of it


def test_resize_and_pad_shapes():
    img = torch.rand(1, 37, 53)
    assert resize_image(img, (20, 30)).shape == (1, 20, 30)
    padded = pad_to_multiple(img, 32)
    assert padded.shape == (1, 64, 64) and torch.equal(padded[:, :37, :53], img) and padded[:, 37:].sum() == 0
    assert pad_to_multiple(torch.rand(1, 64, 32), 32).shape == (1, 64, 32)


def test_fit_and_pad_keeps_the_aspect_ratio():
    image, mask = torch.ones(1, 20, 40), torch.zeros(1, 20, 40)
    mask[0, 0:5, 0:10] = 1.0
    out, out_mask = fit_and_pad(image, mask, 16)  # scale 0.4: 8x16 of picture, 8 rows of padding below
    assert out.shape == out_mask.shape == (1, 16, 16)
    assert out[:, :8].gt(0.999).all() and out[:, 8:].eq(0).all()
    assert torch.nonzero(out_mask[0]).tolist() == [[r, c] for r in (0, 1) for c in range(4)]
    tall, _ = fit_and_pad(torch.ones(3, 40, 20), torch.zeros(1, 40, 20), (16, 16))
    assert tall.shape == (3, 16, 16) and tall[:, :, :8].gt(0.999).all() and tall[:, :, 8:].eq(0).all()
    same, _ = fit_and_pad(torch.ones(1, 20, 40), torch.zeros(1, 20, 40), (16, 32))  # same aspect: no padding
    assert same.gt(0.999).all()
    with pytest.raises(DataError, match="resize must be one of stretch, pad, got 'crop'"):
        check_resize("crop")


def test_thirty_two_bit_images_are_scaled_by_their_own_range_not_clipped(tmp_path):
    """A float TIFF of 0..255 used to load as a blank 1.0 (clipped to [0, 1]); mode "I" was divided by 65535."""
    cases = {  # one row of values, tiled to 8x8; what each pixel must read as
        "f255.tif": (np.array([0, 51, 102, 255], np.float32), [0.0, 0.2, 0.4, 1.0]),
        "f01.tif": (np.array([0, 0.25, 0.5, 1.0], np.float32), [0.0, 0.25, 0.5, 1.0]),  # already 0..1: unchanged
        "fneg.tif": (np.array([-1, 0, 1, 3], np.float32), [0.0, 0.25, 0.5, 1.0]),
        "i32.tif": (np.array([0, 25000, 50000, 100000], np.int32), [0.0, 0.25, 0.5, 1.0]),
        "flat.tif": (np.full(4, 7.5, np.float32), [0.0, 0.0, 0.0, 0.0]),  # no range: zero, not a division by it
    }
    for name, (row, expected) in cases.items():
        Image.fromarray(np.tile(row, (8, 2))).save(tmp_path / name)
        assert Image.open(tmp_path / name).mode == ("I" if row.dtype == np.int32 else "F")
        img = load_image(tmp_path / name)
        assert img.shape == (1, 8, 8) and img.dtype == torch.float32
        assert img[0, 3, :4].tolist() == pytest.approx(expected, abs=1e-6), name
        assert torch.equal(img[0], img[0, :1, :4].repeat(8, 2))
    assert load_image(tmp_path / "i32.tif", channels=3)[:, 0, 1].tolist() == pytest.approx([0.25] * 3)


def test_nan_or_inf_in_a_float_image_is_an_error_naming_the_file(tmp_path):
    for name, bad in (("nan.tif", np.nan), ("inf.tif", -np.inf)):
        pixels = np.ones((8, 8), np.float32)
        pixels[2, 3] = pixels[5, 5] = bad
        Image.fromarray(pixels).save(tmp_path / name)
        with pytest.raises(DataError, match=rf"{name}: 2 of 64 pixels are NaN or inf\. Re-export the image"):
            load_image(tmp_path / name)


def _save_with_orientation(img: Image.Image, path, orientation: int):
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, exif=exif)
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("hw", [(12, 12), (12, 20)])  # square (misread silently) and not
@pytest.mark.parametrize("orientation", range(1, 9))
def test_images_and_masks_are_read_as_displayed(tmp_path, suffix, hw, orientation):
    """A file stored one way with an EXIF Orientation tag reads as a viewer displays it: each pixel where
    PIL.ImageOps.exif_transpose puts it, image and mask alike, and image_size gives the displayed size."""
    from PIL import ImageOps

    from samtl_lite.data.io import image_size

    h, w = hw
    stored = np.zeros((h, w), np.uint8)
    stored[1:5, 2:4] = 255  # a block in the stored top-left quarter: where it is displayed depends on the tag
    image = _save_with_orientation(Image.fromarray(stored), tmp_path / f"image{suffix}", orientation)
    mask = _save_with_orientation(Image.fromarray(stored), tmp_path / "mask.png", orientation)
    displayed = np.asarray(ImageOps.exif_transpose(Image.open(image)), np.float32) / 255
    turned = orientation >= 5
    assert displayed.shape == ((w, h) if turned else (h, w))
    assert image_size(image) == (displayed.shape[1], displayed.shape[0])  # (width, height) as displayed
    read = load_image(image)[0].numpy()
    assert read.shape == displayed.shape and np.abs(read - displayed).max() < 0.25  # JPEG rings a little
    where = np.argwhere(read > 0.5)
    assert (where.min(0).tolist(), where.max(0).tolist()) == (np.argwhere(displayed > 0.5).min(0).tolist(),
                                                               np.argwhere(displayed > 0.5).max(0).tolist())
    assert np.array_equal(load_mask(mask)[0].numpy(), np.asarray(ImageOps.exif_transpose(Image.open(mask))) > 0)
    if orientation == 6:  # by hand: 6 means "turn 90 degrees clockwise to display"; the block goes top-right
        assert load_mask(mask)[0].numpy()[2:4, h - 5:h - 1].all() and load_mask(mask).sum() == 8


def test_mask_strokes_in_the_alpha_channel_alone(tmp_path):
    """A mask drawn in transparency only (flat colour, varying alpha) reads its alpha; alpha and colour that
    mark the same pixels read alike; flat alpha reads the colour."""
    alpha = np.zeros((10, 10), np.uint8)
    alpha[2:5, 3:8] = 255  # 15 stroke pixels
    for colour in (0, 255):  # flat black (read as empty before) or flat white (read as all defect before)
        rgba = np.dstack([np.full((10, 10), colour, np.uint8)] * 3 + [alpha])
        Image.fromarray(rgba, "RGBA").save(tmp_path / f"rgba{colour}.png")
        read = load_mask(tmp_path / f"rgba{colour}.png")[0].numpy()
        assert read.sum() == 15 and read[2:5, 3:8].all()
    la = Image.merge("LA", [Image.fromarray(np.zeros((10, 10), np.uint8)), Image.fromarray(alpha)])
    la.save(tmp_path / "la.png")
    assert load_mask(tmp_path / "la.png").sum() == 15
    palette = Image.fromarray((alpha > 0).astype(np.uint8), "P")  # index 1 strokes, index 0 transparent, both black
    palette.putpalette([0, 0, 0] * 2)
    palette.save(tmp_path / "palette.png", transparency=0)
    assert load_mask(tmp_path / "palette.png").sum() == 15
    soft = alpha.copy()
    soft[2, 3] = 100  # an anti-aliased edge in the alpha: the threshold is in the alpha's units
    Image.merge("LA", [Image.fromarray(np.zeros((10, 10), np.uint8)), Image.fromarray(soft)]).save(tmp_path / "s.png")
    assert load_mask(tmp_path / "s.png", threshold=128).sum() == 14
    agree = np.dstack([alpha] * 3 + [alpha])  # white strokes, opaque where drawn: both say the same
    Image.fromarray(agree, "RGBA").save(tmp_path / "agree.png")
    assert load_mask(tmp_path / "agree.png").sum() == 15
    opaque = np.dstack([alpha] * 3 + [np.full((10, 10), 255, np.uint8)])
    Image.fromarray(opaque, "RGBA").save(tmp_path / "opaque.png")
    assert load_mask(tmp_path / "opaque.png").sum() == 15


def test_mask_whose_colour_and_alpha_disagree_is_refused(tmp_path):
    alpha = np.zeros((10, 10), np.uint8)
    alpha[2:5, 3:8] = 255
    colour = np.full((10, 10), 255, np.uint8)
    colour[2:5, 3:8] = 0  # black strokes, opaque, on a white transparent background: the two are inverse
    Image.fromarray(np.dstack([colour] * 3 + [alpha]), "RGBA").save(tmp_path / "inverse.png")
    with pytest.raises(DataError, match=r"inverse.png: the mask's colour and its alpha .* 100 of 100 pixels.*"
                                        r"Re-export the mask as grayscale without transparency"):
        load_mask(tmp_path / "inverse.png")


def make_unreadable(path, monkeypatch):
    """Take away the read permission of `path`. Root reads it anyway: then opening it is made to fail as the
    operating system would fail it for another user (PermissionError, errno 13)."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == os.path.abspath(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
        monkeypatch.setattr(io, "open", refusing_open)
    return path


def test_an_unreadable_file_is_a_permission_error_not_a_corrupt_one(tmp_path, monkeypatch):
    image = make_unreadable(write_gray(tmp_path / "locked.png", np.full((20, 20), 9)), monkeypatch)
    for read in (load_image, load_mask):
        with pytest.raises(DataError, match=r"locked.png: permission denied: this user may not read the file.*"
                           r"Fix its permissions \(e.g. `chmod a\+r .*locked.png`") as err:
            read(image)
        assert "corrupt" not in str(err.value) and "re-download" not in str(err.value)
    assert load_image(write_gray(tmp_path / "open.png", np.full((20, 20), 9))).shape == (1, 20, 20)
