"""Reading images and masks from disk, and resizing them so that thin defects survive.

Taught in 01_defect_data. Every failure names the file and the fix: a wrong mask is never
read silently, because a model trained on it would be wrong without anyone noticing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from samtl_lite.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def data_dir() -> Path:
    """Where datasets are looked for: `$SAMTL_DATA_DIR`, else `./data` (taught in 01_defect_data)."""
    return Path(os.environ.get("SAMTL_DATA_DIR", "data"))


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found. Check the path or re-download the dataset.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(
            f"{path}: cannot decode this image ({err}). The file is corrupt or truncated: "
            "re-download or re-export it, or remove it from the folder."
        ) from None
    return img


def _to_array(img: Image.Image) -> np.ndarray:
    """PIL image -> float32 array in [0, 1], shape [H, W] or [H, W, 3]; 16-bit and palette handled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        return np.clip(arr / 65535.0, 0.0, 1.0)
    if img.mode == "F":
        return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # palette, RGBA (alpha dropped), CMYK, LA ...
    return np.asarray(img, dtype=np.float32) / 255.0


def load_image(path: str | Path, channels: int = 1) -> torch.Tensor:
    """Read an image as a float tensor [C, H, W] in [0, 1] with C = `channels` (taught in 01_defect_data).

    Grayscale and colour files may be mixed in one folder: each is converted to `channels`
    (colour to gray by ITU-R 601 luma; gray to colour by repetition). 16-bit PNGs keep their range.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    arr = _to_array(_open(path))
    if arr.ndim == 2:
        arr = arr[None] if channels == 1 else np.repeat(arr[None], 3, axis=0)
    else:
        arr = arr.transpose(2, 0, 1)
        if channels == 1:
            arr = (0.299 * arr[0] + 0.587 * arr[1] + 0.114 * arr[2])[None]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def load_mask(path: str | Path) -> torch.Tensor:
    """Read a defect mask as a float tensor [1, H, W] in {0, 1} (taught in 01_defect_data).

    Masks stored as {0, 1} are kept; masks in 0..255 (often anti-aliased, as in Magnetic Tile)
    are binarised at >= 128. A mask whose largest value lies in 2..127 looks like a multi-class
    label map, which a binary defect mask cannot represent: that is an error, not a guess.
    """
    path = Path(path)
    img = _open(path)
    if img.mode in ("RGB", "RGBA", "P", "LA"):
        img = img.convert("L")
    arr = np.asarray(img)
    if arr.ndim != 2:
        raise DataError(f"{path}: a mask must have one channel, got shape {arr.shape}. Save it as grayscale.")
    top = int(arr.max()) if arr.size else 0
    if top <= 1:
        binary = arr > 0
    elif top < 128:
        raise DataError(
            f"{path}: mask values go up to {top}, which looks like a multi-class label map, not a "
            "binary defect mask. Convert it to 0/255 (defect = 255) before loading."
        )
    else:
        threshold = 32768 if top > 255 else 128
        binary = arr >= threshold
    return torch.from_numpy(binary[None].astype(np.float32))


def as_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """`256` -> (256, 256); `(H, W)` stays (H, W) (taught in 01_defect_data)."""
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def resize_image(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize an image [C, H, W] bilinearly with anti-aliasing (taught in 01_defect_data)."""
    out = TF.resize(image, list(as_hw(size)), antialias=True)
    return out.clamp_(0.0, 1.0)


def resize_mask(mask: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a binary mask [1, H, W] so that no defect vanishes (taught in 01_defect_data).

    Downscaling averages each output cell's area and marks the cell defective if *any* defect
    pixel falls in it (area-resize, then > 0). Nearest-neighbour would drop a 1-px scratch
    whenever it falls between sampled rows. The price: thin defects get slightly thicker.
    """
    h, w = as_hw(size)
    if mask.shape[-2:] == (h, w):
        return mask
    out = F.interpolate(mask[None].float(), size=(h, w), mode="area")[0]
    return (out > 0).float()


def pad_to_multiple(tensor: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad [C, H, W] at the bottom and right to multiples of `multiple` (taught in 01_defect_data)."""
    h, w = tensor.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return tensor
    return F.pad(tensor, (0, pw, 0, ph))


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (taught in 09_real_data)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
