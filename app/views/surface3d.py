"""The depth map as a 3-D surface (pyqtgraph's OpenGL ``GLSurfacePlotItem``): vertical
exaggeration, the depth colour map and levels of the 2-D panels, the line profile's path
drawn on the surface, orbit and zoom with the mouse.

OpenGL needs PyOpenGL and a display with an OpenGL context; where either is missing the
dock says why and the 2-D panels are untouched (:func:`gl_unavailable_reason`).
:func:`surface_arrays` computes what goes into the surface item, so it is tested without
a GL context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .panel import get_colormap
from .profile import line_positions, sample_line

MAX_SIDE = 256  # vertices per side at most: the surface stays smooth to rotate
#: Without a physical scale, the full 0-255 DU range rises to this fraction of the image's
#: larger side (times the exaggeration).
DU_HEIGHT_FRACTION = 0.25
PATH_LIFT = 0.5  # px above the surface, so the path is not hidden in it


@dataclass
class SurfaceArrays:
    """What the surface item gets: ``x`` (cols) and ``y`` (rows) in px, ``z`` (len(x),
    len(y)) in px above zero, ``colors`` (len(x), len(y), 4) floats, and the factor from DU
    to ``z``."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    colors: np.ndarray
    z_per_du: float
    step: int


def z_per_du(
    shape: tuple[int, int],
    pixel_size_nm: float | None,
    nm_per_du: float | None,
    exaggeration: float,
) -> float:
    """Height (px) of one DU: true to scale when both the pixel size and the depth scale are
    known, else :data:`DU_HEIGHT_FRACTION` of the larger side per 255 DU; times
    ``exaggeration``."""
    if pixel_size_nm and nm_per_du:
        base = float(nm_per_du) / float(pixel_size_nm)
    else:
        base = DU_HEIGHT_FRACTION * max(shape) / 255.0
    return base * float(exaggeration)


def surface_arrays(
    depth: np.ndarray,
    *,
    cmap: str,
    levels: tuple[float, float],
    pixel_size_nm: float | None = None,
    nm_per_du: float | None = None,
    exaggeration: float = 1.0,
    max_side: int = MAX_SIDE,
) -> SurfaceArrays:
    """Subsample ``depth`` (DU, (rows, cols)) to at most ``max_side`` per side and colour it
    with ``cmap`` over ``levels`` (DU), as the 2-D depth panel does."""
    rows, cols = depth.shape
    step = max(1, math.ceil(max(rows, cols) / max_side))
    sub = np.asarray(depth[::step, ::step], dtype=np.float32)
    k = z_per_du((rows, cols), pixel_size_nm, nm_per_du, exaggeration)
    lo, hi = levels
    t = (sub - lo) / (hi - lo) if hi > lo else np.full(sub.shape, 0.5, np.float32)
    colors = get_colormap(cmap).map(np.clip(t, 0.0, 1.0).ravel(), mode="float")
    colors = np.asarray(colors, dtype=np.float32).reshape(*sub.shape, -1)
    if colors.shape[-1] == 3:
        colors = np.concatenate([colors, np.ones((*sub.shape, 1), np.float32)], axis=-1)
    x = (np.arange(0, cols, step) + 0.5).astype(np.float32)
    y = (np.arange(0, rows, step) + 0.5).astype(np.float32)
    z = np.nan_to_num(sub * np.float32(k)).T.copy()  # (len(x), len(y)): x runs over columns
    return SurfaceArrays(x, y, z, np.ascontiguousarray(colors.transpose(1, 0, 2)), k, step)


def path_points(
    depth: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], k: float
) -> np.ndarray:
    """(n, 3) points of the line profile on the surface: x, y in px, z = depth * k + lift."""
    xs, ys = line_positions(p0, p1)
    z = sample_line(depth, p0, p1, len(xs)) * k + PATH_LIFT
    return np.column_stack([xs, ys, z]).astype(np.float32)


def gl_unavailable_reason() -> str | None:
    """None when a 3-D view can be made here, else why not (for the dock's message)."""
    try:
        import OpenGL  # noqa: F401
    except ImportError:
        return (
            "The 3-D view needs PyOpenGL, which is not installed "
            "(pip install PyOpenGL). The 2-D panels are unaffected."
        )
    from PySide6.QtGui import QGuiApplication, QOpenGLContext

    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal"):
        return f"No OpenGL on the '{platform}' display: the 3-D view is off."
    ctx = QOpenGLContext()
    if not ctx.create():
        return "This display has no OpenGL context: the 3-D view is off."
    return None


