"""The multi-task network: one shared encoder, a segmentation decoder, a sample-level head.

Taught in 03_heads. One forward returns named outputs, `mask_logits` [B,1,H,W] at the input's size
and `cls_logits` [B]; either is None for the single-task baselines. `sample_scores` turns any variant's
output into one defect score per sample, so training and metrics need not know which variant runs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from samtl_lite.models.decoders import DECODERS
from samtl_lite.models.encoders import ENCODERS, adapt_first_conv, build_encoder, encoder_stride
from samtl_lite.models.heads import ClsHead


class Output(NamedTuple):
    """What every model returns (taught in 03_heads)."""

    mask_logits: torch.Tensor | None  # [B, 1, H, W], defect logit per pixel
    cls_logits: torch.Tensor | None  # [B], defect logit per sample


SCORE_MODES = ("auto", "cls", "max", "topk")


def standardize(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Each image, each channel, to zero mean and unit spread (taught in 03_heads).

    A 5σ scratch is 0.05 grey levels on a smooth part and 0.25 on brushed metal. Dividing each
    image by its own spread puts both on one scale, which is what lets one network see faint defects
    on quiet and busy surfaces alike (on the synthetic benchmark it is the difference between learning
    in a few hundred steps and not at all). Under uneven light the spread is mostly the light's:
    `flatten_lighting` takes it away first.
    """
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True) if x.shape[2] * x.shape[3] > 1 else torch.ones_like(mean)
    return (x - mean) / (std + eps)


