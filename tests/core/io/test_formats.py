"""read_sem on synthetic TIFF / PNG / BMP / JPEG variants written in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.io import (
    ImageTooSmallError,
    InvalidPixelsError,
    MultiPageWarning,
    SemImage,
    read_sem,
)

from .helpers import ramp, write_pil, write_tiff

# ----------------------------------------------------------------------------- TIFF


def test_tiff_8bit(tmp_path):
    data = ramp()
    img = read_sem(write_tiff(tmp_path / "a.tif", data))
    assert (img.dtype, img.bit_depth, img.format) == ("uint8", 8, "TIFF")
    assert img.pixels.dtype == np.float32 and img.pixels.flags.c_contiguous
    np.testing.assert_array_equal(img.pixels, data)
    np.testing.assert_allclose(img.normalized(), data / 255.0, rtol=1e-6)
    assert img.vendor is None and img.pixel_size is None and img.pixel_size_source == "none"
    assert img.databar_height == 0 and img.page_count == 1


def test_tiff_16bit(tmp_path):
    data = ramp(dtype=np.uint16)
    data[0, 0] = 65535
    img = read_sem(write_tiff(tmp_path / "a.tif", data))
    assert (img.dtype, img.bit_depth) == ("uint16", 16)
    np.testing.assert_array_equal(img.pixels, data)
    assert img.normalized()[0, 0] == 1.0
    assert img.normalized()[0, 1] == pytest.approx(data[0, 1] / 65535.0)


def test_tiff_float32_values_and_minmax_normalisation(tmp_path):
    data = ramp(dtype=np.float32)
    img = read_sem(write_tiff(tmp_path / "a.tif", data))
    assert (img.dtype, img.bit_depth) == ("float32", 32)
    np.testing.assert_array_equal(img.pixels, data)
    norm = img.normalized()
    assert norm.min() == 0.0 and norm.max() == 1.0
    lo, hi = float(data.min()), float(data.max())
    assert norm[3, 5] == pytest.approx((data[3, 5] - lo) / (hi - lo), rel=1e-6)


def test_tiff_float64_becomes_float32(tmp_path):
    data = ramp(dtype=np.float64)
    img = read_sem(write_tiff(tmp_path / "a.tif", data))
    assert (img.dtype, img.bit_depth) == ("float64", 64)
    np.testing.assert_allclose(img.pixels, data.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_tiff_float_with_nan_or_inf(tmp_path, bad):
    data = ramp(dtype=np.float32)
    data[4, 4] = bad
    path = write_tiff(tmp_path / "nan.tif", data)
    with pytest.raises(InvalidPixelsError, match="1 of 1536 pixel") as info:
        read_sem(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("compression", ["lzw", "zlib", "deflate"])
def test_tiff_compressed(tmp_path, compression):
    data = ramp(dtype=np.uint16)
    img = read_sem(write_tiff(tmp_path / "c.tif", data, compression=compression))
    np.testing.assert_array_equal(img.pixels, data)
    assert img.metadata["compression"] in ("LZW", "ADOBE_DEFLATE", "DEFLATE")


def test_tiff_lzw_with_predictor(tmp_path):
    data = ramp()
    img = read_sem(write_tiff(tmp_path / "p.tif", data, compression="lzw", predictor=True))
    np.testing.assert_array_equal(img.pixels, data)


def test_tiff_rgb_unequal_channels_uses_bt601_luma(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 150, 200
    rgb[0, 0] = (255, 0, 0)
    img = read_sem(write_tiff(tmp_path / "rgb.tif", rgb, photometric="rgb"))
    # 0.299*100 + 0.587*150 + 0.114*200 = 29.9 + 88.05 + 22.8
    assert img.pixels[5, 5] == pytest.approx(140.75, abs=1e-4)
    assert img.pixels[0, 0] == pytest.approx(0.299 * 255, abs=1e-4)
    assert img.dtype == "uint8" and "BT.601" in img.metadata["gray_conversion"]


def test_tiff_rgb_equal_channels_keeps_values(tmp_path):
    gray = ramp()
    rgb = np.repeat(gray[..., None], 3, axis=2)
    img = read_sem(write_tiff(tmp_path / "g.tif", rgb, photometric="rgb"))
    np.testing.assert_array_equal(img.pixels, gray)


def test_tiff_rgba_ignores_alpha(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint16)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 1000, 2000, 3000, 7
    path = write_tiff(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    img = read_sem(path)
    assert img.dtype == "uint16"
    assert img.pixels[3, 3] == pytest.approx(0.299 * 1000 + 0.587 * 2000 + 0.114 * 3000, abs=1e-2)


def test_tiff_planar_rgb(tmp_path):
    planar = np.zeros((3, 16, 20), np.uint8)
    planar[0], planar[1], planar[2] = 10, 20, 30
    img = read_sem(
        write_tiff(tmp_path / "pl.tif", planar, photometric="rgb", planarconfig="separate")
    )
    assert img.shape == (16, 20)
    assert img.pixels[0, 0] == pytest.approx(0.299 * 10 + 0.587 * 20 + 0.114 * 30, abs=1e-4)


def test_tiff_palette_gray_ramp_gives_indices(tmp_path):
    idx = ramp()
    cmap = np.tile(np.arange(256, dtype=np.uint16) * 257, (3, 1))
    img = read_sem(write_tiff(tmp_path / "p.tif", idx, photometric="palette", colormap=cmap))
    np.testing.assert_array_equal(img.pixels, idx)
    assert img.metadata["gray_conversion"] == "palette is a gray ramp: indices"


def test_tiff_palette_colour_gives_luminance(tmp_path):
    idx = ramp()
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = 65535 - np.arange(256) * 257  # red falls, blue rises: not a gray ramp
    cmap[2] = np.arange(256) * 257
    img = read_sem(write_tiff(tmp_path / "p.tif", idx, photometric="palette", colormap=cmap))
    i = int(idx[2, 3])
    expected = 0.299 * (255 - i) + 0.114 * i  # in the 0..255 range of the uint8 indices
    assert img.pixels[2, 3] == pytest.approx(expected, abs=1e-3)
    assert img.dtype == "uint8"
    assert img.metadata["gray_conversion"] == "palette luminance ITU-R BT.601"


def test_tiff_inverted_gray_palette_is_not_a_ramp(tmp_path):
    idx = ramp()
    cmap = np.tile((255 - np.arange(256, dtype=np.uint16)) * 257, (3, 1))
    img = read_sem(write_tiff(tmp_path / "p.tif", idx, photometric="palette", colormap=cmap))
    np.testing.assert_allclose(img.pixels, 255.0 - idx, atol=1e-3)


def test_tiff_miniswhite_is_inverted(tmp_path):
    data = ramp()
    img = read_sem(write_tiff(tmp_path / "w.tif", data, photometric="miniswhite"))
    np.testing.assert_array_equal(img.pixels, 255 - data.astype(np.float32))


def test_tiff_multipage_warns_and_reads_first_page(tmp_path):
    stack = np.stack([ramp(), ramp()[::-1], ramp() // 2])
    path = write_tiff(tmp_path / "stack.tif", stack, photometric="minisblack")
    with pytest.warns(MultiPageWarning, match="3 pages") as record:
        img = read_sem(path)
    assert str(path) in str(record[0].message)
    assert img.page_count == 3
    np.testing.assert_array_equal(img.pixels, stack[0])


def test_tiff_tiny_4x4_is_too_small(tmp_path):
    path = write_tiff(tmp_path / "tiny.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageTooSmallError, match="4x4 px"):
        read_sem(path)


def test_tiff_exactly_8x8_is_accepted(tmp_path):
    img = read_sem(write_tiff(tmp_path / "e.tif", np.arange(64, dtype=np.uint8).reshape(8, 8)))
    assert img.shape == (8, 8)


def test_tiff_int16_and_bilevel(tmp_path):
    data = (ramp().astype(np.int16) - 100).astype(np.int16)
    img = read_sem(write_tiff(tmp_path / "i.tif", data))
    assert img.dtype == "int16"
    np.testing.assert_array_equal(img.pixels, data)
    norm = img.normalized()
    assert norm.min() == 0 and norm.max() == 1  # signed: min-max


# ----------------------------------------------------------------------------- vendor tags


def test_fei_tag_databar_and_pixel_size(tmp_path):
    data = ramp(120, 64)
    fei = (
        "[User]\r\nDate=01/02/2024\r\n[System]\r\nSystemType=Test\r\n"
        "[Scan]\r\nPixelWidth=4.5e-09\r\nPixelHeight=4.5e-09\r\n"
        "[Image]\r\nResolutionX=64\r\nResolutionY=100\r\n"
    )
    path = write_tiff(tmp_path / "fei.tif", data, extratags=[(34682, "s", 0, fei, True)])
    img = read_sem(path)
    assert img.vendor == "FEI/Thermo"
    assert img.pixel_size_nm == pytest.approx(4.5)
    assert img.pixel_size_source == "fei_metadata Scan.PixelWidth"
    assert img.databar_height == 20 and img.shape == (100, 64)
    np.testing.assert_array_equal(img.pixels, data[:100])


def test_tescan_tag_text(tmp_path):
    data = ramp(100, 64, np.uint16)
    blob = (
        b"\x10\x00\x00\x00junk\xff\xd9\x00\x00PixelSizeX=3.0e-9\r\nImageStripSize=20\r\nHV=5000\r\n"
    )
    path = write_tiff(tmp_path / "t.tif", data, extratags=[(50431, "B", len(blob), blob, True)])
    img = read_sem(path)
    assert (img.vendor, img.databar_height, img.shape) == ("TESCAN", 20, (80, 64))
    assert img.pixel_size_nm == pytest.approx(3.0)


def test_fibics_tag(tmp_path):
    xml = (
        '<?xml version="1.0" encoding="iso-8859-1"?><Fibics version="1.0"><Scan>'
        "<Ux>0.002</Ux><Uy>0</Uy></Scan></Fibics>"
    )
    path = write_tiff(tmp_path / "f.tif", ramp(), extratags=[(51023, "s", 0, xml, True)])
    img = read_sem(path)
    assert img.vendor == "Fibics" and img.pixel_size_nm == pytest.approx(2.0)


def test_phenom_tiff_tag(tmp_path):
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><FeiImage><databarHeight>12</databarHeight>'
        '<pixelWidth unit="um">0.0125</pixelWidth></FeiImage>'
    )
    path = write_tiff(tmp_path / "ph.tif", ramp(60, 40), extratags=[(34683, "s", 0, xml, True)])
    img = read_sem(path)
    assert (img.vendor, img.databar_height, img.shape) == ("Phenom", 12, (48, 40))
    assert img.pixel_size_nm == pytest.approx(12.5)


def test_broken_vendor_metadata_does_not_fail_the_read(tmp_path):
    path = write_tiff(
        tmp_path / "b.tif", ramp(), extratags=[(51023, "s", 0, "<Fibics><Scan>", True)]
    )
    img = read_sem(path)
    assert img.vendor is None and img.pixel_size is None
    assert any("FibicsXML" in e for e in img.metadata["metadata_errors"])


def test_jeol_sidecar_with_micron_bar(tmp_path):
    path = write_tiff(tmp_path / "j.tif", ramp(60, 64))
    (tmp_path / "j.txt").write_text(
        "$CM_FORMAT JEOL-SEM\r\n$CM_MAG 10000\r\n$$SM_MICRON_BAR 200\r\n"
        "$$SM_MICRON_MARKER 1um\r\n$CM_FULL_SIZE 64 48\r\n",
        encoding="utf-8",
    )
    img = read_sem(path)
    assert img.vendor == "JEOL" and img.pixel_size_nm == pytest.approx(5.0)
    assert img.pixel_size_source == "JEOL sidecar $$SM_MICRON_MARKER/$$SM_MICRON_BAR"
    assert img.databar_height == 12 and img.shape == (48, 64)
    assert img.metadata["sidecar"] == "j.txt"


def test_hitachi_sidecar(tmp_path):
    path = write_pil(tmp_path / "h.bmp", Image.fromarray(ramp(60, 64)), "BMP")
    (tmp_path / "h.txt").write_text(
        "[SemImageFile]\r\nInstructName=SU8200\r\nPixelSize=2.480469\r\nDataSize=64x48\r\n",
        encoding="utf-8",
    )
    img = read_sem(path)
    assert (img.vendor, img.databar_height) == ("Hitachi", 12)
    assert img.pixel_size_nm == pytest.approx(2.480469)


def test_unrelated_txt_beside_image_is_ignored(tmp_path):
    path = write_tiff(tmp_path / "n.tif", ramp())
    (tmp_path / "n.txt").write_text("just some notes\n", encoding="utf-8")
    img = read_sem(path)
    assert img.vendor is None and "sidecar" not in img.metadata


# ----------------------------------------------------------------------------- PNG / BMP / JPEG


def test_png_8bit_gray(tmp_path):
    data = ramp()
    img = read_sem(write_pil(tmp_path / "a.png", Image.fromarray(data), "PNG"))
    assert (img.format, img.dtype, img.bit_depth) == ("PNG", "uint8", 8)
    np.testing.assert_array_equal(img.pixels, data)


def test_png_16bit(tmp_path):
    data = ramp(dtype=np.uint16)
    img = read_sem(write_pil(tmp_path / "a.png", Image.fromarray(data), "PNG"))
    assert (img.dtype, img.bit_depth) == ("uint16", 16)
    np.testing.assert_array_equal(img.pixels, data)


def test_png_palette_colour_and_gray(tmp_path):
    idx = ramp() % 4
    im = Image.new("P", (48, 32))
    im.putdata(idx.ravel().tolist())
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
    img = read_sem(write_pil(tmp_path / "p.png", im, "PNG"))
    lum = {0: 0.299 * 255, 1: 0.587 * 255, 2: 0.114 * 255, 3: 255.0}
    for r, c in [(0, 0), (1, 2), (5, 7)]:
        assert img.pixels[r, c] == pytest.approx(lum[int(idx[r, c])], abs=1e-3)
    gray = Image.new("P", (48, 32))
    gray.putdata(ramp().ravel().tolist())
    gray.putpalette([v for i in range(256) for v in (i, i, i)])
    img2 = read_sem(write_pil(tmp_path / "g.png", gray, "PNG"))
    np.testing.assert_array_equal(img2.pixels, ramp())


def test_png_gray_alpha(tmp_path):
    data = ramp()
    la = np.stack([data, np.full_like(data, 9)], axis=2)
    im = Image.fromarray(la)
    assert im.mode == "LA"
    img = read_sem(write_pil(tmp_path / "la.png", im, "PNG"))
    np.testing.assert_array_equal(img.pixels, data)


def test_png_rgb_and_rgba(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (10, 200, 30)
    img = read_sem(write_pil(tmp_path / "rgb.png", Image.fromarray(rgb), "PNG"))
    assert img.pixels[0, 0] == pytest.approx(0.299 * 10 + 0.587 * 200 + 0.114 * 30, abs=1e-3)
    rgba = np.concatenate([rgb, np.full((16, 16, 1), 3, np.uint8)], axis=2)
    img = read_sem(write_pil(tmp_path / "rgba.png", Image.fromarray(rgba), "PNG"))
    assert img.pixels[0, 0] == pytest.approx(0.299 * 10 + 0.587 * 200 + 0.114 * 30, abs=1e-3)


def test_bmp_gray_and_rgb(tmp_path):
    data = ramp()
    img = read_sem(write_pil(tmp_path / "a.bmp", Image.fromarray(data), "BMP"))
    assert img.format == "BMP"
    np.testing.assert_array_equal(img.pixels, data)
    rgb = np.repeat(data[..., None], 3, axis=2)
    rgb[..., 2] = 0
    img = read_sem(write_pil(tmp_path / "c.bmp", Image.fromarray(rgb), "BMP"))
    np.testing.assert_allclose(img.pixels, (0.299 + 0.587) * data, atol=1e-3)


def test_jpeg_gray_and_rgb(tmp_path):
    flat = np.full((32, 32), 120, np.uint8)
    img = read_sem(write_pil(tmp_path / "a.jpg", Image.fromarray(flat), "JPEG", quality=95))
    assert (img.format, img.dtype) == ("JPEG", "uint8")
    assert np.abs(img.pixels - 120).max() <= 2
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[...] = (200, 100, 50)
    img = read_sem(write_pil(tmp_path / "c.jpeg", Image.fromarray(rgb), "JPEG", quality=95))
    assert abs(float(img.pixels.mean()) - (0.299 * 200 + 0.587 * 100 + 0.114 * 50)) < 3


def test_format_decided_by_content_not_extension(tmp_path):
    data = ramp()
    path = write_pil(tmp_path / "really_a_png.tif", Image.fromarray(data), "PNG")
    img = read_sem(path)
    assert img.format == "PNG"
    np.testing.assert_array_equal(img.pixels, data)


def test_plain_png_with_bar_like_bottom_is_never_cut(tmp_path):
    data = ramp(100, 100)
    data[80] = 0  # a uniform border row ...
    data[81:] = 255  # ... and a white panel with dark text, like a data bar
    data[85:90, 10:40] = 0
    img = read_sem(write_pil(tmp_path / "crop.png", Image.fromarray(data), "PNG"))
    assert img.databar_height == 0 and img.shape == (100, 100)
    assert img.metadata["databar_source"].startswith("none")


# ----------------------------------------------------------------------------- SemImage


def test_from_array_and_properties():
    arr = ramp(dtype=np.uint16)
    img = SemImage.from_array(arr, pixel_size_nm=2.5)
    assert img.shape == (32, 48) and img.pixel_size_nm == 2.5 and img.dtype == "uint16"
    assert img.path is None and img.format == "array" and img.bit_depth == 16
    np.testing.assert_allclose(img.normalized(), arr / 65535.0, rtol=1e-6)
    const = SemImage.from_array(np.full((9, 9), 3.0, np.float32))
    assert not const.normalized().any()


def test_from_array_rejects_bad_input():
    with pytest.raises(ImageTooSmallError):
        SemImage.from_array(np.zeros((4, 20)))
    with pytest.raises(InvalidPixelsError, match="NaN"):
        SemImage.from_array(np.full((9, 9), np.nan))
    with pytest.raises(InvalidPixelsError, match="2-D"):
        SemImage.from_array(np.zeros((2, 9, 9)))
    with pytest.raises(ValueError):
        SemImage.from_array(np.zeros((9, 9)), pixel_size_nm=-1.0)


def test_read_depth_first_page_without_warning(tmp_path):
    import warnings

    from core.io import read_depth

    stack = np.stack([ramp(dtype=np.float32), ramp(dtype=np.float32) + 1])
    path = write_tiff(tmp_path / "s.tif", stack, photometric="minisblack")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        depth = read_depth(path)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, stack[0])


def test_vendor_metadata_is_json_serialisable(tmp_path):
    import json

    fei = "[Scan]\r\nPixelWidth=1e-09\r\n[Image]\r\nResolutionY=32\r\n"
    path = write_tiff(tmp_path / "f.tif", ramp(), extratags=[(34682, "s", 0, fei, True)])
    img = read_sem(path)
    text = json.dumps(img.metadata, allow_nan=False)
    assert json.loads(text)["fei"]["Scan"]["PixelWidth"] == 1e-09
    assert img.databar_height == 0 and img.metadata["databar_source"].startswith("fei_metadata")
