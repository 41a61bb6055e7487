"""Paired per-seed differences and the bootstrap interval of their mean (taught in 07_experiment), on cases
small enough to work out by hand."""

import numpy as np
import pytest

from samtl_lite.engine.experiment import bootstrap_interval, paired_differences


def table(mtl, seg):
    return {"mtl": {"ap": {"values": mtl}}, "seg-only": {"ap": {"values": seg}}}


def test_paired_differences_are_taken_seed_by_seed():
    diff = paired_differences(table([0.8, 0.7, 0.6], [0.7, 0.6, 0.65]), "mtl", "seg-only", "ap")
    assert diff == pytest.approx([0.1, 0.1, -0.05])
    assert paired_differences(table([0.8, 0.7, 0.6], [0.7, 0.6, 0.65]), "seg-only", "mtl", "ap") == pytest.approx(
        [-0.1, -0.1, 0.05])


def test_a_seed_without_a_value_stays_nan_and_unequal_seeds_are_refused():
    diff = paired_differences(table([0.8, None], [0.5, 0.5]), "mtl", "seg-only", "ap")  # None: a JSON null
    assert diff[0] == pytest.approx(0.3) and np.isnan(diff[1])
    with pytest.raises(ValueError, match="mtl has 3 seeds and seg-only 2"):
        paired_differences(table([0.8, 0.7, 0.6], [0.7, 0.6]), "mtl", "seg-only", "ap")


def test_constant_values_give_a_point_interval():
    assert bootstrap_interval([0.25, 0.25, 0.25]) == (0.25, 0.25)


def test_two_values_resample_to_three_means():
    # resampling [0, 1] twice gives the means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_interval([0.0, 1.0], level=0.95) == (0.0, 1.0)  # 2.5% and 97.5% fall in the outer quarters
    assert bootstrap_interval([0.0, 1.0], level=0.4) == (0.5, 0.5)  # 30% and 70% fall in the middle half


def test_three_seeds_with_one_outlier():
    # resampling [0, 0, 3]: the mean is k, the number of 3s drawn, k ~ Binomial(3, 1/3):
    # P(k=0) = 8/27 = 0.30, P(k<=1) = 20/27 = 0.74, P(k<=2) = 26/27 = 0.963
    assert bootstrap_interval([0.0, 0.0, 3.0], level=0.9) == (0.0, 2.0)  # 95% < 0.963: the top is k = 2
    assert bootstrap_interval([0.0, 0.0, 3.0], level=0.95) == (0.0, 3.0)  # 97.5% > 0.963: the top is k = 3


def test_the_interval_is_the_percentile_bootstrap_of_a_seeded_generator():
    values = np.array([0.04, 0.06, -0.01])
    rng = np.random.default_rng(7)
    means = values[rng.integers(0, 3, size=(500, 3))].mean(axis=1)
    assert bootstrap_interval(values, n_boot=500, level=0.8, seed=7) == (np.quantile(means, 0.1),
                                                                         np.quantile(means, 0.9))
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    spread = np.random.default_rng(0).normal(size=10)
    assert bootstrap_interval(spread, n_boot=1000, seed=0) != bootstrap_interval(spread, n_boot=1000, seed=1)
    lo, hi = bootstrap_interval(values)
    assert values.min() <= lo < values.mean() < hi <= values.max()


@pytest.mark.parametrize("bad", [[], [0.1, float("nan")]])
def test_no_interval_without_finite_values(bad):
    with pytest.raises(ValueError, match="needs finite values"):
        bootstrap_interval(bad)


def test_level_must_be_a_share():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        bootstrap_interval([0.1, 0.2], level=95)


def test_bins_tables_label_and_scale_their_edges_and_skip_empty_bins():
    from samtl_lite.engine.experiment import bins_table

    def bins(edges, ns, recalls):
        return [{"lo": lo, "hi": hi, "n": n, "recall": r} for (lo, hi), n, r in zip(zip(edges, edges[1:]), ns, recalls)]

    summary = {"seg-only": {"recall_by_area": bins([0, 1e-3, 1.0], [3, 5], [1 / 3, 0.8]),
                            "recall_by_contrast": bins([0, 2, 8], [0, 8], [float("nan"), 0.75])},
               "mtl": {"recall_by_area": bins([0, 1e-3, 1.0], [3, 5], [2 / 3, 1.0]),
                       "recall_by_contrast": bins([0, 2, 8], [0, 8], [float("nan"), 1.0])}}
    assert bins_table(summary).splitlines() == [
        "| defect area (% of image) | n | seg-only | mtl |", "|---|---|---|---|",
        "| 0–0.1 | 3 | 0.33 | 0.67 |", "| 0.1–100 | 5 | 0.80 | 1.00 |"]
    assert bins_table(summary, "recall_by_contrast").splitlines()[2:] == ["| 2–8 | 8 | 0.75 | 1.00 |"]
    assert bins_table({"mtl": {}}, "recall_by_contrast") == ""
