"""Depth-map writers: float32 TIFF (ImageJ-calibrated), CSV, 8-bit PNG, colour-mapped PNG.

All writers go through :func:`core.io.atomic.atomic_write` (temporary file in the
same folder + rename), refuse to overwrite unless ``overwrite=True``
(:class:`~core.io.atomic.OutputExistsError`), and return the final path.

Depth TIFF layout: a float32 ImageJ TIFF (``imagej=True``); XResolution =
YResolution = 1 / pixel size in pixels per nm and ImageJ ``unit=nm``, so Fiji
opens it calibrated; the JSON description (model, settings, units) is stored in
the ImageJ ``Info`` property (IJMetadata tag), which Fiji shows under
Image > Show Info and :func:`read_depth_tiff` reads back.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from core.io import colormaps
from core.io.atomic import atomic_write
from core.io.csvtext import write_matrix
from core.io.errors import CorruptFileError, SemReadError, UnsupportedFormatError

__all__ = [
    "DESCRIPTION_FORMAT",
    "read_depth_tiff",
    "write_colormap_png",
    "write_depth_csv",
    "write_depth_png",
    "write_depth_tiff",
]

DESCRIPTION_FORMAT = "semdepth-depth/1"
CSV_FLOAT_FORMAT = "%.9g"  # 9 significant digits: every float32 value round-trips exactly
# PNGs go through imagecodecs (already a dependency, for the TIFF codecs) rather than Pillow:
# Pillow always runs PNG's adaptive row filters, which cost more than the compression itself
# on these pictures. Colour maps (flat colours, enlarged crops) are stored unfiltered at zlib
# level 1: 4x faster than Pillow at level 3 on a crop's preview and 3.5x on a 1 Mpx map, and
# 25 % smaller. Grey depth PNGs keep the filters (they help on smooth maps) at level 1.
PNG_LEVEL = 1


def encode_png(picture: np.ndarray) -> bytes:
    """PNG bytes of a (H, W) or (H, W, 3) uint8 ``picture`` (lossless)."""
    import imagecodecs

    arr = np.ascontiguousarray(picture, dtype=np.uint8)
    if arr.ndim == 3:
        return bytes(
            imagecodecs.png_encode(arr, level=PNG_LEVEL, filter=imagecodecs.PNG.FILTER.NONE)
        )
    return bytes(imagecodecs.png_encode(arr, level=PNG_LEVEL))


def _as_2d_float32(array: Any, what: str = "depth") -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (rows, cols) array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_pixel_size(pixel_size_nm: float | None) -> float | None:
    if pixel_size_nm is None:
        return None
    value = float(pixel_size_nm)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"pixel_size_nm must be a positive finite number, got {pixel_size_nm!r}")
    return value


# ============================================================================ TIFF


def write_depth_tiff(
    path: str | os.PathLike[str],
    depth: Any,
    *,
    pixel_size_nm: float | None = None,
    value_unit: str = "DU",
    description: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``depth`` as a float32 ImageJ TIFF, calibrated in nm when the pixel size is known.

    ``description`` (model, settings, ...) must be JSON-serialisable; it is stored with
    ``format``, ``value_unit``, ``pixel_size_nm`` and the shape in the ImageJ ``Info``.
    """
    import tifffile

    data = _as_2d_float32(depth)
    px = _check_pixel_size(pixel_size_nm)
    info: dict[str, Any] = {
        "format": DESCRIPTION_FORMAT,
        "value_unit": value_unit,
        "pixel_size_nm": px,
        "shape": list(data.shape),
    }
    if description:
        info["description"] = dict(description)
    try:
        info_text = json.dumps(info, allow_nan=False, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"description is not JSON-serialisable: {exc}") from exc
    finite = data[np.isfinite(data)]
    metadata: dict[str, Any] = {"Info": info_text}
    if finite.size:
        metadata["min"] = float(finite.min())
        metadata["max"] = float(finite.max())
    kwargs: dict[str, Any] = {}
    if px is not None:
        metadata["unit"] = "nm"
        kwargs["resolution"] = (1.0 / px, 1.0 / px)
    out = Path(path)
    with atomic_write(out, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data, imagej=True, metadata=metadata, **kwargs)
    return out


