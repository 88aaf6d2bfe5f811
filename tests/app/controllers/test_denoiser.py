"""The model panel's "Denoise first (Noise2Self)" option, the SEM panel's raw/denoised
toggle, the readout, the remembered setting and the export record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.dialogs.export_dialog import ExportRequest
from app.settings import denoise_settings, make_settings
from app.views.image_view import SEM
from core.io import read_depth_tiff

from ..conftest import wait_batch_idle


@pytest.fixture(scope="module")
def tiny_denoiser(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-initialised 2-level, 4-wide Noise2Self denoiser checkpoint."""
    import torch

    from core.models.noise2self import Noise2SelfDenoiser, create_denoiser_net

    torch.manual_seed(0)
    d = Noise2SelfDenoiser(create_denoiser_net(levels=2, base_width=4))
    return d.save(tmp_path_factory.mktemp("denoiser") / "den", card={"id": "tiny-n2s"})


def _open(qtbot: Any, win: Any, path: Path) -> Any:
    with qtbot.waitSignal(win.resultShown, timeout=30_000):
        win.open_paths([path])
    wait_batch_idle(qtbot, win)
    return win.state.current


def _result(win: Any) -> Any:
    item = win.state.cache.get(win.state.current.row_id)
    assert item is not None
    return item.result


def test_tick_denoise_shows_denoised_sem_and_export_records_it(
    qtbot: Any, window: Any, sem_folder: Path, tiny_denoiser: Path, tmp_path: Path
) -> None:
    raw = _open(qtbot, window, sem_folder / "a.png")
    assert raw.sem_denoised is None and not window.controls.sem_denoised_check.isEnabled()
    assert window.view.sem_kind == "raw"

    window.choose_denoiser_path = lambda: tiny_denoiser
    with qtbot.waitSignals([window.denoiserLoaded, window.resultShown], timeout=30_000):
        window.model_panel.denoise_check.setChecked(True)  # as the user ticks it
    wait_batch_idle(qtbot, window)
    assert "tiny-n2s" in window.model_panel.denoiser_label.text()
    data, result = window.state.current, _result(window)
    assert result.denoised is not None and result.description()["denoised"] is True
    assert window.predictor.denoiser is window.denoiser
    # a different input gives a different depth map
    assert not np.allclose(data.depth, raw.depth)

    panel = window.view.panels[SEM]
    window.set_show_denoised(True)
    assert window.controls.sem_denoised_check.isEnabled() and window.view.sem_kind == "denoised"
    np.testing.assert_array_equal(panel.image, result.denoised)
    assert window.readout_at(10, 20)["sem"] == pytest.approx(float(result.denoised[10, 20]))
    assert window.readout_at(10, 20)["sem_kind"] == "denoised"
    window.view.set_line((0.5, 30.5), (47.5, 30.5))
    np.testing.assert_allclose(window.profile_plot.values["sem"], result.denoised[30], atol=1e-4)

    window.controls.sem_denoised_check.setChecked(False)  # as the user unticks it: raw SEM
    assert window.view.sem_kind == "raw"
    np.testing.assert_array_equal(panel.image, result.sem.pixels)
    assert window.readout_at(10, 20)["sem"] == pytest.approx(float(result.sem.pixels[10, 20]))
    assert not np.allclose(result.denoised, result.sem.pixels)

    out = tmp_path / "export"
    with qtbot.waitSignal(window.exportFinished, timeout=10_000):
        window.export(ExportRequest(out, ("tiff",), "current"))
    desc = read_depth_tiff(out / "a_depth.tif")[1]["description"]
    assert desc["denoised"] is True
    assert desc["denoiser"]["id"] == "tiny-n2s" and desc["denoiser"]["file"] == str(tiny_denoiser)

    # off again: the shown image is re-predicted from the raw SEM
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.model_panel.denoise_check.setChecked(False)
    wait_batch_idle(qtbot, window)
    assert window.state.current.sem_denoised is None
    assert _result(window).description()["denoised"] is False
    np.testing.assert_allclose(window.state.current.depth, raw.depth, atol=1e-4)


def test_denoise_setting_is_remembered(
    qtbot: Any, make_window: Any, sem_folder: Path, tiny_denoiser: Path
) -> None:
    first = make_window()
    with qtbot.waitSignal(first.denoiserLoaded, timeout=30_000):
        first.load_denoiser(tiny_denoiser)  # Load Denoiser... ticks the box
    assert first.model_panel.denoise_enabled()
    first.close()
    assert denoise_settings(make_settings()) == (True, str(tiny_denoiser))

    second = make_window(wait_model=False)
    with qtbot.waitSignals([second.modelLoaded, second.denoiserLoaded], timeout=30_000):
        pass
    assert second.model_panel.denoise_enabled()
    _open(qtbot, second, sem_folder / "b.png")
    assert second.state.current.sem_denoised is not None
    assert _result(second).settings["denoiser"]["file"] == str(tiny_denoiser)


def test_depth_model_refused_as_denoiser(
    qtbot: Any, window: Any, tiny_model: Path, errors: Any
) -> None:
    errors.allowed = True
    window.choose_denoiser_path = lambda: tiny_model
    with qtbot.waitSignal(window.denoiserFailed, timeout=30_000) as sig:
        window.model_panel.denoise_check.setChecked(True)
    assert "not a denoiser checkpoint" in sig.args[0] and "tiny.json" in sig.args[0]
    assert errors.calls and errors.calls[0][0] == "Could not load the denoiser"
    assert not window.model_panel.denoise_enabled()
    assert window.predictor.denoiser is None
    assert window.batch.start_if_idle() is False  # the batch is enabled again (nothing queued)
    assert window.batch._enabled


def test_no_file_chosen_leaves_denoise_off(window: Any) -> None:
    window.choose_denoiser_path = lambda: None
    window.model_panel.denoise_check.setChecked(True)
    assert not window.model_panel.denoise_enabled()
    assert window.predictor.denoiser is None


def test_readout_title_names_the_shown_sem(qtbot) -> None:
    from app.views.readout import ReadoutPanel

    panel = ReadoutPanel()
    qtbot.addWidget(panel)
    assert panel.titles["sem"].text() == "SEM intensity (raw):"
    panel.set_sem_kind("denoised")
    assert panel.titles["sem"].text() == "SEM intensity (denoised):"