def mirror_pad(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Pad `dim` by `radius` on both ends with the image turned through 180° about each edge pixel
    (taught in 03_heads): 2·edge − reflection. Unlike a plain reflection, this continues a slope, so a
    blur of a lighting gradient stays a gradient up to the border instead of bending there."""
    n = x.shape[dim]
    head = 2 * x.narrow(dim, 0, 1) - x.narrow(dim, 1, radius).flip(dim)
    tail = 2 * x.narrow(dim, n - 1, 1) - x.narrow(dim, n - 1 - radius, radius).flip(dim)
    return torch.cat([head, x, tail], dim=dim)


def reflect_pad(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Pad `dim` (-1 or -2) by `radius` on both ends with the image mirrored about each edge pixel, a plain
    reflection (taught in 03_heads). A defect that touches the border is mirrored into the pad as itself, so the
    lighting estimate stays below it; a lighting gradient bends a little near the border instead."""
    return F.pad(x, (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius), mode="reflect")


# how `gaussian_blur` pads the border: "mirror" keeps a slope (`mirror_pad`), "reflect" keeps a border defect
# (`reflect_pad`); on Magnetic Tile, where most defective tiles have defect pixels at the border, "reflect" measured
# better (docs/probes.md, "At the border")
PADS = {"mirror": mirror_pad, "reflect": reflect_pad}


def check_pad(pad: str) -> None:
    """A ValueError that names the choices unless `pad` is one of `PADS` (taught in 03_heads)."""
    if pad not in PADS:
        raise ValueError(f"lighting pad must be one of {tuple(PADS)}, got {pad!r}")


def gaussian_blur(x: torch.Tensor, sigma: float, pad: str = "mirror") -> torch.Tensor:
    """Blur each channel of [B, C, H, W] with a Gaussian of `sigma` pixels (taught in 03_heads).

    As two 1-D passes (rows, then columns), about 15x faster than a 2-D kernel at σ = 8, which matters inside
    every forward pass; the edges are padded as `pad` names (`PADS`). Away from the border it equals torchvision's
    `gaussian_blur` with a kernel of 2·round(3σ)+1 pixels; with `pad="reflect"`, everywhere."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    check_pad(pad)
    radius = min(round(3 * sigma), x.shape[-2] - 1, x.shape[-1] - 1)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.conv2d(PADS[pad](x, radius, -1), kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(PADS[pad](x, radius, -2), kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


LIGHTING_SCALE = 16  # the lighting is what varies over more than 1/16 of the image's shorter side


def flatten_lighting(x: torch.Tensor, pad: str = "mirror") -> torch.Tensor:
    """Each image minus its lighting, standardised: the lighting is a Gaussian blur of σ = the shorter side / 16
    (taught in 03_heads).

    `standardize` divides by the image's whole spread, and on a smooth part under uneven light the light's
    gradient is most of it: a 5σ pit keeps a fraction of its five units (under 0.7 in `tests/test_models.py`).
    With the slow lighting taken away, what is left is texture, noise and defects, so a defect is measured against
    the noise around it, the unit in which the synthetic benchmark states contrast. What this view loses, the
    standardised image beside it keeps (`NORMALIZE`): stains wider than the blur lose part of their contrast, a defect
    touching the border fades with `pad="mirror"` (`mirror_pad` continues it into the pad, so the lighting estimate
    follows it; at a corner pixel the blur is the pixel itself; `pad="reflect"` keeps it), and with `resize="pad"`
    the step into the padding leaves a halo.
    Computed in float32 even under autocast: in bf16 the lighting estimate would come in steps of a sizeable share of
    the noise."""
    sigma = min(x.shape[-2:]) / LIGHTING_SCALE
    with torch.autocast(x.device.type, enabled=False):
        image = x.float()
        return standardize(image - gaussian_blur(image, sigma, pad)).to(x.dtype)


# what the network reads: "per-image", the standardised image; "flatten", that and `flatten_lighting` beside it
NORMALIZE = {"per-image": 1, "flatten": 2}  # how many views of each image channel the encoder reads


def input_views(normalize: str) -> int:
    """How many views of each image channel the network reads for `normalize`; a ValueError names the choices
    (taught in 03_heads)."""
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {tuple(NORMALIZE)}, got {normalize!r}")
    return NORMALIZE[normalize]


def model_input(x: torch.Tensor, normalize: str = "per-image", lighting_pad: str = "mirror") -> torch.Tensor:
    """The network's input for images `x` in [0, 1]: see `NORMALIZE`; `lighting_pad` is `flatten_lighting`'s `pad`
    (taught in 03_heads)."""
    input_views(normalize)
    views = [standardize(x), flatten_lighting(x, lighting_pad)] if normalize == "flatten" else [standardize(x)]
    return torch.cat(views, dim=1)


def sample_scores(out: Output, mode: str = "auto", k: int = 16) -> torch.Tensor:
    """One defect probability per sample, [B] (taught in 03_heads).

    "cls": the head's sigmoid. "max": the largest pixel probability of the mask, the natural score
    of a seg-only model. "topk": the mean of the `k` largest pixel probabilities, less noisy than the
    max. "auto": "cls" when the model has a head, else "max".
    """
    if mode == "auto":
        mode = "cls" if out.cls_logits is not None else "max"
    if mode == "cls":
        if out.cls_logits is None:
            raise ValueError("this model has no classification head; use mode='max' or 'topk'")
        return torch.sigmoid(out.cls_logits)
    if out.mask_logits is None:
        raise ValueError(f"mode={mode!r} needs mask logits, but this model has no decoder")
    flat = out.mask_logits.flatten(1)
    if mode == "max":
        return torch.sigmoid(flat.amax(dim=1))
    if mode == "topk":
        return torch.sigmoid(flat.topk(min(k, flat.shape[1]), dim=1).values).mean(dim=1)
    raise ValueError(f"mode must be one of {SCORE_MODES}, got {mode!r}")


class MultiTaskNet(nn.Module):
    """Encoder + optional decoder + optional `ClsHead`, in the style of segmentation_models_pytorch
    (taught in 03_heads).

    Any input size works: the input is padded (edge pixels repeated) to a multiple of the encoder's
    total stride and the mask is cropped back, so odd sizes such as 97x131 come out 97x131. Inputs in
    [0, 1] are standardised per image first (`standardize`); with `normalize="flatten"` the encoder also
    reads each image with its lighting taken away (`flatten_lighting`, its border padded as `lighting_pad` names),
    so it needs twice the image's channels.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module | str | None = "unet",
        cls_head: bool | ClsHead = True,
        score_mode: str = "auto",
        normalize: str = "per-image",
        lighting_pad: str = "mirror",
    ) -> None:
        super().__init__()
        input_views(normalize)
        check_pad(lighting_pad)
        if isinstance(decoder, str):
            decoder = DECODERS[decoder](encoder.out_channels)
        if cls_head is True:
            cls_head = ClsHead(encoder.out_channels[-1])
        if decoder is None and not cls_head:
            raise ValueError("a model needs a decoder, a classification head, or both")
        if score_mode not in SCORE_MODES:
            raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
        self.encoder, self.decoder = encoder, decoder
        self.cls_head = cls_head or None
        self.score_mode, self.normalize, self.lighting_pad = score_mode, normalize, lighting_pad
        self.stride = encoder.strides[-1]

    def forward(self, x: torch.Tensor) -> Output:
        x = model_input(x, self.normalize, self.lighting_pad)
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.stride, (-w) % self.stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        features = self.encoder(x)
        mask = None
        if self.decoder is not None:
            mask = self.decoder(features)
            mask = F.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=False)[..., :h, :w]
        cls = self.cls_head(features[-1], mask) if self.cls_head is not None else None
        return Output(mask, cls)

    def sample_scores(self, out: Output) -> torch.Tensor:
        """Per-sample defect probability for this variant (see `sample_scores`)."""
        return sample_scores(out, self.score_mode)


