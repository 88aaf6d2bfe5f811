"""What every format reader shares: the checks before decoding (the file exists, is a
regular non-empty file, its type by content, the image size within limits), the record a
reader returns (:class:`RawImage`) and the one-line description of a third-party error.

The type is decided by the first bytes (magic numbers), never by the extension; a known
unsupported type (GIF, PDF, ZIP, ...) is named in the error.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.io.errors import (
    EmptyFileError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAFileError,
    SemFileNotFoundError,
    SemReadError,
    UnsupportedFormatError,
)
from core.io.image import MIN_SIDE_PX
from core.io.vendor import VendorInfo

_MAGIC: list[tuple[bytes, str]] = [
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
]
_KNOWN_OTHER: list[tuple[bytes, str]] = [
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"RIFF", "RIFF (WebP/AVI/WAV)"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
    (b"\x93NUMPY", "NumPy .npy"),
    (b"\x89HDF\r\n\x1a\n", "HDF5"),
    (b"8BPS", "Photoshop PSD"),
]


@dataclass
class RawImage:
    """What a format reader returns before the shared post-processing."""

    pixels: np.ndarray  # float32 (rows, cols), full image including any data bar
    dtype: str
    bit_depth: int
    format: str
    page_count: int = 1
    info: VendorInfo = field(default_factory=VendorInfo)
    metadata: dict[str, Any] = field(default_factory=dict)
    float_source: bool = False


def error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_file(p: Path) -> str:
    """Existence, type and size checks, then the format from the magic bytes."""
    try:
        st = os.stat(p)
    except FileNotFoundError as exc:
        raise SemFileNotFoundError(p, "file not found") from exc
    except NotADirectoryError as exc:
        raise SemFileNotFoundError(p, "file not found (a parent is not a folder)") from exc
    except OSError as exc:
        raise SemReadError(p, f"cannot access the file ({error_text(exc)})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise NotAFileError(p, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise NotAFileError(p, "is not a regular file")
    if st.st_size == 0:
        raise EmptyFileError(p, "file is empty (0 bytes)")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise SemReadError(p, f"cannot open the file ({error_text(exc)})") from exc
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    for magic, name in _KNOWN_OTHER:
        if head.startswith(magic):
            raise UnsupportedFormatError(
                p, f"unsupported file type: the content is {name}, not TIFF/PNG/JPEG/BMP"
            )
    ext = p.suffix.lower()
    if ext in (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"):
        raise UnsupportedFormatError(
            p,
            f"the content does not match any supported image type (extension {ext} but "
            f"first bytes {head[:8].hex(' ')}); the file may be damaged or mislabelled",
        )
    raise UnsupportedFormatError(
        p,
        f"unsupported file type (first bytes {head[:8].hex(' ')}); supported: TIFF, PNG, JPEG, BMP",
    )


def check_size(p: Path, rows: int, cols: int, max_pixels: int) -> None:
    if rows < MIN_SIDE_PX or cols < MIN_SIDE_PX:
        raise ImageTooSmallError(
            p, f"image is {cols}x{rows} px (WxH); at least {MIN_SIDE_PX}x{MIN_SIDE_PX} px needed"
        )
    if rows * cols > max_pixels:
        raise ImageTooLargeError(
            p,
            f"image is {cols}x{rows} px (WxH) = {rows * cols / 1e6:.1f} megapixels, "
            f"more than the limit of {max_pixels / 1e6:.1f} megapixels",
        )
