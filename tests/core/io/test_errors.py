"""Every bad input gives its own SemReadError subclass, with the file and the cause."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import core.io.pillow as pillow_mod
from core.io import (
    CorruptFileError,
    EmptyFileError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidPixelsError,
    NotAFileError,
    SemFileNotFoundError,
    SemReadError,
    TruncatedFileError,
    UnsupportedFormatError,
    read_depth,
    read_sem,
)

from .helpers import ramp, write_pil, write_tiff


def _raises(exc_type: type[SemReadError], path: Path, **kwargs) -> SemReadError:
    with pytest.raises(exc_type) as info:
        read_sem(path, **kwargs)
    err = info.value
    assert isinstance(err, SemReadError)
    assert str(err).startswith(f"{path}: "), str(err)
    assert err.path == path and err.reason
    return err


def test_missing_file(tmp_path):
    err = _raises(SemFileNotFoundError, tmp_path / "nope.tif")
    assert "not found" in err.reason


def test_missing_parent_folder(tmp_path):
    _raises(SemFileNotFoundError, tmp_path / "no_dir" / "nope.png")


def test_directory(tmp_path):
    folder = tmp_path / "images.tif"
    folder.mkdir()
    err = _raises(NotAFileError, folder)
    assert "directory" in err.reason


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    err = _raises(EmptyFileError, path)
    assert "0 bytes" in err.reason


def test_unsupported_by_content(tmp_path):
    gif = tmp_path / "image.png"  # a GIF with a PNG name
    Image.fromarray(ramp()).save(gif, format="GIF")
    err = _raises(UnsupportedFormatError, gif)
    assert "GIF" in err.reason
    text = tmp_path / "notes.tif"
    text.write_text("hello, this is not an image\n")
    err = _raises(UnsupportedFormatError, text)
    assert ".tif" in err.reason
    other = tmp_path / "data.xyz"
    other.write_bytes(b"\x00\x01\x02\x03" * 10)
    _raises(UnsupportedFormatError, other)


def test_truncated_tiff(tmp_path):
    full = write_tiff(tmp_path / "full.tif", ramp(64, 64))
    cut = tmp_path / "cut.tif"
    raw = full.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    err = _raises(TruncatedFileError, cut)
    assert "truncated" in err.reason
    assert isinstance(err, CorruptFileError)


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_png_and_jpeg(tmp_path, fmt, ext):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (128, 128), dtype=np.uint8)  # incompressible
    full = write_pil(tmp_path / f"full.{ext}", Image.fromarray(noisy), fmt)
    cut = tmp_path / f"cut.{ext}"
    raw = full.read_bytes()
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    err = _raises(TruncatedFileError, cut)
    assert "truncated" in err.reason


def test_corrupt_tiff_structure(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + b"\xff" * 40)
    _raises(CorruptFileError, path)


def test_corrupt_png_header(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    _raises(CorruptFileError, path)


def test_too_small_png(tmp_path):
    path = write_pil(tmp_path / "t.png", Image.fromarray(np.zeros((4, 4), np.uint8)), "PNG")
    err = _raises(ImageTooSmallError, path)
    assert "4x4 px" in err.reason and "8x8" in err.reason
    path = write_pil(tmp_path / "thin.png", Image.fromarray(np.zeros((7, 100), np.uint8)), "PNG")
    _raises(ImageTooSmallError, path)


def test_too_large_tiff_checked_before_decoding(tmp_path, monkeypatch):
    path = write_tiff(tmp_path / "big.tif", ramp(64, 64))

    def boom(*args, **kwargs):
        raise AssertionError("pixels decoded before the size check")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", boom)
    err = _raises(ImageTooLargeError, path, max_pixels=1000)
    assert "64x64" in err.reason and "megapixels" in err.reason


def test_tiff_header_claiming_huge_size(tmp_path):
    path = write_tiff(tmp_path / "huge.tif", ramp(16, 16))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offsets = [page.tags[name].valueoffset for name in ("ImageWidth", "ImageLength")]
        dtypes = [page.tags[name].dtype for name in ("ImageWidth", "ImageLength")]
    for off, dt in zip(offsets, dtypes, strict=True):
        fmt = "<H" if int(dt) == 3 else "<I"
        raw[off : off + struct.calcsize(fmt)] = struct.pack(fmt, 60000)
    path.write_bytes(bytes(raw))
    err = _raises(ImageTooLargeError, path)  # default limit: 100 megapixels
    assert "60000x60000" in err.reason


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_png_header_claiming_huge_size(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + _png_chunk(b"IEND", b"")
    )
    _raises(ImageTooLargeError, path)


def test_max_pixels_for_pillow_formats(tmp_path):
    path = write_pil(tmp_path / "a.png", Image.fromarray(ramp(64, 64)), "PNG")
    err = _raises(ImageTooLargeError, path, max_pixels=4095)
    assert "64x64" in err.reason
    assert read_sem(path, max_pixels=4096).shape == (64, 64)


@pytest.mark.parametrize("limit", [3000, 1000])  # warning zone (1x..2x) and error zone (>2x)
def test_pillow_decompression_bomb_becomes_image_too_large(tmp_path, monkeypatch, limit):
    path = write_pil(tmp_path / "b.png", Image.fromarray(ramp(64, 64)), "PNG")  # 4096 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    err = _raises(ImageTooLargeError, path)
    assert "decompression-bomb" in err.reason


def test_nan_in_float_tiff_for_read_depth(tmp_path):
    data = ramp(dtype=np.float32)
    data[0, 0] = np.nan
    path = write_tiff(tmp_path / "d.tif", data)
    with pytest.raises(InvalidPixelsError) as info:
        read_depth(path)
    assert str(info.value).startswith(str(path))


def test_unsupported_tiff_compression(tmp_path):
    path = write_tiff(tmp_path / "c.tif", ramp(16, 16))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        off = tif.pages[0].tags["Compression"].valueoffset
    raw[off : off + 2] = struct.pack("<H", 60000)  # no such codec
    path.write_bytes(bytes(raw))
    err = _raises(UnsupportedFormatError, path)
    assert "compression" in err.reason


def test_third_party_exception_is_wrapped(tmp_path, monkeypatch):
    path = write_tiff(tmp_path / "x.tif", ramp())

    def fail(*args, **kwargs):
        raise ValueError("decoder exploded")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", fail)
    err = _raises(CorruptFileError, path)
    assert "decoder exploded" in err.reason
    assert isinstance(err.__cause__, ValueError)


def test_unexpected_internal_exception_is_wrapped(tmp_path, monkeypatch):
    path = write_pil(tmp_path / "x.png", Image.fromarray(ramp()), "PNG")

    def fail(*args, **kwargs):
        raise KeyError("weird")

    monkeypatch.setattr(pillow_mod, "pil_to_gray", fail)
    _raises(CorruptFileError, path)


def test_errors_pickle_round_trip(tmp_path):
    import pickle

    err = TruncatedFileError(tmp_path / "a.tif", "file is truncated")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is TruncatedFileError and str(back) == str(err) and back.path == err.path
