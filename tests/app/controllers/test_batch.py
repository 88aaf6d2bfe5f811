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
