"""The engine's trust step in the window, with real predictors: the out-of-domain banner and
batch marker, the readout's depth below top +-2 sigma, the ROI's deepest point, the line
profile below the top (every number equal to what core computed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.trust import domain_warning
from app.views.image_view import DEPTH
from app.widgets.batch_panel import row_texts

from ..conftest import CAL_NM_PER_DU, CAL_PIXEL_NM, hole_image, open_and_wait, write_tiff


def test_blank_image_shows_the_banner_and_the_batch_marker(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path
) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((72, 48), 128, np.uint8)).save(blank)
    open_and_wait(qtbot, window, [blank])
    result = window.state.cache.get(window.state.current.row_id).result
    assert result.in_domain is False  # the engine's verdict on a constant image
    assert any("blank or constant image" in r for r in result.domain_reasons)
    expected = domain_warning(result)
    assert expected is not None and "blank or constant image" in expected
    banner = window.view.banner
    assert banner.isVisible() and banner.text() == expected
    # across the top of the view, above the panels (none hidden under it)
    view = window.view
    assert banner.geometry().right() <= view.width()

    def panels_below_banner() -> None:
        # the scene fills the viewport under the banner, no more (the bottom row uncut)
        assert view.sceneRect().height() == view.viewport().height()
        for panel in view.panels.values():
            if panel.isVisible():
                corner = view.mapFromScene(panel.sceneBoundingRect().topLeft())
                top = view.viewport().mapTo(view, corner).y()
                assert top >= banner.geometry().bottom()

    qtbot.waitUntil(panels_below_banner, timeout=5000)
    row = window.state.rows[0]
    assert row.domain_warning == expected
    assert row_texts(row)[1] == "done ⚠ out of domain"
    model = window.batch_panel.model
    assert model.data(model.index(0, 1), Qt.ItemDataRole.ToolTipRole) == expected
    assert model.data(model.index(0, 1), Qt.ItemDataRole.DisplayRole) == "done ⚠ out of domain"
    window.batch_panel.flush()  # the Status column shows the marker whole
    table = window.batch_panel.table
    assert table.columnWidth(1) > table.fontMetrics().horizontalAdvance("done ⚠ out of domain")
    # an image the engine takes as in domain: the banner goes, its row has no marker
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    assert window.state.cache.get(window.state.current.row_id).result.in_domain is True
    assert not window.view.banner.isVisible()
    assert row_texts(window.state.rows[1])[1] == "done"
    # and back: persistent for as long as the blank result shows
    window.show_row(row.row_id)
    assert window.view.banner.isVisible() and window.view.banner.text() == expected


@pytest.fixture
def cal_window(make_window: Any, calibrated_model: Path) -> Any:
    return make_window(model_path=calibrated_model)


def calibrated_crop(tmp_path: Path, seed: int = 1) -> Path:
    """A 72x48 hole crop as a TIFF at the calibrated model's pixel size."""
    sem, _ = hole_image(seed)
    return write_tiff(tmp_path / f"crop_{seed}.tif", sem, CAL_PIXEL_NM)


def test_readout_shows_depth_below_top_and_2_sigma_as_core(
    qtbot: Any, cal_window: Any, tmp_path: Path
) -> None:
    win = cal_window
    open_and_wait(qtbot, win, [calibrated_crop(tmp_path)])
    result = win.state.cache.get(win.state.current.row_id).result
    trust = result.trust
    assert trust.calibrated and trust.below_top.unit == "nm"  # the card's nm per DU applies
    for row, col in ((36, 24), (5, 40), (60, 3)):
        pos = win.view.scene_pos_of_pixel(row, col, DEPTH)
        with qtbot.waitSignal(win.view.cursorMoved, timeout=2000):
            win.view.on_mouse_moved((pos,))
        core = trust.readout(row, col)
        values = win.readout_at(row, col)["below_top"]
        assert values["depth_below_top"] == core["depth_below_top"]  # the same float32 maths
        assert values["plus_minus_2sigma"] == core["plus_minus_2sigma"]
        assert values["unit"] == "nm" and values["in_domain"] is True
        text = f"{core['depth_below_top']:.2f} ± {core['plus_minus_2sigma']:.2f} nm"
        status = win.readout_label.text()
        assert f"below top {text} (2σ)" in status
        assert f"height {result.depth[row, col]:.2f} DU" in status  # the DACON map beside it
        du = float(trust.below_top.du[row, col])
        assert win.readout_panel.labels["below_top"].text() == f"{text}  ({du:.3f} DU)"
        sigma = float(result.sigma[row, col])
        assert win.readout_panel.labels["sigma"].text() == (
            f"{sigma:.3f} DU  ({sigma * CAL_NM_PER_DU:.2f} nm)"
        )


