"""Probes of `mt-cpu` that no option expresses: the library's part swapped for another, one seed, one thread.

    SAMTL_DATA_DIR=../shared/data python bench/probe_mt_cpu.py batch-dice --seed 2 --out runs/probe4/bdice-s2
    SAMTL_DATA_DIR=../shared/data python bench/probe_mt_cpu.py wide-decoder --seed 2 --out runs/probe4/wide-s2

- `batch-dice`: soft Dice pooled over the whole batch. `samtl_lite.losses.soft_dice` takes the ratio per sample and
  averages it, so a clean sample pays for every pixel it paints; pooled, its false pixels only enlarge the
  denominator, as in many implementations.
- `wide-decoder`: the U-Net decoder at the full width of its skips (64-32-16 channels) instead of half (32-16-8),
  so the mask is drawn from more features at every scale, at more arithmetic per step.

Prints the test split's numbers; docs/probes.md compares them with the recipe's own run of the same seed. Those
rows were recorded before `mt-cpu` read the flattened view of each image, so `--normalize` defaults to per-image here.
"""

from __future__ import annotations

import argparse

import torch

import samtl_lite.losses as losses
import samtl_lite.models.decoders as decoders
from samtl_lite.engine import recipe, train_and_evaluate


def batch_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - (2 Σ p·t + s) / (Σ p + Σ t + s), the sums taken over every pixel of the batch."""
    p, t = torch.sigmoid(logits).flatten(), target.flatten()
    return 1.0 - (2.0 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)


class WideUNetDecoder(decoders.UNetDecoder):
    """The U-Net decoder with each block as wide as its skip."""

    def __init__(self, encoder_channels: list[int], decoder_channels: tuple[int, ...] | None = None) -> None:
        super().__init__(encoder_channels, decoder_channels or tuple(encoder_channels[:-1][::-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("change", choices=("batch-dice", "wide-decoder"))
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", required=True)
    parser.add_argument("--normalize", choices=("per-image", "flatten"), default="per-image")
    parser.add_argument("--threads", type=int, default=1, help="2 pairs a run with the experiment's own (default: 1)")
    args = parser.parse_args()
    if args.change == "batch-dice":
        losses.soft_dice = batch_dice  # JointLoss looks the function up in its module at every step
    else:
        decoders.DECODERS["unet"] = WideUNetDecoder  # build_model looks the class up when it builds the model
    torch.set_num_threads(args.threads)
    config = recipe("mt-cpu", seed=args.seed, threads=args.threads, normalize=args.normalize)
    m = train_and_evaluate(config, args.out, progress=False)["test"]
    print(f"test AP {m['ap']:.3f}; recall {m['recall_at_fpr_1pct']:.3f} / {m['recall_at_fpr_5pct']:.3f} at 1% / 5% "
          f"false alarms; masks Seg_Recall {m['seg_recall']:.3f}, Seg_Accuracy {m['seg_accuracy']:.3f}, "
          f"Seg_mIoU {m['seg_miou']:.3f}")


if __name__ == "__main__":
    main()
