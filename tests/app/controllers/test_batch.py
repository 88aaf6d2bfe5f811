"""The batch runner: inference in the worker thread, cancel within one image."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from app.state import CANCELLED, DONE

from ..conftest import SlowPredictor, many_images


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


def test_progress_text_names_the_file_and_the_progress_inside_it() -> None:
    from dataclasses import dataclass

    from app.controllers.batch import progress_text
    from core.progress import Progress

    assert progress_text(Progress(2, 5, "hole_2.png")) == "hole_2.png"

    @dataclass
    class Inner:  # the shape of the engine's two-level reports (Progress.inner, describe)
        done: int
        total: int
        message: str
        inner: Any = None

        def describe(self) -> str:
            return "tiles 12/40, 3 s left"

    p = Inner(2, 5, "field.png", inner=Inner(12, 40, "tiles"))
    assert progress_text(p) == "field.png: tiles 12/40, 3 s left"  # type: ignore[arg-type]


def test_skip_and_stop_buttons_and_the_current_file(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    folder = many_images(tmp_path / "imgs", 6)
    slow = SlowPredictor(window.predictor, delay=0.1)
    window.batch.set_predictor(slow)
    panel = window.batch_panel
    with qtbot.waitSignal(window.batch.itemReady, timeout=30_000):
        window.open_paths([folder])
    assert panel.cancel_button.text() == "Stop Batch" and panel.cancel_button.isEnabled()
    # Skip File needs the engine's CancelToken.skip_current (the robust branch brings it)
    assert panel.skip_button.isEnabled() == window.batch.can_skip
    qtbot.waitUntil(lambda: panel.current.text().startswith("img_"), timeout=10_000)
    with qtbot.waitSignal(window.batch.jobFinished, timeout=30_000):
        pass
    assert panel.current.text() == "" and not panel.skip_button.isEnabled()
