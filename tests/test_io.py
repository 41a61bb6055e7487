import numpy as np
import pytest
import torch
from conftest import write_gray
from PIL import Image

from samtl_lite import DataError
from samtl_lite.data import load_image, load_mask, pad_to_multiple, resize_image, resize_mask


def test_mask_binarisation_antialiased_and_01(tmp_path):
    ramp = np.array([[0, 1, 127, 128, 200, 255]], np.uint8)
    assert load_mask(write_gray(tmp_path / "aa.png", ramp))[0, 0].tolist() == [0, 0, 0, 1, 1, 1]
    zero_one = np.array([[0, 1, 1, 0]], np.uint8)
    assert load_mask(write_gray(tmp_path / "01.png", zero_one))[0, 0].tolist() == [0, 1, 1, 0]
    assert load_mask(write_gray(tmp_path / "empty.png", np.zeros((3, 3)))).sum() == 0


def test_label_map_mask_is_an_error_naming_the_file(tmp_path):
    path = write_gray(tmp_path / "labels.png", np.array([[0, 1, 2, 3]]))
    with pytest.raises(DataError, match="labels.png.*label map"):
        load_mask(path)


def test_corrupt_and_missing_images_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    good = write_gray(tmp_path / "good.png", np.full((20, 20), 9))
    bad.write_bytes(good.read_bytes()[:40])  # truncated
    with pytest.raises(DataError, match="broken.png.*corrupt"):
        load_image(bad)
    with pytest.raises(DataError, match="nope.png"):
        load_image(tmp_path / "nope.png")


def test_sixteen_bit_rgba_palette_and_gray_colour_mix(tmp_path):
    arr16 = np.array([[0, 65535], [32768, 1000]], np.uint16)
    Image.fromarray(arr16).save(tmp_path / "deep.png")
    img = load_image(tmp_path / "deep.png")
    assert torch.allclose(img[0], torch.tensor(arr16 / 65535.0, dtype=torch.float32))

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10  # red, almost transparent: alpha is dropped
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png", channels=3)[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert load_image(tmp_path / "rgba.png")[0, 0, 0] == pytest.approx(0.299)

    Image.fromarray(np.full((2, 2), 200, np.uint8)).convert("P").save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png")[0, 0, 0] == pytest.approx(200 / 255, abs=1e-3)

    gray = write_gray(tmp_path / "g.png", np.full((2, 2), 51))
    assert load_image(gray, channels=3).shape == (3, 2, 2)
    assert torch.allclose(load_image(gray, channels=3)[:, 0, 0], torch.full((3,), 0.2))


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
