"""Probe: soft Dice pooled over the whole batch instead of per sample, on `mt-cpu`.

    SAMTL_DATA_DIR=../shared/data python bench/probe_batch_dice.py --seed 2 --out runs/probe4/bdice-s2

`samtl_lite.losses.soft_dice` takes the Dice ratio per sample and averages it, so a clean sample pays for every
pixel it paints. Many implementations pool the batch into one ratio instead, where a clean sample's false pixels
only enlarge the denominator. This trains `mt-cpu` (one thread) with the pooled version swapped in and prints
the test split's numbers; docs/results.md compares them with the recipe's own run of the same seed.
"""

from __future__ import annotations

import argparse

import torch

import samtl_lite.losses as losses
from samtl_lite.engine import recipe, train_and_evaluate


def batch_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - (2 Σ p·t + s) / (Σ p + Σ t + s), the sums taken over every pixel of the batch."""
    p, t = torch.sigmoid(logits).flatten(), target.flatten()
    return 1.0 - (2.0 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    losses.soft_dice = batch_dice  # JointLoss looks the function up in its module at every step
    torch.set_num_threads(1)
    m = train_and_evaluate(recipe("mt-cpu", seed=args.seed, threads=1), args.out, progress=False)["test"]
    print(f"test AP {m['ap']:.3f}; recall {m['recall_at_fpr_1pct']:.3f} / {m['recall_at_fpr_5pct']:.3f} at 1% / 5% "
          f"false alarms; masks Seg_Recall {m['seg_recall']:.3f}, Seg_Accuracy {m['seg_accuracy']:.3f}, "
          f"Seg_mIoU {m['seg_miou']:.3f}")


if __name__ == "__main__":
    main()
