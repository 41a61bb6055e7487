"""Segmentation decoders: from the encoder's feature list back to a defect mask at input resolution.

Taught in 03_heads. Deep features know *what* is there but have lost *where*: a 2-pixel scratch is a
fraction of one pixel at stride 16. Skip connections hand the fine, shallow features back to the
decoder so the mask can keep shape and boundary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from samtl_lite.models.encoders import conv_bn_relu


class UNetDecoder(nn.Module):
    """U-Net decoder: upsample x2, concatenate the skip of that scale, two conv blocks; repeat
    (taught in 03_heads). Returns one defect logit per pixel at the finest feature's resolution;
    `MultiTaskNet` upsamples it to the input size. By default each block has half the channels of
    its skip: about a third faster than a full-width decoder on CPU for the tiny encoder.
    """

    def __init__(self, encoder_channels: list[int], decoder_channels: tuple[int, ...] | None = None) -> None:
        super().__init__()
        skips = encoder_channels[:-1][::-1]  # finer features, deepest first
        decoder_channels = decoder_channels or tuple(max(c // 2, 8) for c in skips)  # light by default
        if len(decoder_channels) != len(skips):
            raise ValueError(f"need {len(skips)} decoder channels, got {decoder_channels}")
        blocks, prev = [], encoder_channels[-1]
        for skip, out in zip(skips, decoder_channels):
            blocks.append(nn.Sequential(conv_bn_relu(prev + skip, out), conv_bn_relu(out, out)))
            prev = out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(prev, 1, 3, padding=1)
        self.out_channels = prev

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for block, skip in zip(self.blocks, features[:-1][::-1]):
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


class FPNDecoder(nn.Module):
    """A light feature-pyramid decoder: 1x1 lateral convs, top-down sums, then every level upsampled
    to the finest and added (taught in 03_heads). Fewer parameters than a U-Net for wide backbones.
    """

    def __init__(self, encoder_channels: list[int], channels: int = 64) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in encoder_channels)
        self.smooth = nn.ModuleList(conv_bn_relu(channels, channels) for _ in encoder_channels)
        self.head = nn.Conv2d(channels, 1, 3, padding=1)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.lateral[-1](features[-1])
        levels = [self.smooth[-1](x)]
        for i in range(len(features) - 2, -1, -1):
            x = self.lateral[i](features[i]) + F.interpolate(x, size=features[i].shape[-2:], mode="nearest")
            levels.append(self.smooth[i](x))
        finest = levels[-1].shape[-2:]
        merged = sum(F.interpolate(lv, size=finest, mode="bilinear", align_corners=False) for lv in levels)
        return self.head(merged)


DECODERS = {"unet": UNetDecoder, "fpn": FPNDecoder}
