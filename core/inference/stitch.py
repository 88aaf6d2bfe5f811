"""Cutting images into model-sized windows and blending predictions back together.

Two layouts:

- **tiles** (tiled mode, :class:`TileLayout`): the fewest tiles of at most a few hundred
  px that cover the image with enough overlap; each tile's prediction is weighted by
  :func:`taper`: zero over a margin next to every tile edge that lies inside the image
  (the network's zero padding biases its answer there, by tens of DU at the edge on real
  images), then a raised-cosine cross-fade, 1 inside. The weighted sum is divided by the
  summed weights (positive everywhere by construction), so a model that returns a known
  function of its input is reproduced exactly and no tile border shows a step.
- **windows** (field mode): one window of the model's input size centred on each hole,
  cut from the image reflect-padded at the borders. Each window contributes with a raised
  cosine weight that is 1 over its central half and falls to 0 at its edge; where the
  summed weight is below 1 the flat top (the windows' border level, spread by a
  nearest-window fill and smoothed) fills in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from core.grids import upsample_linear


def axis_tiles(
    length: int, max_tile: int, overlap: int, multiple: int = 8
) -> tuple[int, list[int]]:
    """Tile size and start offsets along one axis of ``length`` px: the fewest tiles of at
    most ``max_tile`` px that overlap by at least ``overlap`` px, all of one size (rounded
    up to a ``multiple`` of the model's stride, never beyond ``length``), spread evenly
    (the first at 0, the last at ``length - size``). One tile when ``length <=
    max_tile``."""
    if length <= max_tile:
        return length, [0]
    step = max(1, max_tile - overlap)
    n = math.ceil((length - overlap) / step)
    size = math.ceil((length + (n - 1) * overlap) / n)
    size = min(length, math.ceil(size / multiple) * multiple)
    if n == 1:
        return size, [0]
    return size, [round(k * (length - size) / (n - 1)) for k in range(n)]


def taper(n: int, margin: int, fade: int, *, lead: bool, trail: bool) -> np.ndarray:
    """1-D tile weight of ``n`` px: 0 over the ``margin`` px next to an edge that lies
    inside the image (``lead``/``trail``: the tile's first/last pixel is not on the image
    border), then a raised-cosine rise over ``fade`` px, 1 inside. On the image border the
    weight stays 1 up to the edge. Two neighbours that overlap by exactly ``2 * margin +
    fade`` px have weights summing to 1 across the overlap."""
    d = np.arange(n, dtype=np.float64)

    def rise(dist: np.ndarray) -> np.ndarray:
        x = np.clip((dist - margin + 0.5) / max(fade, 1), 0.0, 1.0)
        w = np.sin(0.5 * np.pi * x) ** 2
        return np.where(dist < margin, 0.0, w)

    w = np.ones(n, dtype=np.float64)
    if lead:
        w *= rise(d)
    if trail:
        w *= rise(n - 1 - d)
    return w.astype(np.float32)


@dataclass(frozen=True)
class TileLayout:
    """Where tiled mode cuts an image: tiles of ``tile`` px at ``rows`` x ``cols`` start
    offsets, each weighted by :func:`taper` (``margin`` px dropped at inner edges, where
    the network's zero padding biases its answer, and a ``fade``-px raised-cosine
    cross-fade), so the blend has no steps at tile borders."""

    shape: tuple[int, int]
    tile: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    margin: int
    fade: int

    @property
    def overlap(self) -> int:
        """The least overlap between neighbouring tiles (px)."""
        return 2 * self.margin + self.fade

    def positions(self) -> list[tuple[int, int]]:
        """Top-left corners, row by row."""
        return [(r, c) for r in self.rows for c in self.cols]

    def weight(self, top: int, left: int) -> np.ndarray:
        """The 2-D weight of the tile at (top, left)."""
        (h, w), (rows, cols) = self.tile, self.shape
        wr = taper(h, self.margin, self.fade, lead=top > 0, trail=top + h < rows)
        wc = taper(w, self.margin, self.fade, lead=left > 0, trail=left + w < cols)
        return np.outer(wr, wc)

    def borders(self, axis: int) -> list[tuple[int, int]]:
        """The overlap zones along ``axis`` (0: rows, 1: cols) as [start, stop) ranges:
        where two neighbouring tiles are blended."""
        starts = self.rows if axis == 0 else self.cols
        size = self.tile[axis]
        return [(b, a + size) for a, b in itertools.pairwise(starts)]


def tile_layout(
    shape: tuple[int, int],
    max_tile: tuple[int, int],
    margin: int,
    fade: int,
    multiple: int = 8,
) -> TileLayout:
    """The :class:`TileLayout` of an image of ``shape``: tiles of at most ``max_tile`` px
    (fewest tiles, overlap ``2 * margin + fade``; see :func:`axis_tiles`)."""
    overlap = 2 * margin + fade
    th, rows = axis_tiles(shape[0], max_tile[0], overlap, multiple)
    tw, cols = axis_tiles(shape[1], max_tile[1], overlap, multiple)
    return TileLayout(
        (int(shape[0]), int(shape[1])), (th, tw), tuple(rows), tuple(cols), margin, fade
    )


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
        # float32: a handful of overlapping weights per pixel lose nothing visible, and a
        # 4096 x 4096 canvas stays at 200 MB
        self.depth = np.zeros(shape, dtype=np.float32)
        self.unc = np.zeros(shape, dtype=np.float32)
        self.weight = np.zeros(shape, dtype=np.float32)

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
        np.copyto(den, 1.0, where=den <= 0)
        # in place, float32 throughout (the same values, a third fewer passes over the map)
        depth = bg_w * np.asarray(level, dtype=np.float32)
        depth += self.depth
        depth /= den
        unc = bg_w * np.asarray(level_unc, dtype=np.float32)
        unc += self.unc
        unc /= den
        return depth, unc


def fill_levels(
    shape: tuple[int, int],
    centres: list[tuple[int, int]],
    levels: list[float],
    sigma: float,
) -> np.ndarray:
    """A smooth background map: each pixel takes the level of its nearest window centre
    (Voronoi fill), then a Gaussian of ``sigma`` px smooths the cell boundaries. With a
    wide Gaussian (``sigma`` >= 6 px) the map is made on a grid up to 4x coarser and
    interpolated back: it is smooth at that scale, and a 2048 x 2048 map costs a tenth."""
    return fill_level_maps(shape, centres, [levels], sigma)[0]


def fill_level_maps(
    shape: tuple[int, int],
    centres: list[tuple[int, int]],
    level_sets: Sequence[Sequence[float]],
    sigma: float,
) -> list[np.ndarray]:
    """:func:`fill_levels` for several sets of levels at the same centres (depth and
    uncertainty), the nearest-centre search done once."""
    if not centres:
        return [np.zeros(shape, dtype=np.float32) for _ in level_sets]
    k = int(max(1, min(4, sigma // 3)))
    small = (max(1, -(-shape[0] // k)), max(1, -(-shape[1] // k)))
    seeds = np.zeros(small, dtype=bool)
    at = np.zeros(small, dtype=np.intp)  # which centre a seed cell holds (the last wins)
    for i, (r, c) in enumerate(centres):
        rr = min(max(r, 0), shape[0] - 1) // k
        cc = min(max(c, 0), shape[1] - 1) // k
        seeds[rr, cc] = True
        at[rr, cc] = i
    _, (ir, ic) = ndi.distance_transform_edt(~seeds, return_indices=True)
    nearest = at[ir, ic]
    out = []
    for levels in level_sets:
        filled = np.asarray(levels, dtype=np.float64)[nearest]
        if sigma > 0:
            filled = ndi.gaussian_filter(filled, sigma=sigma / k, mode="nearest")
        if k > 1:
            filled = upsample_linear(filled, shape, (k, k))
        out.append(np.ascontiguousarray(filled, dtype=np.float32))
    return out


def seam_steps(depth: np.ndarray, layout: TileLayout) -> dict[str, float]:
    """How visible the tile borders of a tiled prediction are: the mean absolute step
    between neighbouring pixels (along the axis that crosses the border) at the tile edges
    that lie inside the image (``"edges"``), over the whole overlap zones where two tiles
    are blended (``"zones"``), and over every other position (``"elsewhere"``); the ratios
    ``"edges_ratio"`` and ``"zones_ratio"`` (1.0: borders invisible in the steps)."""
    d = np.asarray(depth, dtype=np.float64)
    sums = {"edges": [0.0, 0], "zones": [0.0, 0], "elsewhere": [0.0, 0]}
    for axis in (0, 1):
        steps = np.abs(np.diff(d, axis=axis))  # step k: between pixel k and k + 1
        length = d.shape[axis]
        edge = np.zeros(length - 1, dtype=bool)
        zone = np.zeros(length - 1, dtype=bool)
        for start, stop in layout.borders(axis):
            edge[start - 1] = True  # the next tile begins at ``start``
            if stop < length:
                edge[stop - 1] = True  # the previous tile ends before ``stop``
            zone[start - 1 : stop] = True
        per_step = steps.mean(axis=1 - axis)
        for name, mask in (("edges", edge), ("zones", zone), ("elsewhere", ~zone)):
            sums[name][0] += float(per_step[mask].sum()) * steps.shape[1 - axis]
            sums[name][1] += int(mask.sum()) * steps.shape[1 - axis]
    out = {k: (v[0] / v[1] if v[1] else float("nan")) for k, v in sums.items()}
    base = out["elsewhere"]
    out["edges_ratio"] = out["edges"] / base if base > 0 else float("nan")
    out["zones_ratio"] = out["zones"] / base if base > 0 else float("nan")
    return out
