"""Reading SEM images: TIFF (tifffile + imagecodecs), PNG/JPEG/BMP (Pillow).

:func:`read_sem` returns a :class:`~core.io.image.SemImage`: float32 pixels in the
original value range with the data bar removed, the original dtype and bit
depth, the pixel size in nm with the metadata key it came from, the vendor and
its metadata (JSON-serialisable). Every failure is a specific
:class:`~core.io.errors.SemReadError` subclass naming the file.

Gray conversion: palette images use the palette's luminance when the palette is
not a plain gray ramp (else the indices); RGB/RGBA use ITU-R BT.601 luma
(0.299 R + 0.587 G + 0.114 B, the weights Pillow's ``convert("L")`` uses), alpha
ignored; equal-channel RGB keeps the channel values exactly.
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.io.databar import detect_databar
from core.io.errors import (
    CorruptFileError,
    EmptyFileError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidPixelsError,
    MultiPageWarning,
    NotAFileError,
    SemFileNotFoundError,
    SemReadError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from core.io.image import MIN_SIDE_PX, SemImage
from core.io.vendor import (
    VendorInfo,
    from_fei,
    from_fibics,
    from_imagej,
    from_phenom_xml,
    from_sidecar,
    from_tescan,
    from_zeiss,
    jsonable,
)

__all__ = ["DEFAULT_MAX_PIXELS", "LUMA_601", "read_depth", "read_sem", "rgb_to_gray"]

DEFAULT_MAX_PIXELS = 100_000_000
LUMA_601 = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights used for RGB -> gray."""

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
class _Raw:
    """What a format reader returns before the shared post-processing."""

    pixels: np.ndarray  # float32 (rows, cols), full image including any data bar
    dtype: str
    bit_depth: int
    format: str
    page_count: int = 1
    info: VendorInfo = field(default_factory=VendorInfo)
    metadata: dict[str, Any] = field(default_factory=dict)
    float_source: bool = False


# ============================================================================ public API


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
    fmt = _check_file(p)
    try:
        raw = _read_tiff(p, max_pixels) if fmt == "TIFF" else _read_pillow(p, fmt, max_pixels)
    except SemReadError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(p, "not enough memory to decode the image") from exc
    except Exception as exc:  # any third-party failure not caught closer to its source
        raise CorruptFileError(p, f"cannot decode the {fmt} data ({_describe(exc)})") from exc

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
            metadata.setdefault("metadata_errors", []).append(f"sidecar: {_describe(exc)}")
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
    fmt = _check_file(p)
    if fmt == "TIFF":
        try:
            import tifffile

            with tifffile.TiffFile(p) as tif:
                if tif.pages and getattr(tif.pages[0], "dtype", None) is not None:
                    dt = np.dtype(tif.pages[0].dtype)
                    if dt.kind == "f":
                        _check_tiff_page(p, tif.pages[0], DEFAULT_MAX_PIXELS)
                        arr = np.asarray(tif.pages[0].asarray(), dtype=np.float32)
                        if arr.ndim == 2:
                            if not np.isfinite(arr).all():
                                bad = int(np.count_nonzero(~np.isfinite(arr)))
                                raise InvalidPixelsError(
                                    p, f"{bad} depth value(s) are NaN or infinite"
                                )
                            return np.ascontiguousarray(arr)
        except SemReadError:
            raise
        except Exception as exc:
            raise CorruptFileError(p, f"cannot decode the TIFF data ({_describe(exc)})") from exc
    return _read(p, max_pixels=DEFAULT_MAX_PIXELS, strip_databar=False).pixels


