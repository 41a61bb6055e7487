import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from samtl_lite import DataError
from samtl_lite.data import balanced_sampler, default_augmentation, make_item


def test_augmentation_moves_mask_with_image_and_leaves_it_binary():
    torch.manual_seed(0)
    aug = default_augmentation(degrees=10, translate=0.05, brightness=0.3, contrast=0.3)
    image = torch.zeros(1, 64, 64)
    mask = torch.zeros(1, 64, 64)
    image[0, 20:30, 10:40] = 1.0  # a bright bar that *is* the defect
    mask[0, 20:30, 10:40] = 1.0
    for _ in range(20):
        item = make_item(image.clone(), mask.clone(), {}, aug)
        m = item["mask"][0].bool()
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        assert float(item["label"]) == float(m.any())
        if m.sum() > 20:  # the bright pixels moved where the mask moved
            assert item["image"][0][m].mean() > item["image"][0][~m].mean() + 0.3


def test_photometric_transforms_do_not_touch_the_mask():
    aug = default_augmentation(flips=False, degrees=0, translate=0, scale=(1.0, 1.0), brightness=0.5, contrast=0.5)
    mask = (torch.rand(1, 16, 16) > 0.8).float()
    item = make_item(torch.rand(1, 16, 16), mask, {}, aug)
    assert torch.equal(item["mask"], mask)


def test_balanced_sampler_hits_the_requested_fraction():
    labels = np.array([1.0] * 10 + [0.0] * 990)
    draws = np.array(list(balanced_sampler(labels, pos_fraction=0.5, num_samples=20000, seed=0)))
    share = labels[draws].mean()
    assert abs(share - 0.5) < 0.02
    assert set(np.unique(draws[labels[draws] == 1])) == set(range(10))  # every positive gets drawn
    again = np.array(list(balanced_sampler(labels, 0.5, num_samples=20000, seed=0)))
    assert np.array_equal(again, draws)  # seeded: the same epoch twice


def test_balanced_sampler_refuses_one_class():
    with pytest.raises(DataError, match=r"got 0 defective and 2 clean.*--no-balanced.*add defective samples"):
        balanced_sampler([0.0, 0.0])
    with pytest.raises(DataError, match=r"got 3 defective and 0 clean.*--no-balanced.*add clean samples"):
        balanced_sampler([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="pos_fraction"):
        balanced_sampler([0.0, 1.0], pos_fraction=1.0)


def test_a_tone_curve_survives_per_image_standardisation_where_brightness_and_contrast_do_not():
    from samtl_lite.data import RandomGamma
    from samtl_lite.models import standardize

    torch.manual_seed(0)
    image = 0.2 + 0.4 * torch.rand(1, 1, 32, 32)  # no clipping at 1 +- 0.3 times
    jitter = default_augmentation(flips=False, brightness=0.3, contrast=0.3)
    undone = max(float((standardize(jitter({"image": image})["image"]) - standardize(image)).abs().max())
                 for _ in range(10))
    assert undone < 0.03  # a linear change of the intensities: standardising removes it
    gamma = RandomGamma((0.5, 0.5))  # a fixed exponent, to check the arithmetic
    mask = (torch.rand(1, 1, 32, 32) > 0.9).float()
    out = gamma({"image": tv_tensors.Image(image), "mask": tv_tensors.Mask(mask)})
    assert torch.allclose(out["image"], image.sqrt(), atol=1e-6)
    assert torch.equal(out["mask"], mask)
    assert float((standardize(out["image"]) - standardize(image)).abs().max()) > 0.1


def test_random_gamma_draws_log_uniformly_within_its_range():
    from samtl_lite.data import RandomGamma

    torch.manual_seed(0)
    draws = torch.tensor([RandomGamma((0.5, 2.0)).make_params([])["gamma"] for _ in range(4000)])
    assert float(draws.min()) >= 0.5 and float(draws.max()) <= 2.0
    assert abs(float(draws.log().mean())) < 0.02  # log-uniform on [ln 0.5, ln 2] has mean 0
    assert abs(float((draws < 1).float().mean()) - 0.5) < 0.03


def test_strong_augmentation_keeps_the_size_a_binary_mask_and_the_label_in_step():
    from samtl_lite.data import augmentation

    torch.manual_seed(0)
    aug = augmentation("strong", (48, 32))
    image, mask = torch.zeros(1, 48, 32), torch.zeros(1, 48, 32)
    image[0, 2:5, 2:5] = 1.0  # a corner defect that a crop can cut away
    mask[0, 2:5, 2:5] = 1.0
    labels = []
    for _ in range(60):
        item = make_item(image.clone(), mask.clone(), {}, aug)
        assert item["image"].shape == (1, 48, 32) and item["mask"].shape == (1, 48, 32)
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        assert float(item["label"]) == float(item["mask"].any())
        labels.append(float(item["label"]))
    assert 0 < sum(labels) < 60  # some crops keep the defect, some cut it away and make the sample clean
    assert augmentation("none", 32) is None
    with pytest.raises(ValueError, match="unknown augmentation 'heavy'; choose from none, light, strong"):
        augmentation("heavy", 32)
