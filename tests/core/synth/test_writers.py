"""DACON-layout and full-field writers, determinism and the ``semdepth synth`` CLI."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main as cli_main
from core.progress import Cancelled, CancelToken, Progress
from core.synth import (
    CROP_SHAPE,
    bucket_for,
    render_crops,
    render_field,
    write_dacon,
    write_fields,
)
from core.synth._files import OutputExistsError


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_bucket_rule() -> None:
    assert bucket_for(0.0) == "000"
    assert bucket_for(9.99) == "000"
    assert bucket_for(90.0) == "090"
    assert bucket_for(145.2) == "140"
    assert bucket_for(-0.3) == "000"


def test_render_crops_shapes_and_ranges() -> None:
    b = render_crops(5, [0, 1, 2, 3], ["Case_1", "Case_3"])
    assert b.depth_du.shape == (4, *CROP_SHAPE) and b.depth_du.dtype == np.float32
    assert set(b.sem) == {"Case_1", "Case_3"}
    assert b.sem["Case_1"].shape == (4, 2, *CROP_SHAPE) and b.sem["Case_1"].dtype == np.uint8
    assert b.clean["Case_3"].shape == (4, *CROP_SHAPE) and b.clean["Case_3"].dtype == np.uint8
    assert np.all((b.top_du >= 150) & (b.top_du <= 170))
    assert b.depth_du.min() >= 0 and b.depth_du.max() <= 172
    # corners are the top surface (close to top_du), the hole is deeper than that
    np.testing.assert_allclose(b.depth_du[:, 0, 0], b.top_du, atol=3.0)
    np.testing.assert_allclose(b.hole_depth_du, b.top_du - b.depth_du.min(axis=(1, 2)))
    assert b.names[2] == "syn5_000002"


def test_render_is_independent_of_batching_and_shots_differ() -> None:
    full = render_crops(11, list(range(6)), ["Case_2"])
    part = render_crops(11, [3, 4], ["Case_2"])
    np.testing.assert_array_equal(full.depth_du[3:5], part.depth_du)
    np.testing.assert_array_equal(full.sem["Case_2"][3:5], part.sem["Case_2"])
    np.testing.assert_array_equal(full.clean["Case_2"][3:5], part.clean["Case_2"])
    shots = full.sem["Case_2"]
    assert np.all(np.any(shots[:, 0] != shots[:, 1], axis=(1, 2)))  # two shots differ
    # ... only by noise: both scatter around the same clean image
    for k in range(6):
        for s in range(2):
            err = shots[k, s].astype(float) - full.clean["Case_2"][k]
            assert abs(err.mean()) < 2.0


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img)


def test_write_dacon_layout_meta_and_csv(tmp_path: Path) -> None:
    out = tmp_path / "set"
    seen: list[Progress] = []
    meta = write_dacon(out, 3, 7, cases=[1, 2], write_clean=True, workers=1, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 3
    on_disk = json.loads((out / "synth_meta.json").read_text())
    assert on_disk == meta
    for key in ("pixel_size_nm", "nm_per_depth_unit", "seed", "structures", "cases"):
        assert key in meta
    assert meta["seed"] == 7 and meta["structures"] == 3 and meta["cases"] == ["Case_1", "Case_2"]
    with open(out / "synth_structures.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["syn7_000000", "syn7_000001", "syn7_000002"]
    sim = out / "simulation_data"
    for r in rows:
        name, bucket = r["name"], r["bucket"]
        lo = int(bucket)
        assert lo <= float(r["hole_depth_du"]) < lo + 10
        depths = []
        for case in ("Case_1", "Case_2"):
            d = _read_png(sim / "Depth" / case / bucket / f"{name}.png")
            assert d.shape == CROP_SHAPE and d.dtype == np.uint8
            depths.append(d)
            a = _read_png(sim / "SEM" / case / bucket / f"{name}_itr0.png")
            b = _read_png(sim / "SEM" / case / bucket / f"{name}_itr1.png")
            c = _read_png(sim / "SEM_clean" / case / bucket / f"{name}.png")
            assert a.shape == b.shape == c.shape == CROP_SHAPE
            assert np.any(a != b)
        np.testing.assert_array_equal(depths[0], depths[1])  # same depth map in every case
        # the 8-bit depth map agrees with the recorded depth (rounding: +-0.5 DU)
        top, hole = float(r["top_du"]), float(r["hole_depth_du"])
        assert abs(int(depths[0].min()) - (top - hole)) <= 0.5 + 1e-6
    assert not (sim / "SEM" / "Case_3").exists()
    n_sem = len(list((sim / "SEM").rglob("*.png")))
    assert n_sem == meta["files"]["sem"] == 3 * 2 * 2


def test_write_dacon_is_deterministic_across_workers(tmp_path: Path) -> None:
    n = 52  # two chunks of structures
    write_dacon(tmp_path / "a", n, 3, cases=[4], workers=1)
    write_dacon(tmp_path / "b", n, 3, cases=[4], workers=2)
    da, db = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "b")
    assert len(da) == n * 3 + 3  # + synth_structures.csv, synth_images.csv, synth_meta.json
    assert da == db
    write_dacon(tmp_path / "c", 2, 4, cases=[4], workers=1)  # another seed: other holes
    dc = _tree_digest(tmp_path / "c")
    a0 = next(k for k in da if k.endswith("/syn3_000000.png") and "/Depth/" in k)
    c0 = next(k for k in dc if k.endswith("/syn4_000000.png") and "/Depth/" in k)
    assert da[a0] != dc[c0]


def test_write_dacon_refuses_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "set"
    write_dacon(out, 2, 1, cases=[1], workers=1)
    before = _tree_digest(out)
    with pytest.raises(OutputExistsError, match="not empty"):
        write_dacon(out, 2, 2, cases=[1], workers=1)
    assert _tree_digest(out) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_dacon(other, 1, 1, cases=[1], workers=1)
    # overwrite replaces the data set (no stale files) and leaves foreign files alone
    (out / "notes.txt").write_text("keep me")
    write_dacon(out, 1, 9, cases=[2], workers=1, overwrite=True)
    assert not (out / "simulation_data" / "SEM" / "Case_1").exists()
    assert len(list((out / "simulation_data" / "SEM").rglob("*.png"))) == 2
    assert (out / "notes.txt").read_text() == "keep me"
    assert json.loads((out / "synth_meta.json").read_text())["seed"] == 9


def test_write_dacon_bad_arguments_and_cancel(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_structures"):
        write_dacon(tmp_path / "x", 0, 1)
    with pytest.raises(ValueError, match="unknown imaging case"):
        write_dacon(tmp_path / "y", 1, 1, cases="9")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        write_dacon(tmp_path / "z", 2, 1, cases=[1], workers=1, cancel=token)
    assert not (tmp_path / "z" / "synth_meta.json").exists()


def test_cli_writes_layout_and_refuses_existing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    args = [
        "synth",
        "--out",
        str(out),
        "--structures",
        "2",
        "--seed",
        "3",
        "--cases",
        "1,4",
        "--workers",
        "1",
        "--clean",
    ]
    assert cli_main(args) == 0
    meta = json.loads((out / "synth_meta.json").read_text())
    assert meta["cases"] == ["Case_1", "Case_4"] and meta["structures"] == 2
    assert len(list((out / "simulation_data" / "SEM").rglob("*_itr1.png"))) == 4
    assert len(list((out / "simulation_data" / "SEM_clean").rglob("*.png"))) == 4
    assert cli_main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli_main([*args, "--overwrite"]) == 0
    assert cli_main(["synth", "--out", str(tmp_path / "bad"), "--cases", "5"]) == 2


def test_render_field_holes_match_depth_map() -> None:
    f = render_field(2, 0, size=(150, 100), case="Case_3")
    assert f.depth_du.shape == (150, 100) and f.depth_du.dtype == np.float32
    assert f.sem.shape == (150, 100) and f.sem.dtype == np.uint8
    assert len(f.holes) == 4  # 2 x 2 cells of 72 x 48
    for h in f.holes:
        r, c = round(h["row"]), round(h["col"])
        rad = h["diameter_px"] / 2
        win = f.depth_du[max(r - 30, 0) : r + 31, max(c - 20, 0) : c + 21]
        assert float(win.min()) == pytest.approx(h["bottom_du"], abs=1e-3)
        assert h["depth_du"] == pytest.approx(h["top_du"] - h["bottom_du"], abs=2e-3)
        if h["depth_du"] > 10:
            # the centre is inside the hole, beyond the diameter it is the top surface
            assert f.depth_du[r, c] < h["top_du"] - 0.5 * h["depth_du"]
            assert abs(f.depth_du[r, min(c + int(rad * 1.6) + 2, 99)] - h["top_du"]) < 3
    with pytest.raises(ValueError, match="smaller than one cell"):
        render_field(2, 0, size=(50, 50))


def test_write_fields_files(tmp_path: Path) -> None:
    import tifffile

    out = tmp_path / "fields"
    meta = write_fields(out, 2, 4, size=(144, 96), cases=[1, 2], write_clean=True)
    assert meta["fields"] == 2 and meta["structures"] == 8 and meta["size"] == [144, 96]
    with open(out / "holes.csv", newline="") as fh:
        holes = list(csv.DictReader(fh))
    assert len(holes) == 8
    assert list(holes[0]) == [
        "field",
        "id",
        "row",
        "col",
        "diameter_px",
        "depth_du",
        "top_du",
        "bottom_du",
        "kind",
    ]
    for k in range(2):
        depth = tifffile.imread(out / "Depth" / f"field_{k:04d}.tif")
        assert depth.dtype == np.float32 and depth.shape == (144, 96)
        np.testing.assert_array_equal(
            depth, render_field(4, k, size=(144, 96), case=f"Case_{k + 1}").depth_du
        )
        for h in (h for h in holes if h["field"] == f"field_{k:04d}"):
            assert float(h["bottom_du"]) >= float(depth.min()) - 1e-3
        sem = _read_png(out / "SEM" / f"field_{k:04d}.png")
        assert sem.shape == (144, 96)
        assert (out / "SEM_clean" / f"field_{k:04d}.png").is_file()
    with pytest.raises(OutputExistsError):
        write_fields(out, 1, 4, size=(144, 96))


def test_cli_field(tmp_path: Path) -> None:
    out = tmp_path / "f"
    assert (
        cli_main(["synth", "--field", "--out", str(out), "--size", "80x100", "--count", "1"]) == 0
    )
    assert (out / "SEM" / "field_0000.png").is_file()
    assert (out / "Depth" / "field_0000.tif").is_file()
    assert len((out / "holes.csv").read_text().splitlines()) == 1 + 2  # 1 x 2 cells


def test_written_set_pairs_with_core_data(tmp_path: Path) -> None:
    data = pytest.importorskip("core.data")
    out = tmp_path / "set"
    meta = write_dacon(out, 3, 1, cases=[1, 3], workers=1, write_clean=True)
    records = data.find_dacon_pairs(out)
    assert len(records) == 3 * 2 * 2  # structures x cases x shots; SEM_clean is not paired
    assert {r.structure for r in records} == {f"syn1_{i:06d}" for i in range(3)}
    assert {r.case for r in records} == {"Case_1", "Case_3"}
    assert {r.shot for r in records} == {0, 1}
    assert data.read_synth_meta(out)["nm_per_depth_unit"] == meta["nm_per_depth_unit"]