def rgb_to_gray(arr: np.ndarray) -> tuple[np.ndarray, str]:
    """(rows, cols, 3|4) -> float32 gray: the channel itself if R == G == B, else BT.601 luma."""
    rgb = arr[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return r.astype(np.float32), "RGB with equal channels: channel values"
    wr, wg, wb = LUMA_601
    gray = (
        np.float32(wr) * r.astype(np.float32)
        + np.float32(wg) * g.astype(np.float32)
        + np.float32(wb) * b.astype(np.float32)
    )
    return gray.astype(np.float32), "RGB luma ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B)"


# ============================================================================ checks


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_file(p: Path) -> str:
    """Existence, type and size checks, then the format from the magic bytes."""
    try:
        st = os.stat(p)
    except FileNotFoundError as exc:
        raise SemFileNotFoundError(p, "file not found") from exc
    except NotADirectoryError as exc:
        raise SemFileNotFoundError(p, "file not found (a parent is not a folder)") from exc
    except OSError as exc:
        raise SemReadError(p, f"cannot access the file ({_describe(exc)})") from exc
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
        raise SemReadError(p, f"cannot open the file ({_describe(exc)})") from exc
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


def _check_size(p: Path, rows: int, cols: int, max_pixels: int) -> None:
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


# ============================================================================ TIFF


def _tiff_geometry(page: Any) -> tuple[int, int, int]:
    rows = int(page.imagelength)
    cols = int(page.imagewidth)
    spp = int(getattr(page, "samplesperpixel", 1) or 1)
    return rows, cols, spp


def _check_tiff_page(p: Path, page: Any, max_pixels: int) -> None:
    """Header-only checks of a TIFF page: size limits, codec, data inside the file."""
    rows, cols, spp = _tiff_geometry(page)
    depth = int(getattr(page, "imagedepth", 1) or 1)
    _check_size(p, rows, cols, max_pixels)
    if depth > 1:
        raise UnsupportedFormatError(p, f"volumetric TIFF page (depth {depth}) is not supported")
    if spp > 16:
        raise CorruptFileError(p, f"implausible samples per pixel ({spp})")
    if page.dtype is None:
        raise UnsupportedFormatError(
            p,
            f"unsupported TIFF sample format (BitsPerSample {page.bitspersample}, "
            f"SampleFormat {page.sampleformat})",
        )
    compression = int(page.compression)
    if compression != 1:
        try:
            import tifffile

            tifffile.TIFF.DECOMPRESSORS[compression]
        except Exception as exc:
            raise UnsupportedFormatError(
                p, f"unsupported TIFF compression {_enum_name(page.compression)}"
            ) from exc
    size = p.stat().st_size
    offsets = list(page.dataoffsets)
    counts = list(page.databytecounts)
    if not offsets or len(offsets) != len(counts):
        raise CorruptFileError(p, "TIFF page has no valid strip/tile table")
    end = max(int(o) + int(c) for o, c in zip(offsets, counts, strict=True))
    if end > size:
        raise TruncatedFileError(
            p,
            f"file is truncated: the TIFF pixel data needs {end} bytes but the file has "
            f"only {size} bytes",
        )
    if compression == 1:
        itemsize = np.dtype(page.dtype).itemsize
        bits = int(page.bitspersample)
        if bits >= 8 and bits == itemsize * 8:
            needed = rows * cols * spp * itemsize
            if sum(int(c) for c in counts) < needed:
                raise TruncatedFileError(
                    p,
                    f"file is truncated or damaged: the TIFF strips hold "
                    f"{sum(int(c) for c in counts)} bytes, an uncompressed "
                    f"{cols}x{rows} image needs {needed}",
                )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


def _tag_value(page: Any, code: int) -> Any:
    tag = page.tags.get(code)
    return None if tag is None else tag.value


def _read_tiff(p: Path, max_pixels: int) -> _Raw:
    import tifffile

    try:
        tif = tifffile.TiffFile(p)
    except tifffile.TiffFileError as exc:
        raise CorruptFileError(p, f"not a valid TIFF file ({_describe(exc)})") from exc
    except Exception as exc:
        raise CorruptFileError(p, f"cannot parse the TIFF structure ({_describe(exc)})") from exc
    with tif:
        try:
            n_pages = len(tif.pages)
        except Exception as exc:
            raise CorruptFileError(p, f"cannot parse the TIFF pages ({_describe(exc)})") from exc
        if n_pages == 0:
            raise CorruptFileError(p, "TIFF file has no image pages")
        page: Any = tif.pages[0]
        if not hasattr(page, "imagelength"):  # a TiffFrame: should not happen for page 0
            raise CorruptFileError(p, "cannot parse the first TIFF page")
        _check_tiff_page(p, page, max_pixels)
        rows, cols, _spp = _tiff_geometry(page)
        metadata: dict[str, Any] = {
            "photometric": _enum_name(page.photometric),
            "compression": _enum_name(page.compression),
        }
        tags: dict[str, Any] = {}
        for code, name in ((271, "Make"), (272, "Model"), (305, "Software"), (306, "DateTime")):
            v = _tag_value(page, code)
            if isinstance(v, str) and v.strip():
                tags[name] = v.strip()[:500]
        desc = _tag_value(page, 270)
        if isinstance(desc, str) and desc.strip() and not desc.startswith("ImageJ="):
            tags["ImageDescription"] = desc.strip()[:2000]
        if tags:
            metadata["tiff_tags"] = tags

        info = _tiff_vendor(p, tif, page, rows, metadata)

        try:
            data = page.asarray()
        except MemoryError as exc:
            raise ImageTooLargeError(p, "not enough memory to decode the image") from exc
        except Exception as exc:
            text = str(exc)
            if "imagecodecs" in text or "requires" in text:
                raise UnsupportedFormatError(
                    p, f"cannot decode this TIFF compression ({_describe(exc)})"
                ) from exc
            raise CorruptFileError(
                p, f"cannot decode the TIFF pixel data ({_describe(exc)})"
            ) from exc
        data = np.asarray(data)
        axes = str(getattr(page, "axes", ""))
        if "S" in axes and data.ndim == 3 and axes.index("S") == 0:
            data = np.moveaxis(data, 0, -1)  # planar configuration -> samples last
        data = np.squeeze(data) if data.ndim > 3 else data
        if data.ndim == 3 and data.shape[-1] == 1:
            data = data[..., 0]
        if data.ndim not in (2, 3) or data.shape[:2] != (rows, cols):
            raise UnsupportedFormatError(p, f"unsupported TIFF page layout {data.shape} ({axes})")

        photometric = int(page.photometric)
        dtype = np.dtype(data.dtype)
        bit_depth = int(page.bitspersample) if dtype.kind != "f" else dtype.itemsize * 8
        if dtype.kind == "b":
            bit_depth = 1
        if dtype.kind not in "biuf":
            raise UnsupportedFormatError(p, f"unsupported TIFF pixel type {dtype}")

        if photometric == 3 and data.ndim == 2:  # PALETTE
            colormap = page.colormap
            if colormap is None:
                raise CorruptFileError(p, "palette TIFF without a colour map")
            gray, how = _palette_to_gray(data, np.asarray(colormap, dtype=np.float64), bit_depth)
        elif data.ndim == 3:
            if data.shape[-1] < 3:  # gray + alpha
                gray, how = data[..., 0].astype(np.float32), "gray+alpha: gray channel"
            elif photometric in (2, 6) or data.shape[-1] in (3, 4):  # RGB, YCbCr (decoded)
                gray, how = rgb_to_gray(data)
            else:
                raise UnsupportedFormatError(
                    p, f"unsupported TIFF colour layout ({data.shape[-1]} samples)"
                )
        else:
            gray, how = data.astype(np.float32), "none"
            if photometric == 0 and dtype.kind in "ub":  # MINISWHITE: invert to white = high
                top = 1 if dtype.kind == "b" else np.iinfo(dtype).max
                gray = np.float32(top) - gray
                how = "MINISWHITE inverted"
        metadata["gray_conversion"] = how

        return _Raw(
            pixels=np.ascontiguousarray(gray, dtype=np.float32),
            dtype=str(dtype),
            bit_depth=bit_depth,
            format="TIFF",
            page_count=n_pages,
            info=info,
            metadata=metadata,
            float_source=dtype.kind == "f",
        )


def _tiff_vendor(p: Path, tif: Any, page: Any, rows: int, metadata: dict[str, Any]) -> VendorInfo:
    """Vendor metadata from a TIFF, most specific first; failures are recorded, not raised."""
    errors: list[str] = []

    def attempt(name: str, fn: Any) -> VendorInfo | None:
        try:
            result = fn()
        except Exception as exc:
            errors.append(f"{name}: {_describe(exc)}")
            return None
        return result if isinstance(result, VendorInfo) else None

    info: VendorInfo | None = None
    if page.tags.get(34682) is not None:
        info = attempt("fei_metadata", lambda: from_fei(tif.fei_metadata or {}, rows))
    if info is None and page.tags.get(34118) is not None:
        info = attempt("sem_metadata", lambda: from_zeiss(tif.sem_metadata or {}))
    if info is None and page.tags.get(50431) is not None:
        blob = _tag_value(page, 50431)
        info = attempt("TESCAN tag 50431", lambda: from_tescan(_as_bytes(blob), rows))
    if info is None and page.tags.get(51023) is not None:
        info = attempt("FibicsXML", lambda: from_fibics(_tag_value(page, 51023)))
    if info is None and page.tags.get(34683) is not None:
        xml = _tag_value(page, 34683)
        text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else str(xml)
        if "<FeiImage" in text:
            info = attempt(
                "Phenom FeiImage",
                lambda: from_phenom_xml(text, rows, source="Phenom tag 34683 FeiImage"),
            )
    make = str(metadata.get("tiff_tags", {}).get("Make", ""))
    if info is None and make.upper().startswith("TESCAN"):
        hdr = _tescan_hdr(p)
        info = VendorInfo(vendor="TESCAN")
        if hdr is not None:
            text = hdr.read_text("latin-1")[:1_000_000]
            got = attempt("TESCAN .hdr", lambda: from_tescan(text, rows, source="TESCAN .hdr"))
            if got is not None:
                info = got
                metadata["sidecar"] = hdr.name
    if info is None and getattr(tif, "is_imagej", False):
        unit = None
        try:
            unit = (tif.imagej_metadata or {}).get("unit")
        except Exception as exc:
            errors.append(f"imagej_metadata: {_describe(exc)}")
        xres = _tag_value(page, 282)
        got = attempt("imagej", lambda: from_imagej(str(unit) if unit else None, _rational(xres)))
        if got is not None and got.pixel_size_nm is not None:
            info = got
            metadata["imagej"] = {"unit": unit}
    if info is None:
        info = VendorInfo()
    metadata.update(jsonable(info.metadata))
    if errors:
        metadata.setdefault("metadata_errors", []).extend(errors)
    return info


def _rational(value: Any) -> tuple[int, int] | None:
    if isinstance(value, tuple) and len(value) == 2:
        try:
            return int(value[0]), int(value[1])
        except (TypeError, ValueError):
            return None
    return None


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, np.ndarray):
        return value.tobytes()
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    if isinstance(value, tuple | list):
        return bytes(int(v) & 0xFF for v in value)
    return str(value).encode("latin-1", "replace")


