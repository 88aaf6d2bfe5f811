"""Opening images: drag and drop (onto the window and its children), samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.state import DONE, FAILED

from ..conftest import many_images, wait_batch_idle, write_pair


def drop(win: Any, urls: list[QUrl]) -> tuple[bool, bool]:
    mime = QMimeData()
    mime.setUrls(urls)
    pos = QPoint(win.width() // 2, win.height() // 2)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(win, enter)
    event = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(win, event)
    return enter.isAccepted(), event.isAccepted()


def test_drop_folder_queues_everything_and_bad_file_fails_alone(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    root = tmp_path / "dropped"
    write_pair(root, "x1", 1)  # root/SEM/x1.png + root/Depth/x1.png (skipped as truth)
    write_pair(root / "sub" / "deeper", "x2", 2)
    many_images(root / "more", 2)
    bad = root / "more" / "zz_broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    urls = [
        QUrl.fromLocalFile(str(root)),
        QUrl.fromLocalFile(str(notes)),
        QUrl("https://example.com/a.png"),
    ]
    with qtbot.waitSignal(window.inputsQueued, timeout=10_000) as sig:
        entered, dropped = drop(window, urls)
        # read the refusal before the batch's own messages replace it (fast machines)
        message = window.statusBar().currentMessage()
    assert entered and dropped
    assert sig.args == [6, 0]  # 5 images in the folder tree + the .txt named explicitly
    assert "non-local" in message
    assert "https://example.com/a.png" in message
    wait_batch_idle(qtbot, window)
    by_name = {r.source.name: r for r in window.state.rows}
    assert sorted(by_name) == sorted(
        ["x1.png", "x2.png", "img_000.png", "img_001.png", "zz_broken.png", "notes.txt"]
    )
    for name in ("x1.png", "x2.png", "img_000.png", "img_001.png"):
        assert by_name[name].status == DONE, (name, by_name[name].error)
        assert by_name[name].mean_depth is not None
    assert by_name["x1.png"].rmse is not None  # truth found in the Depth/ sibling
    assert by_name["img_000.png"].rmse is None
    for name in ("zz_broken.png", "notes.txt"):
        row = by_name[name]
        assert row.status == FAILED
        assert name in row.error
    i = window.state.rows.index(by_name["notes.txt"])
    assert window.batch_panel.status_text(i).startswith("failed: ")
    assert "2 failed" in window.batch_panel.summary.text()


def test_drop_of_only_remote_urls_is_refused(qtbot: Any, window: Any) -> None:
    entered, dropped = drop(window, [QUrl("https://example.com/x.tif")])
    assert entered and not dropped
    assert "Refused 1 non-local" in window.statusBar().currentMessage()
    assert window.state.rows == []


@pytest.mark.parametrize("target", ["image view", "batch table"])
def test_drop_on_child_widgets_reaches_window(
    qtbot: Any, window: Any, sem_folder: Path, target: str
) -> None:
    widget = (
        window.view.viewport() if target == "image view" else window.batch_panel.table.viewport()
    )
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sem_folder / "a.png"))])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    ev = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.inputsQueued, timeout=10_000) as sig:
        QApplication.sendEvent(widget, ev)
    assert sig.args == [1, 0]
    wait_batch_idle(qtbot, window)


def test_open_samples_skips_bundled_truth(
    qtbot: Any, window: Any, sem_folder: Path, monkeypatch: Any
) -> None:
    from core import resources

    truth = sem_folder / "a_depth.png"
    Image.fromarray(np.zeros((72, 48), np.uint8)).save(truth)
    monkeypatch.setattr(resources, "sample_images", lambda: [sem_folder / "a.png", truth])
    with qtbot.waitSignal(window.inputsQueued, timeout=10_000) as sig:
        window.acts.samples.trigger()
    assert sig.args == [1, 0]
    wait_batch_idle(qtbot, window)
    assert [r.source.name for r in window.state.rows] == ["a.png"]