class SurfaceView(QWidget):
    """The dock's widget: an exaggeration box, Reset View, and the GL view (or a message)."""

    exaggerationChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.exaggeration = QDoubleSpinBox()
        self.exaggeration.setRange(0.1, 100.0)
        self.exaggeration.setSingleStep(0.5)
        self.exaggeration.setValue(1.0)
        self.exaggeration.setSuffix(" x")
        self.exaggeration.setKeyboardTracking(False)
        self.exaggeration.setToolTip("Vertical exaggeration (1 x: true to scale when known)")
        self.exaggeration.valueChanged.connect(self.exaggerationChanged)
        self.reset_button = QPushButton("Reset View")
        self.reset_button.clicked.connect(self.reset_camera)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Vertical exaggeration"))
        bar.addWidget(self.exaggeration)
        bar.addWidget(self.reset_button)
        bar.addWidget(self.info, 1)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(4, 4, 4, 4)
        self.layout_.addLayout(bar)
        self.reason = gl_unavailable_reason()
        self.gl: Any = None
        self.surface: Any = None
        self.path_item: Any = None
        self.arrays: SurfaceArrays | None = None
        self.path: np.ndarray | None = None
        self.message = QLabel(self.reason or "")
        self.message.setObjectName("surface_message")
        self.message.setWordWrap(True)
        self.layout_.addWidget(self.message, 1)
        self.message.setVisible(self.reason is not None)
        self.reset_button.setEnabled(self.reason is None)

    @property
    def available(self) -> bool:
        return self.reason is None

    def _ensure_gl(self) -> bool:
        """Build the GL view on first use (never where :attr:`reason` says it cannot)."""
        if self.reason is not None:
            return False
        if self.gl is None:  # pragma: no cover - needs an OpenGL display
            import pyqtgraph.opengl as gl

            self.gl = gl.GLViewWidget()
            self.gl.setBackgroundColor("#202124")
            self.surface = gl.GLSurfacePlotItem(shader=None, smooth=True, computeNormals=False)
            self.path_item = gl.GLLinePlotItem(color=(1.0, 0.25, 0.5, 1.0), width=3)
            self.gl.addItem(self.surface)
            self.gl.addItem(self.path_item)
            self.layout_.addWidget(self.gl, 1)
        return True

    def set_surface(self, arrays: SurfaceArrays | None, path: np.ndarray | None) -> None:
        """Show ``arrays`` (None clears) and the profile ``path`` ((n, 3) or None)."""
        first = self.arrays is None or arrays is None or self.arrays.z.shape != arrays.z.shape
        self.arrays, self.path = arrays, path
        self.info.setText(
            f"every {arrays.step} px" if arrays is not None and arrays.step > 1 else ""
        )
        if self._ensure_gl():
            self._draw(first)

    def _draw(self, first: bool) -> None:  # pragma: no cover - needs an OpenGL display
        a, path = self.arrays, self.path
        if a is None:
            self.surface.setData(z=np.zeros((2, 2), np.float32))
            self.path_item.setData(pos=np.zeros((0, 3), np.float32))
            return
        self.surface.setData(x=a.x, y=a.y, z=a.z, colors=a.colors)
        self.path_item.setData(pos=path if path is not None else np.zeros((0, 3), np.float32))
        if first:
            self.reset_camera()

    def reset_camera(self) -> None:
        """Look at the whole surface from above at an angle."""
        if self.gl is None or self.arrays is None:
            return
        from PySide6.QtGui import QVector3D  # pragma: no cover - needs an OpenGL display

        a = self.arrays  # pragma: no cover
        cx, cy = float(a.x[-1]) / 2, float(a.y[-1]) / 2  # pragma: no cover
        self.gl.setCameraPosition(  # pragma: no cover
            pos=QVector3D(cx, cy, float(np.nanmean(a.z))),
            distance=3.2 * max(cx, cy),
            elevation=35,
            azimuth=-60,
        )
