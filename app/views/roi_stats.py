"""Statistics of the depth inside a rectangle."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def rect_slices(
    shape: tuple[int, int], x: float, y: float, w: float, h: float
) -> tuple[slice, slice]:
    """Row and column slices of the pixels a rectangle covers.

    The rectangle is in view coordinates (x = column, y = row, pixel (r, c) covering
    ``[c, c+1) x [r, r+1)``); a pixel belongs to it when its centre lies inside. The result
    is clipped to the image (possibly empty).
    """
    rows, cols = shape
    x0, x1 = sorted((x, x + w))
    y0, y1 = sorted((y, y + h))
    c0 = max(0, min(cols, math.ceil(x0 - 0.5)))
    c1 = max(c0, min(cols, math.ceil(x1 - 0.5)))
    r0 = max(0, min(rows, math.ceil(y0 - 0.5)))
    r1 = max(r0, min(rows, math.ceil(y1 - 0.5)))
    return slice(r0, r1), slice(c0, c1)


def roi_statistics(
    depth: np.ndarray,
    truth: np.ndarray | None,
    rows: slice,
    cols: slice,
) -> dict[str, Any]:
    """Mean, std (population), min and max of depth (DU) and RMSE against truth in a region.

    Values are None when the region is empty; ``rmse`` is None without truth.
    """
    region = np.asarray(depth[rows, cols], dtype=np.float64)
    out: dict[str, Any] = {
        "rows": (rows.start, rows.stop),
        "cols": (cols.start, cols.stop),
        "n_pixels": int(region.size),
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "rmse": None,
        "truth_mean": None,
    }
    if region.size == 0:
        return out
    out.update(
        mean=float(region.mean()),
        std=float(region.std()),
        min=float(region.min()),
        max=float(region.max()),
    )
    if truth is not None:
        t = np.asarray(truth[rows, cols], dtype=np.float64)
        out["rmse"] = float(np.sqrt(np.mean((region - t) ** 2)))
        out["truth_mean"] = float(t.mean())
    return out
