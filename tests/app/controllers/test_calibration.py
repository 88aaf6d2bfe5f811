"""Model > Calibrate to my tool...: the dialog, the worker, Cancel, "Use this model"
(app/controllers/calibration.py, app/dialogs/calibrate_dialog.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app import settings as keys
from app.controllers import calibration as calibration_module
from app.controllers.model import DEFAULT_MODEL

from ..conftest import hole_image

AVERAGES = "image,average_depth_du\na,150\nb,140\nc,120\n"


@pytest.fixture(autouse=True)
def small_anchor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render 4 simulator structures for the anchor, not 1,000 (speed)."""
    monkeypatch.setattr("core.calibrate.run.ANCHOR_STRUCTURES", 4)


@pytest.fixture
def tool(tmp_path: Path) -> Path:
    folder = tmp_path / "tool"
    folder.mkdir()
    for k, name in enumerate(("a_itr0", "a_itr1", "b_itr0", "c_itr0")):
        Image.fromarray(hole_image(k)[0]).save(folder / f"{name}.png")
    return folder


def _fill(dialog: Any, tool: Path, averages: str | None, budget: int) -> Path:
    dialog.images.setText(str(tool))
    if averages is not None:
        csv = tool.parent / "averages.csv"
        csv.write_text(averages)
        dialog.averages.setText(str(csv))
    out = tool.parent / "calibrated.safetensors"
    dialog.out.setText(str(out))
    dialog.budget.setValue(budget)
    return out


def test_calibrate_shows_the_table_and_use_this_model_remembers_it(
    qtbot: Any, make_window: Any, tool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    win = make_window()
    menu = [a.text() for a in win.menuBar().actions() if a.text() == "&Model"]
    assert menu and win.acts.calibrate.text() == "&Calibrate to My Tool..."
    threads: list[int] = []
    real = calibration_module.calibrate

    def spy(request: Any, **kw: Any) -> Any:
        threads.append(threading.get_ident())  # current_thread() would register a dummy
        return real(request, **kw)

    monkeypatch.setattr(calibration_module, "calibrate", spy)
    win.acts.calibrate.trigger()
    dialog = win.calibration.dialog
    assert dialog is not None and dialog.isVisible() and "tiny.safetensors" in dialog.windowTitle()
    out = _fill(dialog, tool, AVERAGES, budget=1)
    with qtbot.waitSignal(win.calibration.finished, timeout=600_000):
        dialog.start_button.click()
        assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    assert threads and threads[0] != threading.main_thread().ident  # the GUI thread never trains
    assert out.is_file() and dialog.progress.value() == 1000
    assert len(dialog.losses) >= 2
    assert dialog.table.rowCount() == 1
    assert [dialog.table.item(0, c).text() for c in range(2)] == ["averages (DU)", "3"]
    assert dialog.scatter_points == {"average": 3}
    assert "Saved" in dialog.status.text() and dialog.use_button.isEnabled()
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        dialog.use_button.click()
    assert win.model.path == out
    assert keys.MODEL_PATH.read(win.settings) == str(out)
    # the next start loads the remembered model
    again = make_window(model_path=DEFAULT_MODEL, settings=win.settings)
    assert again.model.path == out


def test_cancel_writes_nothing(qtbot: Any, window: Any, tool: Path) -> None:
    dialog = window.calibration.open_dialog()
    out = _fill(dialog, tool, AVERAGES, budget=3600)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: len(dialog.losses) > 0, timeout=600_000)
    with qtbot.waitSignal(window.calibration.failed, timeout=120_000) as blocker:
        dialog.cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert dialog.status.text() == "Cancelled: nothing was written."
    assert not out.exists() and dialog.start_button.isEnabled()
    assert not dialog.use_button.isEnabled()


def test_refusals_show_in_the_dialog(qtbot: Any, window: Any, tool: Path) -> None:
    dialog = window.calibration.open_dialog()
    assert window.calibration.start() is None  # no images chosen
    assert dialog.status.text() == "Choose the folder of images of your tool."
    out = _fill(dialog, tool, "image,average_depth_du\na,150\nzz,3\n", budget=1)
    with qtbot.waitSignal(window.calibration.failed, timeout=120_000) as blocker:
        dialog.start_button.click()
    assert "averages.csv: 1 of 2 image names match no image" in blocker.args[0]
    assert "'zz' (line 3)" in dialog.status.text() and "\n" not in dialog.status.text()
    assert not out.exists() and dialog.start_button.isEnabled()
    dialog.images.setText(str(tool.parent / "nope"))
    assert window.calibration.start() is None
    assert "nope: no such file or folder" in dialog.status.text()


def test_no_model_no_dialog(qtbot: Any, make_window: Any) -> None:
    win = make_window(model_path=None)
    assert win.calibration.open_dialog() is None
    assert "Load a model first" in win.statusBar().currentMessage()


def test_a_missing_remembered_model_falls_back_to_the_default(
    qtbot: Any, make_window: Any, tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import make_settings
    from core import resources

    monkeypatch.setattr(resources, "default_model_path", lambda: tiny_model)
    settings = make_settings()
    keys.MODEL_PATH.write(settings, str(tmp_path / "gone.safetensors"))
    win = make_window(model_path=DEFAULT_MODEL, settings=settings)
    assert win.model.path == tiny_model
