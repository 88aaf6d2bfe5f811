"""The window as a whole: settings remembered, the log dock, closing during a batch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app import workers
from app.settings import make_settings

from .conftest import (
    SlowPredictor,
    many_images,
    open_and_wait,
)


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


def test_close_during_batch_cancels_and_joins(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    win = make_window()
    folder = many_images(tmp_path / "imgs", 30)
    slow = SlowPredictor(win.predictor, delay=0.1)
    win.batch.set_predictor(slow)
    with qtbot.waitSignal(win.batch.itemReady, timeout=30_000):
        win.open_paths([folder])
    task = win.batch.task
    assert task is not None and task.is_running()
    t0 = time.monotonic()
    win.close()
    assert time.monotonic() - t0 < 5.0
    assert not task.is_running()
    assert not workers.live_tasks()
    assert len(slow.calls) < 30


def test_empty_window_with_nm_remembered_says_nm(make_window: Any) -> None:
    from app import settings as keys
    from app.settings import make_settings
    from app.views.image_view import DEPTH, SEM

    s = make_settings()
    keys.UNIT.write(s, "nm")
    win = make_window(model_path=None, settings=s)
    view = win.view
    assert view.panels[DEPTH].bar.axis.labelText == "depth (nm)"
    assert view.panels[SEM].axis_label("bottom") == "x (nm)"
    pi = win.profile_plot.getPlotItem()
    assert pi.getAxis("left").labelText == "depth (nm)"
    assert "(nm)" in pi.getAxis("bottom").labelText
    assert view.hint.isVisible() and not view.panels[SEM].line_roi.isVisible()
    hint, area = view.hint.geometry(), view.contentsRect()
    assert area.contains(hint)  # the hint is never clipped
    assert win.batch_panel.progress.text() == ""  # no "0 / 1" without rows