def _tescan_hdr(p: Path) -> Path | None:
    for cand in (
        p.with_name(f"{p.stem}-{p.suffix.lstrip('.')}.hdr"),
        p.with_name(p.name + ".hdr"),
        p.with_suffix(".hdr"),
    ):
        if cand.is_file() and cand.stat().st_size < (1 << 20):
            return cand
    return None


def _palette_to_gray(
    indices: np.ndarray, colormap: np.ndarray, bit_depth: int
) -> tuple[np.ndarray, str]:
    """Palette image -> gray: the indices if the palette is a plain gray ramp, else luminance.

    ``colormap`` is (3, n) in 0..65535 (TIFF) units; the luminance is scaled to the
    index range (0..2**bit_depth - 1) so the values stay in the original dtype's range.
    """
    top = float(2**bit_depth - 1)
    n = colormap.shape[1]
    cm = colormap / 65535.0 * top
    ramp = np.arange(n, dtype=np.float64)
    gray_entries = np.array_equal(colormap[0], colormap[1]) and np.array_equal(
        colormap[1], colormap[2]
    )
    if gray_entries and np.all(np.abs(cm[0] - ramp) <= 1.0):
        return indices.astype(np.float32), "palette is a gray ramp: indices"
    wr, wg, wb = LUMA_601
    lut = (wr * cm[0] + wg * cm[1] + wb * cm[2]).astype(np.float32)
    idx = np.clip(indices.astype(np.int64), 0, n - 1)
    return lut[idx], "palette luminance ITU-R BT.601"


