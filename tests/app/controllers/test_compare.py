"""Model A/B: a second model predicts the shown image in a worker; its map, A - B and
both readouts."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.views.compare_view import DIFF, B

from ..conftest import COLS, ROWS, open_and_wait


@pytest.fixture(scope="module")
def model_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(7)
    model = create_model("unet", levels=2, base_width=4)
    card = {
        "id": "tiny-model-b",
        "input": {"normalization": "dtype-range-0-1", "size": [ROWS, COLS], "pixel_size_nm": None},
        "output": {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller"},
        "inference": {"fast_path": "fp32"},
    }
    return save_checkpoint(tmp_path_factory.mktemp("b") / "b", model, card)


def test_compare_two_models(qtbot: Any, window: Any, sem_folder: Path, model_b: Path) -> None:
    open_and_wait(qtbot, window, [sem_folder / "a.png", sem_folder / "b.png"])
    window.show_row(window.state.rows[0].row_id)
    threads: set[int] = set()
    with qtbot.waitSignal(window.compare.ready, timeout=60_000):
        window.compare.load(model_b)
        inner = None

        def spy_predict() -> None:
            nonlocal inner
            if window.compare.predictor is not None and inner is None:
                inner = window.compare.predictor.predict

                def predict(*a: Any, **k: Any) -> Any:
                    threads.add(threading.get_ident())
                    return inner(*a, **k)

                window.compare.predictor.predict = predict

        window.compare.loaded.connect(lambda _p: spy_predict())
    assert window.compare_dock.isVisible()
    assert threads and threading.get_ident() not in threads  # predicted in a worker
    data = window.state.current
    expected_b = window.compare.predictor.predict(data.source).depth
    panels = window.compare_view.panels
    np.testing.assert_allclose(panels[B].image, expected_b, atol=1e-5)
    np.testing.assert_allclose(panels[DIFF].image, data.depth - expected_b, atol=1e-5)
    assert "tiny-model-b" in window.compare_view.header.text()
    assert "RMS" in window.compare_view.header.text()
    # both readouts under the cursor
    pos = window.view.scene_pos_of_pixel(20, 10)
    window.view.on_mouse_moved((pos,))
    v = window.compare_view.readout_at(20, 10)
    assert v["a"] == pytest.approx(float(data.depth[20, 10]))
    assert v["b"] == pytest.approx(float(expected_b[20, 10]), abs=1e-4)
    assert v["diff"] == pytest.approx(v["a"] - v["b"])
    text = window.compare_view.readout.text()
    assert f"A {v['a']:.2f} DU" in text and "A − B" in text
    # the next image is compared too, and the panels stay linked with the main view
    with qtbot.waitSignal(window.compare.ready, timeout=60_000):
        window.acts.next.trigger()
    assert window.state.current.source.name == "b.png"
    window.view.panels["sem"].vb.setRange(xRange=(5, 15), yRange=(5, 25), padding=0)
    qtbot.wait(10)
    (x0, x1), _ = panels[B].vb.viewRange()
    assert (x0 + x1) / 2 == pytest.approx(10, abs=0.5)
