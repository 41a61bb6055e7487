import numpy as np
import pytest
import torch

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
