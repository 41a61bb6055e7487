"""Synthetic surface defects: the embedded default dataset, drawn procedurally with no files.

Taught in 01_defect_data. A sample is a textured surface (brushed metal, grain, weave or a smooth
part under uneven light) with, at rate `defect_rate`, one to a few defects: slender scratches,
branching cracks, tiny pits, or large faint stains. Contrast is measured in units of the
background's noise, so "0.5" means a defect fainter than the noise around it. Sample `i` depends
only on `(seed, i)`: any order, any number of DataLoader workers gives the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from samtl_lite.data.io import as_hw, cache_fits
from samtl_lite.data.transforms import Transform, make_item

DEFECT_TYPES = ("scratch", "crack", "pit", "stain")
# Rose's criterion: a flat target is seen in white noise when contrast (in noise stds) x sqrt(pixels) >= about 5
VISIBLE = 5.0
BACKGROUNDS = ("brushed", "grain", "weave", "smooth")
DEFAULT_TYPE_WEIGHTS = {"scratch": 0.35, "crack": 0.2, "pit": 0.35, "stain": 0.1}


def polyline_distance(
    points: np.ndarray, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Distance from every pixel centre of an [H, W] grid to a polyline of (y, x) points
    (taught in 01_defect_data).

    `origin` is the grid's top-left pixel in the points' frame, so a defect can be drawn inside
    its bounding box only; that is what makes the generator fast.
    """
    pts = np.asarray(points, dtype=np.float32) - np.asarray(origin, dtype=np.float32)
    ys = np.arange(shape[0], dtype=np.float32)[:, None]
    xs = np.arange(shape[1], dtype=np.float32)[None, :]
    best = (ys - pts[0, 0]) ** 2 + (xs - pts[0, 1]) ** 2
    for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:]):
        dy, dx = y1 - y0, x1 - x0
        length2 = dy * dy + dx * dx
        t = np.clip(((ys - y0) * dy + (xs - x0) * dx) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        np.minimum(best, (ys - y0 - t * dy) ** 2 + (xs - x0 - t * dx) ** 2, out=best)
    return np.sqrt(best)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, skew: float = 1.0) -> float:
    """lo * (hi/lo)**(u**(1/skew)): log-uniform for skew 1; skew 2 leans towards `hi`."""
    return float(lo * (hi / lo) ** (rng.random() ** (1.0 / skew)))


