"""The measuring tools: readout under the cursor, line profile, ROI statistics, hole table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF

from app.views.image_view import AUX, DEPTH, SEM
from app.views.profile import line_positions
from core.io import read_depth, read_sem

from ..conftest import open_and_wait, wait_batch_idle


def test_readout_under_mouse(qtbot: Any, window: Any, sem_folder: Path) -> None:
    path = sem_folder / "a.png"
    open_and_wait(qtbot, window, [path])
    expected = window.predictor.predict(path)
    sem = read_sem(path).pixels
    truth = read_depth(sem_folder.parent / "Depth" / "a.png")
    qtbot.wait(50)  # layout settles
    for panel, (row, col) in ((SEM, (10, 7)), (DEPTH, (36, 24)), (AUX, (70, 47))):
        pos = window.view.scene_pos_of_pixel(row, col, panel)
        with qtbot.waitSignal(window.view.cursorMoved, timeout=2000) as sig:
            window.view.on_mouse_moved((pos,))
        assert sig.args == [row, col]
        values = window.readout_at(row, col)
        assert values["inside"]
        assert values["sem"] == pytest.approx(float(sem[row, col]))
        assert values["depth"] == pytest.approx(float(expected.depth[row, col]))
        assert values["truth"] == pytest.approx(float(truth[row, col]))
        assert values["error"] == pytest.approx(float(expected.depth[row, col] - truth[row, col]))
        assert values["uncertainty"] == pytest.approx(float(expected.uncertainty[row, col]))
        assert values["x_nm"] is None  # no pixel size in a PNG
        # the status bar and the dock show the same numbers
        status = window.readout_label.text()
        assert f"x {col}, y {row} px" in status
        assert f"height {expected.depth[row, col]:.2f} DU" in status
        dock = window.readout_panel.labels
        assert dock["depth"].text().startswith(f"{expected.depth[row, col]:.3f} DU")
        assert dock["truth"].text().startswith(f"{truth[row, col]:.3f} DU")
        assert dock["sem"].text() == str(int(sem[row, col]))
    # outside the image: nothing shown
    assert window.readout_at(-1, 3)["inside"] is False
    assert window.readout_at(72, 0)["depth"] is None


def test_real_mouse_move_updates_readout(qtbot: Any, window: Any, sem_folder: Path) -> None:
    from PySide6.QtTest import QTest

    path = sem_folder / "b.png"
    open_and_wait(qtbot, window, [path])
    qtbot.wait(50)
    view = window.view
    row, col = 20, 30
    scene_pos = view.scene_pos_of_pixel(row, col, DEPTH)
    viewport_pos = view.mapFromScene(scene_pos)
    with qtbot.waitSignal(view.cursorMoved, timeout=3000) as sig:
        QTest.mouseMove(view.viewport(), viewport_pos)
    assert sig.args == [row, col]
    depth = window.state.current.depth
    assert f"height {depth[row, col]:.2f} DU" in window.readout_label.text()


def _bilinear(array: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Bilinear samples along p0 -> p1, by hand."""
    xs, ys = line_positions(p0, p1)
    fx, fy = xs - 0.5, ys - 0.5
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    ax, ay = fx - x0, fy - y0
    d = array.astype(np.float64)
    return (
        d[y0, x0] * (1 - ax) * (1 - ay)
        + d[y0, x0 + 1] * ax * (1 - ay)
        + d[y0 + 1, x0] * (1 - ax) * ay
        + d[y0 + 1, x0 + 1] * ax * ay
    )


