"""run_batch: outputs, summary, RMSE, bad files, cancel, existing outputs, collisions."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import BatchItem, OutputFolderError, read_summary, run_batch
from core.io import read_depth_tiff
from core.progress import CancelToken
from tests.core.batch.helpers import png as _png
from tests.core.batch.helpers import temp_files as _temp_files
from tests.core.inference.helpers import Times255, predictor_for


def test_batch_writes_outputs_summary_and_rmse(tmp_path: Path) -> None:
    src = tmp_path / "in"
    a = _png(src / "SEM" / "a.png", seed=1)
    _png(src / "SEM" / "b.png", seed=2)
    gt = np.full((72, 48), 100, np.uint8)
    (src / "Depth").mkdir()
    Image.fromarray(gt).save(src / "Depth" / "a.png")
    out = tmp_path / "out"
    had_result: list[bool] = []
    summary = run_batch(
        [src],
        predictor_for(Times255()),
        out,
        formats=("tiff", "csv", "png"),
        on_item=lambda item: had_result.append(item.result is not None),
        tta=False,
    )
    assert summary.n_done == 2 and summary.n_failed == 0 and not summary.cancelled
    assert had_result == [True, True]  # on_item sees the result ...
    assert all(i.result is None for i in summary.items)  # ... then dropped
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["manifest.jsonl", "summary.csv"]
        + [
            f"{s}_{k}"
            for s in ("a", "b")
            for k in (
                "depth.tif",
                "uncertainty.tif",
                "depth_below_top.tif",
                "depth.csv",
                "depth_below_top.csv",
                "depth.png",
            )
        ]
    )
    depth, meta = read_depth_tiff(out / "a_depth.tif")
    img = np.asarray(Image.open(a), dtype=np.float32)
    np.testing.assert_allclose(depth, img, atol=1e-3)  # Times255 model: depth = pixels
    desc = meta["description"]
    inner = desc.get("description", desc)
    assert inner["model_id"] == "tiny-test-unet" and inner["fast_path"] == "fp32"
    assert inner["mode"] == "crop" and inner["source"] == str(a)
    rows = read_summary(out / "summary.csv")
    assert [r["file"] for r in rows] == [str(a), str(src / "SEM" / "b.png")]
    ra = rows[0]
    assert ra["status"] == "done" and ra["rows"] == "72" and ra["cols"] == "48"
    assert float(ra["mean_depth_du"]) == pytest.approx(img.mean(), abs=1e-3)
    assert float(ra["min_depth_du"]) == pytest.approx(img.min(), abs=1e-3)
    rmse = np.sqrt(np.mean((img - 100.0) ** 2))
    assert float(ra["rmse_du"]) == pytest.approx(rmse, abs=1e-3)
    assert ra["ground_truth"].endswith("a.png") and rows[1]["rmse_du"] == ""
    assert not _temp_files(out)


def test_bad_files_never_stop_the_batch(tmp_path: Path, real_sem_dir: Path) -> None:
    good1 = _png(tmp_path / "in" / "g1.png", seed=1)
    empty = tmp_path / "in" / "empty.png"
    empty.write_bytes(b"")
    trunc = tmp_path / "in" / "trunc.tif"
    nist = real_sem_dir / "nist_nexuslims" / "quad1image_001_no_beam_scan_or_system_meta.tif"
    shutil.copy(nist, trunc)
    good2 = _png(tmp_path / "in" / "g2.png", seed=2)
    out = tmp_path / "out"
    summary = run_batch([good1, empty, trunc, good2], predictor_for(Times255()), out, tta=False)
    assert (summary.n_done, summary.n_failed) == (2, 2)
    rows = {Path(r["file"]).name: r for r in read_summary(out / "summary.csv")}
    assert rows["empty.png"]["status"] == "failed"
    empty_error = rows["empty.png"]["error"]
    assert empty_error.startswith(str(empty)) and "empty" in empty_error[len(str(empty)) :]
    assert "trunc" in rows["trunc.tif"]["error"]
    assert rows["g2.png"]["status"] == "done"
    assert (out / "g2_depth.tif").is_file() and not (out / "empty_depth.tif").exists()


def test_cancel_after_second_item_leaves_complete_files(tmp_path: Path) -> None:
    files = [_png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(5)]
    token = CancelToken()

    def on_item(item: BatchItem) -> None:
        if item.index == 1:
            token.cancel()

    out = tmp_path / "out"
    summary = run_batch(
        files, predictor_for(Times255()), out, cancel=token, on_item=on_item, formats=("tiff",)
    )
    assert summary.cancelled and summary.n_done == 2
    rows = read_summary(out / "summary.csv")
    assert [Path(r["file"]).name for r in rows] == ["f0.png", "f1.png"]
    assert sorted(p.name for p in out.glob("*.tif")) == [
        "f0_depth.tif",
        "f0_depth_below_top.tif",
        "f0_uncertainty.tif",
        "f1_depth.tif",
        "f1_depth_below_top.tif",
        "f1_uncertainty.tif",
    ]
    for p in out.glob("*.tif"):
        assert read_depth_tiff(p)[0].shape == (72, 48)  # complete, readable
    assert not _temp_files(out)


def test_a_second_run_is_refused_up_front_unless_resume_or_overwrite(tmp_path: Path) -> None:
    f = _png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    pred = predictor_for(Times255())
    assert run_batch([f], pred, out, formats=("tiff",)).n_done == 1
    before = (out / "a_depth.tif").read_bytes()
    _png(f, seed=9)  # the input changes: a second run must not replace the output
    with pytest.raises(OutputFolderError, match="pass --resume to finish it, or --overwrite"):
        run_batch([f], pred, out, formats=("tiff",))
    assert (out / "a_depth.tif").read_bytes() == before
    resumed = run_batch([f], pred, out, formats=("tiff",), resume=True)
    assert (resumed.n_done, resumed.n_resumed) == (1, 1)
    assert (out / "a_depth.tif").read_bytes() == before  # complete: not predicted again
    third = run_batch([f], pred, out, formats=("tiff",), overwrite=True)
    assert third.n_done == 1 and (out / "a_depth.tif").read_bytes() != before
    assert sorted(p.name for p in out.iterdir()) == [
        "a_depth.tif",
        "a_depth_below_top.tif",
        "a_uncertainty.tif",
        "manifest.jsonl",
        "summary.csv",  # never a summary_2.csv
    ]
    assert not _temp_files(out)


def test_foreign_files_in_the_way_are_refused_naming_the_flag(tmp_path: Path) -> None:
    f = _png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_depth.tif").write_bytes(b"someone else's")
    with pytest.raises(OutputFolderError, match=r"a_depth\.tif\); pass --overwrite to replace"):
        run_batch([f], predictor_for(Times255()), out, formats=("tiff",))
    assert (out / "a_depth.tif").read_bytes() == b"someone else's"
    assert sorted(p.name for p in out.iterdir()) == ["a_depth.tif"]  # nothing written


def test_output_names_never_collide(tmp_path: Path) -> None:
    a = _png(tmp_path / "in" / "a" / "x.png", seed=1)
    b = _png(tmp_path / "in" / "b" / "x.png", seed=2)
    c = _png(tmp_path / "in" / "b" / "x.tif", seed=3)
    out = tmp_path / "out"
    s = run_batch([a, b, c], predictor_for(Times255()), out, formats=("tiff",))
    assert s.n_done == 3
    stems = [i.outputs["depth_tiff"].name for i in s.items]
    assert stems == ["a__x_depth.tif", "b__x_depth.tif", "b__x_tif_depth.tif"]


def test_field_mode_writes_a_hole_table(tmp_path: Path) -> None:
    from tests.core.inference.helpers import hole_field

    img, centres = hole_field()
    f = tmp_path / "in" / "field.png"
    f.parent.mkdir()
    Image.fromarray(img).save(f)
    s = run_batch([f], predictor_for(Times255()), tmp_path / "out", formats=("csv",), tta=False)
    assert s.n_done == 1
    rows = read_summary(s.items[0].outputs["holes_csv"])
    assert len(rows) == len(centres)
    # the metrology table, its units in the column names (no pixel size: depth in DU)
    assert list(rows[0]) == [
        "id", "row_px", "col_px", "depth_below_top_du", "u_k2_du", "top_cd_nm",
        "bottom_cd_nm", "top_cd_px", "bottom_cd_px", "ellipticity_major_minor", "flags",
    ]  # fmt: skip
    for r in rows:  # every hole within 1.5 px of a true centre
        assert (
            min(math.hypot(float(r["row_px"]) - y, float(r["col_px"]) - x) for y, x in centres)
            < 1.5
        )
    assert read_summary(tmp_path / "out" / "summary.csv")[0]["n_holes"] == str(len(centres))


def test_compute_only_writes_nothing(tmp_path: Path) -> None:
    f = _png(tmp_path / "in" / "a.png")
    s = run_batch([f], predictor_for(Times255()), None, keep_results=True)
    assert s.summary_csv is None and s.items[0].result is not None
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.png"]


def test_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        run_batch([], predictor_for(Times255()), tmp_path, formats=("gif",))
    with pytest.raises(ValueError, match="unknown mode"):
        run_batch([], predictor_for(Times255()), tmp_path, mode="magic")