# ============================================================================ Pillow formats


def _read_pillow(p: Path, fmt: str, max_pixels: int) -> _Raw:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(
            p, f"image is larger than the decompression-bomb limit ({_describe(exc)})"
        ) from exc
    except UnidentifiedImageError as exc:
        raise CorruptFileError(p, f"cannot identify the {fmt} image (damaged header)") from exc
    except Exception as exc:
        raise _pillow_error(p, fmt, exc) from exc
    with im:
        cols, rows = im.size
        _check_size(p, rows, cols, max_pixels)
        metadata: dict[str, Any] = {"pil_mode": im.mode}
        info = _pillow_vendor(im, rows, metadata)
        frames = int(getattr(im, "n_frames", 1) or 1)
        try:
            im.load()
            gray, dtype, bit_depth, how = _pil_to_gray(im)
        except SemReadError:
            raise
        except MemoryError as exc:
            raise ImageTooLargeError(p, "not enough memory to decode the image") from exc
        except Exception as exc:
            raise _pillow_error(p, fmt, exc) from exc
    metadata["gray_conversion"] = how
    if gray.shape != (rows, cols):
        raise CorruptFileError(p, f"decoded size {gray.shape} differs from the header")
    return _Raw(
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
            p, f"file is truncated: the {fmt} data ends early ({_describe(exc)})"
        )
    return CorruptFileError(p, f"cannot decode the {fmt} data ({_describe(exc)})")


def _pil_to_gray(im: Any) -> tuple[np.ndarray, str, int, str]:
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
        gray, how = _palette_to_gray(idx, cm, 8)
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
        errors.append(f"EXIF: {_describe(exc)}")
    if exif:
        metadata["exif"] = exif
    for marker, payload in getattr(im, "applist", []) or []:
        if marker == "APP7" and b"<FeiImage" in payload[:4096]:
            try:
                info = from_phenom_xml(payload, rows, source="Phenom APP7 FeiImage")
            except Exception as exc:
                errors.append(f"APP7 FeiImage: {_describe(exc)}")
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


# ============================================================================ data bar


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
