import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from samtl_lite.data import SyntheticDefects, polyline_distance
from samtl_lite.data.catalog import get_splits
from samtl_lite.data.synthetic import synthetic_benchmark


def test_same_seed_same_tensors_and_any_order():
    a, b = SyntheticDefects(n=40, seed=7), SyntheticDefects(n=40, seed=7)
    for i in (39, 0, 17, 17):
        assert torch.equal(a[i]["image"], b[i]["image"])
        assert torch.equal(a[i]["mask"], b[i]["mask"])
    c = SyntheticDefects(n=40, seed=8)
    assert not torch.equal(a[3]["image"], c[3]["image"])


def test_cache_gives_the_same_items_and_keeps_them_unaugmented():
    plain = SyntheticDefects(n=12, size=48, seed=5)
    cached = SyntheticDefects(n=12, size=48, seed=5, cache=True)
    for i in (3, 3, 0, 11, 3):
        a, b = plain[i], cached[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
        assert a["meta"] == b["meta"]
        b["image"].zero_()  # what a caller does to its item must not reach the cache
        b["meta"]["name"] = "changed"
    assert sorted(cached.cache) == [0, 3, 11]
    assert torch.equal(cached[3]["image"], plain[3]["image"]) and cached[3]["meta"] == plain[3]["meta"]
    flip = lambda d: {k: v.flip(-1) for k, v in d.items()}  # noqa: E731
    flips = SyntheticDefects(n=12, size=48, seed=5, cache=True, transform=flip)
    assert torch.equal(flips[3]["image"], plain[3]["image"].flip(-1))
    assert torch.equal(flips[3]["image"], plain[3]["image"].flip(-1))  # twice: the cache holds the unflipped draw


def test_cache_rule_counts_float_images_and_bool_masks():
    from samtl_lite.data.io import CACHE_BYTES, cache_fits

    assert CACHE_BYTES == 2 * 1024**3
    per_sample = 128 * 128 * (4 + 1)  # float32 gray image + bool mask
    assert cache_fits(CACHE_BYTES // per_sample, 128, 1) and not cache_fits(CACHE_BYTES // per_sample + 1, 128, 1)
    assert cache_fits(2000, (192, 128), 3) and not cache_fits(40000, 128, 1) and not cache_fits(10, None, 1)
    train, val, test = get_splits("synthetic", 32, n_train=40, n_eval=20)
    assert train.cache == {} and val.cache == {} and test.cache is None  # test is read once: nothing to keep


def test_same_data_across_worker_counts():
    ds = SyntheticDefects(n=24, size=64, seed=3)
    batches = []
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=8, num_workers=workers)
        batches.append(torch.cat([b["image"] for b in loader]))
    assert torch.equal(batches[0], batches[1])


def test_item_format_and_label_follows_mask():
    ds = SyntheticDefects(n=300, size=(48, 80), seed=1, defect_rate=0.5)
    for i in range(len(ds)):
        item = ds[i]
        assert item["image"].shape == (1, 48, 80) and item["image"].dtype == torch.float32
        assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        assert float(item["label"]) == float(item["mask"].any())
        assert float(item["label"]) == ds.labels[i]  # `labels` is derived without drawing
        assert item["meta"]["area_fraction"] == pytest.approx(float(item["mask"].mean()))
        assert (item["meta"]["n_defects"] > 0) == bool(item["label"])


def test_defect_rate_within_binomial_tolerance():
    for rate in (0.1, 0.25, 0.6):
        y = SyntheticDefects(n=4000, defect_rate=rate, seed=5).labels
        assert abs(y.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / 4000)
    assert SyntheticDefects(n=50, defect_rate=0.0).labels.sum() == 0


def test_area_is_long_tailed():
    ds = SyntheticDefects(n=1200, size=128, seed=2)
    areas = np.array([ds[i]["meta"]["area_fraction"] for i in range(len(ds)) if ds.labels[i]])
    assert np.median(areas) < 0.002  # most defects are tiny...
    assert np.quantile(areas, 0.95) > 5 * np.median(areas)  # ...and a few are large


def test_contrast_knob_and_types_knob():
    ds = SyntheticDefects(n=200, seed=4, defect_rate=1.0, defect_types=("scratch",), contrast_range=(1.0, 2.0))
    for i in range(50):
        meta = ds[i]["meta"]
        assert set(meta["defect_class"].split("+")) == {"scratch"}
        assert 1.0 <= meta["contrast"] <= 2.0


def test_high_contrast_defects_stand_out_from_their_surroundings():
    """At 8 noise-stds, mask pixels differ from a ring of surrounding pixels by several ring stds."""
    ds = SyntheticDefects(n=40, size=96, seed=9, defect_rate=1.0, contrast_range=(7.9, 8.0),
                          defect_types=("pit", "scratch"), max_defects=1)
    for i in range(len(ds)):
        item = ds[i]
        mask = item["mask"][None]
        near = torch.nn.functional.max_pool2d(mask, 3, 1, 1)
        ring = (torch.nn.functional.max_pool2d(mask, 9, 1, 4) - near)[0, 0].bool()
        img = item["image"][0]
        inside = img[mask[0, 0].bool()]
        gap = abs(float(inside.mean()) - float(img[ring].mean()))
        assert gap > 2.0 * float(img[ring].std()), (i, item["meta"])


def test_three_channels_share_geometry():
    gray, colour = SyntheticDefects(n=5, seed=1, defect_rate=1.0), SyntheticDefects(n=5, seed=1, defect_rate=1.0,
                                                                                     channels=3)
    assert colour[2]["image"].shape[0] == 3
    assert torch.equal(gray[2]["mask"], colour[2]["mask"])


def test_polyline_distance_matches_hand_computation():
    d = polyline_distance(np.array([[2.0, 1.0], [2.0, 5.0]]), (5, 8))
    assert d[2, 3] == 0.0  # on the segment
    assert d[0, 3] == pytest.approx(2.0)  # two rows above
    assert d[2, 7] == pytest.approx(2.0)  # past the end point (2, 5)
    assert d[4, 0] == pytest.approx(np.hypot(2, 1))  # nearest to the start point (2, 1)
    # brute force over a bent line
    pts = np.array([[1.0, 1.0], [6.0, 3.0], [2.0, 9.0]])
    dense = np.concatenate([np.linspace(p, q, 400) for p, q in zip(pts[:-1], pts[1:])])
    ys, xs = np.mgrid[0:8, 0:11]
    brute = np.min(np.hypot(ys[..., None] - dense[:, 0], xs[..., None] - dense[:, 1]), axis=-1)
    assert np.allclose(polyline_distance(pts, (8, 11)), brute, atol=0.02)
    # origin shifts the grid
    assert np.allclose(polyline_distance(pts, (4, 5), origin=(2, 3)), brute[2:6, 3:8], atol=0.02)


def test_benchmark_splits_are_disjoint_and_fixed():
    tr, va = synthetic_benchmark("train", n=5), synthetic_benchmark("val", n=5)
    assert tr.seed != va.seed and len(synthetic_benchmark("test")) == 1000
    assert not torch.equal(tr[0]["image"], va[0]["image"])
    with pytest.raises(ValueError, match="split"):
        synthetic_benchmark("dev")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown defect types"):
        SyntheticDefects(defect_types=("dent",))
    with pytest.raises(ValueError, match="defect_rate"):
        SyntheticDefects(defect_rate=1.5)
    with pytest.raises(IndexError):
        SyntheticDefects(n=3)[3]
