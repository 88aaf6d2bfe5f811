"""The 3-D surface: the arrays that go into pyqtgraph's GLSurfacePlotItem, and the dock
where OpenGL is not available (the offscreen platform has none: the fallback is real)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.views.image_view import DEPTH
from app.views.panel import get_colormap
from app.views.surface3d import (
    DU_HEIGHT_FRACTION,
    gl_unavailable_reason,
    path_points,
    surface_arrays,
    z_per_du,
)

from .conftest import open_and_wait


def test_surface_arrays_colour_and_height() -> None:
    depth = np.arange(12 * 20, dtype=np.float32).reshape(12, 20)
    a = surface_arrays(depth, cmap="viridis", levels=(0.0, 239.0))
    assert a.step == 1
    np.testing.assert_allclose(a.x, np.arange(20) + 0.5)
    np.testing.assert_allclose(a.y, np.arange(12) + 0.5)
    assert a.z.shape == (20, 12)  # x runs over columns
    k = DU_HEIGHT_FRACTION * 20 / 255.0
    assert a.z_per_du == pytest.approx(k)
    np.testing.assert_allclose(a.z[5, 3], depth[3, 5] * k, rtol=1e-6)
    # the colour of the lowest and highest vertex: the ends of the 2-D panel's colour map
    lut = get_colormap("viridis").map(np.array([0.0, 1.0]), mode="float")
    np.testing.assert_allclose(a.colors[0, 0, :3], lut[0][:3], atol=1e-6)
    np.testing.assert_allclose(a.colors[19, 11, :3], lut[1][:3], atol=1e-6)
    assert a.colors.shape == (20, 12, 4)


def test_surface_true_to_scale_exaggerated_and_subsampled() -> None:
    # 2 nm pixels, 4 nm per DU: one DU rises 2 px; 3x exaggeration: 6 px
    assert z_per_du((10, 10), 2.0, 4.0, 3.0) == pytest.approx(6.0)
    depth = np.zeros((1000, 600), np.float32)
    a = surface_arrays(depth, cmap="inferno", levels=(0.0, 1.0), max_side=256)
    assert a.step == 4 and a.z.shape == (150, 250)
    pts = path_points(np.full((10, 10), 5.0, np.float32), (0.5, 0.5), (9.5, 0.5), 2.0)
    assert pts.shape == (10, 3)
    np.testing.assert_allclose(pts[:, 0], np.arange(10) + 0.5)
    assert np.all(pts[:, 2] > 10.0)  # lifted above the surface (5 DU * 2 px)


def test_no_opengl_says_why_and_leaves_the_2d_panels(
    qtbot: Any, window: Any, sem_folder: Path
) -> None:
    reason = gl_unavailable_reason()
    assert reason is not None  # the offscreen platform (or no PyOpenGL)
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    before = window.view.panels[DEPTH].image.copy()
    window.acts.surface.trigger()  # View > 3-D Surface
    qtbot.waitUntil(window.surface_dock.isVisible, timeout=5000)
    view = window.surface_view
    assert view.message.isVisible() and view.message.text() == reason
    assert view.gl is None and not view.reset_button.isEnabled()
    # the data that would go to the GL item is computed all the same
    data = window.state.current
    assert view.arrays is not None and view.arrays.z.shape == data.depth.T.shape
    np.testing.assert_allclose(view.arrays.z.T, data.depth * view.arrays.z_per_du, rtol=1e-6)
    assert view.path is not None  # the line profile's path
    (x0, y0), (x1, y1) = window.view.line()
    assert view.path[0, :2] == pytest.approx([x0, y0])
    assert view.path[-1, :2] == pytest.approx([x1, y1])
    # exaggeration doubles the heights, and the 2-D panels never changed
    k = view.arrays.z_per_du
    view.exaggeration.setValue(2.0)
    assert view.arrays.z_per_du == pytest.approx(2 * k)
    np.testing.assert_array_equal(window.view.panels[DEPTH].image, before)
    window.acts.surface.trigger()
    assert not window.surface_dock.isVisible() and not window.acts.surface.isChecked()