SEG_MODELS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")
# their MobileNetV3 backbones halve the resolution four times, then dilate instead of striding: features at 1/16
SEG_MODEL_STRIDE = 16
PROBE_SIDE = 64  # the side of the blank image a SegModelWithHead probes its backbone with


class SegModelWithHead(nn.Module):
    """Plug a `ClsHead` onto a torchvision segmentation model (taught in 03_heads).

    A forward hook on the model's `backbone` taps its deepest feature map while the model runs as
    it always does; the head reads that map. Any segmentation model with a `backbone` that returns
    a dict of features gains a sample-level head without changing a line of it. Its `stride` is how
    many times smaller than the input the backbone's coarsest map is, measured on a probe image.
    """

    def __init__(
        self, seg_model: nn.Module, cls_head: bool | ClsHead = True, score_mode: str = "auto",
        normalize: str = "per-image", lighting_pad: str = "mirror", **head_kwargs
    ) -> None:
        super().__init__()
        input_views(normalize)
        check_pad(lighting_pad)
        self.seg_model, self.normalize, self.lighting_pad = seg_model, normalize, lighting_pad
        with torch.no_grad():
            was_training = seg_model.training
            features = seg_model.backbone.eval()(torch.zeros(1, self._in_channels(), PROBE_SIDE, PROBE_SIDE))
            seg_model.train(was_training)
        self.feature_key = max(features, key=lambda k: features[k].shape[1])  # the deepest map
        self.stride = PROBE_SIDE // min(min(f.shape[-2:]) for f in features.values())
        if cls_head is True:
            cls_head = ClsHead(features[self.feature_key].shape[1], **head_kwargs)
        self.cls_head = cls_head or None
        self.score_mode = score_mode

    def _in_channels(self) -> int:
        return next(m for m in self.seg_model.modules() if isinstance(m, nn.Conv2d)).in_channels

    def forward(self, x: torch.Tensor) -> Output:
        tapped: dict[str, torch.Tensor] = {}
        handle = self.seg_model.backbone.register_forward_hook(lambda _m, _i, out: tapped.update(out))
        try:
            mask = self.seg_model(model_input(x, self.normalize, self.lighting_pad))["out"]
        finally:
            handle.remove()
        cls = self.cls_head(tapped[self.feature_key], mask) if self.cls_head is not None else None
        return Output(mask, cls)

    def sample_scores(self, out: Output) -> torch.Tensor:
        """Per-sample defect probability for this variant (see `sample_scores`)."""
        return sample_scores(out, self.score_mode)


VARIANTS = ("mtl", "seg-only", "cls-only")


def input_stride(encoder: str) -> int:
    """The `stride` of a model built with `encoder`, without building it: input sides that are multiples of it
    need no padding and map onto whole feature pixels (taught in 03_heads)."""
    return SEG_MODEL_STRIDE if encoder in SEG_MODELS else encoder_stride(encoder)


def build_model(
    name: str = "mtl",
    encoder: str = "tiny",
    decoder: str = "unet",
    in_channels: int = 1,
    weights: str | None = None,
    normalize: str = "per-image",
    lighting_pad: str = "mirror",
    **head_kwargs,
) -> nn.Module:
    """A model by variant and parts (taught in 03_heads).

    `name`: "mtl" (mask + sample head, trained jointly), "seg-only" (mask only; sample score from the
    mask's maximum) or "cls-only" (sample head only). `encoder`: "tiny", a torchvision backbone, or a
    whole torchvision segmentation model ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")
    that then brings its own decoder. `normalize`: what the network reads (`NORMALIZE`); `lighting_pad`: how its
    flattened view pads the border (`PADS`). `head_kwargs`
    go to `ClsHead` (hidden, dropout, detach_input, use_mask).
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown model {name!r}; choose from {VARIANTS}")
    views = input_views(normalize)
    if encoder in SEG_MODELS:
        if name == "cls-only":
            raise ValueError(f"{encoder} is a segmentation model; use 'mtl' or 'seg-only' with it")
        builder = getattr(torchvision.models.segmentation, encoder)
        seg = adapt_first_conv(builder(weights=None, weights_backbone=weights, num_classes=1), in_channels, views)
        return SegModelWithHead(seg, cls_head=name == "mtl", normalize=normalize, lighting_pad=lighting_pad,
                                **head_kwargs)
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose from {ENCODERS + SEG_MODELS}")
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {tuple(DECODERS)}")
    enc = build_encoder(encoder, in_channels, weights, views)
    head = ClsHead(enc.out_channels[-1], **head_kwargs) if name != "seg-only" else False
    return MultiTaskNet(enc, decoder if name != "cls-only" else None, head, normalize=normalize,
                        lighting_pad=lighting_pad)
