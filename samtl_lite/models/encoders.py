"""Encoders: the shared trunk that turns an image into a list of feature maps, finest first.

Taught in 02_shared_encoder. Every encoder here exposes the same three things, so decoders and heads
can be written once: `forward(x) -> list[Tensor]`, `out_channels` (one per feature map) and `strides`
(how many input pixels one feature pixel spans, per map).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU: the brick every stage is built of (taught in 02_shared_encoder)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


TINY_CHANNELS = (16, 32, 64, 128)  # the tiny encoder's stages: each halves the resolution
BACKBONE_STRIDES = (2, 4, 8, 16, 32)  # the torchvision backbones' tapped maps (`BACKBONE_NODES`)


class TinyEncoder(nn.Module):
    """Four stages, each halving the resolution: 16-32-64-128 channels at strides 2-4-8-16
    (taught in 02_shared_encoder). Small enough to train at about 200 images/s at 128² on two CPU cores.
    """

    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = TINY_CHANNELS) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = list(channels)
        self.strides = [2 ** (i + 1) for i in range(len(channels))]
        stages, prev = [], in_channels
        for c in channels:
            stages.append(nn.Sequential(conv_bn_relu(prev, c, stride=2), conv_bn_relu(c, c)))
            prev = c
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


# torchvision backbones: which internal nodes to tap, at strides 2, 4, 8, 16, 32
BACKBONE_NODES = {
    "resnet18": ["relu", "layer1", "layer2", "layer3", "layer4"],
    "resnet34": ["relu", "layer1", "layer2", "layer3", "layer4"],
    "mobilenet_v3_large": ["features.1", "features.3", "features.6", "features.12", "features.16"],
    "efficientnet_b0": ["features.1", "features.2", "features.3", "features.5", "features.8"],
}


def adapt_first_conv(model: nn.Module, in_channels: int, views: int = 1) -> nn.Module:
    """Give a 3-channel network an `in_channels`-channel input, or `views` such inputs stacked
    (taught in 02_shared_encoder).

    For a gray image fed to an RGB network, the sum of the first convolution's weights over its
    input channels gives exactly the response the RGB network would have to that gray image
    repeated three times, so pretrained weights keep their meaning. Further views of the image
    (`normalize="flatten"` in 03_heads) start at zero weight: the network answers as it was
    trained to until training teaches it to read them.
    """
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    if conv.in_channels == in_channels * views:
        return model
    new = nn.Conv2d(in_channels * views, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, :in_channels] = conv.weight.sum(dim=1, keepdim=True) if in_channels == 1 else conv.weight
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    setattr(parent, name.rsplit(".", 1)[-1], new)
    return model


def load_weights(name: str, weights: str | Path | None) -> nn.Module:
    """A torchvision classification model with `weights`: None (random), a torchvision weights name
    such as "IMAGENET1K_V1" (downloaded by torchvision), or the path of a saved state dict
    (taught in 02_shared_encoder)."""
    builder = getattr(torchvision.models, name)
    if weights is None or not Path(str(weights)).is_file():
        return builder(weights=weights)
    model = builder(weights=None)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model


class TorchvisionEncoder(nn.Module):
    """A torchvision classification backbone cut into a five-level feature extractor
    (taught in 02_shared_encoder). `weights=None` by default: nothing is downloaded. It reads
    `views` stacked views of an `in_channels`-channel image (`adapt_first_conv`).
    """

    def __init__(self, name: str = "resnet18", in_channels: int = 1, weights: str | Path | None = None,
                 views: int = 1) -> None:
        super().__init__()
        if name not in BACKBONE_NODES:
            raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONE_NODES)}")
        model = adapt_first_conv(load_weights(name, weights), in_channels, views)
        nodes = BACKBONE_NODES[name]
        self.body = create_feature_extractor(model, return_nodes={n: str(i) for i, n in enumerate(nodes)})
        self.in_channels, self.name = in_channels * views, name
        self.strides = list(BACKBONE_STRIDES)
        with torch.no_grad():
            was_training = self.body.training
            probe = self.body.eval()(torch.zeros(1, self.in_channels, 64, 64))
            self.body.train(was_training)
        self.out_channels = [f.shape[1] for f in probe.values()]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x).values())


ENCODERS = ("tiny", *BACKBONE_NODES)


def encoder_stride(name: str) -> int:
    """The total stride of encoder `name` (how many input pixels its deepest feature pixel spans), read from the
    encoder's definition without building it (taught in 02_shared_encoder)."""
    if name == "tiny":
        return 2 ** len(TINY_CHANNELS)
    if name in BACKBONE_NODES:
        return BACKBONE_STRIDES[-1]
    raise ValueError(f"unknown encoder {name!r}; choose from {ENCODERS}")


def build_encoder(name: str = "tiny", in_channels: int = 1, weights: str | Path | None = None,
                  views: int = 1) -> nn.Module:
    """An encoder by name: "tiny" or a torchvision backbone, reading `views` stacked views of an
    `in_channels`-channel image (taught in 02_shared_encoder)."""
    if name == "tiny":
        if weights is not None:
            raise ValueError("the tiny encoder has no pretrained weights; pass weights=None")
        return TinyEncoder(in_channels * views)
    return TorchvisionEncoder(name, in_channels, weights, views)