class SyntheticDefects(Dataset):
    """Procedural surface-defect images with pixel masks and per-sample metadata (taught in 01_defect_data).

    Items are dicts: `image` [C,H,W] in [0,1], `mask` [1,H,W] in {0,1}, `label` (1.0 if the mask is
    non-empty) and `meta` (`name`, `defect_class`, `area_fraction`, `contrast`, `n_defects`,
    `background`). Knobs: which `defect_types` (and `type_weights`), `contrast_range` (in noise
    standard deviations; stains draw from its lower half), `length_range` (scratch and crack
    length as a fraction of the shorter side), `stain_radius_range` (likewise) and `max_defects`.
    `meta["visibility"]` is the most visible defect's contrast x sqrt(its pixels); below `VISIBLE`
    (Rose's criterion, 5) a defect is *faint*: kept in the data, but graded apart from visible ones.
    `cache=True` keeps every drawn sample in memory (80 KiB each at 128²), so later epochs skip the drawing;
    `"auto"` caches when that fits (`cache_fits`).
    """

    def __init__(
        self,
        n: int = 1000,
        size: int | tuple[int, int] = 128,
        defect_rate: float = 0.25,
        seed: int = 0,
        channels: int = 1,
        defect_types: Sequence[str] = DEFECT_TYPES,
        type_weights: Sequence[float] | None = None,
        backgrounds: Sequence[str] = BACKGROUNDS,
        contrast_range: tuple[float, float] = (0.5, 12.0),
        length_range: tuple[float, float] = (0.02, 0.4),
        stain_radius_range: tuple[float, float] = (0.03, 0.15),
        max_defects: int = 3,
        transform: Transform | None = None,
        cache: bool | str = False,
    ) -> None:
        unknown = set(defect_types) - set(DEFECT_TYPES) or set(backgrounds) - set(BACKGROUNDS)
        if unknown:
            raise ValueError(f"unknown defect types or backgrounds {sorted(unknown)}; "
                             f"choose from {DEFECT_TYPES} and {BACKGROUNDS}")
        if not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"defect_rate must lie in [0, 1], got {defect_rate}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.n, self.size, self.defect_rate, self.seed = n, as_hw(size), defect_rate, seed
        self.channels, self.transform, self.max_defects = channels, transform, max_defects
        self.defect_types, self.backgrounds = tuple(defect_types), tuple(backgrounds)
        w = [DEFAULT_TYPE_WEIGHTS[t] for t in self.defect_types] if type_weights is None else type_weights
        self.type_p = np.asarray(w, dtype=np.float64) / np.sum(w)
        self.contrast_range, self.length_range = contrast_range, length_range
        self.stain_radius_range = stain_radius_range
        h, w_ = self.size
        self._yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
        self._xx = np.linspace(-0.5, 0.5, w_, dtype=np.float32)[None, :]
        cache = cache_fits(n, size, channels) if cache == "auto" else cache
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, dict[str, Any]]] | None = {} if cache else None

    def __len__(self) -> int:
        return self.n

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    @property
    def labels(self) -> np.ndarray:
        """1.0 for defective samples, known without drawing images: each sample's first draw decides."""
        return np.array([float(self._rng(i).random() < self.defect_rate) for i in range(self.n)])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        if self.cache is not None and index in self.cache:
            image, mask, meta = self.cache[index]
        else:
            image, mask, meta = self.render(index)
            if self.cache is not None:
                self.cache[index] = (image, mask, meta)
        img = torch.from_numpy(image.copy())  # the cache stays as drawn
        return make_item(img, torch.from_numpy(mask[None].astype(np.float32)), dict(meta), self.transform)

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Draw sample `index`: image [C,H,W] float32, mask [H,W] bool, meta dict."""
        rng = self._rng(index)
        defective = rng.random() < self.defect_rate  # first draw: keeps `labels` cheap
        family = self.backgrounds[rng.integers(len(self.backgrounds))]
        image, sigma = self._background(rng, family)
        mask = np.zeros(self.size, dtype=bool)
        kinds: list[str] = []
        contrasts: list[float] = []
        visibilities: list[float] = []
        if defective:
            n_def = min(self.max_defects, 1 + int(rng.random() < 0.3) + int(rng.random() < 0.1))
            for _ in range(n_def):
                kind = self.defect_types[rng.choice(len(self.defect_types), p=self.type_p)]
                lo, hi = self.contrast_range
                snr = _log_uniform(rng, lo, np.sqrt(lo * hi) if kind == "stain" else hi, skew=2.0)
                sign = -1.0 if kind == "crack" or rng.random() < 0.6 else 1.0
                box, profile, shape = getattr(self, f"_{kind}")(rng)
                image[box] += sign * snr * sigma * profile
                mask[box] |= shape
                kinds.append(kind)
                contrasts.append(snr)
                visibilities.append(snr * float(np.sqrt(shape.sum())))
        image = np.clip(image, 0.0, 1.0)[None]
        if self.channels == 3:
            tint = np.clip(1.0 + rng.normal(0.0, 0.05, size=(3, 1, 1)), 0.8, 1.2).astype(np.float32)
            image = np.clip(image * tint, 0.0, 1.0)
        meta = {
            "name": f"synthetic-{self.seed}-{index:06d}",
            "defect_class": "+".join(sorted(set(kinds))) if kinds else "clean",
            "area_fraction": float(mask.mean()),
            "contrast": max(contrasts, default=0.0),
            "visibility": max(visibilities, default=0.0),
            "n_defects": len(kinds),
            "background": family,
        }
        return np.ascontiguousarray(image, dtype=np.float32), mask, meta

    # --- backgrounds: each returns (image [H,W], std of its texture and noise) ---------------------
    def _background(self, rng: np.random.Generator, family: str) -> tuple[np.ndarray, float]:
        h, w = self.size
        yy, xx = self._yy, self._xx
        sigma = rng.uniform(0.015, 0.05) if family != "smooth" else rng.uniform(0.008, 0.025)
        texture = rng.standard_normal((h, w), dtype=np.float32) * sigma
        if family == "brushed":
            across_rows = rng.random() < 0.5  # streaks run along x (profile over rows) or along y
            streaks = rng.standard_normal(h if across_rows else w, dtype=np.float32)
            streaks = np.convolve(streaks, np.ones(3, dtype=np.float32) / 3, mode="same")
            streaks *= rng.uniform(0.5, 2.0) * sigma
            texture += streaks[:, None] if across_rows else streaks[None, :]
        elif family == "grain":
            g = rng.standard_normal((h + 2, w + 2), dtype=np.float32)
            g = g[:-2] + g[1:-1] + g[2:]
            g = (g[:, :-2] + g[:, 1:-1] + g[:, 2:]) / 3.0
            texture += rng.uniform(0.5, 1.5) * sigma * g
        elif family == "weave":
            period, theta = rng.uniform(5.0, 14.0), rng.uniform(0, np.pi)
            pattern = np.sin((np.cos(theta) * xx * w + np.sin(theta) * yy * h) * (2 * np.pi / period))
            if rng.random() < 0.5:  # woven: a second direction; else machined/turned lines
                pattern = pattern * np.sin((-np.sin(theta) * xx * w + np.cos(theta) * yy * h) * (2 * np.pi / period))
            texture += rng.uniform(1.0, 3.0) * sigma * pattern
        gx, gy = rng.uniform(-0.15, 0.15, size=2)
        vignette = rng.uniform(0.0, 0.15) if family != "smooth" else rng.uniform(0.15, 0.5)
        light = rng.uniform(0.35, 0.65) + gx * xx + gy * yy - vignette * (xx * xx + yy * yy)
        return (light + texture).astype(np.float32, copy=False), float(texture.std())

    # --- defects: each returns (bbox slices, intensity profile in [0,1], mask) on the bbox ----------
    def _box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[slice, slice], tuple[int, int]]:
        h, w = self.size
        y0, x0 = max(int(np.floor(lo[0])), 0), max(int(np.floor(lo[1])), 0)
        y1, x1 = min(int(np.ceil(hi[0])) + 1, h), min(int(np.ceil(hi[1])) + 1, w)
        return (slice(y0, y1), slice(x0, x1)), (y0, x0)

    def _start(self, rng: np.random.Generator) -> np.ndarray:
        """A pixel centre inside the image: every defect covers at least this pixel."""
        h, w = self.size
        return np.array([rng.integers(h), rng.integers(w)], dtype=np.float32)

    def _walk(self, rng, start, length, n_pts, angle, turn_sd) -> np.ndarray:
        turns = np.cumsum(rng.normal(0.0, turn_sd, size=n_pts - 1)) + angle
        steps = (length / (n_pts - 1)) * np.stack([np.sin(turns), np.cos(turns)], axis=1)
        return np.vstack([start, start + np.cumsum(steps, axis=0)]).astype(np.float32)

    def _stroke(self, polylines: list[np.ndarray], width: float):
        pts = np.vstack(polylines)
        box, origin = self._box(pts.min(0) - width, pts.max(0) + width)
        shape = (box[0].stop - box[0].start, box[1].stop - box[1].start)
        dist = np.min([polyline_distance(p, shape, origin) for p in polylines], axis=0)
        profile = np.clip(width / 2 + 0.5 - dist, 0.0, 1.0)  # anti-aliased line of `width` px
        return box, profile, dist <= width / 2

    def _scratch(self, rng: np.random.Generator):
        length = _log_uniform(rng, *self.length_range) * min(self.size)
        width = 1.0 + 2.0 * rng.random() ** 2  # 1-3 px, mostly thin
        line = self._walk(rng, self._start(rng), length, 8, rng.uniform(0, 2 * np.pi), 0.06)
        return self._stroke([line], width)

    def _crack(self, rng: np.random.Generator):
        length = _log_uniform(rng, *self.length_range) * min(self.size)
        main = self._walk(rng, self._start(rng), length, 12, rng.uniform(0, 2 * np.pi), 0.45)
        lines = [main]
        for _ in range(rng.integers(1, 4)):
            j = rng.integers(1, len(main) - 1)
            angle = np.arctan2(*(main[j + 1] - main[j])) + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2)
            lines.append(self._walk(rng, main[j], length * rng.uniform(0.15, 0.45), 5, angle, 0.4))
        return self._stroke(lines, 1.0 + 0.5 * rng.random())

    def _pit(self, rng: np.random.Generator):
        centre = self._start(rng)
        centres = [centre] + [centre + rng.normal(0, 4.0, size=2) for _ in range(rng.integers(0, 3))]
        radii = np.exp(rng.uniform(np.log(0.5), np.log(2.5), size=len(centres)))
        c = np.array(centres)
        box, origin = self._box(c.min(0) - 4, c.max(0) + 4)
        ys = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None]
        xs = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :]
        depth = np.max([r + 0.5 - np.hypot(ys - cy, xs - cx) for (cy, cx), r in zip(c, radii)], axis=0)
        return box, np.clip(depth, 0.0, 1.0), depth >= 0.5

    def _stain(self, rng: np.random.Generator):
        radius = _log_uniform(rng, *self.stain_radius_range) * min(self.size)
        cy, cx = self._start(rng)
        box, _ = self._box(np.array([cy, cx]) - 1.5 * radius, np.array([cy, cx]) + 1.5 * radius)
        ys = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None] - cy
        xs = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :] - cx
        phi, d = np.arctan2(ys, xs), np.hypot(ys, xs)
        edge = np.full_like(phi, radius)
        for k in (2, 3, 4):  # a wobbly outline
            edge += radius * rng.uniform(0.0, 0.12) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
        level = 0.5 + (edge - d) / (0.3 * radius)  # soft rim: 0.5 on the outline, 1 inside
        return box, np.clip(level, 0.0, 1.0), level >= 0.5


BENCHMARK_SEEDS = {"train": 1000, "val": 2000, "test": 3000}
BENCHMARK_SIZES = {"train": 2000, "val": 500, "test": 1000}


def synthetic_benchmark(split: str, size: int | tuple[int, int] = 128, n: int | None = None,
                        **kwargs: Any) -> SyntheticDefects:
    """The fixed synthetic benchmark: default generator settings, one seed per split, so train, val and
    test never share a sample (taught in 01_defect_data). `n` defaults to 2000/500/1000."""
    if split not in BENCHMARK_SEEDS:
        raise ValueError(f"split must be one of {sorted(BENCHMARK_SEEDS)}, got {split!r}")
    n = BENCHMARK_SIZES[split] if n is None else n
    return SyntheticDefects(n=n, size=size, seed=BENCHMARK_SEEDS[split], **kwargs)