def test_uncalibrated_readout_says_so(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    trust = window.state.cache.get(window.state.current.row_id).result.trust
    assert not trust.calibrated and trust.below_top.unit == "DU"  # a PNG: no pixel size
    pos = window.view.scene_pos_of_pixel(36, 24, DEPTH)
    with qtbot.waitSignal(window.view.cursorMoved, timeout=2000):
        window.view.on_mouse_moved((pos,))
    core = trust.readout(36, 24)
    text = f"{core['depth_below_top']:.2f} DU (uncalibrated)"
    assert f"below top {text}" in window.readout_label.text()
    assert window.readout_panel.labels["below_top"].text() == text
    assert window.readout_panel.labels["sigma"].text() == "uncalibrated"


def test_roi_deepest_point_is_cores(qtbot: Any, cal_window: Any, tmp_path: Path) -> None:
    win = cal_window
    open_and_wait(qtbot, win, [calibrated_crop(tmp_path)])
    trust = win.state.cache.get(win.state.current.row_id).result.trust
    win.acts.rect.trigger()
    win.view.set_rect(5.0, 10.0, 20.0, 30.0)  # columns 5..24, rows 10..39
    mask = np.zeros(trust.below_top.du.shape, dtype=bool)
    mask[10:40, 5:25] = True
    core = trust.roi_stats(mask)
    stats = win.roi_stats()["below_top"]
    assert stats == core  # count, mean, min, max, where, +-2 sigma, unit: the same numbers
    r, c = core["deepest_at"]
    assert core["max"] == pytest.approx(float(trust.below_top.values[10:40, 5:25].max()))
    labels = win.roi_panel.labels
    half = core["max_plus_minus_2sigma"]
    assert labels["bt_max"].text() == f"{core['max']:.2f} ± {half:.2f} nm"
    assert labels["bt_mean"].text() == f"{core['mean']:.2f} nm"
    assert labels["bt_at"].text() == f"x {c}, y {r} px"
    # the height statistics stay beside it, in DU
    region = win.state.current.depth[10:40, 5:25].astype(np.float64)
    assert labels["mean"].text() == f"{region.mean():.3f} DU"


@pytest.fixture(scope="session")
def calibrated_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled default model with the hand-written calibration in a copy of its card
    (real holes: the random tiny model's maps are flat)."""
    import json
    import shutil

    from core import resources

    from ..conftest import CALIBRATION

    folder = tmp_path_factory.mktemp("default_cal")
    src = resources.default_model_path()
    shutil.copy(src, folder / "default_cal.safetensors")
    card = json.loads(src.with_suffix(".json").read_text(encoding="utf-8"))
    card["uncertainty"] = CALIBRATION
    card["id"] = f"{card['id']}+test-calibration"
    (folder / "default_cal.json").write_text(json.dumps(card), encoding="utf-8")
    return folder / "default_cal.safetensors"


def test_hole_table_rows_and_field_statistics_are_cores(
    qtbot: Any, make_window: Any, calibrated_default: Path, tmp_path: Path
) -> None:
    from .test_tools import field_image

    win = make_window(model_path=calibrated_default)
    png = tmp_path / "field.png"
    field_image(png)
    path = write_tiff(tmp_path / "field.tif", np.asarray(Image.open(png)), CAL_PIXEL_NM)
    open_and_wait(qtbot, win, [path], timeout=120_000)
    table = win.state.cache.get(win.state.current.row_id).result.trust.holes
    assert table.depth_unit == "nm" and table.calibrated and table.pixel_size_nm == CAL_PIXEL_NM
    holes = table.holes
    assert len(holes) == 9
    panel = win.holes_panel
    assert panel.headers() == [
        "#",
        "Row (px)",
        "Col (px)",
        "Top CD (nm)",
        "Bottom CD (nm)",
        "Depth below top ± U (nm)",
        "Ellipticity",
        "Flags",
    ]
    assert panel.rowCount() == len(holes)

    def num(v: float | None, digits: int = 2) -> str:
        return "–" if v is None else f"{v:.{digits}f}"

    for i, h in enumerate(holes):
        cells = [panel.item(i, c).text() for c in range(panel.columnCount())]
        assert cells == [
            str(h.id),
            f"{h.row:.2f}",
            f"{h.col:.2f}",
            num(h.top_cd_nm),
            num(h.bottom_cd_nm),
            num(h.depth) if h.depth_u is None else f"{h.depth:.2f} ± {h.depth_u:.2f}",
            num(h.ellipticity, 3),
            ", ".join(h.flags),
        ]
    assert any(h.top_cd_nm is not None and h.depth_u is not None for h in holes)
    # the field statistics under the table
    stats = win.hole_stats
    assert stats.isVisibleTo(win) and stats.rowCount() == 4
    titles = [stats.verticalHeaderItem(r).text() for r in range(4)]
    assert titles == [
        "Depth below top (nm)",
        "Top CD (nm)",
        "Bottom CD (nm)",
        "Ellipticity",
    ]
    for r, (key, digits) in enumerate((("depth", 2), ("top_cd", 2), ("bottom_cd", 2))):
        s = table.stats[key]
        expected = [str(s.count), *(num(v, digits) for v in (s.mean, s.sigma, s.three_sigma))]
        expected += [num(s.min, digits), num(s.max, digits)]
        assert [stats.text(r, c) for c in range(6)] == expected
    assert stats.text(3, 1) == num(table.stats["ellipticity"].mean, 3)
    # selecting a row highlights that hole's outline and centres the panels on it
    panel.selectRow(4)
    x, _y = win.view.panels[DEPTH].selected_outline.getData()
    assert x is not None and len(x) == len(holes[4].outline_top) + 1  # closed polygon
    (x0, x1), _ = win.view.panels[DEPTH].vb.viewRange()
    assert (x0 + x1) / 2 == pytest.approx(holes[4].col + 0.5, abs=0.5)
