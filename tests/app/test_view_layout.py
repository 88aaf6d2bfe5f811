"""Layout stability of the result views: showing a result must not re-lay out the panels
(which made the first result of a batch paint the views two or three times)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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
