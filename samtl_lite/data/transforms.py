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
    """
    steps: list[v2.Transform] = []
    if flips:
        steps += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
    if degrees or translate or scale != (1.0, 1.0):
        steps.append(v2.RandomAffine(degrees=degrees, translate=(translate, translate), scale=scale))
    if brightness or contrast:
        steps.append(v2.ColorJitter(brightness=brightness, contrast=contrast))
    return v2.Compose(steps)


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
