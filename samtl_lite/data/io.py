"""Reading images and masks from disk, and resizing them so that thin defects survive.

Taught in 01_defect_data. Every failure names the file and the fix: a wrong mask is never
read silently, because a model trained on it would be wrong without anyone noticing.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from samtl_lite.errors import DataError, DatasetNotFoundError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MIN_SIDE = 8  # smaller images hold too little surface to learn or judge a defect from
LABEL_MAP_MAX = 32  # several distinct non-zero mask values, all below this: a label map, not a mask
RESIZE_MODES = ("stretch", "pad")
ORIENTATION_TAG = 0x0112  # EXIF Orientation: how a viewer turns the stored pixels to display them
_DISPLAYED = {  # orientation -> the transpose that shows the stored pixels as displayed (PIL.ImageOps.exif_transpose's)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def data_dir() -> Path:
    """Where datasets are looked for: `$SAMTL_DATA_DIR`, else `./data` (taught in 01_defect_data)."""
    return Path(os.environ.get("SAMTL_DATA_DIR", "data"))


def _orientation(img: Image.Image, path: Path) -> int:
    """The EXIF orientation (1..8) of an opened image, read from its header without decoding its pixels; 1 when
    it has none or an invalid one. A PNG's EXIF after its pixel data is not read: viewers do not read it either."""
    try:
        value = Image.Image.getexif(img).get(ORIENTATION_TAG, 1)  # the base method: a PNG's own one decodes first
    except Exception as err:  # Pillow's EXIF parser raises many types on a damaged block
        raise DataError(f"{path}: cannot read its EXIF metadata ({err.__class__.__name__}: {err}), so how it "
                        "is displayed is unknown. Re-export it without EXIF, upright as it should be read.") from None
    return value if isinstance(value, int) and value in _DISPLAYED else 1


def _open(path: Path, decode: bool = True) -> Image.Image:
    """Open an image file; every failure (missing, unreadable for lack of permission, corrupt, a decompression
    bomb) becomes a DataError that names the file and the fix.

    Decoded, the image comes as displayed: turned by its EXIF orientation, as `PIL.ImageOps.exif_transpose`
    turns it, so a mask drawn on the picture a viewer shows lies on the pixels it was drawn on."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            orientation = _orientation(img, path)
            if decode:
                img.load()
                if orientation != 1:
                    img = img.transpose(_DISPLAYED[orientation])
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found. Check the path or re-download the dataset.") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied: this user may not read the file, which says nothing of its "
                        f"contents. Fix its permissions (e.g. `chmod a+r {path}`, and `chmod a+rx` on its folders), "
                        "or copy the dataset somewhere this user may read.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(
            f"{path}: {err} Pillow refuses images this large as a possible decompression bomb. If you trust "
            "the file, downscale it, or raise the limit with `PIL.Image.MAX_IMAGE_PIXELS = <pixels>` first."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(
            f"{path}: cannot decode this image ({err}). The file is corrupt or truncated: "
            "re-download or re-export it, or remove it from the folder."
        ) from None
    return img


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as displayed, read from its header without decoding it (taught in
    09_real_data). An EXIF orientation that turns it a quarter turn swaps the two, as `load_image` does."""
    path = Path(path)
    img = _open(path, decode=False)
    width, height = img.size
    turned = _orientation(img, path) >= 5  # 5..8 transpose or rotate by 90 degrees
    img.close()
    return (height, width) if turned else (width, height)


def _to_array(img: Image.Image, path: Path) -> np.ndarray:
    """PIL image -> float32 array in [0, 1], shape [H, W] or [H, W, 3]; 16-bit and palette handled.

    32-bit images (float "F", int "I") have no fixed range, so each is scaled by its own: min -> 0,
    max -> 1 (a constant image -> 0). Clipping instead would turn a 0..255 float image into a blank
    1.0, and the model standardises each image by its own mean and std, so the scaling changes nothing
    it sees. NaN or inf pixels are a DataError naming `path`: no scaling could make them an image.
    """
    if img.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(img, dtype=np.float32) / 65535.0
    if img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise DataError(f"{path}: {int((~np.isfinite(arr)).sum())} of {arr.size} pixels are NaN or inf. Re-export "
                            "the image with finite values (e.g. NaN as 0), or remove it from the folder.")
        arr, span = arr - arr.min(), np.ptp(arr)
        return (arr / span if span > 0 else arr).astype(np.float32)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # palette, RGBA (alpha dropped), CMYK, LA ...
    return np.asarray(img, dtype=np.float32) / 255.0


