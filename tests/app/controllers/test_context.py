"""What the controllers share: the default report of a failed worker task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.progress import CancelToken


def test_task_reports_worker_errors(qtbot: Any, window: Any, errors: Any, tmp_path: Path) -> None:
    errors.allowed = True

    def boom(_emit: Any, _cancel: CancelToken) -> None:
        raise RuntimeError("worker exploded")

    task = window.tasks.start("boom", boom, lambda _r: None)
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
