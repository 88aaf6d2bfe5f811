"""Small synthetic image files for the core.io tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image


def ramp(rows: int = 32, cols: int = 48, dtype: Any = np.uint8) -> np.ndarray:
    """A deterministic non-constant test image in ``dtype``'s range."""
    y, x = np.mgrid[0:rows, 0:cols]
    base = (x * 7 + y * 13) % 256
    dt = np.dtype(dtype)
    if dt == np.uint16:
        return (base * 257).astype(np.uint16)
    if dt.kind == "f":
        return (base.astype(np.float64) / 10.0 - 3.0).astype(dt)
    return base.astype(dt)


def write_tiff(path: Path, data: np.ndarray, **kwargs: Any) -> Path:
    tifffile.imwrite(path, data, **kwargs)
    return path


def write_pil(path: Path, image: Image.Image, fmt: str, **kwargs: Any) -> Path:
    image.save(path, format=fmt, **kwargs)
    return path
