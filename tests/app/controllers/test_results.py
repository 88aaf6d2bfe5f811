"""Results of the batch: showing, stepping, recomputing evicted results, ground truth,
failed rows, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.state import DONE, FAILED
from app.views.image_view import AUX, DEPTH, TRUTH

from ..conftest import many_images, open_and_wait, wait_batch_idle


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

    open_and_wait(qtbot, window, [sem_folder / "c.png"])
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    errors.allowed = True
    task = window.load_ground_truth(tmp_path / "small.png")
    with qtbot.waitSignal(task.finished, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: len(errors.calls) == 1)
    assert "does not match" in errors.calls[0][1]
    assert window.state.current.truth is None


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


@pytest.mark.parametrize("n", [3])
def test_progress_bar_reaches_total(qtbot: Any, window: Any, tmp_path: Path, n: int) -> None:
    folder = many_images(tmp_path / "p", n)
    with qtbot.waitSignal(window.batch.jobFinished, timeout=30_000):
        window.open_paths([folder])
    bar = window.batch_panel.progress
    assert (bar.value(), bar.maximum()) == (n, n)
    assert window.batch_panel.summary.text().startswith(f"{n} files: {n} done, 0 failed")


def test_failed_row_short_reason_and_full_tooltip(qtbot: Any, window: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    from app.state import short_reason

    folder = tmp_path / "deep" / "folder" / "names"
    folder.mkdir(parents=True)
    bad = folder / "cut.png"
    good = many_images(tmp_path / "ok", 1) / "img_000.png"
    good.rename(folder / "fine.png")
    data = (folder / "fine.png").read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # a truncated PNG
    with qtbot.waitSignal(window.batch.jobFinished, timeout=30_000):
        window.open_paths([folder / "fine.png", bad])
    wait_batch_idle(qtbot, window)
    i = [r.source.name for r in window.state.rows].index("cut.png")
    row = window.state.rows[i]
    assert row.status == FAILED and str(bad) in row.error
    cell = window.batch_panel.status_text(i)
    assert cell.startswith("failed: ") and str(folder) not in cell and len(cell) <= 48
    model = window.batch_panel.model
    assert model.data(model.index(i, 1), Qt.ItemDataRole.ToolTipRole) == row.error
    assert short_reason(f"{bad}: truncated file (ends after 10 of 99 bytes)", bad) == (
        "truncated file"
    )
    assert short_reason("/x/y/z.tif: file is empty; nothing to read") == "file is empty"
    # the bar and the summary count the table's rows, failed ones included
    bar = window.batch_panel.progress
    assert (bar.value(), bar.maximum()) == (2, 2)
    assert "2 files: 1 done, 1 failed" in window.batch_panel.summary.text()


def test_selection_follows_up_and_down_keys(qtbot: Any, window: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    folder = many_images(tmp_path / "k", 3)
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([folder])
    wait_batch_idle(qtbot, window)
    table = window.batch_panel.table
    window.show_row(window.state.rows[0].row_id)
    table.setFocus()
    with qtbot.waitSignal(window.resultShown, timeout=5000) as sig:
        QTest.keyClick(table, Qt.Key.Key_Down)  # no Enter: the panels follow at once
    assert sig.args[0].source.name == "img_001.png"
    assert window.state.current.row_id == window.state.rows[1].row_id
    with qtbot.waitSignal(window.resultShown, timeout=5000) as sig:
        QTest.keyClick(table, Qt.Key.Key_Down)
    assert sig.args[0].source.name == "img_002.png"
    with qtbot.waitSignal(window.resultShown, timeout=5000) as sig:
        QTest.keyClick(table, Qt.Key.Key_Up)
    assert sig.args[0].source.name == "img_001.png"
    assert table.currentIndex().row() == 1


def test_queue_message_is_true_while_the_model_loads(
    qtbot: Any, make_window: Any, tiny_model: Path, tmp_path: Path
) -> None:
    folder = many_images(tmp_path / "m", 2)
    win = make_window(model_path=None)
    assert "No model loaded" in win.model_status.text()
    with qtbot.waitSignal(win.inputsQueued, timeout=10_000):
        win.open_paths([folder])
    assert "no model loaded" in win.statusBar().currentMessage()
    with qtbot.waitSignal(win.modelLoaded, timeout=30_000):
        win.load_model(tiny_model)
        assert win.model.loading
        with qtbot.waitSignal(win.inputsQueued, timeout=10_000):
            win.open_paths([folder / "img_000.png"])
        msg = win.statusBar().currentMessage()
        assert "once the model has loaded" in msg and "no model loaded" not in msg
    wait_batch_idle(qtbot, win)
