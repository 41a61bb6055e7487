"""The joint loss: what the multi-task network is optimised for.

Taught in 04_joint_loss. `L = w_seg * L_seg + w_cls * L_cls`, 0.5/0.5 by default (Dong et al., 2025).
The segmentation term is a mean over pixels, where a tiny defect is a handful of terms among
thousands; the classification term is one term per sample, however small its defect. The single-task
baselines are the same loss with one weight at 0.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from samtl_lite.models.net import Output

SEG_LOSSES = ("bce", "dice", "bce+dice", "focal")
CLS_LOSSES = ("bce", "focal")


def bce(logits: torch.Tensor, target: torch.Tensor, pos_weight: float | None = None,
        weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy on logits, averaged over every element (taught in 04_joint_loss).

    `pos_weight` multiplies the positive (defect) terms; `weight` is a per-element weight map.
    """
    pw = None if pos_weight is None else torch.tensor(pos_weight, device=logits.device, dtype=logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight, pos_weight=pw)


def focal(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float | None = None,
          weight: torch.Tensor | None = None) -> torch.Tensor:
    """Focal loss (Lin et al., 2017): BCE scaled by (1 - p_t)^gamma, so easy background pixels count
    little (taught in 04_joint_loss). `alpha` weights positives, 1 - alpha negatives."""
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = torch.exp(-ce)  # the probability given to the true class
    loss = (1.0 - p_t) ** gamma * ce
    if alpha is not None:
        loss = loss * (alpha * target + (1.0 - alpha) * (1.0 - target))
    if weight is not None:
        loss = loss * weight
    return loss.mean()


