"""Reading SEM images and depth maps: :func:`read_sem` and :func:`read_depth`.

:func:`read_sem` returns a :class:`~core.io.image.SemImage`: float32 pixels in the
original value range with the data bar removed, the original dtype and bit
depth, the pixel size in nm with the metadata key it came from, the vendor and
its metadata (JSON-serialisable). Every failure is a specific
:class:`~core.io.errors.SemReadError` subclass naming the file.

The file checks and type sniffing are in :mod:`core.io.formats`; the format readers in
:mod:`core.io.tiff` (tifffile + imagecodecs) and :mod:`core.io.pillow` (PNG/JPEG/BMP);
gray conversion (BT.601 luma, palettes) in :mod:`core.io.pixels`; vendor metadata in
:mod:`core.io.vendor`. This module adds what every format shares: a metadata sidecar
when the file itself names no vendor, the NaN check of float images, and the data bar.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.io.databar import detect_databar
from core.io.errors import (
    CorruptFileError,
    ImageTooLargeError,
    InvalidPixelsError,
    MultiPageWarning,
    SemReadError,
)
from core.io.formats import check_file, error_text
from core.io.image import MIN_SIDE_PX, SemImage
from core.io.pillow import read_pillow
from core.io.tiff import read_float_tiff, read_tiff
from core.io.vendor import VendorInfo, from_sidecar, jsonable

__all__ = ["DEFAULT_MAX_PIXELS", "peek_shape", "read_depth", "read_sem"]

DEFAULT_MAX_PIXELS = 100_000_000


def read_sem(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strip_databar: bool = True,
) -> SemImage:
    """Read one SEM image file (TIFF, PNG, JPEG, BMP; type decided by content).

    ``max_pixels`` bounds rows x cols, checked from the header before decoding.
    With ``strip_databar`` the vendor information bar is cut off the bottom
    (``databar_height`` rows); without it the full frame is returned and the
    detected height is only recorded in ``metadata["databar_detected"]``.
    A multi-page TIFF gives its first page and a :class:`MultiPageWarning`.
    """
    image = _read(Path(path), max_pixels=max_pixels, strip_databar=strip_databar)
    if image.page_count > 1:
        warnings.warn(
            f"{image.path}: multi-page {image.format} file with {image.page_count} pages; "
            "only the first page is read",
            MultiPageWarning,
            stacklevel=2,
        )
    return image


def _read(p: Path, *, max_pixels: int, strip_databar: bool) -> SemImage:
    """read_sem without the multi-page warning (the caller decides)."""
    fmt = check_file(p)
    try:
        raw = read_tiff(p, max_pixels) if fmt == "TIFF" else read_pillow(p, fmt, max_pixels)
    except SemReadError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(p, "not enough memory to decode the image") from exc
    except Exception as exc:  # any third-party failure not caught closer to its source
        raise CorruptFileError(p, f"cannot decode the {fmt} data ({error_text(exc)})") from exc

    rows, cols = raw.pixels.shape
    info = raw.info
    metadata = raw.metadata
    metadata["format"] = fmt
    metadata["original_shape"] = [rows, cols]

    if info.vendor is None:
        try:
            side_info, side_path = from_sidecar(p, rows)
        except Exception as exc:  # best effort: a broken sidecar never fails the read
            side_info, side_path = None, None
            metadata.setdefault("metadata_errors", []).append(f"sidecar: {error_text(exc)}")
        if side_info is not None and side_path is not None:
            info = side_info
            metadata.update(jsonable(side_info.metadata))
            metadata["sidecar"] = side_path.name

    if raw.float_source and not np.isfinite(raw.pixels).all():
        bad = int(np.count_nonzero(~np.isfinite(raw.pixels)))
        raise InvalidPixelsError(
            p, f"{bad} of {raw.pixels.size} pixel(s) are NaN or infinite in a float image"
        )

    bar, bar_source = _databar(raw.pixels, info)
    metadata["databar_detected"] = bar
    metadata["databar_source"] = bar_source
    pixels = raw.pixels
    removed = 0
    if strip_databar and bar > 0:
        pixels = np.ascontiguousarray(pixels[: rows - bar])
        removed = bar

    return SemImage(
        pixels=pixels,
        path=p,
        dtype=raw.dtype,
        bit_depth=raw.bit_depth,
        pixel_size=info.pixel_size_nm,
        pixel_size_unit="nm",
        pixel_size_source=info.pixel_size_source if info.pixel_size_nm is not None else "none",
        vendor=info.vendor,
        metadata=metadata,
        databar_height=removed,
        page_count=raw.page_count,
        format=fmt,
    )


def read_depth(path: str | os.PathLike[str]) -> np.ndarray:
    """A depth map as float32 in depth units (DU): 8-bit PNG values, float TIFF values as is.

    Raises :class:`SemReadError` subclasses like :func:`read_sem` (no data bar is cut; a
    multi-page file gives its first page without a warning).
    """
    p = Path(path)
    fmt = check_file(p)
    if fmt == "TIFF":
        depth = read_float_tiff(p, DEFAULT_MAX_PIXELS)
        if depth is not None:
            return depth
    return _read(p, max_pixels=DEFAULT_MAX_PIXELS, strip_databar=False).pixels


def _databar(pixels: np.ndarray, info: VendorInfo) -> tuple[int, str]:
    """Bar height from metadata if stated, else the image heuristic for vendor files only."""
    rows = pixels.shape[0]
    if info.databar_height is not None:
        bar = int(info.databar_height)
        if bar >= 0 and rows - bar >= MIN_SIDE_PX:
            return bar, info.databar_source
        return 0, f"{info.databar_source} (ignored: {bar} rows of {rows})"
    if info.vendor is None:
        return 0, "none (no vendor metadata: never cut)"
    bar = detect_databar(pixels)
    if bar > 0 and rows - bar >= MIN_SIDE_PX:
        return bar, "image heuristic (bottom rows)"
    return 0, "image heuristic (none found)"


def peek_shape(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(rows, cols) of an image file from its header alone (no pixels decoded), or None
    when the file cannot be read that far. For estimates (output sizes), never checks."""
    p = Path(path)
    try:
        fmt = check_file(p)
        if fmt == "TIFF":
            import tifffile

            with tifffile.TiffFile(p) as tif:
                page: Any = tif.pages[0]
                return int(page.imagelength), int(page.imagewidth)
        from PIL import Image

        with Image.open(p) as im:
            cols, rows = im.size
            return int(rows), int(cols)
    except Exception:  # an estimate: any failure is "unknown"
        return None
