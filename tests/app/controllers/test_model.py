"""The depth model: loading (default, chosen, unreadable), the card shown, the queue
waiting for a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.state import DONE

from ..conftest import wait_batch_idle


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


def test_scale_policy_and_flips_are_remembered_and_used(
    qtbot: Any, make_window: Any, sem_folder: Path
) -> None:
    """The panel's "Scale policy" and "Test-time flips": a change is stored, the next
    prediction uses it (its settings say so), and a new window shows it again."""
    from app import settings as keys
    from app.widgets.model_panel import SCALE_POLICY_LABELS, TTA_LABELS
    from core.inference.scale import SCALE_POLICIES
    from core.inference.tta import TTA_CHOICES

    assert tuple(n for n, _ in SCALE_POLICY_LABELS) == SCALE_POLICIES
    assert tuple(n for n, _ in TTA_LABELS) == TTA_CHOICES
    win = make_window()
    panel = win.model_panel
    assert (panel.scale_policy(), panel.tta()) == ("auto", "auto")  # the defaults
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("native"))
    panel.tta_combo.setCurrentIndex(panel.tta_combo.findData("off"))
    assert keys.SCALE_POLICY.read(win.settings) == "native"
    assert keys.TTA.read(win.settings) == "off"
    assert (win.batch.scale_policy, win.batch.tta) == ("native", "off")
    with qtbot.waitSignal(win.resultShown, timeout=30_000):
        win.open_paths([sem_folder / "a.png"])
    wait_batch_idle(qtbot, win)
    result = win.state.cache.get(win.state.rows[0].row_id).result
    assert result.settings["scale_policy"] == "native"
    assert result.settings["tta_setting"] == "off" and result.settings["tta"] is False
    again = make_window(settings=win.settings)
    assert (again.model_panel.scale_policy(), again.model_panel.tta()) == ("native", "off")
    assert (again.batch.scale_policy, again.batch.tta) == ("native", "off")
