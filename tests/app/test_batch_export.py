"""Batch queue, drag and drop, cancel, close during a batch, export against the CLI."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app import workers
from app.dialogs.export_dialog import ExportRequest
from app.state import CANCELLED, DONE, FAILED
from core.io import read_depth_tiff
from core.progress import CancelToken

from .conftest import hole_image, wait_batch_idle, write_pair


class SlowPredictor:
    """Delegates to a real predictor, sleeping first; records when each call ran."""

    def __init__(self, inner: Any, delay: float = 0.05) -> None:
        self.inner = inner
        self.delay = delay
        self.calls: list[tuple[float, float]] = []
        self.threads: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def predict(self, image: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic()
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        try:
            return self.inner.predict(image, **kwargs)
        finally:
            self.calls.append((t0, time.monotonic()))


def many_images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sem, _ = hole_image(100 + i)
        Image.fromarray(sem).save(folder / f"img_{i:03d}.png")
    return folder


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


def test_batch_runs_in_worker_thread(qtbot: Any, window: Any, tmp_path: Path) -> None:
    folder = many_images(tmp_path / "imgs", 4)
    slow = SlowPredictor(window.predictor, delay=0.0)
    window.batch.set_predictor(slow)
    with qtbot.waitSignal(window.batch.jobFinished, timeout=30_000):
        window.open_paths([folder])
    assert len(slow.calls) == 4
    assert threading.get_ident() not in slow.threads


def test_cancel_mid_batch_stops_within_one_image(qtbot: Any, window: Any, tmp_path: Path) -> None:
    folder = many_images(tmp_path / "imgs", 30)
    slow = SlowPredictor(window.predictor, delay=0.1)
    window.batch.set_predictor(slow)
    with qtbot.waitSignal(window.batch.itemReady, timeout=30_000):
        window.open_paths([folder])
    assert window.batch_panel.cancel_button.isEnabled()
    with qtbot.waitSignal(window.batch.jobFinished, timeout=10_000):
        t_cancel = time.monotonic()
        window.batch_panel.cancel_button.click()
    started_after = [c for c in slow.calls if c[0] > t_cancel]
    assert not started_after, "an image started after Cancel"
    assert len(slow.calls) < 30
    statuses = [r.status for r in window.state.rows]
    # the image in flight at Cancel either finished or was cancelled inside predict
    assert statuses.count(DONE) in (len(slow.calls) - 1, len(slow.calls))
    assert statuses.count(CANCELLED) == 30 - statuses.count(DONE)
    assert not window.batch.busy
    assert not window.batch_panel.cancel_button.isEnabled()
    assert "cancelled" in window.batch_panel.summary.text()


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


def run_cli(args: list[str]) -> int:
    from core.cli import main

    return main(args)


def tiffs(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: read_depth_tiff(p)[0] for p in sorted(folder.glob("*.tif"))}


def test_export_all_equals_cli(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, tiny_model: Path
) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder])
    wait_batch_idle(qtbot, window)
    gui_out = tmp_path / "gui_out"
    with qtbot.waitSignal(window.exportFinished, timeout=30_000) as sig:
        window.export(ExportRequest(gui_out, ("tiff", "csv", "png"), "all"))
    summary = sig.args[0]
    assert summary.n_done == 3 and summary.n_failed == 0
    cli_out = tmp_path / "cli_out"
    rc = run_cli(
        [
            "predict",
            str(sem_folder),
            "--out",
            str(cli_out),
            "--model",
            str(tiny_model),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert rc == 0
    gui, cli = tiffs(gui_out), tiffs(cli_out)
    assert (
        sorted(gui)
        == sorted(cli)
        == [
            f"{s}_{kind}.tif"
            for s in ("a", "b", "c")
            for kind in ("depth", "depth_below_top", "uncertainty")
        ]
    )
    for name in gui:
        assert gui[name].dtype == np.float32
        np.testing.assert_array_equal(gui[name], cli[name])
    # the depth arrays are the ones the window showed
    shown = window.state.cache.get(window.state.rows[0].row_id).result.depth
    np.testing.assert_array_equal(gui["a_depth.tif"], shown)
    for name in ("a_depth.csv", "a_depth.png", "summary.csv"):
        assert (gui_out / name).is_file() and (cli_out / name).is_file()
    from core.batch import read_summary

    rows = read_summary(gui_out / "summary.csv")
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png", "c.png"]
    assert rows[0]["rmse_du"] != "" and rows[2]["rmse_du"] == ""


def test_export_all_asks_before_overwriting(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, asker: Any
) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder / "a.png"])
    wait_batch_idle(qtbot, window)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_depth.tif").write_bytes(b"old")
    asker.answer = False
    assert window.export(ExportRequest(out, ("tiff",), "all")) is None
    assert asker.questions and "not empty" in asker.questions[0][1]
    assert (out / "a_depth.tif").read_bytes() == b"old"
    asker.answer = True
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):
        window.export(ExportRequest(out, ("tiff",), "all"))
    arr, _ = read_depth_tiff(out / "a_depth.tif")
    np.testing.assert_array_equal(arr, window.state.current.depth)


def test_export_current_and_overwrite_question(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, asker: Any
) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder / "b.png"])
    wait_batch_idle(qtbot, window)
    out = tmp_path / "one"
    with qtbot.waitSignal(window.exportFinished, timeout=10_000) as sig:
        window.export(ExportRequest(out, ("tiff", "csv", "png", "dacon"), "current"))
    outputs = sig.args[0]
    assert sorted(p.name for p in outputs.values()) == [
        "b_depth.csv",
        "b_depth.png",
        "b_depth.tif",
        "b_depth8.png",
        "b_depth_below_top.csv",
        "b_depth_below_top.tif",
        "b_uncertainty.tif",
    ]
    depth = window.state.current.depth
    np.testing.assert_array_equal(read_depth_tiff(out / "b_depth.tif")[0], depth)
    dacon = np.asarray(Image.open(out / "b_depth8.png"))
    np.testing.assert_array_equal(dacon, np.clip(np.round(depth), 0, 255).astype(np.uint8))
    # again: asks; "no" leaves the files alone
    before = (out / "b_depth.tif").stat().st_mtime_ns
    asker.answer = False
    with qtbot.waitSignal(window.exportFailed, timeout=10_000):
        window.export(ExportRequest(out, ("tiff",), "current"))
    assert len(asker.questions) == 1 and "exists" in asker.questions[0][1]
    assert (out / "b_depth.tif").stat().st_mtime_ns == before
    asker.answer = True
    with qtbot.waitSignal(window.exportFinished, timeout=10_000):
        window.export(ExportRequest(out, ("tiff",), "current"))
    assert len(asker.questions) == 2
    np.testing.assert_array_equal(read_depth_tiff(out / "b_depth.tif")[0], depth)


def test_save_and_copy_view(qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder / "a.png"])
    png = tmp_path / "view.png"
    assert window.save_view(png)
    img = Image.open(png)
    assert img.size == (window.view.width(), window.view.height())
    window.copy_view()
    assert not QApplication.clipboard().pixmap().isNull()


def test_task_reports_worker_errors(qtbot: Any, window: Any, errors: Any, tmp_path: Path) -> None:
    errors.allowed = True

    def boom(_emit: Any, _cancel: CancelToken) -> None:
        raise RuntimeError("worker exploded")

    task = window._start_task("boom", boom, lambda _r: None)
    with qtbot.waitSignal(task.finished, timeout=5000):
        pass
    qtbot.waitUntil(lambda: bool(errors.calls))
    title, message, details = errors.calls[0]
    assert title == "boom failed" and message.startswith("worker exploded")
    assert "semdepth.log" in message  # tells the user where the details are
    assert "RuntimeError" in details
    log_text = (tmp_path / "logs" / "semdepth.log").read_text()
    assert "worker exploded" in log_text
    assert window.isVisible()


@pytest.mark.parametrize("n", [3])
def test_progress_bar_reaches_total(qtbot: Any, window: Any, tmp_path: Path, n: int) -> None:
    folder = many_images(tmp_path / "p", n)
    with qtbot.waitSignal(window.batch.jobFinished, timeout=30_000):
        window.open_paths([folder])
    bar = window.batch_panel.progress
    assert (bar.value(), bar.maximum()) == (n, n)
    assert window.batch_panel.summary.text().startswith(f"{n} files: {n} done, 0 failed")


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
        window.act_samples.trigger()
    assert sig.args == [1, 0]
    wait_batch_idle(qtbot, window)
    assert [r.source.name for r in window.state.rows] == ["a.png"]
