"""The :class:`SemImage` container returned by :func:`core.io.read_sem`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.io.errors import ImageTooSmallError, InvalidPixelsError

MIN_SIDE_PX = 8
"""Smallest accepted image side, in pixels."""


@dataclass
class SemImage:
    """One SEM image: float32 pixels in their original value range plus calibration.

    ``pixels`` is row-major ``(rows, cols)`` with the data bar already removed
    (its height is in ``databar_height``). ``dtype``/``bit_depth`` describe the
    stored values (for palette images: the index type, with the palette's gray
    levels in the same range). ``pixel_size`` is in ``pixel_size_unit``, always
    ``"nm"``; ``pixel_size_source`` says where it came from (``"none"`` if unknown).
    """

    pixels: np.ndarray
    path: Path | None
    dtype: str
    bit_depth: int
    pixel_size: float | None = None
    pixel_size_unit: str = "nm"
    pixel_size_source: str = "none"
    vendor: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    databar_height: int = 0
    page_count: int = 1
    format: str = "array"

    @property
    def pixel_size_nm(self) -> float | None:
        """Pixel size in nm, or ``None`` when the file carries no calibration."""
        if self.pixel_size is None:
            return None
        if self.pixel_size_unit != "nm":  # the reader always converts; guard hand-made objects
            from core.io.vendor import to_nm

            return to_nm(self.pixel_size, self.pixel_size_unit)
        return float(self.pixel_size)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of ``pixels``."""
        rows, cols = self.pixels.shape[:2]
        return int(rows), int(cols)

    def normalized(self) -> np.ndarray:
        """Pixels mapped to float32 0..1 by the ORIGINAL dtype's range.

        uint8: /255, uint16: /65535, other unsigned ints: /(2**bits - 1); bool: as is;
        float and signed ints: min-max over the image (a constant image gives zeros).
        """
        px = np.asarray(self.pixels, dtype=np.float32)
        kind = np.dtype(self.dtype).kind if _is_numpy_dtype(self.dtype) else "f"
        if self.dtype == "uint8":
            return px / np.float32(255.0)
        if self.dtype == "uint16":
            return px / np.float32(65535.0)
        if kind == "b":
            return px.copy()
        if kind == "u":
            top = float(np.iinfo(np.dtype(self.dtype)).max)
            return (px / np.float32(top)).astype(np.float32)
        lo = float(np.nanmin(px)) if px.size else 0.0
        hi = float(np.nanmax(px)) if px.size else 0.0
        if not hi > lo:
            return np.zeros_like(px)
        return ((px - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32)

    @classmethod
    def from_array(
        cls,
        array: Any,
        *,
        pixel_size_nm: float | None = None,
        path: str | Path | None = None,
    ) -> SemImage:
        """Wrap a 2-D array (any real dtype) as an SemImage; RGB(A) arrays become BT.601 luma.

        Raises :class:`InvalidPixelsError` for non-finite or non-numeric values and
        :class:`ImageTooSmallError` below 8 x 8 px.
        """
        p = Path(path) if path is not None else None
        arr = np.asarray(array)
        if arr.dtype.kind not in "biuf":
            raise InvalidPixelsError(p, f"array dtype {arr.dtype} is not a real number type")
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            from core.io.pixels import rgb_to_gray

            gray, _ = rgb_to_gray(arr)
        elif arr.ndim == 2:
            gray = arr.astype(np.float32)
        else:
            raise InvalidPixelsError(p, f"expected a 2-D image array, got shape {arr.shape}")
        rows, cols = gray.shape
        if rows < MIN_SIDE_PX or cols < MIN_SIDE_PX:
            raise ImageTooSmallError(
                p, f"image is {cols}x{rows} px (WxH); at least {MIN_SIDE_PX}x{MIN_SIDE_PX} needed"
            )
        if arr.dtype.kind == "f" and not np.isfinite(gray).all():
            bad = int(np.count_nonzero(~np.isfinite(gray)))
            raise InvalidPixelsError(p, f"{bad} pixel(s) are NaN or infinite")
        size: float | None = None
        if pixel_size_nm is not None:
            size = float(pixel_size_nm)
            if not (np.isfinite(size) and size > 0):
                raise ValueError(f"pixel_size_nm must be a positive finite number, got {size}")
        return cls(
            pixels=np.ascontiguousarray(gray, dtype=np.float32),
            path=p,
            dtype=str(arr.dtype),
            bit_depth=1 if arr.dtype.kind == "b" else arr.dtype.itemsize * 8,
            pixel_size=size,
            pixel_size_unit="nm",
            pixel_size_source="given" if size is not None else "none",
            vendor=None,
            metadata={},
            databar_height=0,
            page_count=1,
            format="array",
        )


def _is_numpy_dtype(name: str) -> bool:
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True
