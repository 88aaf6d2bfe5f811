"""What the panels show: the arrays of a result, colour map, shared levels, nm units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image
from PySide6.QtCore import Qt

from app.state import DONE, format_readout
from app.views.image_view import AUX, DEPTH, SEM, TRUTH
from core.io import read_depth, read_sem

from ..conftest import COLS, ROWS, hole_image, open_and_wait, wait_batch_idle


@pytest.fixture(scope="module")
def nm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(1)
    model = create_model("unet", levels=2, base_width=4)
    card = {
        "id": "tiny-nm",
        "input": {"normalization": "dtype-range-0-1", "size": [ROWS, COLS], "pixel_size_nm": None},
        "output": {
            "range": [0, 255],
            "unit": "DU",
            "convention": "deeper = smaller",
            "nm_per_depth_unit": 2.0,
        },
        "inference": {"fast_path": "fp32"},
    }
    return save_checkpoint(tmp_path_factory.mktemp("nm") / "nm", model, card)


def test_panels_hold_core_arrays(qtbot: Any, window: Any, sem_folder: Path) -> None:
    path = sem_folder / "a.png"
    open_and_wait(qtbot, window, [path])
    expected = window.predictor.predict(path)
    truth = read_depth(sem_folder.parent / "Depth" / "a.png")
    panels = window.view.panels
    np.testing.assert_array_equal(panels[SEM].image, read_sem(path).pixels)
    np.testing.assert_array_equal(panels[DEPTH].image, expected.depth)
    np.testing.assert_array_equal(panels[TRUTH].image, truth)
    np.testing.assert_array_equal(panels[AUX].image, expected.depth - truth)
    assert panels[DEPTH].image.dtype == np.float32
    # predicted and true depth share the auto levels (min..max over both)
    lo, hi = min(expected.depth.min(), truth.min()), max(expected.depth.max(), truth.max())
    assert panels[DEPTH].bar.levels() == pytest.approx((lo, hi))
    assert panels[TRUTH].bar.levels() == pytest.approx((lo, hi))
    # error levels symmetric about zero
    elo, ehi = panels[AUX].bar.levels()
    assert elo == pytest.approx(-ehi)
    assert "Error" in panels[AUX].titleLabel.text
    row = window.state.rows[0]
    assert row.status == DONE
    assert row.rmse == pytest.approx(
        float(np.sqrt(np.mean((expected.depth - truth) ** 2))), rel=1e-5
    )
    assert row.mean_depth == pytest.approx(float(expected.depth.mean()), rel=1e-6)


def test_without_truth_shows_uncertainty(qtbot: Any, window: Any, sem_folder: Path) -> None:
    path = sem_folder / "c.png"
    open_and_wait(qtbot, window, [path])
    expected = window.predictor.predict(path)
    panels = window.view.panels
    assert panels[TRUTH].image is None
    assert "no ground truth" in panels[TRUTH].message.textItem.toPlainText()
    np.testing.assert_array_equal(panels[AUX].image, expected.uncertainty)
    assert "Uncertainty" in panels[AUX].titleLabel.text
    assert window.state.rows[0].rmse is None


def test_links_and_colormap_and_levels(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    view = window.view
    view.panels[DEPTH].vb.setRange(xRange=(10, 20), yRange=(10, 30), padding=0)
    qtbot.wait(10)
    for key in (SEM, TRUTH, AUX):
        (x0, x1), _ = view.panels[key].vb.viewRange()
        assert (x0 + x1) / 2 == pytest.approx(15, abs=0.5)
    window.controls.cmap_combo.setCurrentText("inferno")
    assert view.panels[DEPTH].bar.colorMap().name == "inferno"
    assert view.panels[TRUTH].bar.colorMap().name == "inferno"
    window.controls.auto_levels.setChecked(False)
    window.controls.level_min.setValue(50.0)
    window.controls.level_max.setValue(150.0)
    assert view.panels[DEPTH].bar.levels() == pytest.approx((50.0, 150.0))
    assert view.panels[TRUTH].bar.levels() == pytest.approx((50.0, 150.0))
    assert view.panels[DEPTH].image_item.levels == pytest.approx([50.0, 150.0])
    # a dragged bar moves the other one too
    bar = view.panels[TRUTH].bar
    bar.setLevels((60.0, 120.0))
    view._on_depth_bar_dragged(bar)
    assert view.panels[DEPTH].bar.levels() == pytest.approx((60.0, 120.0))
    assert window.controls.level_min.value() == pytest.approx(60.0)


def test_nm_units_with_pixel_size(
    qtbot: Any, make_window: Any, nm_model: Path, tmp_path: Path
) -> None:
    sem, depth = hole_image(5)
    folder = tmp_path / "cal"
    (folder / "Depth").mkdir(parents=True)
    path = folder / "cal.tif"
    tifffile.imwrite(path, sem, imagej=True, resolution=(1 / 2.5, 1 / 2.5), metadata={"unit": "nm"})
    Image.fromarray(depth).save(folder / "Depth" / "cal.png")
    win = make_window(model_path=nm_model)
    win.controls.unit_combo.setCurrentText("nm")
    with qtbot.waitSignal(win.resultShown, timeout=30_000):
        win.open_paths([path])
    wait_batch_idle(qtbot, win)
    data = win.state.current
    assert data.pixel_size_nm == pytest.approx(2.5)
    result = win.state.cache.get(data.row_id).result
    np.testing.assert_array_equal(win.view.panels[DEPTH].image, result.depth_nm)
    np.testing.assert_array_equal(
        win.view.panels[TRUTH].image, (depth.astype(np.float32) * np.float32(2.0))
    )
    assert win.view.panels[DEPTH].bar.axis.labelText == "depth (nm)"
    v = win.readout_at(10, 20)
    assert v["x_nm"] == pytest.approx(50.0) and v["y_nm"] == pytest.approx(25.0)
    assert v["depth_nm"] == pytest.approx(2.0 * v["depth"])
    assert "(50 nm, 25 nm)" in format_readout(v, win.view.units)
    # profile distance in nm, depth in nm
    win.view.set_line((0.5, 10.5), (10.5, 10.5))
    vals = win.profile_plot.values
    np.testing.assert_allclose(vals["distance"], np.arange(11) * 2.5)
    np.testing.assert_allclose(vals["height"], result.depth_nm[10, :11], atol=1e-3)
    # the plotted depth is below the local top, in the engine's unit (DU: the card gives no
    # model pixel size, so its nm scale is unchecked)
    unit = result.depth_below_top_unit
    np.testing.assert_allclose(vals["depth"], result.depth_below_top[10, :11], atol=1e-3)
    assert win.profile_plot.getPlotItem().getAxis("left").labelText == f"below top ({unit})"
    # the batch table and its summary follow the unit too
    table = win.batch_panel.model
    row = win.state.rows[0]
    assert table.headerData(2, Qt.Orientation.Horizontal) == "Mean (nm)"
    assert table.data(table.index(0, 2)) == f"{row.mean_depth * 2.0:.2f}"
    assert table.data(table.index(0, 3)) == f"{row.rmse * 2.0:.3f}"
    assert f"mean RMSE {row.rmse * 2.0:.2f} nm" in win.batch_panel.summary.text()
    # lengths: physical axes and SI prefixes (2.5 nm pixels)
    assert win.view.panels[SEM].axis_label("bottom") == "x (nm)"
    assert win.view.panels[SEM].scale_bar_text == "20 nm"  # a fifth of 120 nm
    # back to DU
    win.controls.unit_combo.setCurrentText("DU")
    np.testing.assert_array_equal(win.view.panels[DEPTH].image, result.depth)
    assert table.headerData(2, Qt.Orientation.Horizontal) == "Mean (DU)"
    assert table.data(table.index(0, 2)) == f"{row.mean_depth:.2f}"
    assert win.view.panels[SEM].axis_label("bottom") == "x (px)"
