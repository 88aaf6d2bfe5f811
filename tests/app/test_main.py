"""The ``semdepth-gui`` entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app import workers

from .conftest import hole_image


def test_entry_point_opens_samples(
    qtbot: Any, tiny_model: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from app import main as app_main
    from app.dialogs import error_dialog
    from app.main_window import MainWindow
    from core import resources

    samples = []
    for i in range(2):
        sem, _ = hole_image(40 + i)
        p = tmp_path / f"sample_{i}.png"
        Image.fromarray(sem).save(p)
        samples.append(p)
    monkeypatch.setattr(resources, "sample_images", lambda: samples)
    monkeypatch.setattr(error_dialog, "default_log_dir", lambda: tmp_path / "logs")
    seen: dict[str, Any] = {}

    def poll() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if not wins:
            return
        win = wins[0]
        done = [r for r in win.state.rows if r.status == "done"]
        if len(done) == 2 and not win.batch.busy:
            seen["rows"] = [r.source.name for r in win.state.rows]
            seen["model"] = win.predictor.model_id
            seen["shown"] = win.state.current.source.name if win.state.current else None
            timer.stop()
            win.close()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    QTimer.singleShot(60_000, lambda: [w.close() for w in QApplication.topLevelWidgets()])
    rc = app_main.main(["--samples", "--model", str(tiny_model), "--device", "cpu"])
    timer.stop()
    assert rc == 0
    assert seen["rows"] == ["sample_0.png", "sample_1.png"]
    assert seen["model"] == "tiny-test-unet"
    assert seen["shown"] == "sample_0.png"
    assert not workers.live_tasks()
    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow):
            w.deleteLater()


def test_entry_point_help(capsys: Any) -> None:
    from app import main as app_main

    with pytest.raises(SystemExit) as exc:
        app_main.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--samples" in out and "--model" in out
