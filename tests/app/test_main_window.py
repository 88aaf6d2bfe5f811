"""The main window against the real engine: panels, readout, tools, navigation, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from app.settings import make_settings
from app.state import DONE, FAILED
from app.views.image_view import AUX, DEPTH, SEM, TRUTH
from app.views.profile import line_positions
from core.io import read_depth, read_sem

from .conftest import wait_batch_idle


def open_and_wait(qtbot: Any, win: Any, paths: list[Path], timeout: int = 30_000) -> None:
    with qtbot.waitSignal(win.resultShown, timeout=timeout):
        win.open_paths(paths)
    wait_batch_idle(qtbot, win, timeout)


def test_window_opens_without_model(make_window: Any) -> None:
    win = make_window(model_path=None)
    assert win.predictor is None
    assert "No model loaded" in win.model_status.text()
    assert "no model loaded" in win.model_panel.card_view.toPlainText()


def test_missing_default_model_still_opens(
    make_window: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    from core import resources

    monkeypatch.setattr(resources, "default_model_path", lambda: tmp_path / "none.safetensors")
    from app.controllers.model import DEFAULT_MODEL

    win = make_window(model_path=DEFAULT_MODEL, wait_model=False)
    assert win.predictor is None
    assert win.model_status.text() == "No model loaded"


def test_model_card_shown(window: Any, tiny_model: Path) -> None:
    text = window.model_panel.card_view.toPlainText()
    assert "tiny-test-unet" in text
    assert "unet" in text and "levels=2" in text
    assert "72 x 48 px" in text
    assert "val RMSE per image 99.000 DU" in text
    assert "fp32" in text
    # CUDA/MPS disabled when absent; CPU always enabled
    from core.device import available_devices

    combo = window.model_panel.device_combo
    model = combo.model()
    for i in range(combo.count()):
        name = combo.itemData(i)
        if name in ("cuda", "mps"):
            assert model.item(i).isEnabled() == available_devices()[name]
        else:
            assert model.item(i).isEnabled()


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
        assert f"x {col} px, y {row} px" in status
        assert f"depth {expected.depth[row, col]:.2f} DU" in status
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
    assert f"depth {depth[row, col]:.2f} DU" in window.readout_label.text()


def test_line_profile_matches_array(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    data = window.state.current
    # along row 30 through pixel centres: exactly that row of the arrays
    window.view.set_line((0.5, 30.5), (47.5, 30.5))
    values = window.profile_plot.values
    np.testing.assert_allclose(values["depth"], data.depth[30, :], rtol=0, atol=1e-4)
    np.testing.assert_allclose(values["truth"], data.truth[30, :], atol=1e-4)
    np.testing.assert_allclose(values["sem"], data.sem[30, :], atol=1e-4)
    np.testing.assert_allclose(values["distance"], np.arange(48.0))
    # a diagonal: bilinear interpolation by hand
    p0, p1 = (3.2, 5.7), (40.9, 61.3)
    window.view.set_line(p0, p1)
    xs, ys = line_positions(p0, p1)
    fx, fy = xs - 0.5, ys - 0.5
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    ax, ay = fx - x0, fy - y0
    d = data.depth.astype(np.float64)
    hand = (
        d[y0, x0] * (1 - ax) * (1 - ay)
        + d[y0, x0 + 1] * ax * (1 - ay)
        + d[y0 + 1, x0] * (1 - ax) * ay
        + d[y0 + 1, x0 + 1] * ax * ay
    )
    np.testing.assert_allclose(window.profile_plot.values["depth"], hand, atol=1e-4)
    # mirrored on every panel
    for panel in window.view.panels.values():
        roi = panel.line_roi
        pts = [roi.mapToParent(p) for p in roi.listPoints()]
        assert (pts[0].x(), pts[0].y()) == pytest.approx(p0)
        assert (pts[1].x(), pts[1].y()) == pytest.approx(p1)
    # the plot's curve holds the values
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
    assert len(window.profile_plot.values["depth"]) == int(np.ceil(np.hypot(18, 58))) + 1


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


def test_navigation_and_row_click(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder])
    names = [r.source.name for r in window.state.rows]
    assert names == ["a.png", "b.png", "c.png"]
    assert window.state.current.source.name == "a.png"
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.state.current.source.name == "b.png"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.state.current.source.name == "c.png"
    qtbot.keyClick(window, Qt.Key.Key_Right)  # stays at the end
    assert window.state.current.source.name == "c.png"
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert window.state.current.source.name == "b.png"
    table = window.batch_panel.table
    table.clicked.emit(table.model().index(0, 0))
    assert window.state.current.source.name == "a.png"


def test_evicted_result_is_recomputed_on_click(
    qtbot: Any, make_window: Any, sem_folder: Path
) -> None:
    win = make_window(cache_size=1)
    open_and_wait(qtbot, win, [sem_folder])
    first = win.state.rows[0].row_id
    assert first not in win.state.cache
    with qtbot.waitSignal(win.resultShown, timeout=20_000) as sig:
        win.show_row(first)
    assert sig.args[0].source.name == "a.png"
    np.testing.assert_array_equal(
        win.view.panels[DEPTH].image, win.predictor.predict(sem_folder / "a.png").depth
    )
    assert win.state.rows[0].status == DONE


def test_load_ground_truth(qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "c.png"])
    assert window.state.current.truth is None
    gt = np.full((72, 48), 100, np.uint8)
    from PIL import Image

    Image.fromarray(gt).save(tmp_path / "gt.png")
    with qtbot.waitSignal(window.groundTruthLoaded, timeout=10_000):
        window.load_ground_truth(tmp_path / "gt.png")
    depth = window.state.current.depth
    np.testing.assert_array_equal(window.view.panels[TRUTH].image, gt.astype(np.float32))
    np.testing.assert_array_equal(window.view.panels[AUX].image, depth - 100.0)
    assert window.state.rows[0].rmse == pytest.approx(float(np.sqrt(np.mean((depth - 100.0) ** 2))))


def test_ground_truth_of_wrong_shape_is_reported(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, errors: Any
) -> None:
    from PIL import Image

    open_and_wait(qtbot, window, [sem_folder / "c.png"])
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    errors.allowed = True
    task = window.load_ground_truth(tmp_path / "small.png")
    with qtbot.waitSignal(task.finished, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: len(errors.calls) == 1)
    assert "does not match" in errors.calls[0][1]
    assert window.state.current.truth is None


def test_settings_remembered(qtbot: Any, make_window: Any, sem_folder: Path) -> None:
    win = make_window()
    win.controls.cmap_combo.setCurrentText("magma")
    open_and_wait(qtbot, win, [sem_folder / "a.png"])
    win.close()
    s = make_settings()
    assert s.value("colormap") == "magma"
    assert str(sem_folder / "a.png") in s.value("recent_files")
    assert s.value("last_folder") == str(sem_folder)
    win2 = make_window()
    assert win2.controls.cmap_combo.currentText() == "magma"
    win2._fill_recent_menu()
    texts = [a.text() for a in win2.recent_menu.actions()]
    assert str(sem_folder / "a.png") in texts


def test_log_dock_receives_messages(qtbot: Any, window: Any, sem_folder: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    qtbot.waitUntil(lambda: "batch finished" in window.log_panel.toPlainText())
    assert "model tiny-test-unet loaded" in window.log_panel.toPlainText()


def test_unreadable_model_reported(
    qtbot: Any, make_window: Any, tmp_path: Path, errors: Any
) -> None:
    errors.allowed = True
    win = make_window(model_path=None)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with qtbot.waitSignal(win.modelFailed, timeout=10_000) as sig:
        win.load_model(bad)
    assert "bad.safetensors" in sig.args[0]
    assert errors.calls and "bad.safetensors" in errors.calls[0][1]
    assert win.predictor is None


def test_queued_without_model_starts_after_load(
    qtbot: Any, make_window: Any, sem_folder: Path, tiny_model: Path
) -> None:
    win = make_window(model_path=None)
    with qtbot.waitSignal(win.inputsQueued, timeout=10_000):
        win.open_paths([sem_folder / "a.png"])
    assert win.state.rows[0].status == "queued"
    with qtbot.waitSignal(win.resultShown, timeout=30_000):
        win.load_model(tiny_model)
    wait_batch_idle(qtbot, win)
    assert win.state.rows[0].status == DONE


def test_failed_row_shows_reason(qtbot: Any, window: Any, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with qtbot.waitSignal(window.inputsQueued, timeout=10_000):
        window.open_paths([bad])
    wait_batch_idle(qtbot, window)
    row = window.state.rows[0]
    assert row.status == FAILED
    assert "broken.png" in row.error
    assert window.batch_panel.status_text(0).startswith("failed: ")