def read_depth_tiff(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a depth TIFF: (float32 array, {"pixel_size_nm", "unit", "value_unit",
    "description", "info"}).

    ``description`` is the mapping given to :func:`write_depth_tiff` (``{}`` if none);
    ``info`` is the whole stored JSON (format, value_unit, pixel_size_nm, shape,
    description). Other TIFFs give ``{}`` for both (or the ImageJ Info JSON if it is one).
    Raises :class:`~core.io.errors.SemReadError` subclasses.
    """
    import tifffile

    from core.io.formats import check_file, error_text
    from core.io.reader import read_depth
    from core.io.tiff import check_tiff_page
    from core.io.vendor import from_imagej

    p = Path(path)
    fmt = check_file(p)
    if fmt != "TIFF":
        raise UnsupportedFormatError(p, f"expected a TIFF depth map, the content is {fmt}")
    try:
        with tifffile.TiffFile(p) as tif:
            if not tif.pages:
                raise CorruptFileError(p, "TIFF file has no image pages")
            page: Any = tif.pages[0]
            check_tiff_page(p, page, 1 << 62)
            ij = tif.imagej_metadata or {}
            unit = ij.get("unit")
            xres_tag = page.tags.get(282)
            xres = xres_tag.value if xres_tag is not None else None
            info_text = ij.get("Info")
    except SemReadError:
        raise
    except Exception as exc:
        raise CorruptFileError(p, f"cannot parse the TIFF ({error_text(exc)})") from exc
    array = read_depth(p)
    cal = from_imagej(
        str(unit) if unit else None,
        (int(xres[0]), int(xres[1])) if isinstance(xres, tuple) and len(xres) == 2 else None,
    )
    desc: dict[str, Any] = {}
    if isinstance(info_text, str):
        try:
            parsed = json.loads(info_text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            desc = parsed
    pixel_size = cal.pixel_size_nm
    stored = desc.get("pixel_size_nm")
    # our own files: the JSON holds the exact float, the TIFF rational an approximation
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        value = float(stored)
        if pixel_size is None or abs(value - pixel_size) <= 1e-6 * pixel_size:
            pixel_size = value
    return array, {
        "pixel_size_nm": pixel_size,
        "unit": unit,
        "value_unit": desc.get("value_unit"),
        "description": (
            desc.get("description") or {} if desc.get("format") == DESCRIPTION_FORMAT else desc
        ),
        "info": desc,
    }


# ============================================================================ CSV


def _header_lines(header: Mapping[str, Any], extra: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in {**dict(header), **dict(extra)}.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        text = " ".join(str(text).splitlines())
        lines.append(f"# {key}: {text}")
    return lines


def write_depth_csv(
    path: str | os.PathLike[str],
    depth: Any,
    *,
    header: Mapping[str, Any],
    long: bool = False,
    pixel_size_nm: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a depth map as CSV with a ``# key: value`` commented header.

    ``header`` holds e.g. units, source and model; ``rows``, ``cols``, ``layout`` and
    ``pixel_size_nm`` are added. Matrix layout (default): one CSV line per image row,
    column j = x pixel j. Long layout: ``x_px,y_px[,x_nm,y_nm],depth`` per pixel in
    row-major order, with ``x_nm = x_px * pixel_size_nm`` (pixel centres, origin at the
    centre of pixel (0, 0)). Values use 9 significant digits (exact for float32).
    """
    data = _as_2d_float32(depth)
    px = _check_pixel_size(pixel_size_nm)
    rows, cols = data.shape
    extra: dict[str, Any] = {
        "rows": rows,
        "cols": cols,
        "layout": (
            "long: one line per pixel (x_px, y_px"
            + (", x_nm, y_nm" if px is not None else "")
            + ", depth), row-major"
            if long
            else "matrix: one line per image row (y), one column per x"
        ),
        "pixel_size_nm": px,
    }
    out = Path(path)
    lines = _header_lines(header, extra)
    with (
        atomic_write(out, overwrite=overwrite) as tmp,
        open(tmp, "w", encoding="utf-8", newline="\n") as fh,
    ):
        for line in lines:
            fh.write(line + "\n")
        if long:
            yy, xx = np.mgrid[0:rows, 0:cols]
            columns = [xx.ravel().astype(np.float64), yy.ravel().astype(np.float64)]
            names = ["x_px", "y_px"]
            fmts = ["%d", "%d"]
            if px is not None:
                columns += [columns[0] * px, columns[1] * px]
                names += ["x_nm", "y_nm"]
                fmts += ["%.9g", "%.9g"]
            columns.append(data.ravel().astype(np.float64))
            names.append("depth")
            fmts.append(CSV_FLOAT_FORMAT)
            fh.write(",".join(names) + "\n")
            np.savetxt(fh, np.stack(columns, axis=1), fmt=fmts, delimiter=",")
        else:  # the matrix, a block of rows at a time
            write_matrix(fh, data, CSV_FLOAT_FORMAT)
    return out


# ============================================================================ PNG


def depth_to_uint8(depth: Any) -> np.ndarray:
    """DACON 8-bit convention: round to the nearest integer and clip to 0..255."""
    data = _as_2d_float32(depth)
    if not np.isfinite(data).all():
        raise ValueError("depth contains NaN or infinite values; cannot write an 8-bit PNG")
    return np.clip(np.rint(data), 0, 255).astype(np.uint8)


def write_depth_png(path: str | os.PathLike[str], depth: Any, *, overwrite: bool = False) -> Path:
    """Write an 8-bit grayscale depth PNG (DACON convention: round, clip to 0..255 DU)."""
    data = encode_png(depth_to_uint8(depth))
    out = Path(path)
    with atomic_write(out, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return out


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Any:
    """Pillow's default font at ``size`` px (built once per size: building it decodes the
    embedded font each time)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _tick_texts(ticks: np.ndarray) -> list[str]:
    """Tick labels with one number of decimals chosen from the tick step."""
    values = [float(t) for t in ticks]
    step = abs(values[-1] - values[0]) / max(len(values) - 1, 1)
    biggest = max(abs(v) for v in values)
    if biggest >= 1e5 or (0 < step < 1e-3):
        return [f"{v:.3g}" for v in values]
    decimals = 0 if step >= 5 or step == 0 else 1 if step >= 0.5 else 2 if step >= 0.05 else 3
    return [f"{(round(v, decimals) or 0.0):.{decimals}f}" for v in values]  # no "-0.0"


def colormap_range(
    array: Any, cmap: str, vmin: float | None = None, vmax: float | None = None
) -> tuple[str, float, float]:
    """The canonical colour-map name and the value range ``(lo, hi)`` of ``array``:
    ``vmin``/``vmax``, defaulting to the finite min/max (diverging maps: symmetric about 0)."""
    data = np.asarray(array, dtype=np.float64)
    name = colormaps._canonical(cmap)
    finite = data[np.isfinite(data)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if name in colormaps.DIVERGING and vmin is None and vmax is None:
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    lo = float(vmin) if vmin is not None else lo
    hi = float(vmax) if vmax is not None else hi
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"vmin/vmax must be finite, got {lo}, {hi}")
    if hi < lo:
        raise ValueError(f"vmax ({hi}) is smaller than vmin ({lo})")
    return name, lo, hi


def render_colormap(
    array: Any,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    label: str = "depth (DU)",
) -> np.ndarray:
    """(H, W, 3) uint8 picture: the colour-mapped array, a colour bar with ticks and a label.

    Small arrays are enlarged (nearest neighbour, integer factor) to at least 256 px tall.
    ``vmin``/``vmax`` default to the finite min/max (diverging maps: symmetric about 0).
    """
    from PIL import Image

    data = np.asarray(array, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"array must be 2-D (rows, cols), got shape {data.shape}")
    name, lo, hi = colormap_range(data, cmap, vmin, vmax)
    rgb = colormaps.apply(data, name, lo, hi)
    rows, cols = data.shape
    scale = max(1, math.ceil(256 / rows)) if rows < 256 else 1
    scale = min(scale, max(1, 4096 // max(cols, 1)))
    img = Image.fromarray(rgb)
    if scale > 1:
        img = img.resize((cols * scale, rows * scale), Image.Resampling.NEAREST)
    return add_colorbar(np.asarray(img), cmap=name, lo=lo, hi=hi, label=label)


def add_colorbar(picture: np.ndarray, *, cmap: str, lo: float, hi: float, label: str) -> np.ndarray:
    """``picture`` (H, W, 3 uint8) with a colour bar of ``cmap`` from ``lo`` (bottom) to
    ``hi`` (top) on its right, five ticks and ``label`` above."""
    from PIL import Image, ImageDraw

    name = colormaps._canonical(cmap)
    img = Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8))
    w, h = img.size
    font_size = max(10, min(16, h // 20))
    font = _font(font_size)
    bar_w = max(12, min(30, w // 20))
    pad = 8
    top = font_size + 2 * pad  # room for the label above the bar
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    ticks = np.linspace(lo, hi, 5) if hi > lo else np.array([lo])
    texts = _tick_texts(ticks)
    text_w = max(int(probe.textlength(t, font=font)) for t in texts)
    label_w = int(probe.textlength(label, font=font))
    right = pad + bar_w + 4 + text_w + pad
    canvas_w = max(w + right, pad + label_w + pad)
    canvas_h = top + h + pad
    canvas = Image.new("RGB", (canvas_w, canvas_h), (255, 255, 255))
    canvas.paste(img, (0, top))
    draw = ImageDraw.Draw(canvas)

    # colour bar: high values at the top
    bar_lut = colormaps.lut(name)
    ramp = np.linspace(255, 0, h).round().astype(np.intp)
    bar = np.repeat(bar_lut[ramp][:, None, :], bar_w, axis=1)
    x0 = w + pad
    canvas.paste(Image.fromarray(np.ascontiguousarray(bar)), (x0, top))
    draw.rectangle([x0 - 1, top - 1, x0 + bar_w, top + h], outline=(0, 0, 0))
    for t, text in zip(ticks, texts, strict=True):
        frac = 0.5 if hi <= lo else (float(t) - lo) / (hi - lo)
        y = top + round((1.0 - frac) * (h - 1))
        draw.line([x0 + bar_w, y, x0 + bar_w + 3, y], fill=(0, 0, 0))
        ty = min(max(y - font_size // 2, 0), canvas_h - font_size)
        draw.text((x0 + bar_w + 5, ty), text, fill=(0, 0, 0), font=font)
    lx = max(0, min(canvas_w - label_w - pad, x0 + bar_w // 2 - label_w // 2))
    draw.text((lx, pad // 2), label, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def write_colormap_png(
    path: str | os.PathLike[str],
    array: Any,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    label: str = "depth (DU)",
    overwrite: bool = False,
) -> Path:
    """Write a colour-mapped PNG with a colour bar, tick values and ``label`` (see
    :func:`render_colormap`). Colour maps: viridis, magma, gray, coolwarm, RdBu."""
    data = encode_png(render_colormap(array, cmap=cmap, vmin=vmin, vmax=vmax, label=label))
    out = Path(path)
    with atomic_write(out, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return out
