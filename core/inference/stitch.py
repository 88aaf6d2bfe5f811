"""Cutting images into model-sized windows and blending predictions back together.

Two layouts:

- **tiles** (tiled mode): overlapping tiles cover the image; each tile's prediction is
  weighted by a linear ramp across the overlap (strictly positive everywhere), and the
  weighted sum is divided by the summed weights, so a model that returns a known function
  of its input is reproduced exactly and seams are blended linearly.
- **windows** (field mode): one window of the model's input size centred on each hole,
  cut from the image reflect-padded at the borders. Each window contributes with a raised
  cosine weight that is 1 over its central half and falls to 0 at its edge; where the
  summed weight is below 1 the flat top (the windows' border level, spread by a
  nearest-window fill and smoothed) fills in.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with >= ``overlap`` px
    shared between neighbours (evenly spread; the first at 0, the last at length - tile)."""
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    n = math.ceil((length - tile) / step) + 1
    return sorted({round(v) for v in np.linspace(0, length - tile, n)})


def ramp(length: int, overlap: int) -> np.ndarray:
    """1-D linear ramp: (i+1)/(overlap+1) rising over ``overlap`` px at both ends, 1 inside.
    Strictly positive, so normalised blending is exact for any covering."""
    i = np.arange(length, dtype=np.float64)
    o = max(0, int(overlap))
    w = np.minimum(1.0, np.minimum(i + 1, length - i) / (o + 1))
    return w.astype(np.float32)


def tile_weight(shape: tuple[int, int], overlap: tuple[int, int]) -> np.ndarray:
    return np.outer(ramp(shape[0], overlap[0]), ramp(shape[1], overlap[1]))


def window_weight(shape: tuple[int, int]) -> np.ndarray:
    """Raised-cosine weight: 1 over the central half of each side, 0 at the window's edge."""

    def one(n: int) -> np.ndarray:
        i = (np.arange(n, dtype=np.float64) + 0.5) / n  # 0..1 across the window
        d = np.minimum(i, 1.0 - i)  # distance to the nearer edge, 0..0.5
        w = np.where(d >= 0.25, 1.0, 0.5 - 0.5 * np.cos(np.pi * d / 0.25))
        return w

    return np.outer(one(shape[0]), one(shape[1])).astype(np.float32)


def border_ring(a: np.ndarray, width: int = 3) -> np.ndarray:
    """The values in the outer ``width``-px ring of 2-D ``a``."""
    w = max(1, min(width, min(a.shape) // 2))
    mask = np.ones(a.shape, dtype=bool)
    mask[w:-w, w:-w] = False
    return a[mask]


class Accumulator:
    """Weighted sums of depth and uncertainty over a (rows, cols) canvas."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.depth = np.zeros(shape, dtype=np.float64)
        self.unc = np.zeros(shape, dtype=np.float64)
        self.weight = np.zeros(shape, dtype=np.float64)

    def add(
        self,
        top: int,
        left: int,
        depth: np.ndarray,
        unc: np.ndarray,
        weight: np.ndarray,
    ) -> None:
        """Add a patch whose top-left corner sits at (top, left) in canvas coordinates
        (may be negative or overhang: the part outside the canvas is dropped)."""
        h, w = depth.shape
        r0, c0 = max(0, top), max(0, left)
        r1, c1 = min(self.shape[0], top + h), min(self.shape[1], left + w)
        if r0 >= r1 or c0 >= c1:
            return
        sl = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
        wgt = weight[sl]
        self.depth[r0:r1, c0:c1] += wgt * depth[sl]
        self.unc[r0:r1, c0:c1] += wgt * unc[sl]
        self.weight[r0:r1, c0:c1] += wgt

    def normalized(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted means (where nothing was added: 0)."""
        w = np.where(self.weight > 0, self.weight, 1.0)
        return (self.depth / w).astype(np.float32), (self.unc / w).astype(np.float32)

    def with_background(
        self, level: np.ndarray, level_unc: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blend with background maps where the summed weight is below 1:
        ``(sum w*d + max(0, 1 - sum w) * level) / (sum w + max(0, 1 - sum w))``."""
        bg_w = np.clip(1.0 - self.weight, 0.0, 1.0)
        den = self.weight + bg_w
        den = np.where(den > 0, den, 1.0)
        depth = (self.depth + bg_w * level) / den
        unc = (self.unc + bg_w * level_unc) / den
        return depth.astype(np.float32), unc.astype(np.float32)


def fill_levels(
    shape: tuple[int, int],
    centres: list[tuple[int, int]],
    levels: list[float],
    sigma: float,
) -> np.ndarray:
    """A smooth background map: each pixel takes the level of its nearest window centre
    (Voronoi fill), then a Gaussian of ``sigma`` px smooths the cell boundaries."""
    if not centres:
        return np.zeros(shape, dtype=np.float32)
    seeds = np.zeros(shape, dtype=bool)
    value = np.zeros(shape, dtype=np.float64)
    for (r, c), v in zip(centres, levels, strict=True):
        rr = min(max(r, 0), shape[0] - 1)
        cc = min(max(c, 0), shape[1] - 1)
        seeds[rr, cc] = True
        value[rr, cc] = v
    _, (ir, ic) = ndi.distance_transform_edt(~seeds, return_indices=True)
    filled = value[ir, ic]
    if sigma > 0:
        filled = ndi.gaussian_filter(filled, sigma=sigma, mode="nearest")
    return filled.astype(np.float32)
