"""How the image panels share the view: 1x4 or 2x2, chosen for the view's size and the
image's shape when the arrangement is "auto"."""

from __future__ import annotations

import math

ARRANGEMENTS = ("auto", "1x4", "2x2")
#: Room a panel needs besides its image (axes, title, colour bar), in screen pixels.
PANEL_OVERHEAD_W, PANEL_OVERHEAD_H = 60.0, 110.0


def grid_shape(arrangement: str, n: int) -> tuple[int, int]:
    """(rows, cols) of the panel grid for ``n`` visible panels ("auto" is decided by
    :func:`best_grid`)."""
    if n <= 0:
        return 1, 1
    if arrangement == "2x2":
        return (1, n) if n <= 2 else (2, 2 if n <= 4 else math.ceil(n / 2))
    return 1, n


def best_grid(n: int, view_w: float, view_h: float, image_shape: tuple[int, int]) -> str:
    """The arrangement ("1x4" or "2x2") that draws the image largest in a view of that size."""
    if n <= 2:
        return "1x4"
    rows_img, cols_img = image_shape
    best, best_scale = "1x4", -1.0
    for name in ("1x4", "2x2"):
        r, c = grid_shape(name, n)
        w = view_w / c - PANEL_OVERHEAD_W
        h = view_h / r - PANEL_OVERHEAD_H
        scale = min(w / max(cols_img, 1), h / max(rows_img, 1))
        if scale > best_scale + 1e-9:
            best, best_scale = name, scale
    return best
