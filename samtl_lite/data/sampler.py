"""A sampler that shows the model enough defective samples when defects are rare."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from samtl_lite.errors import DataError


def balanced_sampler(
    labels: Sequence[float] | np.ndarray,
    pos_fraction: float = 0.5,
    num_samples: int | None = None,
    seed: int | None = None,
) -> WeightedRandomSampler:
    """Draw samples with replacement so that, on average, `pos_fraction` of each batch is defective
    (taught in 01_defect_data).

    With 5% defective parts, a plain shuffle puts about one defect in a batch of 16; the
    sample-level head then learns mostly "clean". `num_samples` defaults to the dataset length.
    """
    y = np.asarray(labels, dtype=np.float64) > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not 0.0 < pos_fraction < 1.0:
        raise ValueError(f"pos_fraction must lie strictly between 0 and 1, got {pos_fraction}")
    if n_pos == 0 or n_neg == 0:
        raise DataError(
            f"balanced batches need both defective and clean training samples, got {n_pos} defective and "
            f"{n_neg} clean. Train with a plain shuffle (--no-balanced), or add "
            f"{'defective' if n_pos == 0 else 'clean'} samples to the training split."
        )
    weights = np.where(y, pos_fraction / n_pos, (1.0 - pos_fraction) / n_neg)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double),
        num_samples=len(y) if num_samples is None else num_samples,
        replacement=True,
        generator=generator,
    )
