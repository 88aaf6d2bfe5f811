"""The 3-D surface dock: keeps the surface in step with the shown result, the line
profile, the depth colour map and levels, and the exaggeration (only while visible)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDockWidget

from .. import settings as keys
from ..views.image_view import LinkedImageView
from ..views.surface3d import SurfaceView, path_points, surface_arrays
from .context import WindowContext


class SurfaceController(QObject):
    def __init__(
        self,
        ctx: WindowContext,
        view: LinkedImageView,
        widget: SurfaceView,
        dock: QDockWidget,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.view, self.widget, self.dock = ctx, view, widget, dock
        self.action: Any = None  # View > 3-D Surface, kept ticked as the dock shows
        widget.exaggeration.setValue(keys.SURFACE_EXAGGERATION.read(ctx.settings))
        ctx.state.currentChanged.connect(self.update)
        view.lineChanged.connect(self.update)
        view.depthLevelsChanged.connect(self.update)
        widget.exaggerationChanged.connect(self._on_exaggeration)
        dock.visibilityChanged.connect(self._on_visibility)

    def set_visible(self, on: bool) -> None:
        self.dock.setVisible(bool(on))
        if on:
            self.dock.raise_()
            self.update()

    def _on_visibility(self, visible: bool) -> None:
        if self.action is not None:
            self.action.setChecked(self.dock.isVisible())
        if visible:
            self.update()

    def _on_exaggeration(self, value: float) -> None:
        keys.SURFACE_EXAGGERATION.write(self.ctx.settings, float(value))
        self.update()

    def update(self, *_args: Any) -> None:
        """Recompute the surface's arrays (only while the dock is shown)."""
        if not self.dock.isVisible():
            return
        data = self.ctx.state.current
        if data is None:
            self.widget.set_surface(None, None)
            return
        scale = self.view.scale or 1.0
        lo, hi = self.view.depth_levels()
        arrays = surface_arrays(
            data.depth,
            cmap=self.view.depth_cmap,
            levels=(lo / scale, hi / scale),
            pixel_size_nm=data.pixel_size_nm,
            nm_per_du=data.nm_per_depth_unit,
            exaggeration=self.widget.exaggeration.value(),
        )
        path = None
        if self.view.tools_visible.get("line"):
            p0, p1 = self.view.line()
            path = path_points(data.depth, p0, p1, arrays.z_per_du)
        self.widget.set_surface(arrays, path)
