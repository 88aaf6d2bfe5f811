"""Pictures of the report as PNG data URIs (Pillow only, nothing fetched): a map in a
colour map with its colour bar, a scale bar when the pixel size is known, hole outlines;
histograms as small bar charts.

Maps are shown at an integer enlargement up to 256 px tall, or shrunk (area average) to
at most :data:`MAX_SIDE` px on the longer side, so a report stays small.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np

from core.io import colormaps
from core.io.writers import add_colorbar, colormap_range

MAX_SIDE = 640
MIN_ROWS = 256
NICE_STEPS = (1, 2, 5)


def data_uri(rgb: np.ndarray) -> str:
    """``data:image/png;base64,...`` of an (H, W, 3) uint8 picture."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def display_zoom(shape: tuple[int, int]) -> float:
    """Display pixels per image pixel: an integer enlargement of small images to at least
    :data:`MIN_ROWS` rows, a shrink of large ones to :data:`MAX_SIDE` on the longer side."""
    rows, cols = shape
    if max(rows, cols) > MAX_SIDE:
        return MAX_SIDE / max(rows, cols)
    return float(max(1, min(math.ceil(MIN_ROWS / rows), MAX_SIDE // max(rows, cols))))


def nice_length(target: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``target`` (> 0)."""
    k = math.floor(math.log10(target))
    best = 10.0**k
    for step in NICE_STEPS:
        if step * 10.0**k <= target:
            best = step * 10.0**k
    return best


def _draw_scale_bar(img: object, zoom: float, pixel_size_nm: float) -> str:
    """A white bar with a black edge, about a fifth of the width, bottom left; its label."""
    from PIL import ImageDraw

    from core.io.writers import _font

    w, h = img.size  # type: ignore[attr-defined]
    length_nm = nice_length(0.2 * w / zoom * pixel_size_nm)
    length_px = length_nm / pixel_size_nm * zoom
    label = f"{length_nm:g} nm" if length_nm < 1000 else f"{length_nm / 1000:g} um"
    draw = ImageDraw.Draw(img)  # type: ignore[arg-type]
    x0, y1 = 8, h - 8
    font = _font(12)
    draw.rectangle([x0 - 1, y1 - 7, x0 + length_px + 1, y1 + 1], fill=(0, 0, 0))
    draw.rectangle([x0, y1 - 6, x0 + length_px, y1], fill=(255, 255, 255))
    draw.text(
        (x0, y1 - 22), label, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0)
    )
    return label


def map_picture(
    array: np.ndarray,
    *,
    cmap: str,
    label: str,
    pixel_size_nm: float | None = None,
    outlines: Sequence[np.ndarray | Sequence[Sequence[float]]] = (),
    vmin: float | None = None,
    vmax: float | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """The picture of ``array`` (colour map, outlines in yellow, scale bar, colour bar)
    and what it shows: ``{"lo", "hi", "zoom", "scale_bar"}``."""
    from PIL import Image, ImageDraw

    data = np.asarray(array, dtype=np.float64)
    name, lo, hi = colormap_range(data, cmap, vmin, vmax)
    rgb = colormaps.apply(np.where(np.isfinite(data), data, lo), name, lo, hi)
    zoom = display_zoom(data.shape)
    rows, cols = data.shape
    size = (max(1, round(cols * zoom)), max(1, round(rows * zoom)))
    resample = Image.Resampling.NEAREST if zoom >= 1 else Image.Resampling.BOX
    img = Image.fromarray(rgb).resize(size, resample)
    draw = ImageDraw.Draw(img)
    for poly in outlines:
        if len(poly) >= 3:
            rc = (np.asarray(poly, dtype=np.float64) + 0.5) * zoom
            pts = [(float(c), float(r)) for r, c in rc]
            draw.line([*pts, pts[0]], fill=(255, 221, 0), width=1)
    bar = _draw_scale_bar(img, zoom, pixel_size_nm) if pixel_size_nm else None
    picture = add_colorbar(np.asarray(img), cmap=name, lo=lo, hi=hi, label=label)
    return picture, {"lo": lo, "hi": hi, "zoom": zoom, "scale_bar": bar}


def histogram_picture(
    edges: Sequence[float], counts: Sequence[int], *, label: str, size: tuple[int, int] = (320, 160)
) -> np.ndarray:
    """A bar chart of a histogram (counts per bin), its range and the largest count."""
    from PIL import Image, ImageDraw

    from core.io.writers import _font

    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font(11)
    x0, x1, y0, y1 = 34, w - 8, 18, h - 22
    draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
    draw.text((x0, 2), label, fill=(0, 0, 0), font=font)
    if counts:
        top = max(max(counts), 1)
        bw = (x1 - x0) / len(counts)
        for i, c in enumerate(counts):
            yb = y1 - (y1 - y0 - 2) * c / top
            draw.rectangle([x0 + i * bw + 1, yb, x0 + (i + 1) * bw - 1, y1], fill=(68, 119, 170))
        draw.text((2, y0), str(top), fill=(0, 0, 0), font=font)
        draw.text((x0, y1 + 4), f"{edges[0]:.4g}", fill=(0, 0, 0), font=font)
        right = f"{edges[-1]:.4g}"
        draw.text((x1 - 7 * len(right), y1 + 4), right, fill=(0, 0, 0), font=font)
    return np.asarray(img)
