"""Layout stability of the result views: showing a result must not re-lay out the panels
(which made the first result of a batch paint the views two or three times)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.state import DisplayData
from app.views.image_view import AUX, PANEL_KEYS, LinkedImageView
from app.views.profile import AXIS_WIDTH_PX, ProfilePlot


def _data(truth: bool, shape: tuple[int, int] = (72, 48)) -> DisplayData:
    rng = np.random.default_rng(1)
    depth = rng.uniform(40, 200, shape).astype(np.float32)
    return DisplayData(
        source=Path("x.png"),
        sem=rng.integers(0, 255, shape).astype(np.uint8),
        depth=depth,
        uncertainty=rng.uniform(0, 3, shape).astype(np.float32),
        truth=(depth + 1).astype(np.float32) if truth else None,
    )


def _widths(view: LinkedImageView) -> list[float]:
    return [view.panels[k].geometry().width() for k in PANEL_KEYS]


def test_panel_columns_equal_and_independent_of_titles(qtbot: Any) -> None:
    view = LinkedImageView()
    qtbot.addWidget(view)
    view.resize(1000, 400)
    view.show()
    view.show_data(_data(truth=True))
    qtbot.wait(20)
    assert view.panels[AUX].titleLabel.text.startswith("Error")
    before = _widths(view)
    assert max(before) - min(before) < 1.0  # four equal columns
    view.show_data(_data(truth=False))  # AUX title becomes "Uncertainty (TTA std)"
    qtbot.wait(20)
    assert view.panels[AUX].titleLabel.text.startswith("Uncertainty")
    assert _widths(view) == before


def test_profile_ranges_set_from_data_not_auto_range(qtbot: Any) -> None:
    plot = ProfilePlot()
    qtbot.addWidget(plot)
    plot.resize(600, 250)
    plot.show()
    dist = np.linspace(0.0, 40.0, 41)
    depth = np.linspace(100.0, 180.0, 41)
    sem = np.linspace(10.0, 30.0, 41)
    plot.set_profile(dist, {"depth": depth, "truth": depth - 50.0, "sem": sem})
    pi = plot.getPlotItem()
    # ranges are known before the first paint (auto-range in pyqtgraph runs while painting)
    assert pi.vb.autoRangeEnabled() == [False, False]
    (x0, x1), (y0, y1) = pi.vb.viewRange()
    assert x0 <= 0.0 and x1 >= 40.0 and x1 - x0 < 50.0
    assert y0 <= 50.0 and y1 >= 180.0 and y1 - y0 < 163.0  # data span + padding
    (_, _), (s0, s1) = plot.sem_view.viewRange()
    assert s0 <= 10.0 and s1 >= 30.0 and s1 - s0 < 25.0
    for side in ("left", "right"):
        assert pi.getAxis(side).width() == AXIS_WIDTH_PX
    plot.set_profile(dist, {"depth": np.full(41, 7.0), "truth": None, "sem": None})
    (_, _), (y0, y1) = pi.vb.viewRange()
    assert y0 < 7.0 < y1 and y1 - y0 < 2.0  # a flat profile gets a unit span


def test_arrangements_hide_and_fit(qtbot: Any) -> None:
    """1x4 and 2x2 grids, hidden panels, the image filling its panels (no -1000..2500)."""
    from app.views.image_view import DEPTH, SEM, TRUTH

    view = LinkedImageView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    data = _data(truth=True, shape=(1024, 1024))
    view.set_arrangement("1x4")
    view.show_data(data)
    qtbot.wait(20)
    rects = {k: view.panels[k].geometry() for k in PANEL_KEYS}
    assert len({round(r.top()) for r in rects.values()}) == 1  # one row
    view.set_arrangement("2x2")
    qtbot.wait(20)
    tops = sorted({round(view.panels[k].geometry().top()) for k in PANEL_KEYS})
    assert len(tops) == 2 and view.grid == "2x2"
    # panels of one size (linked aspect-locked views of different sizes drift apart)
    sizes = {
        (round(view.panels[k].vb.width()), round(view.panels[k].vb.height())) for k in PANEL_KEYS
    }
    assert len(sizes) == 1
    # the whole image and no more along one axis, a little more along the other (aspect)
    qtbot.wait(100)  # the linked views settle: the fit holds
    (x0, x1), (y0, y1) = view.panels[DEPTH].vb.viewRange()
    assert min(x1 - x0, y1 - y0) == pytest.approx(1024, rel=0.02)
    assert (x0 + x1) / 2 == pytest.approx(512, abs=2) and (y0 + y1) / 2 == pytest.approx(512, abs=2)
    view.set_panel_visible(TRUTH, False)
    qtbot.wait(20)
    assert not view.panels[TRUTH].isVisible() and view.visible_keys() == [SEM, DEPTH, AUX]
    for key in (SEM, DEPTH, AUX):  # the last visible panel cannot be hidden
        view.set_panel_visible(key, False)
    assert view.visible_keys() == [AUX]
    view.set_panel_visible(TRUTH, True)
    assert view.visible_keys() == [TRUTH, AUX]


def test_auto_picks_the_grid_that_draws_the_image_larger() -> None:
    from app.views.grid import best_grid

    assert best_grid(4, 600, 450, (1024, 1024)) == "2x2"  # a 1024x700 window
    assert best_grid(4, 2400, 500, (512, 512)) == "1x4"  # wide and low
    assert best_grid(2, 600, 450, (512, 512)) == "1x4"


def test_physical_axes_scale_bar_and_empty_nm_labels(qtbot: Any) -> None:
    from app.views.image_view import DEPTH, SEM

    view = LinkedImageView()
    qtbot.addWidget(view)
    view.resize(1200, 500)
    view.show()
    view.set_unit("nm")
    assert view.panels[DEPTH].bar.axis.labelText == "depth (nm)"  # nothing shown yet
    assert view.panels[SEM].axis_label("bottom") == "x (nm)"
    assert view.hint.isVisible() and "Ctrl+O" in view.hint.text()
    data = _data(truth=True, shape=(400, 600))
    data.pixel_size_nm = 250.0  # 600 px = 150 µm
    view.show_data(data)
    qtbot.wait(20)
    assert not view.hint.isVisible()
    assert view.panels[SEM].axis_label("bottom") == "x (µm)"
    assert view.panels[SEM].getAxis("bottom").scale == pytest.approx(250e-9)
    assert view.panels[SEM].scale_bar_text == "20 µm"  # a fifth of 150 µm, rounded down
    assert view.panels[SEM].scale_bar_px == pytest.approx(80.0)
    assert view.panels[DEPTH].bar.axis.labelText == "depth (DU)"  # no depth scale: DU
    view.set_unit("DU")
    view.show_data(data)
    assert view.panels[SEM].axis_label("bottom") == "x (px)"
    assert view.panels[SEM].scale_bar_text == ""


def test_colour_bar_ticks_never_run_together() -> None:
    from app.views.panel import tick_step

    # a 100-px colour bar over 0..255: at most one label per 56 px
    step = tick_step(255.0, 100.0, 56.0)
    assert 255.0 / step <= 100.0 / 56.0 + 1
    assert step in (200.0, 500.0)
    assert tick_step(1.0, 1000.0, 56.0) == pytest.approx(0.1)


def test_out_of_domain_banner_and_batch_marker(qtbot: Any) -> None:
    """The engine's domain verdict (``PredictionResult.in_domain``, ``domain_score``,
    ``domain_reasons``): a banner over the panels while that result shows, a marker in its
    batch row; a result without a trust step has no verdict (the real predictor's case is
    in tests/app/controllers/test_trust.py)."""
    from types import SimpleNamespace

    from app.state import AppState, QueueRow
    from app.trust import domain_warning
    from app.widgets.batch_panel import BatchPanel, row_texts

    out = SimpleNamespace(
        in_domain=False, domain_score=3.14159, domain_reasons=["pixel size 4x the model's"]
    )
    text = domain_warning(out)
    assert text == (
        "Out of domain (score 3.14): pixel size 4x the model's - do not sign off on these numbers"
    )
    blank = SimpleNamespace(in_domain=False, domain_score=None, domain_reasons=["blank image"])
    assert domain_warning(blank) == "Out of domain: blank image - do not sign off on these numbers"
    assert domain_warning(SimpleNamespace(in_domain=True, domain_score=0.5)) is None
    assert domain_warning(SimpleNamespace(in_domain=None)) is None  # no trust step
    assert domain_warning(SimpleNamespace(settings={})) is None
    view = LinkedImageView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    data = _data(truth=False)
    data.domain_warning = text
    view.show_data(data)
    assert view.banner.isVisible() and view.banner.text() == text
    assert view.banner.geometry().top() < view.panels[AUX].sceneBoundingRect().bottom()
    view.show_data(_data(truth=False))  # an in-domain result: no banner
    assert not view.banner.isVisible()
    row = QueueRow(0, Path("x.png"), status="done", domain_warning=text)
    assert row_texts(row)[1] == "done ⚠ out of domain"
    state = AppState()
    panel = BatchPanel(state)
    qtbot.addWidget(panel)
    state.rows.append(row)
    state.rowsAdded.emit(0, 1)
    from PySide6.QtCore import Qt

    tip = panel.model.data(panel.model.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert tip == text


def test_roi_statistics_take_two_columns_only_when_they_fit(qtbot: Any) -> None:
    """Wide: the region and depth below top beside the height map; narrow: one column
    that scrolls, so the ROI dock never squeezes the line profile beside it."""
    from app.widgets.roi_panel import RoiPanel

    panel = RoiPanel()
    qtbot.addWidget(panel)
    panel.show()
    need = panel.two_column_width()
    panel.resize(need + 40, 300)
    qtbot.waitUntil(lambda: panel.columns == 2, timeout=2000)
    assert panel.grid.getItemPosition(panel.grid.indexOf(panel.labels["mean"]))[:2] == (0, 4)
    one = panel.one_column_width()
    assert one < need
    panel.resize(one, 300)
    qtbot.waitUntil(lambda: panel.columns == 1, timeout=2000)
    assert panel.grid.getItemPosition(panel.grid.indexOf(panel.labels["mean"]))[:2] == (7, 1)
    assert panel.minimumWidth() == one  # one column, never cut: it scrolls down instead
    inner = panel.widget()  # no horizontal scrolling
    qtbot.waitUntil(lambda: inner.width() <= panel.viewport().width(), timeout=2000)


def test_profile_band_and_legend(qtbot: Any) -> None:
    """The +-2 sigma band around the predicted curve (and its legend entry) only with a
    half-width; the axis drawn downward for depth below top; the legend in two rows when
    the plot is narrow."""
    plot = ProfilePlot()
    qtbot.addWidget(plot)
    plot.resize(700, 250)
    plot.show()
    dist = np.linspace(0.0, 40.0, 41)
    below = np.linspace(0.0, 30.0, 41)
    half = np.full(41, 2.0)
    plot.set_profile(
        dist, {"depth": below, "band": half}, depth_label="below top (nm)", downward=True
    )
    pi = plot.getPlotItem()
    assert plot.band.isVisible() and pi.vb.yInverted()
    _x, y = plot.band_hi.getData()
    np.testing.assert_allclose(y, below + 2.0)
    (_, _), (y0, y1) = pi.vb.viewRange()
    assert y0 <= -2.0 and y1 >= 32.0  # the band is in range
    names = [label.text for _, label in pi.legend.items]
    assert "±2σ" in names
    plot.set_profile(dist, {"depth": below})
    assert not plot.band.isVisible() and not pi.vb.yInverted()
    assert "±2σ" not in [label.text for _, label in pi.legend.items]
    qtbot.waitUntil(lambda: pi.legend.columnCount == 4, timeout=2000)
    plot.resize(300, 250)
    qtbot.waitUntil(lambda: pi.legend.columnCount == 2, timeout=2000)
    plot.resize(220, 250)
    qtbot.waitUntil(lambda: pi.legend.columnCount == 1, timeout=2000)
