"""The sample-level classification head, as a plugin on any encoder.

Taught in 03_heads. Quality control decides per sample: "is this part defective?". This head answers
that question directly from the encoder's deepest features, so its loss (one term per sample, not
per pixel) sends gradient into the shared encoder however few pixels the defect covers.
"""

from __future__ import annotations

import torch
from torch import nn


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Average and max over the spatial dimensions, concatenated: [B, C, H, W] -> [B, 2C]
    (taught in 03_heads). The max keeps a tiny defect's response that the average dilutes."""
    return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


class ClsHead(nn.Module):
    """Global average + max pooling, a small MLP, one defect logit per sample (taught in 03_heads).

    `use_mask=True` also pools the segmentation logits (SegDecNet-style), so the head can read the
    mask's evidence. `detach_input=True` stops this head's gradient at its input: the encoder then
    learns from the mask alone, which is the ablation that tells whether the *gradient* matters.
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int = 64,
        dropout: float = 0.0,
        detach_input: bool = False,
        use_mask: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.detach_input, self.use_mask = in_channels, detach_input, use_mask
        self.mlp = nn.Sequential(
            nn.Linear(2 * in_channels + (2 if use_mask else 0), hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor, mask_logits: torch.Tensor | None = None) -> torch.Tensor:
        if self.detach_input:
            features = features.detach()
            mask_logits = None if mask_logits is None else mask_logits.detach()
        pooled = global_pool(features)
        if self.use_mask:
            if mask_logits is None:
                raise ValueError("ClsHead(use_mask=True) needs the mask logits; the model has no decoder")
            pooled = torch.cat([pooled, global_pool(mask_logits)], dim=1)
        return self.mlp(pooled).squeeze(1)
