"""Joint image/mask augmentation with torchvision's `transforms.v2`, and the item every dataset returns.

Taught in 01_defect_data. Wrapping the mask as `tv_tensors.Mask` makes every geometric transform
move image and mask together (masks with nearest interpolation) while photometric transforms
(brightness, contrast) touch the image only. Nothing geometric is written by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from samtl_lite.data.io import as_hw

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def default_augmentation(
    flips: bool = True,
    degrees: float = 0.0,
    translate: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    brightness: float = 0.15,
    contrast: float = 0.15,
) -> v2.Compose:
    """Flips and brightness/contrast by default; an affine jitter on request (taught in 01_defect_data).

    The affine step is off by default: it costs about 2 ms per 128² image on a CPU core (as much as
    drawing the image), and resampling a 1-pixel scratch's mask with nearest interpolation breaks it
    into dashes. Turn it on (e.g. `degrees=5, translate=0.03`) for real data with thicker defects.
    Brightness and contrast are nearly undone by the model's per-image standardisation (see
    `strong_augmentation` for changes that survive it).
    """
    steps: list[v2.Transform] = []
    if flips:
        steps += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
    if degrees or translate or scale != (1.0, 1.0):
        steps.append(v2.RandomAffine(degrees=degrees, translate=(translate, translate), scale=scale))
    if brightness or contrast:
        steps.append(v2.ColorJitter(brightness=brightness, contrast=contrast))
    return v2.Compose(steps)


class RandomGamma(v2.Transform):
    """Raise the image to a random power, log-uniform in `gamma` (taught in 01_defect_data).

    A tone curve bends dark and bright regions differently, so unlike a brightness or contrast change
    it survives per-image standardisation. Masks pass through unchanged.
    """

    def __init__(self, gamma: tuple[float, float] = (0.7, 1.4)) -> None:
        super().__init__()
        self.gamma = gamma

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        lo, hi = torch.log(torch.tensor(self.gamma, dtype=torch.float64))
        return {"gamma": float(torch.exp(lo + (hi - lo) * torch.rand((), dtype=torch.float64)))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(v2.functional.adjust_gamma, inpt, gamma=params["gamma"])


def strong_augmentation(size: tuple[int, int], crop: float = 0.75, gamma: tuple[float, float] = (0.7, 1.4),
                        noise: float = 0.02, blur: float = 1.0) -> v2.Compose:
    """Changes that per-image standardisation does not undo (taught in 01_defect_data): flips; a random
    crop of at least `crop` of the area, resized back to `size` (no padded borders, which a model would
    take for dark defects; a defect cropped away makes the sample clean, see `make_item`); a random tone
    curve (`RandomGamma`); sensor noise of std `noise` on half the images; a slight defocus (Gaussian
    blur, std up to `blur` px) on a third. For real data: a 1-pixel synthetic scratch does not survive
    the crop's resampling.
    """
    h, w = size
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        v2.RandomResizedCrop((h, w), scale=(crop, 1.0), ratio=(0.9 * w / h, w / h / 0.9)),
        RandomGamma(gamma),
        v2.RandomApply([v2.GaussianNoise(sigma=noise)], p=0.5),
        v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, blur))], p=1 / 3),
    ])


AUGMENTATIONS = ("none", "light", "strong")


def augmentation_name(value: bool | str) -> str:
    """A named augmentation, also from the on/off flag that configs held before names (taught in 01_defect_data):
    True is "light", False "none"."""
    return value if isinstance(value, str) else "light" if value else "none"


def augmentation(name: bool | str, size: int | tuple[int, int]) -> Transform | None:
    """The training augmentation a recipe names (taught in 01_defect_data): "none", "light"
    (`default_augmentation`: flips, brightness/contrast) or "strong" (`strong_augmentation`)."""
    name = augmentation_name(name)
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(AUGMENTATIONS)}")
    if name == "none":
        return None
    return default_augmentation() if name == "light" else strong_augmentation(as_hw(size))


def make_item(
    image: torch.Tensor, mask: torch.Tensor, meta: dict[str, Any], transform: Transform | None = None
) -> dict[str, Any]:
    """Build the item dict `{image, mask, label, meta}`; `label` is derived from the mask *after*
    the transform, so a defect shifted out of frame cannot leave a wrong label (taught in 01_defect_data).
    """
    if transform is not None:
        out = transform({"image": tv_tensors.Image(image), "mask": tv_tensors.Mask(mask)})
        image = out["image"].as_subclass(torch.Tensor).clamp(0.0, 1.0)
        mask = out["mask"].as_subclass(torch.Tensor)
    label = torch.tensor(float(bool(mask.any())))
    return {"image": image.contiguous(), "mask": mask.contiguous(), "label": label, "meta": meta}
