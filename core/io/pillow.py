"""Reading PNG, JPEG and BMP files with Pillow: size checked from the header, pixels as one
gray channel in the original value range, and Phenom metadata (APP7 ``FeiImage`` XML,
EXIF ``Model``) when present.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.io.errors import (
    CorruptFileError,
    ImageTooLargeError,
    SemReadError,
    TruncatedFileError,
)
from core.io.formats import RawImage, check_size, error_text
from core.io.pixels import palette_to_gray, rgb_to_gray
from core.io.vendor import VendorInfo, from_phenom_xml, jsonable


def read_pillow(p: Path, fmt: str, max_pixels: int) -> RawImage:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(
            p, f"image is larger than the decompression-bomb limit ({error_text(exc)})"
        ) from exc
    except UnidentifiedImageError as exc:
        raise CorruptFileError(p, f"cannot identify the {fmt} image (damaged header)") from exc
    except Exception as exc:
        raise _pillow_error(p, fmt, exc) from exc
    with im:
        cols, rows = im.size
        check_size(p, rows, cols, max_pixels)
        metadata: dict[str, Any] = {"pil_mode": im.mode}
        info = _pillow_vendor(im, rows, metadata)
        frames = int(getattr(im, "n_frames", 1) or 1)
        try:
            im.load()
            gray, dtype, bit_depth, how = pil_to_gray(im)
        except SemReadError:
            raise
        except MemoryError as exc:
            raise ImageTooLargeError(p, "not enough memory to decode the image") from exc
        except Exception as exc:
            raise _pillow_error(p, fmt, exc) from exc
    metadata["gray_conversion"] = how
    if gray.shape != (rows, cols):
        raise CorruptFileError(p, f"decoded size {gray.shape} differs from the header")
    return RawImage(
        pixels=np.ascontiguousarray(gray, dtype=np.float32),
        dtype=dtype,
        bit_depth=bit_depth,
        format=fmt,
        page_count=frames if fmt != "JPEG" else 1,
        info=info,
        metadata=metadata,
        float_source=np.dtype(dtype).kind == "f",
    )


def _pillow_error(p: Path, fmt: str, exc: BaseException) -> SemReadError:
    text = str(exc).lower()
    if "truncat" in text or isinstance(exc, EOFError) or "premature end" in text:
        return TruncatedFileError(
            p, f"file is truncated: the {fmt} data ends early ({error_text(exc)})"
        )
    return CorruptFileError(p, f"cannot decode the {fmt} data ({error_text(exc)})")


def pil_to_gray(im: Any) -> tuple[np.ndarray, str, int, str]:
    """A loaded Pillow image -> (float32 gray, original dtype, bit depth, conversion)."""
    mode = im.mode
    if mode == "1":
        arr = np.asarray(im, dtype=np.uint8)
        return arr.astype(np.float32) * np.float32(255.0), "uint8", 1, "bilevel: 0/255"
    if mode == "L":
        return np.asarray(im).astype(np.float32), "uint8", 8, "none"
    if mode == "LA" or mode == "La":
        arr = np.asarray(im)
        return arr[..., 0].astype(np.float32), "uint8", 8, "gray+alpha: gray channel"
    if mode.startswith("I;16"):
        arr = np.asarray(im)
        return arr.astype(np.float32), "uint16", 16, "none"
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.float32), "uint16", 16, "none"
        return arr.astype(np.float32), "int32", 32, "none"
    if mode == "F":
        return np.asarray(im).astype(np.float32), "float32", 32, "none"
    if mode in ("P", "PA"):
        idx = np.asarray(im)
        if idx.ndim == 3:
            idx = idx[..., 0]
        pal = im.getpalette("RGB") or []
        n = len(pal) // 3
        if n == 0:
            return idx.astype(np.float32), "uint8", 8, "palette without colours: indices"
        cm = np.asarray(pal[: 3 * n], dtype=np.float64).reshape(n, 3).T * 257.0
        gray, how = palette_to_gray(idx, cm, 8)
        return gray, "uint8", 8, how
    if mode in ("RGB", "RGBA", "RGBX", "RGBa"):
        arr = np.asarray(im)
        gray, how = rgb_to_gray(arr)
        return gray, "uint8", 8, how
    # CMYK, YCbCr, LAB, HSV, ...: let Pillow bring it to RGB first
    rgb = np.asarray(im.convert("RGB"))
    gray, how = rgb_to_gray(rgb)
    return gray, "uint8", 8, f"{mode} -> RGB -> {how}"


def _pillow_vendor(im: Any, rows: int, metadata: dict[str, Any]) -> VendorInfo:
    info: VendorInfo | None = None
    errors: list[str] = []
    exif: dict[str, str] = {}
    try:
        raw_exif = im.getexif()
        for code, name in ((271, "Make"), (272, "Model"), (305, "Software")):
            v = raw_exif.get(code)
            if isinstance(v, str) and v.strip():
                exif[name] = v.strip().strip("\x00")[:500]
    except Exception as exc:
        errors.append(f"EXIF: {error_text(exc)}")
    if exif:
        metadata["exif"] = exif
    for marker, payload in getattr(im, "applist", []) or []:
        if marker == "APP7" and b"<FeiImage" in payload[:4096]:
            try:
                info = from_phenom_xml(payload, rows, source="Phenom APP7 FeiImage")
            except Exception as exc:
                errors.append(f"APP7 FeiImage: {error_text(exc)}")
            break
    if info is None and "phenom" in exif.get("Model", "").lower():
        # EXIF only (e.g. a crop that lost the APP7 XML): no calibration, and never cut
        info = VendorInfo(
            vendor="Phenom", databar_height=0, databar_source="EXIF only (no FeiImage XML)"
        )
    if info is None:
        info = VendorInfo()
    metadata.update(jsonable(info.metadata))
    if errors:
        metadata["metadata_errors"] = errors
    return info
