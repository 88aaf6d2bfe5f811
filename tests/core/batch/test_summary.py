"""summary.csv: the row of one item, the stats of a result, the writer's file claims and
flushes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.batch import SUMMARY_COLUMNS, BatchItem, SummaryWriter, read_summary, result_stats
from core.batch.summary import summary_row
from core.batch.trust_stats import TRUST_COLUMNS
from core.inference import PredictionResult
from core.io import SemImage


def _item(**stats: object) -> BatchItem:
    item = BatchItem(
        3, Path("in/a.png"), "done", None, None, None, 1.0 / 3.0, {}, 1.23456, notes=["n1", "n2"]
    )
    item.stats = dict(stats)
    item.outputs = {"depth_tiff": Path("o/a_depth.tif"), "depth_csv": Path("o/a_depth.csv")}
    item.ground_truth_path = Path("gt/a.png")
    return item


def test_summary_row_formats_every_column() -> None:
    item = _item(
        rows=72,
        cols=48,
        pixel_size_nm=1.25,
        scale="model",
        resample_factor=0.625,
        scale_reason="pixel size 1.25 nm is 0.625x the model's 2 nm: resampled",
        mode="crop",
        fast_path="bf16",
        denoised=False,
        n_holes=None,
        mean_depth=100.0,
        min_depth=float("nan"),
        max_depth=2.0 / 3.0,
        mean_uncertainty=0.5,
    )
    row = dict(zip(SUMMARY_COLUMNS, summary_row(item), strict=True))
    assert row == {
        "file": str(Path("in/a.png")),
        "status": "done",
        "error": "",
        "rows": "72",
        "cols": "48",
        "pixel_size_nm": "1.250000",
        "scale": "model",
        "resample_factor": "0.6250",
        "mode": "crop",
        "fast_path": "bf16",
        "denoised": "false",
        "n_holes": "",
        "mean_depth_du": "100.0000",
        "min_depth_du": "",  # NaN
        "max_depth_du": "0.6667",
        "mean_uncertainty_du": "0.5000",
        "rmse_du": "0.3333",
        "ground_truth": str(Path("gt/a.png")),
        "seconds": "1.235",
        "outputs": "a_depth.tif;a_depth.csv",
        "scale_reason": "pixel size 1.25 nm is 0.625x the model's 2 nm: resampled",
        "notes": "n1 | n2",
        **{c: "" for c in TRUST_COLUMNS},  # no trust step in these stats
    }


def test_summary_row_of_a_failed_item_is_mostly_empty() -> None:
    item = BatchItem(
        0, Path("bad.png"), "failed", "bad.png: file is empty", None, None, None, {}, 0.0
    )
    row = dict(zip(SUMMARY_COLUMNS, summary_row(item), strict=True))
    assert row["status"] == "failed" and row["error"] == "bad.png: file is empty"
    assert row["denoised"] == "" and row["rmse_du"] == "" and row["outputs"] == ""
    assert {row[c] for c in SUMMARY_COLUMNS[3:15]} == {""}
    assert row["seconds"] == "0.000"


def test_result_stats_from_the_arrays() -> None:
    depth = np.array([[1.0, 2.0], [3.0, 10.0]] * 4, np.float32).repeat(4, axis=1)  # 8 x 8
    res = PredictionResult(
        depth=depth,
        uncertainty=np.full((8, 8), 0.75, np.float32),
        sem=SemImage.from_array(np.zeros((8, 8), np.uint8), pixel_size_nm=3.0),
        mode="tiled",
        holes=None,
        timings={},
        model_id="m",
        nm_per_depth_unit=None,
        fast_path="onnx",
        denoised=np.zeros((8, 8), np.float32),
    )
    assert result_stats(res) == {
        "rows": 8,
        "cols": 8,
        "pixel_size_nm": 3.0,
        "mode": "tiled",
        "fast_path": "onnx",
        "denoised": True,
        "n_holes": None,
        "mean_depth": pytest.approx(4.0),
        "min_depth": 1.0,
        "max_depth": 10.0,
        "mean_uncertainty": pytest.approx(0.75),
    }


def test_writer_claims_a_free_name_at_once(tmp_path: Path) -> None:
    first = SummaryWriter(tmp_path, overwrite=False)
    assert first.path == tmp_path / "summary.csv"
    assert read_summary(first.path) == []
    assert first.path.read_text().splitlines() == [",".join(SUMMARY_COLUMNS)]
    assert SummaryWriter(tmp_path, overwrite=False).path == tmp_path / "summary_2.csv"
    assert SummaryWriter(tmp_path, overwrite=False).path == tmp_path / "summary_3.csv"
    assert SummaryWriter(tmp_path, overwrite=True).path == tmp_path / "summary.csv"


def test_writer_rewrites_after_its_interval_and_on_flush(tmp_path: Path) -> None:
    def row(name: str) -> list[str]:
        return [name, name.upper()]

    lazy = SummaryWriter(tmp_path, overwrite=True, interval_s=3600.0, columns=("a", "b"), row=row)
    lazy.add("x")
    lazy.add("y")
    assert read_summary(lazy.path) == []  # not yet rewritten
    lazy.flush()
    assert read_summary(lazy.path) == [{"a": "x", "b": "X"}, {"a": "y", "b": "Y"}]

    eager = SummaryWriter(
        tmp_path / "e", overwrite=True, interval_s=0.0, columns=("a", "b"), row=row
    )
    eager.add("z")
    assert read_summary(eager.path) == [{"a": "z", "b": "Z"}]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