def check_channels(channels: int) -> int:
    """`channels` itself if it is 1 (gray) or 3 (colour), else a DataError (taught in 01_defect_data)."""
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (gray) or 3 (colour), got {channels}. Pass --channels 1 or 3.")
    return channels


def load_image(path: str | Path, channels: int = 1) -> torch.Tensor:
    """Read an image as a float tensor [C, H, W] in [0, 1] with C = `channels` (taught in 01_defect_data).

    Grayscale and colour files may be mixed in one folder: each is converted to `channels`
    (colour to gray by ITU-R 601 luma; gray to colour by repetition). 16-bit PNGs keep their range;
    32-bit float or int images (TIFF) are scaled by their own range (see `_to_array`). The image is
    read as displayed, turned by its EXIF orientation (see `_open`), as its mask is. Images under
    8 pixels on a side are refused: they hold too little surface to inspect.
    """
    check_channels(channels)
    path = Path(path)
    arr = _to_array(_open(path), path)
    if min(arr.shape[:2]) < MIN_SIDE:
        raise DataError(
            f"{path}: image is {arr.shape[1]}x{arr.shape[0]} pixels (width x height), under the {MIN_SIDE} "
            "pixels a side needs to be usable. Remove it from the folder, or re-export it larger."
        )
    if arr.ndim == 2:
        arr = arr[None] if channels == 1 else np.repeat(arr[None], 3, axis=0)
    else:
        arr = arr.transpose(2, 0, 1)
        if channels == 1:
            arr = (0.299 * arr[0] + 0.587 * arr[1] + 0.114 * arr[2])[None]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def is_colour(path: str | Path) -> bool:
    """True when an image's colour channels actually differ, by more than 2 of 255 levels somewhere
    (taught in 09_real_data). A gray picture saved as RGB, as many tools do, counts as gray."""
    path = Path(path)
    arr = _to_array(_open(path), path)
    return arr.ndim == 3 and bool(np.abs(arr - arr[..., :1]).max() > 2 / 255)


def load_mask(path: str | Path, threshold: float | None = None) -> torch.Tensor:
    """Read a defect mask as a float tensor [1, H, W] in {0, 1} (taught in 01_defect_data).

    The rule: every non-zero pixel is defect, at any bit depth, so 0/1, 0/255 and 16-bit 0/1000
    masks all read right. With `threshold`, a pixel is defect when its value >= `threshold`, in the
    file's own units (128 drops the faint edge of an anti-aliased 0..255 mask, as Magnetic Tile needs).
    A mask with transparency is read from the channel its strokes are in: the alpha (transparency) when
    the colour is one flat value, the colour when the alpha is; when both vary they must mark the same
    pixels, else a DataError says so (see `_mask_channel`).
    Two ways to be wrong are errors, not guesses: without a threshold, two or more distinct non-zero
    integers all below 32 (e.g. 1, 2, 3) look like a label map of several classes, which one binary
    mask cannot hold; with a threshold, non-zero pixels that all fall below it would silently vanish.
    """
    path = Path(path)
    if threshold is not None and not threshold > 0:
        raise DataError(
            f"{path}: mask_threshold must be > 0 (defect = value >= threshold, in the file's units, e.g. "
            f"128 for 0..255 masks), got {threshold}. Pass a positive --mask-level, or none for value > 0."
        )
    arr = _mask_channel(_open(path), path)
    if arr.ndim != 2:
        raise DataError(f"{path}: a mask must have one channel, got shape {arr.shape}. Save it as grayscale.")
    values = np.unique(arr[arr > 0])
    if threshold is None:
        if len(values) >= 2 and values.max() < LABEL_MAP_MAX and np.issubdtype(arr.dtype, np.integer):
            raise DataError(
                f"{path}: mask values {values[:8].tolist()} are several small integers, which looks like a "
                "multi-class label map, not a binary defect mask. Convert it to 0/255 (defect = 255), or pass "
                "a mask level (--mask-level) saying which values are defect."
            )
        binary = arr > 0
    else:
        binary = arr >= threshold
        if len(values) and not binary.any():
            raise DataError(
                f"{path}: mask values go up to {values.max()}, all below mask_threshold {threshold}, so its "
                "defect would vanish. Lower --mask-level to the file's units (e.g. 1 for 0/1 masks)."
            )
    return torch.from_numpy(binary[None].astype(np.float32))