def soft_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per sample, averaged over the batch (taught in 04_joint_loss).

    `1 - (2 Σ p·t + s) / (Σ p + Σ t + s)` with smoothing `s`. A defect-free sample (Σ t = 0) still pays
    `Σ p / (Σ p + s)` for every false-positive pixel it predicts; implementations that skip empty
    masks, or compute `1 - 0/0 := 0`, let a model paint defects on clean parts for free.
    """
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    dice = (2.0 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return (1.0 - dice).mean()


def distance_weights(mask: torch.Tensor, power: float = 2.0, max_iter: int = 64) -> torch.Tensor:
    """Weight map for positive pixels by their distance to the defect's edge, SegDecNet++-style
    (taught in 04_joint_loss).

    Background pixels weigh 1. A defect pixel weighs `(d / d_max)^power` (at least 1/d_max^power),
    where `d` is its chessboard distance to the nearest background pixel, computed by repeated
    erosion, and `d_max` the largest `d` in its sample: annotators draw edges loosely, centres surely.
    """
    depth = torch.zeros_like(mask)
    current = mask.float()
    for _ in range(max_iter):
        if not current.any():
            break
        depth += current
        current = -F.max_pool2d(-current, 3, stride=1, padding=1)  # erode by one pixel
    d_max = depth.flatten(1).amax(1).clamp(min=1.0).view(-1, *[1] * (mask.dim() - 1))
    return torch.where(mask > 0, (depth / d_max) ** power, torch.ones_like(depth))


class LossParts(NamedTuple):
    """The total loss and its two terms, for logging (taught in 04_joint_loss)."""

    total: torch.Tensor
    seg: torch.Tensor
    cls: torch.Tensor


VARIANT_WEIGHTS = {"mtl": (0.5, 0.5), "seg-only": (0.5, 0.0), "cls-only": (0.0, 0.5)}
SCHEDULES = ("constant", "dynamic", "uncertainty")


class JointLoss(nn.Module):
    """`L = w_seg * L_seg + w_cls * L_cls` (taught in 04_joint_loss).

    `seg`: "bce", "dice" (soft Dice that also penalises clean samples), "bce+dice" or "focal";
    `pos_weight` (BCE) and `distance_weighting` (BCE and focal) apply to it. `cls`: "bce" (with
    `cls_pos_weight`) or "focal". `schedule="dynamic"` replaces the fixed weights by SegDecNet++'s
    `w_seg = 1 - e/E`, `w_cls = delta * e/E`, advanced with `set_progress(e, E)` each epoch.
    `schedule="uncertainty"` learns the balance (Kendall et al., 2018): `L = sum_i 0.5 * (exp(-s_i) L_i + s_i)`
    with one learnable log-variance `s_i` per term, starting at 0 (that is, at 0.5/0.5); the optimiser
    must then also train this module's parameters.
    """

    def __init__(
        self,
        seg: str = "bce",
        cls: str = "bce",
        w_seg: float = 0.5,
        w_cls: float = 0.5,
        pos_weight: float | None = None,
        cls_pos_weight: float | None = None,
        distance_weighting: bool = False,
        gamma: float = 2.0,
        schedule: str = "constant",
        delta: float = 1.0,
    ) -> None:
        super().__init__()
        if seg not in SEG_LOSSES or cls not in CLS_LOSSES:
            raise ValueError(f"seg must be one of {SEG_LOSSES} and cls one of {CLS_LOSSES}, got {seg!r}, {cls!r}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if schedule != "constant" and (w_seg, w_cls) != (0.5, 0.5):
            raise ValueError(f"schedule={schedule!r} sets both weights itself; it applies to the mtl variant, so "
                             "leave w_seg and w_cls at their defaults")
        if pos_weight is not None and "bce" not in seg:
            raise ValueError(f"pos_weight applies to the BCE term; seg={seg!r} has none (use 'bce' or 'bce+dice')")
        if distance_weighting and seg == "dice":
            raise ValueError("distance_weighting weights per-pixel terms (BCE, focal); seg='dice' has none")
        self.seg, self.cls, self.pos_weight, self.cls_pos_weight = seg, cls, pos_weight, cls_pos_weight
        self.distance_weighting, self.gamma, self.schedule, self.delta = distance_weighting, gamma, schedule, delta
        self.w_seg, self.w_cls = (0.0, 0.0) if schedule == "dynamic" else (w_seg, w_cls)
        if schedule == "dynamic":
            self.set_progress(0, 1)
        # learnable log-variances of the two terms (uncertainty weighting); none otherwise
        self.log_vars = nn.Parameter(torch.zeros(2)) if schedule == "uncertainty" else None

    @classmethod
    def for_variant(cls, name: str, **kwargs) -> JointLoss:
        """The loss of a model variant: "mtl" 0.5/0.5, "seg-only" 0.5/0, "cls-only" 0/0.5."""
        w_seg, w_cls = VARIANT_WEIGHTS[name]
        return cls(w_seg=w_seg, w_cls=w_cls, **kwargs)

    def set_progress(self, epoch: int, epochs: int) -> None:
        """Move the dynamic schedule to `epoch` of `epochs` (no effect on constant weights)."""
        if self.schedule == "dynamic":
            frac = epoch / max(epochs, 1)
            self.w_seg, self.w_cls = 1.0 - frac, self.delta * frac

    def weights(self) -> tuple[float, float]:
        """The weights of the two terms now: fixed, scheduled, or learned (`0.5 * exp(-s_i)`)."""
        if self.log_vars is not None:
            w = 0.5 * torch.exp(-self.log_vars.detach())
            return float(w[0]), float(w[1])
        return float(self.w_seg), float(self.w_cls)

    def seg_loss(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weight = distance_weights(mask) if self.distance_weighting else None
        if self.seg == "focal":
            return focal(logits, mask, self.gamma, weight=weight)
        loss = torch.zeros((), device=logits.device)
        if "bce" in self.seg:
            loss = loss + bce(logits, mask, self.pos_weight, weight)
        if "dice" in self.seg:
            loss = loss + soft_dice(logits, mask)
        return loss

    def cls_loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.cls == "focal":
            return focal(logits, label, self.gamma)
        return bce(logits, label, self.cls_pos_weight)

    def forward(self, out: Output, mask: torch.Tensor, label: torch.Tensor) -> LossParts:
        zero = torch.zeros((), device=mask.device)
        parts = []
        for name, logits, weight, fn, target in (
            ("mask", out.mask_logits, self.w_seg, self.seg_loss, mask),
            ("classification", out.cls_logits, self.w_cls, self.cls_loss, label),
        ):
            if logits is None:
                if weight != 0:
                    raise ValueError(f"the model has no {name} output, so its loss weight must be 0, got {weight}")
                parts.append(zero)
            else:
                parts.append(fn(logits.float(), target.float()))
        seg, cls = parts
        if self.log_vars is not None:
            s = self.log_vars.to(seg.device)
            total = 0.5 * (torch.exp(-s[0]) * seg + s[0] + torch.exp(-s[1]) * cls + s[1])
            return LossParts(total, seg.detach(), cls.detach())
        return LossParts(self.w_seg * seg + self.w_cls * cls, seg.detach(), cls.detach())
