"""Pure pieces: display data and readout, cache, profile sampling, ROI maths, model card
summary, error reporter."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from app.dialogs.error_dialog import ErrorReporter
from app.state import (
    AppState,
    DisplayData,
    ResultCache,
    format_readout,
)
from app.units import Units
from app.views.profile import line_distances, sample_line
from app.views.readout import readout_texts
from app.views.roi_stats import rect_slices, roi_statistics
from app.widgets.model_panel import card_rows


def data(**kw: Any) -> DisplayData:
    rng = np.random.default_rng(0)
    base = dict(
        source=Path("x.png"),
        sem=rng.integers(0, 255, (6, 5)).astype(np.float32),
        depth=rng.uniform(50, 160, (6, 5)).astype(np.float32),
        uncertainty=rng.uniform(0, 3, (6, 5)).astype(np.float32),
    )
    base.update(kw)
    return DisplayData(**base)  # type: ignore[arg-type]


def test_readout_values_and_units() -> None:
    truth = np.full((6, 5), 100.0, np.float32)
    d = data(truth=truth, pixel_size_nm=2.5, nm_per_depth_unit=4.0)
    v = d.readout_at(3, 2)
    assert v["inside"] and (v["row"], v["col"]) == (3, 2)
    assert v["x_nm"] == 5.0 and v["y_nm"] == 7.5
    assert v["sem"] == float(d.sem[3, 2])
    assert v["depth"] == float(d.depth[3, 2])
    assert v["truth"] == 100.0
    assert v["error"] == pytest.approx(float(d.depth[3, 2]) - 100.0)
    assert v["uncertainty"] == float(d.uncertainty[3, 2])  # type: ignore[index]
    assert v["depth_nm"] == pytest.approx(4.0 * float(d.depth[3, 2]))
    assert v["error_nm"] == pytest.approx(4.0 * v["error"])
    line = format_readout(v)
    assert "x 2, y 3 px (5 nm, 7.5 nm)" in line
    assert f"height {d.depth[3, 2]:.2f} DU" in line
    assert "below top" not in line  # no trust step: no depth below top
    nm = Units.for_data("nm", d)
    assert f"height {4.0 * d.depth[3, 2]:.2f} nm" in format_readout(v, nm)
    assert "px (" not in format_readout(v, Units.for_data("DU", d))
    texts = readout_texts(v)
    assert texts["truth"] == "100.000 DU  (400.00 nm)"
    assert readout_texts(v, nm)["truth"] == "400.00 nm  (100.000 DU)"
    assert texts["position_nm"] == "x 5 nm, y 7.5 nm"
    out = d.readout_at(6, 0)
    assert not out["inside"] and out["depth"] is None and format_readout(out) == ""


def test_display_data_truth_and_rmse() -> None:
    d = data()
    assert d.error is None and d.rmse is None
    t = d.depth - 2.0
    d.set_truth(t)
    np.testing.assert_allclose(d.error, 2.0, atol=1e-5)  # type: ignore[arg-type]
    assert d.rmse == pytest.approx(2.0, abs=1e-5)
    with pytest.raises(ValueError, match="does not match"):
        d.set_truth(np.zeros((3, 3)))


def test_display_data_from_batch_item() -> None:
    depth = np.ones((4, 4), np.float32)
    sem = SimpleNamespace(pixels=np.zeros((4, 4), np.float32), pixel_size_nm=1.5, path=None)
    result = SimpleNamespace(
        depth=depth,
        uncertainty=depth * 0,
        sem=sem,
        mode="crop",
        holes=None,
        model_id="m",
        nm_per_depth_unit=None,
    )
    item = SimpleNamespace(
        source=Path("a.png"),
        status="done",
        result=result,
        ground_truth=np.zeros((4, 4), np.float32),
    )
    d = DisplayData.from_item(item, row_id=7)
    assert d.row_id == 7 and d.pixel_size_nm == 1.5 and d.source == Path("a.png")
    np.testing.assert_array_equal(d.error, depth)  # type: ignore[arg-type]
    item.result = None
    with pytest.raises(ValueError):
        DisplayData.from_item(item)


def test_result_cache_keeps_last_n() -> None:
    c = ResultCache(3)
    for i in range(5):
        c.put(i, f"item{i}")
    assert len(c) == 3 and 0 not in c and 1 not in c
    assert c.get(2) == "item2"  # touching 2 makes it the newest
    c.put(5, "item5")
    assert 3 not in c and 2 in c


def test_result_cache_byte_budget() -> None:
    def item(n: int) -> SimpleNamespace:
        res = SimpleNamespace(
            depth=np.zeros(n, np.float32),
            uncertainty=np.zeros(n, np.float32),
            sem=SimpleNamespace(pixels=np.zeros(n, np.float32)),
        )
        return SimpleNamespace(result=res, ground_truth=None)

    c = ResultCache(capacity=100, max_bytes=10_000)
    c.put(0, item(500))  # 6000 bytes
    assert c.nbytes == 6000
    c.put(1, item(250))  # 3000 more: 9000 fits
    assert len(c) == 2
    c.put(2, item(250))  # 12000 > budget: the oldest goes
    assert 0 not in c and c.nbytes == 6000
    c.put(3, item(5000))  # bigger than the budget alone: kept, everything else dropped
    assert list(c._items) == [3] and c.nbytes == 60_000


def test_app_state_rows_and_summary() -> None:
    s = AppState(cache_size=2)
    rows = s.add_rows([Path("a.png"), Path("b.png")])
    failed = s.add_failed_row(Path("c.txt"), "not an image")
    assert [r.row_id for r in s.rows] == [rows[0].row_id, rows[1].row_id, failed.row_id]
    assert s.index_of(failed.row_id) == 2
    item = SimpleNamespace(
        status="done",
        error=None,
        seconds=0.5,
        rmse=2.0,
        result=SimpleNamespace(depth=np.full((2, 2), 10.0, np.float32)),
    )
    s.record_item(rows[0].row_id, item)
    assert s.rows[0].mean_depth == 10.0 and s.rows[0].rmse == 2.0
    assert s.summary_text() == (
        "3 files: 1 done, 1 failed, 1 to do; mean RMSE 2.00 DU (per image, 1 with truth)"
    )


def test_sample_line_exact_and_bilinear() -> None:
    a = np.arange(20, dtype=np.float32).reshape(4, 5)
    np.testing.assert_allclose(sample_line(a, (0.5, 2.5), (4.5, 2.5)), a[2])
    np.testing.assert_allclose(sample_line(a, (1.5, 0.5), (1.5, 3.5)), a[:, 1])
    # half-way between pixel centres (0,0) and (0,1): the mean
    v = sample_line(a, (1.0, 0.5), (1.0, 0.5), n=2)
    np.testing.assert_allclose(v, [0.5, 0.5])
    np.testing.assert_allclose(line_distances((0, 0), (3, 4)), [0, 1, 2, 3, 4, 5])


def test_rect_slices_and_stats() -> None:
    assert rect_slices((10, 8), 2.0, 3.0, 4.0, 5.0) == (slice(3, 8), slice(2, 6))
    assert rect_slices((10, 8), -5.0, -5.0, 100.0, 100.0) == (slice(0, 10), slice(0, 8))
    assert rect_slices((10, 8), 6.0, 4.0, -4.0, -2.0) == (slice(2, 4), slice(2, 6))
    empty = rect_slices((10, 8), 20.0, 20.0, 3.0, 3.0)
    d = np.arange(80, dtype=np.float32).reshape(10, 8)
    s = roi_statistics(d, d + 1, *rect_slices((10, 8), 2.0, 3.0, 4.0, 5.0))
    region = d[3:8, 2:6]
    assert s["mean"] == pytest.approx(region.mean())
    assert s["std"] == pytest.approx(region.std())
    assert (s["min"], s["max"]) == (region.min(), region.max())
    assert s["rmse"] == pytest.approx(1.0)
    e = roi_statistics(d, None, *empty)
    assert e["n_pixels"] == 0 and e["mean"] is None and e["rmse"] is None


def test_card_rows() -> None:
    assert card_rows(None) == [("Model", "no model loaded")]
    rows = dict(
        card_rows(
            {
                "id": "m1",
                "architecture": {"name": "unet", "config": {"levels": 2}},
                "input": {"size": [72, 48], "pixel_size_nm": 2.0},
                "output": {"nm_per_depth_unit": 1.5},
                "training": {
                    "preset": "unet-2level",
                    "data": {"root": "sim", "n_train": 10, "n_val": 2},
                },
                "metrics": {"val_rmse_pooled": 3.25},
                "inference": {"fast_path": "bf16-channels-last"},
            }
        )
    )
    assert rows["Architecture"] == "unet (levels=2)"
    assert rows["Input size"] == "72 x 48 px (rows x cols)"
    assert rows["Pixel size"] == "2.000 nm"
    assert rows["Depth scale"] == "1.5 nm per DU"
    assert rows["Training data"] == "sim, 10 train / 2 val"
    assert rows["Metrics"] == "val RMSE pooled 3.250 DU"
    assert rows["Fast path"] == "bf16-channels-last"


def test_error_reporter_excepthook_logs_and_shows(tmp_path: Path, qapp: Any) -> None:
    shown: list[tuple[str, str, str]] = []
    rep = ErrorReporter(log_dir=tmp_path / "logs", show_dialog=lambda *a: shown.append(a))
    previous = sys.excepthook
    rep.install()
    try:
        assert sys.excepthook == rep.excepthook
        try:
            raise ZeroDivisionError("bad maths")
        except ZeroDivisionError:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        rep.close()
    assert sys.excepthook is previous
    assert shown[0][0] == "Unexpected error"
    assert shown[0][1].startswith("ZeroDivisionError: bad maths")
    assert "Traceback" in shown[0][2]
    text = (tmp_path / "logs" / "semdepth.log").read_text()
    assert "ZeroDivisionError: bad maths" in text


def test_error_reporter_survives_broken_dialog(tmp_path: Path) -> None:
    def broken(*_a: Any) -> None:
        raise RuntimeError("no display")

    rep = ErrorReporter(log_dir=tmp_path, show_dialog=broken)
    rep.report("t", "m", "d")  # must not raise
    rep.close()
    assert rep.reports == [("t", "m", "d")]