def test_line_profile_matches_array(qtbot: Any, window: Any, sem_folder: Path) -> None:
    from core.metrology.surface import depth_below_top

    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    data = window.state.current
    below = data.trust.below_top
    # along row 30 through pixel centres: exactly that row of the arrays
    window.view.set_line((0.5, 30.5), (47.5, 30.5))
    values = window.profile_plot.values
    np.testing.assert_allclose(values["below_top"], below.values[30, :], rtol=0, atol=1e-4)
    assert values["below_top_2sigma"] is None  # the tiny model's card is not calibrated
    true_below = depth_below_top(data.truth, smooth_px=below.top.smooth_px).du
    np.testing.assert_allclose(values["truth_below_top"], true_below[30, :], atol=1e-4)
    np.testing.assert_allclose(values["height"], data.depth[30, :], rtol=0, atol=1e-4)
    np.testing.assert_allclose(values["true_height"], data.truth[30, :], atol=1e-4)
    np.testing.assert_allclose(values["sem"], data.sem[30, :], atol=1e-4)
    np.testing.assert_allclose(values["distance"], np.arange(48.0))
    axis = window.profile_plot.getPlotItem().getAxis("left")
    assert axis.labelText == "below top (DU)"
    assert window.profile_plot.getPlotItem().vb.yInverted()  # positive down, drawn down
    # a diagonal: bilinear interpolation by hand
    p0, p1 = (3.2, 5.7), (40.9, 61.3)
    window.view.set_line(p0, p1)
    np.testing.assert_allclose(
        window.profile_plot.values["height"], _bilinear(data.depth, p0, p1), atol=1e-4
    )
    hand = _bilinear(below.values, p0, p1)
    np.testing.assert_allclose(window.profile_plot.values["below_top"], hand, atol=1e-4)
    # mirrored on every panel
    for panel in window.view.panels.values():
        roi = panel.line_roi
        pts = [roi.mapToParent(p) for p in roi.listPoints()]
        assert (pts[0].x(), pts[0].y()) == pytest.approx(p0)
        assert (pts[1].x(), pts[1].y()) == pytest.approx(p1)
    # the plot's curve holds the values: the depth below top
    _x, y = window.profile_plot.depth_curve.getData()
    np.testing.assert_allclose(y, hand, atol=1e-4)


