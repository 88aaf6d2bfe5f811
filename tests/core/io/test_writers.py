"""Depth writers: bit-exact round trips, ImageJ calibration, atomic writes, no overwrite."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from core.io import (
    OutputExistsError,
    atomic_write,
    read_depth,
    read_depth_tiff,
    read_sem,
    write_colormap_png,
    write_depth_csv,
    write_depth_png,
    write_depth_tiff,
)
from core.io.colormaps import COLORMAPS, apply, lut
from core.io.writers import render_colormap


def _depth(rows: int = 12, cols: int = 9) -> np.ndarray:
    rng = np.random.default_rng(42)
    return (rng.random((rows, cols)) * 255).astype(np.float32)


def _only(folder: Path, *names: str) -> None:
    assert sorted(os.listdir(folder)) == sorted(names)  # no temp files left behind


# ----------------------------------------------------------------------------- TIFF


def test_depth_tiff_round_trip_and_imagej_calibration(tmp_path):
    depth = _depth()
    desc = {"model": "unet-3level", "settings": {"tta": True, "mode": "crop"}}
    out = write_depth_tiff(tmp_path / "d.tif", depth, pixel_size_nm=2.5, description=desc)
    assert out == tmp_path / "d.tif"
    _only(tmp_path, "d.tif")
    arr, meta = read_depth_tiff(out)
    assert arr.dtype == np.float32 and np.array_equal(arr, depth)  # bit-exact
    assert meta["pixel_size_nm"] == pytest.approx(2.5, rel=1e-9)
    assert meta["unit"] == "nm" and meta["value_unit"] == "DU"
    assert meta["description"] == desc
    assert meta["info"]["shape"] == [12, 9] and meta["info"]["format"] == "semdepth-depth/1"
    with tifffile.TiffFile(out) as tif:  # what Fiji reads
        assert tif.is_imagej
        assert tif.imagej_metadata["unit"] == "nm"
        assert json.loads(tif.imagej_metadata["Info"])["description"] == desc
        page = tif.pages[0]
        assert page.dtype == np.float32
        num, den = page.tags["XResolution"].value
        assert num / den == pytest.approx(1 / 2.5)  # pixels per nm
        num, den = page.tags["YResolution"].value
        assert num / den == pytest.approx(1 / 2.5)


def test_depth_tiff_odd_pixel_size_precision(tmp_path):
    out = write_depth_tiff(tmp_path / "d.tif", _depth(), pixel_size_nm=11.16)
    assert read_depth_tiff(out)[1]["pixel_size_nm"] == pytest.approx(11.16, rel=1e-6)
    img = read_sem(out)
    assert img.pixel_size_nm == pytest.approx(11.16, rel=1e-6)
    assert img.pixel_size_source == "imagej XResolution"
    np.testing.assert_array_equal(img.pixels, _depth())
    np.testing.assert_array_equal(read_depth(out), _depth())


def test_depth_tiff_without_pixel_size(tmp_path):
    out = write_depth_tiff(tmp_path / "d.tif", _depth())
    arr, meta = read_depth_tiff(out)
    assert meta["pixel_size_nm"] is None and meta["unit"] is None
    assert meta["description"] == {} and meta["info"]["value_unit"] == "DU"
    assert np.array_equal(arr, _depth())


def test_depth_tiff_refuses_overwrite_and_keeps_old_file(tmp_path):
    path = tmp_path / "d.tif"
    write_depth_tiff(path, _depth())
    before = path.read_bytes()
    with pytest.raises(OutputExistsError) as info:
        write_depth_tiff(path, _depth() + 1)
    assert str(path) in str(info.value) and isinstance(info.value, FileExistsError)
    assert path.read_bytes() == before
    write_depth_tiff(path, _depth() + 1, overwrite=True)
    assert np.array_equal(read_depth_tiff(path)[0], _depth() + 1)
    _only(tmp_path, "d.tif")


def test_error_mid_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "d.tif"
    write_depth_tiff(path, _depth())
    before = path.read_bytes()

    def half_write(file, data, **kwargs):
        Path(file).write_bytes(b"II*\x00partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_depth_tiff(path, _depth() + 5, overwrite=True)
    assert path.read_bytes() == before
    _only(tmp_path, "d.tif")


def test_depth_tiff_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        write_depth_tiff(tmp_path / "a.tif", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="pixel_size_nm"):
        write_depth_tiff(tmp_path / "a.tif", _depth(), pixel_size_nm=0.0)
    with pytest.raises(ValueError, match="JSON"):
        write_depth_tiff(tmp_path / "a.tif", _depth(), description={"x": object()})
    _only(tmp_path)


# ----------------------------------------------------------------------------- CSV


def _comments(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            assert line.startswith("# ")
            key, _, value = line[2:].partition(": ")
            out[key] = value
    return out


def test_csv_matrix_round_trip(tmp_path):
    depth = _depth()
    header = {
        "units": "depth units (DU, 0-255, deeper = smaller)",
        "source": "a.tif",
        "model": "m1",
    }
    out = write_depth_csv(tmp_path / "d.csv", depth, header=header, pixel_size_nm=2.5)
    back = np.loadtxt(out, delimiter=",", comments="#", dtype=np.float64)
    assert back.shape == depth.shape
    assert np.array_equal(back.astype(np.float32), depth)  # 9 digits: exact for float32
    meta = _comments(out)
    assert meta["units"] == header["units"] and meta["source"] == "a.tif" and meta["model"] == "m1"
    assert meta["pixel_size_nm"] == "2.5" and meta["rows"] == "12" and meta["cols"] == "9"
    assert meta["layout"].startswith("matrix")
    _only(tmp_path, "d.csv")


def test_csv_long_table(tmp_path):
    depth = _depth(3, 4)
    out = write_depth_csv(
        tmp_path / "l.csv", depth, header={"units": "DU"}, long=True, pixel_size_nm=2.0
    )
    lines = [ln for ln in out.read_text().splitlines() if not ln.startswith("#")]
    assert lines[0] == "x_px,y_px,x_nm,y_nm,depth"
    values = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64)
    table = {name: values[:, i] for i, name in enumerate(lines[0].split(","))}
    assert values.shape == (12, 5)
    k = 7  # row-major: y = 7 // 4 = 1, x = 7 % 4 = 3
    assert (table["x_px"][k], table["y_px"][k]) == (3, 1)
    assert (table["x_nm"][k], table["y_nm"][k]) == (6.0, 2.0)
    assert np.float32(table["depth"][k]) == depth[1, 3]


def test_csv_long_table_without_pixel_size(tmp_path):
    out = write_depth_csv(tmp_path / "l.csv", _depth(2, 2), header={}, long=True)
    lines = [ln for ln in out.read_text().splitlines() if not ln.startswith("#")]
    assert lines[0] == "x_px,y_px,depth" and len(lines) == 5
    assert "pixel_size_nm" not in _comments(out)


def test_csv_header_values_are_single_lines(tmp_path):
    out = write_depth_csv(
        tmp_path / "h.csv", _depth(2, 2), header={"note": "two\nlines", "cfg": {"a": 1}}
    )
    meta = _comments(out)
    assert meta["note"] == "two lines" and json.loads(meta["cfg"]) == {"a": 1}


def test_csv_refuses_overwrite(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("old")
    with pytest.raises(OutputExistsError):
        write_depth_csv(path, _depth(), header={})
    assert path.read_text() == "old"
    write_depth_csv(path, _depth(), header={}, overwrite=True)
    assert path.read_text() != "old"


# ----------------------------------------------------------------------------- PNG


def test_depth_png_dacon_convention(tmp_path):
    depth = np.full((8, 8), 100.0, np.float32)
    depth[0, :6] = [-3.2, 0.4, 1.5, 254.6, 300.0, 160.49]
    out = write_depth_png(tmp_path / "d.png", depth)
    with Image.open(out) as im:
        assert im.mode == "L"
        arr = np.asarray(im)
    assert arr[0, :6].tolist() == [0, 0, 2, 255, 255, 160]
    assert (arr[1:] == 100).all()
    np.testing.assert_array_equal(read_depth(out), arr.astype(np.float32))


def test_depth_png_rejects_nan(tmp_path):
    depth = _depth()
    depth[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_depth_png(tmp_path / "d.png", depth)
    _only(tmp_path)


def test_colormap_luts():
    assert lut("viridis")[0].tolist() == [68, 1, 84]  # #440154
    assert lut("viridis")[255].tolist() == [253, 231, 37]  # #FDE725
    assert lut("magma")[255].tolist() == [252, 253, 191]  # #FCFDBF
    assert np.array_equal(lut("gray")[:, 0], np.arange(256))
    assert lut("RdBu")[0].tolist() == [5, 48, 97] and lut("rdbu")[255].tolist() == [103, 0, 31]
    mid = lut("coolwarm")[128]
    assert abs(int(mid[0]) - int(mid[2])) < 10  # near-neutral middle
    for name in COLORMAPS:
        assert lut(name).shape == (256, 3) and lut(name).dtype == np.uint8
    with pytest.raises(ValueError, match="unknown colour map"):
        lut("jet")


def test_colormap_png_contains_image_and_bar(tmp_path):
    data = np.tile(np.linspace(0, 200, 48, dtype=np.float32), (72, 1))
    data[0, 0] = np.nan
    out = write_colormap_png(tmp_path / "c.png", data, cmap="magma", vmin=0, vmax=200)
    with Image.open(out) as im:
        assert im.mode == "RGB"
        canvas = np.asarray(im)
    scale = 4  # 72 rows enlarged to >= 256 rows
    expected = np.kron(apply(data, "magma", 0, 200), np.ones((scale, scale, 1), np.uint8))
    h, w = expected.shape[:2]
    assert canvas.shape[0] > h and canvas.shape[1] > w
    offsets = [
        t for t in range(canvas.shape[0] - h + 1) if np.array_equal(canvas[t : t + h, :w], expected)
    ]
    assert len(offsets) == 1
    top = offsets[0]
    assert canvas[top, 0].tolist() == [128, 128, 128]  # NaN -> gray
    bar = canvas[top : top + h, w + 8 + 5]  # a column inside the colour bar
    assert bar[0].tolist() == lut("magma")[255].tolist()  # high at the top
    assert bar[-1].tolist() == lut("magma")[0].tolist()
    _only(tmp_path, "c.png")


def test_colormap_png_is_the_rendered_picture_losslessly(tmp_path):
    data = (np.random.default_rng(2).random((30, 50)) * 90 - 10).astype(np.float32)
    out = write_colormap_png(tmp_path / "c.png", data, cmap="viridis", label="depth (DU)")
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.format == "PNG"
        canvas = np.asarray(im)
    assert np.array_equal(canvas, render_colormap(data, cmap="viridis", label="depth (DU)"))
    table = lut("viridis")  # shared between calls, so nobody may change it
    with pytest.raises(ValueError, match="read-only"):
        table[0] = 0


def test_colormap_defaults_and_errors(tmp_path):
    err = np.linspace(-3, 1, 100, dtype=np.float32).reshape(10, 10)
    pic = render_colormap(err, cmap="coolwarm", label="error (DU)")
    assert pic.ndim == 3 and pic.shape[2] == 3 and pic.shape[0] >= 256
    with pytest.raises(ValueError, match="vmax"):
        render_colormap(err, vmin=5, vmax=1)
    with pytest.raises(ValueError, match="unknown colour map"):
        write_colormap_png(tmp_path / "x.png", err, cmap="nope")
    _only(tmp_path)


# ----------------------------------------------------------------------------- atomic_write


def test_atomic_write_commits_and_cleans_up(tmp_path):
    target = tmp_path / "sub" / "out.txt"  # missing folder is created
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target and tmp.exists()
        tmp.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    _only(target.parent, "out.txt")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_write_error_keeps_old_file(tmp_path, exc):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(type(exc)), atomic_write(target, overwrite=True) as tmp:
        tmp.write_text("partial")
        raise exc
    assert target.read_text() == "old"
    _only(tmp_path, "out.txt")


def test_atomic_write_refuses_existing_even_if_created_meanwhile(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(OutputExistsError), atomic_write(target) as tmp:
        tmp.write_text("mine")
        target.write_text("someone else's")  # appears while we write
    assert target.read_text() == "someone else's"
    _only(tmp_path, "out.txt")


def test_atomic_write_rejects_directory_target(tmp_path):
    with pytest.raises(IsADirectoryError), atomic_write(tmp_path):
        pass


def test_pixel_size_round_trips_exactly(tmp_path):
    value = 0.1 + 0.2  # 0.30000000000000004: not exact as a 32-bit rational
    out = write_depth_tiff(tmp_path / "d.tif", _depth(), pixel_size_nm=value)
    assert read_depth_tiff(out)[1]["pixel_size_nm"] == value


def test_output_exists_error_forms(tmp_path):
    import pickle

    plain = OutputExistsError(tmp_path / "a.tif")
    assert (
        str(plain)
        == f"{tmp_path / 'a.tif'}: output file already exists (pass --overwrite to replace it)"
    )
    custom = OutputExistsError(tmp_path, "folder is not empty")
    assert str(custom) == f"{tmp_path}: folder is not empty" and custom.path == tmp_path
    message = OutputExistsError(f"{tmp_path}: folder is not empty; use --overwrite")
    assert message.path == tmp_path and str(message).endswith("use --overwrite")
    back = pickle.loads(pickle.dumps(custom))
    assert str(back) == str(custom) and isinstance(back, FileExistsError)


def test_atomic_write_not_durable_still_atomic(tmp_path) -> None:
    from core.io.atomic import atomic_write

    target = tmp_path / "bulk.bin"
    with atomic_write(target, durable=False) as tmp:
        tmp.write_bytes(b"abc")
        assert not target.exists()
    assert target.read_bytes() == b"abc"
    assert [p.name for p in tmp_path.iterdir()] == ["bulk.bin"]
