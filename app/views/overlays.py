"""What the linked view shows over its panels: the empty view's hint in the middle and the
out-of-domain banner across the top (the panels move down below it; a saved or copied view
keeps it)."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRectF


class Overlays:
    """The overlay part of :class:`~app.views.image_view.LinkedImageView` (a mixin: it uses
    the view's ``banner`` and ``hint`` labels and its QGraphicsView / pyqtgraph methods)."""

    def set_banner(self: Any, text: str | None) -> None:
        """A warning across the top of the view, above the panels (None hides it): the
        panels move down by its height, so it hides none of them."""
        self.banner.setText(text or "")
        self.banner.setToolTip(text or "")
        self.banner.setVisible(bool(text))
        self._place_banner()

    def _place_hint(self: Any) -> None:
        """The empty view's hint: a box of its own size in the middle, never clipped."""
        r = self.contentsRect()
        w = min(max(r.width() - 40, 120), 460)
        h = self.hint.heightForWidth(w)
        self.hint.setGeometry(r.center().x() - w // 2, r.center().y() - h // 2, w, h)

    def _place_banner(self: Any) -> None:
        r = self.contentsRect()
        w = max(r.width() - 16, 50)
        on = not self.banner.isHidden()
        h = self.banner.heightForWidth(w) if on else 0
        self.banner.setGeometry(r.left() + 8, r.top() + 4, w, h)
        top = h + 8 if on else 0
        if self.viewportMargins().top() != top:  # the panels' room below the banner
            self.setViewportMargins(0, top, 0, 0)
            self._fit_scene_to_viewport()

    def _fit_scene_to_viewport(self: Any) -> None:
        """pyqtgraph sizes the scene to the widget, not to its viewport: under the banner's
        margin the panels' bottom row would be cut off. The scene takes the viewport's size."""
        vp = self.viewport().size()
        if not self.autoPixelRange or (self.range.width(), self.range.height()) == (
            vp.width(),
            vp.height(),
        ):
            return
        self.range = QRectF(0, 0, vp.width(), vp.height())
        pg.GraphicsView.setRange(self, self.range, padding=0, disableAutoPixel=False)
        self.updateMatrix()