def test_dragging_line_on_another_panel_mirrors(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    roi = window.view.panels[AUX].line_roi
    h0, h1 = roi.getHandles()
    roi.movePoint(h0, QPointF(2.5, 2.5), coords="parent")
    roi.movePoint(h1, QPointF(20.5, 60.5), coords="parent")
    (x0, y0), (x1, y1) = window.view.line()
    assert (x0, y0, x1, y1) == pytest.approx((2.5, 2.5, 20.5, 60.5))
    src = window.view.panels[SEM].line_roi
    pts = [src.mapToParent(p) for p in src.listPoints()]
    assert (pts[1].x(), pts[1].y()) == pytest.approx((20.5, 60.5))
    assert len(window.profile_plot.values["height"]) == int(np.ceil(np.hypot(18, 58))) + 1


def test_roi_statistics_match_numpy(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    window.acts.rect.trigger()
    assert window.acts.rect.isChecked()
    window.view.set_rect(5.0, 10.0, 20.0, 30.0)  # columns 5..24, rows 10..39
    stats = window.roi_stats()
    data = window.state.current
    region = data.depth[10:40, 5:25].astype(np.float64)
    t = data.truth[10:40, 5:25].astype(np.float64)
    assert stats["n_pixels"] == 600
    assert stats["mean"] == pytest.approx(region.mean())
    assert stats["std"] == pytest.approx(region.std())
    assert stats["min"] == pytest.approx(region.min())
    assert stats["max"] == pytest.approx(region.max())
    assert stats["rmse"] == pytest.approx(np.sqrt(np.mean((region - t) ** 2)))
    assert window.roi_panel.labels["mean"].text() == f"{region.mean():.3f} DU"
    # mirrored
    for panel in window.view.panels.values():
        assert tuple(panel.rect_roi.pos()) == pytest.approx((5.0, 10.0))
        assert tuple(panel.rect_roi.size()) == pytest.approx((20.0, 30.0))


def field_image(path: Path) -> None:
    """A 240x240 field with a 3x3 grid of dark holes (diameter ~24 px), 8-bit PNG."""
    yy, xx = np.mgrid[0:240, 0:240]
    img = np.full((240, 240), 190.0)
    for cy in (40, 120, 200):
        for cx in (40, 120, 200):
            r = np.hypot(yy - cy, xx - cx)
            img = np.where(r < 12, 40 + 5 * r, img)
    rng = np.random.default_rng(0)
    img += rng.normal(0, 3, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def test_field_mode_holes_table_centres_view(qtbot: Any, window: Any, tmp_path: Path) -> None:
    path = tmp_path / "field.png"
    field_image(path)
    with qtbot.waitSignal(window.resultShown, timeout=60_000) as sig:
        window.open_paths([path])
    wait_batch_idle(qtbot, window, 60_000)
    data = sig.args[0]
    assert data.mode == "field"
    holes = data.holes
    assert len(holes) == 9
    table = window.holes_panel
    assert table.rowCount() == 9
    assert window.holes_dock.isVisible()
    window.view.panels[SEM].vb.setRange(xRange=(0, 40), yRange=(0, 40), padding=0)
    table.selectRow(4)
    hole = holes[4]
    (x0, x1), (y0, y1) = window.view.panels[DEPTH].vb.viewRange()
    assert (x0 + x1) / 2 == pytest.approx(hole.col + 0.5, abs=0.5)
    assert (y0 + y1) / 2 == pytest.approx(hole.row + 0.5, abs=0.5)
    assert table.item(4, 1).text() == f"{hole.row:.2f}"


def test_hole_outlined_zoomed_and_table_in_nm(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from app.views.panel import hole_outline, hole_size_px, outline_xy

    path = tmp_path / "field.png"
    field_image(path)
    with qtbot.waitSignal(window.resultShown, timeout=60_000) as sig:
        window.open_paths([path])
    wait_batch_idle(qtbot, window, 60_000)
    data = sig.args[0]
    measured = data.hole_table.holes
    assert data.holes == measured  # the trust step's metrology
    table = window.holes_panel
    panel = window.view.panels[SEM]
    # every hole drawn: its top outline, or a circle when it has none
    x, _y = panel.outline_item.getData()
    with_outline = [h for h in measured if len(hole_outline(h))]
    outlines = int(np.isnan(x).sum()) + 1 if x is not None and len(x) else 0
    assert outlines == len(with_outline)
    assert outlines + panel.holes_item.data.size == 9
    row = next((i for i, h in enumerate(measured) if len(hole_outline(h))), 2)
    hole = measured[row]
    table.selectRow(row)
    sel_x, sel_y = window.view.panels[DEPTH].selected_outline.getData()
    if len(hole_outline(hole)):  # highlighted: the top outline drawn thick
        ex, ey = outline_xy([hole.outline_top])
        np.testing.assert_allclose(sel_x, ex)
        np.testing.assert_allclose(sel_y, ey)
    else:
        assert window.view.panels[DEPTH].selected_item.data.size == 1
    (x0, x1), _ = window.view.panels[DEPTH].vb.viewRange()
    assert (x1 - x0) == pytest.approx(max(4 * hole_size_px(hole), 16), rel=0.35)  # zoomed in
    heads = table.headers()
    assert heads == [
        "#",
        "Row (px)",
        "Col (px)",
        "Top CD (px)",  # a PNG: no pixel size
        "Bottom CD (px)",
        "Depth below top (DU, uncalibrated)",
        "Ellipticity",
        "Flags",
    ]
    assert table.item(row, 5).text() == f"{hole.depth:.2f}"  # no U: not calibrated
    # a pixel size, nm chosen: positions follow; the depth stays in the engine's unit
    data.pixel_size_nm, data.nm_per_depth_unit = 1000.0, 2.0
    window.controls.unit_combo.setCurrentText("nm")
    heads = table.headers()
    assert heads[1:3] == ["y (µm)", "x (µm)"]
    assert heads[5] == "Depth below top (DU, uncalibrated)"
    assert table.item(row, 1).text() == f"{hole.row + 0.5:.4g}"  # 1 µm per px


def test_status_bar_readout_elides_instead_of_cutting(
    qtbot: Any, window: Any, sem_folder: Path
) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    window.resize(1024, 700)
    window.statusBar().clearMessage()  # a transient message hides the readout meanwhile
    qtbot.wait(20)
    label = window.readout_label
    label.setText("x 10, y 20 px   " + "depth 101.25 DU   " * 20)
    shown = label.shown_text()
    assert shown.endswith("…") and len(shown) < len(label.text())
    assert label.toolTip() == label.text()
    bar = window.statusBar()
    qtbot.waitUntil(lambda: label.geometry().right() <= bar.width(), timeout=5000)
    status = window.model_status
    assert status.geometry().right() <= bar.width() and status.width() > 100
    assert status.shown_text() == status.text()  # "Model: ... on cpu" fits
