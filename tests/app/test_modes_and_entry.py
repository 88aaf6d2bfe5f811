"""Field mode (holes table), nm units, and the ``semdepth-gui`` entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.views.image_view import DEPTH, SEM, TRUTH

from .conftest import COLS, ROWS, hole_image, wait_batch_idle


@pytest.fixture(scope="module")
def nm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(1)
    model = create_model("unet", levels=2, base_width=4)
    card = {
        "id": "tiny-nm",
        "input": {"normalization": "dtype-range-0-1", "size": [ROWS, COLS], "pixel_size_nm": None},
        "output": {
            "range": [0, 255],
            "unit": "DU",
            "convention": "deeper = smaller",
            "nm_per_depth_unit": 2.0,
        },
        "inference": {"fast_path": "fp32"},
    }
    return save_checkpoint(tmp_path_factory.mktemp("nm") / "nm", model, card)


def field_image(path: Path) -> None:
    """A 240x240 field with a 3x3 grid of dark holes (diameter ~24 px), 8-bit PNG."""
    yy, xx = np.mgrid[0:240, 0:240]
    img = np.full((240, 240), 190.0)
    for cy in (40, 120, 200):
        for cx in (40, 120, 200):
            r = np.hypot(yy - cy, xx - cx)
            img = np.where(r < 12, 40 + 5 * r, img)
    rng = np.random.default_rng(0)
    img += rng.normal(0, 3, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def test_field_mode_holes_table_centres_view(qtbot: Any, window: Any, tmp_path: Path) -> None:
    path = tmp_path / "field.png"
    field_image(path)
    with qtbot.waitSignal(window.resultShown, timeout=60_000) as sig:
        window.open_paths([path])
    wait_batch_idle(qtbot, window, 60_000)
    data = sig.args[0]
    assert data.mode == "field"
    holes = data.holes
    assert len(holes) == 9
    table = window.holes_panel
    assert table.rowCount() == 9
    assert window.holes_dock.isVisible()
    window.view.panels[SEM].vb.setRange(xRange=(0, 40), yRange=(0, 40), padding=0)
    table.selectRow(4)
    hole = holes[4]
    (x0, x1), (y0, y1) = window.view.panels[DEPTH].vb.viewRange()
    assert (x0 + x1) / 2 == pytest.approx(hole.col + 0.5, abs=0.5)
    assert (y0 + y1) / 2 == pytest.approx(hole.row + 0.5, abs=0.5)
    assert table.item(4, 1).text() == f"{hole.row:.2f}"


def test_nm_units_with_pixel_size(
    qtbot: Any, make_window: Any, nm_model: Path, tmp_path: Path
) -> None:
    sem, depth = hole_image(5)
    folder = tmp_path / "cal"
    (folder / "Depth").mkdir(parents=True)
    path = folder / "cal.tif"
    tifffile.imwrite(path, sem, imagej=True, resolution=(1 / 2.5, 1 / 2.5), metadata={"unit": "nm"})
    Image.fromarray(depth).save(folder / "Depth" / "cal.png")
    win = make_window(model_path=nm_model)
    win.controls.unit_combo.setCurrentText("nm")
    with qtbot.waitSignal(win.resultShown, timeout=30_000):
        win.open_paths([path])
    wait_batch_idle(qtbot, win)
    data = win.state.current
    assert data.pixel_size_nm == pytest.approx(2.5)
    result = win.state.cache.get(data.row_id).result
    np.testing.assert_array_equal(win.view.panels[DEPTH].image, result.depth_nm)
    np.testing.assert_array_equal(
        win.view.panels[TRUTH].image, (depth.astype(np.float32) * np.float32(2.0))
    )
    assert win.view.panels[DEPTH].bar.axis.labelText == "depth (nm)"
    v = win.readout_at(10, 20)
    assert v["x_nm"] == pytest.approx(50.0) and v["y_nm"] == pytest.approx(25.0)
    assert v["depth_nm"] == pytest.approx(2.0 * v["depth"])
    assert "(50.0, 25.0 nm)" in __import__("app.state").state.format_readout(v)
    # profile distance in nm, depth in nm
    win.view.set_line((0.5, 10.5), (10.5, 10.5))
    vals = win.profile_plot.values
    np.testing.assert_allclose(vals["distance"], np.arange(11) * 2.5)
    np.testing.assert_allclose(vals["depth"], result.depth_nm[10, :11], atol=1e-3)
    assert "nm" in win.profile_plot.getPlotItem().getAxis("left").labelText
    # back to DU
    win.controls.unit_combo.setCurrentText("DU")
    np.testing.assert_array_equal(win.view.panels[DEPTH].image, result.depth)


def test_entry_point_opens_samples(
    qtbot: Any, tiny_model: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from app import main as app_main
    from app import workers
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