def _mask_channel(img: Image.Image, path: Path) -> np.ndarray:
    """The one channel of a mask file that carries its strokes, as an array [H, W].

    Colour is read as gray. With transparency (RGBA, LA, a palette with a transparent entry), painting
    tools often leave the colour flat and draw in the alpha alone: then the alpha is the mask. When colour
    and alpha both vary, they must agree on which pixels are non-zero, or no reading is safe: a DataError.
    """
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "L")
    elif img.mode in ("PA", "RGBa", "La"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        alpha, colour = np.asarray(img.getchannel("A")), np.asarray(img.convert("L"))
        if alpha.min() == alpha.max():
            return colour
        if colour.min() == colour.max():
            return alpha
        disagree = int(((colour > 0) != (alpha > 0)).sum())
        if disagree == 0:
            return colour
        raise DataError(
            f"{path}: the mask's colour and its alpha (transparency) both vary, and {disagree} of {colour.size} "
            "pixels are non-zero in one but not the other, so which pixels are defect cannot be told. Re-export "
            "the mask as grayscale without transparency (defect non-zero, background 0), e.g. flattened onto black."
        )
    if img.mode in ("RGB", "CMYK", "YCbCr"):
        img = img.convert("L")
    return np.asarray(img)


def as_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """`256` -> (256, 256); `(H, W)` stays (H, W) (taught in 01_defect_data)."""
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


CACHE_BYTES = 2 * 1024**3  # what `cache="auto"` may keep in memory per dataset


def cache_fits(n: int, size: int | tuple[int, int] | None, channels: int) -> bool:
    """Whether `n` samples of `size` (float32 image, bool mask) fit in `CACHE_BYTES`: the rule behind the
    datasets' `cache="auto"` (taught in 01_defect_data). No size, no cache: sizes would differ."""
    h, w = as_hw(size) if size is not None else (0, 0)
    return 0 < n * h * w * (4 * channels + 1) <= CACHE_BYTES


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


def fitted_hw(hw: tuple[int, int], size: int | tuple[int, int]) -> tuple[int, int]:
    """The (H, W) an image of `hw` takes inside `size` when its aspect ratio is kept (taught in 09_real_data)."""
    (h, w), (out_h, out_w) = hw, as_hw(size)
    scale = min(out_h / h, out_w / w)
    return min(out_h, max(1, round(h * scale))), min(out_w, max(1, round(w * scale)))


def fit_and_pad(
    image: torch.Tensor, mask: torch.Tensor, size: int | tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale image [C,H,W] and mask [1,H,W] to fit inside `size` keeping the aspect ratio, then zero-pad
    both at the bottom and right to exactly `size` (taught in 09_real_data).

    A 230x630 KolektorSDD2 strip stretched to a square would have its defects squashed 2.7x; fitted,
    it keeps its shape, at the price of padding the model sees as clean background.
    """
    out_h, out_w = as_hw(size)
    fit = fitted_hw(image.shape[-2:], size)
    pad = (0, out_w - fit[1], 0, out_h - fit[0])
    return F.pad(resize_image(image, fit), pad), F.pad(resize_mask(mask, fit), pad)


def check_resize(resize: str) -> str:
    """`resize` itself if it is "stretch" or "pad", else a DataError saying the choices (taught in 09_real_data)."""
    if resize not in RESIZE_MODES:
        raise DataError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}. Pass --resize stretch "
                        "(ignore the aspect ratio) or pad (keep it).")
    return resize


def pad_to_multiple(tensor: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad [C, H, W] at the bottom and right to multiples of `multiple` (taught in 01_defect_data)."""
    h, w = tensor.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return tensor
    return F.pad(tensor, (0, pw, 0, ph))


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (taught in 09_real_data). Hidden files are not
    images: macOS leaves a `._name.png` of metadata beside each file it copies to some disks."""
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: folder not found. Check the path (--images / --masks).")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
