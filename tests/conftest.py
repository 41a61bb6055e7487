"""Shared fixtures: small images and masks written in real datasets' naming."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_gray(path: Path, array: np.ndarray, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode=None).convert(mode).save(path)
    return path


def square_mask(h: int, w: int, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """0/255 mask with a filled rectangle (y0, x0, y1, x1), or all zero."""
    m = np.zeros((h, w), np.uint8)
    if box:
        y0, x0, y1, x1 = box
        m[y0:y1, x0:x1] = 255
    return m


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def real_magnetic_tile() -> Path:
    """The read-only real copy. Skipped when SAMTL_DATA_DIR is unset and ./data lacks it; when
    SAMTL_DATA_DIR is set (as CI does) the data must be there."""
    root = Path(os.environ.get("SAMTL_DATA_DIR", "data")) / "magnetic_tile"
    if not (root / "MT_Free").is_dir():
        if "SAMTL_DATA_DIR" in os.environ:
            pytest.fail(f"SAMTL_DATA_DIR is set but {root} holds no Magnetic Tile copy")
        pytest.skip("real Magnetic Tile not found; set SAMTL_DATA_DIR (CI sets it to ../shared/data)")
    return root
