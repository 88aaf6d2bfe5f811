"""Reading TIFF files (tifffile + imagecodecs): header checks before decoding, the first
page's pixels as one gray channel, and the vendor metadata (FEI/Thermo, ZEISS, TESCAN,
Fibics, Phenom, ImageJ calibration) most specific first; a broken metadata block is
recorded in ``metadata["metadata_errors"]``, never raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.io.errors import (
    CorruptFileError,
    ImageTooLargeError,
    InvalidPixelsError,
    SemReadError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from core.io.formats import RawImage, check_size, error_text
from core.io.pixels import palette_to_gray, rgb_to_gray
from core.io.vendor import (
    VendorInfo,
    from_fei,
    from_fibics,
    from_imagej,
    from_phenom_xml,
    from_tescan,
    from_zeiss,
    jsonable,
)


def tiff_geometry(page: Any) -> tuple[int, int, int]:
    rows = int(page.imagelength)
    cols = int(page.imagewidth)
    spp = int(getattr(page, "samplesperpixel", 1) or 1)
    return rows, cols, spp


def check_tiff_page(p: Path, page: Any, max_pixels: int) -> None:
    """Header-only checks of a TIFF page: size limits, codec, data inside the file."""
    rows, cols, spp = tiff_geometry(page)
    depth = int(getattr(page, "imagedepth", 1) or 1)
    check_size(p, rows, cols, max_pixels)
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


def read_tiff(p: Path, max_pixels: int) -> RawImage:
    import tifffile

    try:
        tif = tifffile.TiffFile(p)
    except tifffile.TiffFileError as exc:
        raise CorruptFileError(p, f"not a valid TIFF file ({error_text(exc)})") from exc
    except Exception as exc:
        raise CorruptFileError(p, f"cannot parse the TIFF structure ({error_text(exc)})") from exc
    with tif:
        try:
            n_pages = len(tif.pages)
        except Exception as exc:
            raise CorruptFileError(p, f"cannot parse the TIFF pages ({error_text(exc)})") from exc
        if n_pages == 0:
            raise CorruptFileError(p, "TIFF file has no image pages")
        page: Any = tif.pages[0]
        if not hasattr(page, "imagelength"):  # a TiffFrame: should not happen for page 0
            raise CorruptFileError(p, "cannot parse the first TIFF page")
        check_tiff_page(p, page, max_pixels)
        rows, cols, _spp = tiff_geometry(page)
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
                    p, f"cannot decode this TIFF compression ({error_text(exc)})"
                ) from exc
            raise CorruptFileError(
                p, f"cannot decode the TIFF pixel data ({error_text(exc)})"
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
            gray, how = palette_to_gray(data, np.asarray(colormap, dtype=np.float64), bit_depth)
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

        return RawImage(
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
            errors.append(f"{name}: {error_text(exc)}")
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
            errors.append(f"imagej_metadata: {error_text(exc)}")
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


def read_float_tiff(p: Path, max_pixels: int) -> np.ndarray | None:
    """The first page of a float TIFF as float32 values as they are (a depth map), or None
    when the first page is not a 2-D float image (then read it like an SEM image).
    Raises :class:`InvalidPixelsError` for NaN or infinite values."""
    try:
        import tifffile

        with tifffile.TiffFile(p) as tif:
            if tif.pages and getattr(tif.pages[0], "dtype", None) is not None:
                dt = np.dtype(tif.pages[0].dtype)
                if dt.kind == "f":
                    check_tiff_page(p, tif.pages[0], max_pixels)
                    arr = np.asarray(tif.pages[0].asarray(), dtype=np.float32)
                    if arr.ndim == 2:
                        if not np.isfinite(arr).all():
                            bad = int(np.count_nonzero(~np.isfinite(arr)))
                            raise InvalidPixelsError(p, f"{bad} depth value(s) are NaN or infinite")
                        return np.ascontiguousarray(arr)
    except SemReadError:
        raise
    except Exception as exc:
        raise CorruptFileError(p, f"cannot decode the TIFF data ({error_text(exc)})") from exc
    return None
