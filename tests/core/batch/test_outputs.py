"""check_formats, planned_outputs, write_outputs (files written and read back),
write_holes_csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import (
    BatchItem,
    check_formats,
    planned_outputs,
    read_summary,
    write_holes_csv,
    write_outputs,
)
from core.inference import HoleRecord, PredictionResult
from core.io import OutputExistsError, SemImage, read_depth_tiff


def _result(*, holes: list[HoleRecord] | None = None) -> PredictionResult:
    depth = np.linspace(-10.0, 300.0, 12 * 10, dtype=np.float32).reshape(12, 10)
    unc = np.full((12, 10), 0.25, np.float32)
    unc[3, 4] = 1.5
    sem = SemImage.from_array(np.zeros((12, 10), np.uint8), pixel_size_nm=2.5, path="x.png")
    return PredictionResult(
        depth=depth,
        uncertainty=unc,
        sem=sem,
        mode="field" if holes is not None else "crop",
        holes=holes,
        timings={"total": 0.5},
        model_id="unit-model",
        nm_per_depth_unit=None,
        fast_path="fp32",
    )


def _holes() -> list[HoleRecord]:
    return [
        HoleRecord(1, 3.14159, 4.5, 6.0, 15.0, 12.34567, 20.0, 0.5),
        HoleRecord(2, 8.0, 2.25, 5.5, None, 40.0, 44.44444, 1.0),
    ]


def test_check_formats_normalises_and_refuses() -> None:
    assert check_formats(["TIF", " csv ", "tiff", "dacon", "png"]) == (
        "tiff",
        "csv",
        "dacon",
        "png",
    )
    assert check_formats([]) == ()
    with pytest.raises(ValueError, match=r"unknown output format 'jpg'; choose from tiff, csv"):
        check_formats(["tiff", "jpg"])


def test_planned_outputs_names_in_a_fixed_order(tmp_path: Path) -> None:
    plan = planned_outputs(tmp_path, "a__b", ("dacon", "csv", "tiff", "png"), holes=True)
    assert list(plan) == [
        "depth_tiff",
        "uncertainty_tiff",
        "depth_csv",
        "depth_png",
        "depth8_png",
        "holes_csv",
    ]
    assert [p.name for p in plan.values()] == [
        "a__b_depth.tif",
        "a__b_uncertainty.tif",
        "a__b_depth.csv",
        "a__b_depth.png",
        "a__b_depth8.png",
        "a__b_holes.csv",
    ]
    assert all(p.parent == tmp_path for p in plan.values())
    assert list(planned_outputs(tmp_path, "s", ("csv",), holes=False)) == ["depth_csv"]


def test_write_outputs_writes_every_format_readably(tmp_path: Path) -> None:
    res = _result(holes=_holes())
    out = tmp_path / "out"
    written = write_outputs(res, out, formats=("tiff", "csv", "png", "dacon"), stem="s")
    assert sorted(p.name for p in out.iterdir()) == [
        "s_depth.csv",
        "s_depth.png",
        "s_depth.tif",
        "s_depth8.png",
        "s_holes.csv",
        "s_uncertainty.tif",
    ]
    assert written == planned_outputs(out, "s", ("tiff", "csv", "png", "dacon"), holes=True)

    depth, meta = read_depth_tiff(written["depth_tiff"])
    assert np.array_equal(depth, res.depth)  # float32 to the last bit
    assert meta["pixel_size_nm"] == pytest.approx(2.5)
    desc = meta["description"]
    assert desc["model_id"] == "unit-model" and desc["mode"] == "field"
    assert desc["n_holes"] == 2 and "product_version" in desc and "quantity" not in desc
    unc, umeta = read_depth_tiff(written["uncertainty_tiff"])
    assert np.array_equal(unc, res.uncertainty)
    assert umeta["description"]["quantity"] == "uncertainty (std over TTA flips and shots)"

    text = written["depth_csv"].read_text()
    assert "# model_id: unit-model" in text and "# mode: field" in text
    assert "# rows: 12" in text and "# cols: 10" in text
    csv_depth = np.loadtxt(written["depth_csv"], comments="#", delimiter=",")
    assert np.array_equal(csv_depth.astype(np.float32), res.depth)

    eight = np.asarray(Image.open(written["depth8_png"]))
    assert eight.dtype == np.uint8 and eight.shape == (12, 10)
    assert np.array_equal(eight, np.clip(np.rint(res.depth), 0, 255).astype(np.uint8))
    colour = Image.open(written["depth_png"])
    assert colour.mode == "RGB" and colour.size[0] > 10  # the map plus its colour bar

    rows = read_summary(written["holes_csv"])
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["row_px"] == "3.142" and rows[0]["bottom_depth_du"] == "12.3457"
    assert rows[1]["diameter_nm"] == "" and rows[1]["mean_depth_du"] == "44.4444"


def test_no_hole_table_without_holes(tmp_path: Path) -> None:
    written = write_outputs(_result(), tmp_path, formats=("csv",), stem="c")
    assert list(written) == ["depth_csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c_depth.csv"]


def test_an_existing_target_stops_everything(tmp_path: Path) -> None:
    (tmp_path / "s_uncertainty.tif").write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match=r"s_uncertainty\.tif"):
        write_outputs(_result(), tmp_path, formats=("csv", "tiff"), stem="s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_uncertainty.tif"]
    assert (tmp_path / "s_uncertainty.tif").read_bytes() == b"mine"
    written = write_outputs(_result(), tmp_path, formats=("csv", "tiff"), stem="s", overwrite=True)
    assert np.array_equal(read_depth_tiff(written["uncertainty_tiff"])[0], _result().uncertainty)


def test_a_batch_item_is_written_through_its_result(tmp_path: Path) -> None:
    item = BatchItem(0, Path("x.png"), "done", None, _result(), None, None, {}, 0.0)
    written = write_outputs(item, tmp_path, formats=("tiff",), stem="i")
    assert np.array_equal(read_depth_tiff(written["depth_tiff"])[0], _result().depth)
    item.result = None
    with pytest.raises(ValueError, match="holds no result"):
        write_outputs(item, tmp_path, formats=("tiff",), stem="j")


def test_write_holes_csv_with_no_rows_has_the_header(tmp_path: Path) -> None:
    path = write_holes_csv(tmp_path / "h.csv", _result(holes=[]))
    assert path.read_text().splitlines() == [
        "id,row_px,col_px,diameter_px,diameter_nm,bottom_depth_du,mean_depth_du,uncertainty_du"
    ]
    with pytest.raises(OutputExistsError):
        write_holes_csv(tmp_path / "h.csv", _result(holes=[]))


def test_colour_png_in_another_unit_and_colour_map(tmp_path: Path) -> None:
    """``colour``: the colour PNG only (values x scale, its label and map); the TIFF keeps DU."""
    from core.batch import ColourPng
    from core.io import write_colormap_png

    result = _result()
    written = write_outputs(
        result,
        tmp_path / "o",
        formats=("tiff", "png"),
        stem="s",
        colour=ColourPng(cmap="magma", scale=2.0, unit="nm"),
    )
    ref = write_colormap_png(
        tmp_path / "ref.png", result.depth * 2.0, cmap="magma", label="depth (nm)"
    )
    np.testing.assert_array_equal(
        np.asarray(Image.open(written["depth_png"])), np.asarray(Image.open(ref))
    )
    np.testing.assert_array_equal(read_depth_tiff(written["depth_tiff"])[0], result.depth)
    default = write_outputs(result, tmp_path / "d", formats=("png",), stem="s")
    plain = write_colormap_png(tmp_path / "plain.png", result.depth, label="depth (DU)")
    np.testing.assert_array_equal(
        np.asarray(Image.open(default["depth_png"])), np.asarray(Image.open(plain))
    )


def test_a_set_is_flushed_to_disk_once_when_complete(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """write_outputs flushes its files together (one syncfs, or an fsync of each where
    there is none) after the last one is written, not one fsync per file; a failed flush
    fails the set, names the folder and the OS reason, and removes its files."""
    import errno

    import core.io.atomic as atomic

    fsyncs: list[Path] = []
    syncs: list[Path] = []
    monkeypatch.setattr(atomic, "_fsync", lambda p: fsyncs.append(Path(p)))
    monkeypatch.setattr(atomic, "_syncfs", lambda folder: syncs.append(folder) or True)
    written = write_outputs(_result(), tmp_path / "a", formats=("tiff", "csv"), stem="s")
    assert len(written) == 3 and fsyncs == [] and syncs == [tmp_path / "a"]

    monkeypatch.setattr(atomic, "_syncfs", lambda folder: False)  # not Linux
    written = write_outputs(_result(), tmp_path / "b", formats=("tiff", "csv"), stem="s")
    assert sorted(fsyncs) == sorted(written.values())

    def full(folder: Path) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_syncfs", full)
    with pytest.raises(OSError, match="No space left on device") as err:
        write_outputs(_result(), tmp_path / "c", formats=("tiff", "csv"), stem="s")
    assert str(tmp_path / "c") in str(err.value)
    assert list((tmp_path / "c").iterdir()) == []  # the set is gone, temporaries too


def test_syncfs_runs_on_linux(tmp_path: Path) -> None:
    import sys

    import core.io.atomic as atomic

    if not sys.platform.startswith("linux"):
        pytest.skip("syncfs is Linux's")
    assert atomic._syncfs(tmp_path) is True
    with atomic.flushed_together(tmp_path) as files:
        atomic.atomic_write_text(tmp_path / "x.txt", "x")
    assert files == [tmp_path / "x.txt"] and (tmp_path / "x.txt").read_text() == "x"
