"""Input checks shared by every metric and threshold function (taught in 05_metrics).

A metric computed from bad input gives a wrong number without saying so: a NaN score sorts anywhere,
a NaN threshold calls every sample clean, a false-alarm rate of -0.1 asks for fewer than no false
alarms, arrays of different lengths broadcast. These checks turn each such case into a `MetricError`
that names the argument and the fix, before anything is computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
import torch

from samtl_lite.errors import MetricError

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


def to_numpy(x: ArrayLike) -> np.ndarray:
    """A tensor, array or list as a flat float64 numpy array (tensors are detached and moved to the CPU;
    taught in 05_metrics)."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _finite(x: np.ndarray, name: str) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        raise MetricError(f"{name} contain NaN or inf ({int(bad.sum())} of {x.size}, the first at position "
                          f"{int(np.flatnonzero(bad)[0])}); check the model's outputs (or the data) before computing "
                          "metrics")
    return x


def _binary(x: np.ndarray, name: str) -> np.ndarray:
    bad = (x != 0) & (x != 1)
    if bad.any():
        first = x[np.flatnonzero(bad)[0]]
        raise MetricError(f"{name} must be 0 (clean) or 1 (defective), but {int(bad.sum())} of {x.size} are not "
                          f"(e.g. {first!r}); pass labels as 0/1 or bool, e.g. `mask.sum() > 0`")
    return x > 0.5


def check_samples(*named: tuple[str, ArrayLike], empty_ok: bool = False) -> list[np.ndarray]:
    """Flat float arrays of the named per-sample inputs, after checking that they have one length and are
    finite, and that any argument named `labels` or `decisions` holds only 0/1 (returned as bool); raises
    `MetricError` naming the argument and the fix, and on no samples unless `empty_ok` (taught in 05_metrics)."""
    arrays = [to_numpy(x) for _, x in named]
    sizes = {name: a.size for (name, _), a in zip(named, arrays)}
    if len(set(sizes.values())) > 1:
        raise MetricError("one value per sample is needed, but the lengths differ: "
                          + ", ".join(f"{n} {s}" for n, s in sizes.items())
                          + "; pass arrays of the same samples in the same order")
    if not empty_ok and arrays and arrays[0].size == 0:
        raise MetricError("no samples given (" + ", ".join(sizes) + " are empty): the metric is undefined; "
                          "evaluate on a split that holds samples")
    out = []
    for (name, _), a in zip(named, arrays):
        _finite(a, name)
        out.append(_binary(a, name) if name in ("labels", "decisions") else a)
    return out


def check_fraction(value: float, name: str) -> float:
    """`value` as a float in [0, 1] (a rate such as a false-alarm budget, or a probability threshold);
    raises `MetricError` naming `name` otherwise, NaN included (taught in 05_metrics)."""
    v = _number(value, name)
    if not 0.0 <= v <= 1.0:
        raise MetricError(f"{name}={value!r} is not in [0, 1]: give a share between 0 and 1 (e.g. 0.05 for 5%)")
    return v


def check_threshold(value: float, name: str = "threshold") -> float:
    """`value` as a float that is not NaN: a score threshold may be any number (scores >= it are flagged;
    inf flags nothing, -inf everything); raises `MetricError` on NaN, which would flag nothing silently
    (taught in 05_metrics)."""
    return _number(value, name)


def _number(value: float, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise MetricError(f"{name}={value!r} is not a number: give a number")
    v = float(value)
    if math.isnan(v):
        raise MetricError(f"{name} is NaN: every comparison with NaN is false, so it would silently flag no sample "
                          "(or every one). Give a number")
    return v
