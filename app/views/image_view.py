"""Linked image panels: SEM, predicted depth, true depth, and error (or uncertainty).

The SEM panel shows the raw image or, when the prediction denoised its input first
(Noise2Self), the denoised one (:meth:`LinkedImageView.set_show_denoised`; the choice is the
``show_denoised`` flag of :class:`~app.state.DisplayData`).

Each panel is an :class:`ImagePanel` (a ``PlotItem`` subclass holding an ``ImageItem``, a
horizontal ``ColorBarItem``, a crosshair and the mirrored line / rectangle ROIs). All
panels share pan and zoom through ``setXLink``/``setYLink``; the cursor readout comes from
the scene's ``sigMouseMoved`` throttled by a ``SignalProxy`` and ``mapSceneToView``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel

from ..state import DisplayData
from ..units import Units
from .grid import PanelGrid
from .overlays import Overlays
from .panel import ImagePanel, hole_size_px

SEM, DEPTH, TRUTH, AUX = "sem", "depth", "truth", "aux"
PANEL_KEYS = (SEM, DEPTH, TRUTH, AUX)
PANEL_TITLES = {
    SEM: "SEM Image",
    DEPTH: "Predicted Depth",
    TRUTH: "True Depth",
    AUX: "Error or Uncertainty",
}
DEPTH_COLORMAPS = ("viridis", "cividis", "inferno", "magma", "plasma", "turbo", "CET-L1")
ERROR_COLORMAP = "CET-D1"
UNCERTAINTY_COLORMAP = "inferno"
EMPTY_HINT = "Open an SEM image (Ctrl+O), a folder (Ctrl+Shift+O)\nor drop files here"


def configure_pyqtgraph() -> None:
    """Row-major image arrays ((rows, cols) = (y, x)) everywhere; called once at start-up."""
    if pg.getConfigOption("imageAxisOrder") != "row-major":
        pg.setConfigOptions(imageAxisOrder="row-major")


GUI_SWITCH_INTERVAL_S = 0.001


def configure_runtime() -> None:
    """Start-up settings of the GUI process: pyqtgraph's axis order, and a 1 ms GIL switch
    interval (Python's default is 5 ms) so the GUI thread gets the interpreter back sooner
    while a worker thread runs Python code (each paint re-enters Python many times)."""
    import sys

    configure_pyqtgraph()
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)


def finite_range(*arrays: np.ndarray | None) -> tuple[float, float]:
    """(min, max) over the finite values of the arrays; (0, 1) when there are none."""
    lo, hi = math.inf, -math.inf
    for a in arrays:
        if a is None or a.size == 0:
            continue
        finite = a[np.isfinite(a)]
        if finite.size:
            lo = min(lo, float(finite.min()))
            hi = max(hi, float(finite.max()))
    if not math.isfinite(lo):
        return 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


class LinkedImageView(Overlays, PanelGrid, pg.GraphicsLayoutWidget):
    """The four linked panels plus the cursor, line-profile and rectangle tools.

    Panels are laid out 1x4 or 2x2 (:meth:`set_arrangement`; "auto" picks the one that
    draws the image largest in the view's size) and can be hidden
    (:meth:`set_panel_visible`). Axes, colour bars and the scale bar follow
    :attr:`units` (px and DU, or physical units).
    """

    cursorMoved = Signal(int, int)  # row, col (px) under the cursor
    cursorLeft = Signal()
    lineChanged = Signal(object)  # ((x0, y0), (x1, y1)) in px
    rectChanged = Signal(object)  # (x, y, w, h) in px
    depthLevelsChanged = Signal(float, float)  # user dragged a depth colour bar
    layoutChanged = Signal(str)  # the grid now used: "1x4" or "2x2"

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent=parent)
        self.setBackground("#202124")
        self.ci.setSpacing(6)
        self.panels: dict[str, ImagePanel] = {
            SEM: ImagePanel(SEM, "SEM image", "gray", "intensity (raw)"),
            DEPTH: ImagePanel(DEPTH, "Predicted depth", "viridis", "depth (DU)"),
            TRUTH: ImagePanel(TRUTH, "True depth", "viridis", "depth (DU)"),
            AUX: ImagePanel(AUX, "Uncertainty (raw TTA spread)", UNCERTAINTY_COLORMAP, "σ (DU)"),
        }
        self.arrangement = "auto"
        self.fitted = False  # the view shows the whole image (refitted when resized)
        self._refit_timer = QTimer(self)
        self._refit_timer.setSingleShot(True)
        self._refit_timer.setInterval(0)
        self._refit_timer.timeout.connect(self._refit)
        self.grid = ""  # the arrangement in use ("1x4" or "2x2")
        self.hidden: set[str] = set()
        self.hint = QLabel(EMPTY_HINT, self)
        self.hint.setObjectName("empty_hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(
            "color: #e8eaed; font-size: 11pt; background: rgba(32, 33, 36, 235);"
            "border: 1px solid #5f6368; border-radius: 6px; padding: 12px;"
        )
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        # the engine's out-of-domain verdict, over the panels for as long as the result shows
        self.banner = QLabel("", self)
        self.banner.setObjectName("domain_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "color: white; background: rgba(229, 57, 53, 220); padding: 4px; font-weight: bold;"
        )
        self.banner.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.banner.hide()
        self.data: DisplayData | None = None
        self.unit = "DU"
        self.units = Units(empty=True)
        self.depth_cmap = "viridis"
        self.auto_levels = True
        self.fixed_levels: tuple[float, float] = (0.0, 255.0)
        self.aux_kind = "uncertainty"
        self._mirroring = False
        self._shape: tuple[int, int] | None = None
        self.tools_visible = {"line": True, "rect": False}
        for p in self.panels.values():
            p.line_roi.sigRegionChanged.connect(self._on_line_moved)
            p.rect_roi.sigRegionChanged.connect(self._on_rect_moved)
        for key in (DEPTH, TRUTH):
            self.panels[key].bar.sigLevelsChanged.connect(self._on_depth_bar_dragged)
        for p in self.panels.values():
            p.vb.sigRangeChangedManually.connect(self._on_user_zoom)
        self.mouse_proxy = pg.SignalProxy(
            self.scene().sigMouseMoved, rateLimit=30, slot=self.on_mouse_moved
        )
        self.set_tool_visible("line", True)
        self.set_tool_visible("rect", False)
        self.relayout()
        self.show_data(None)

    def resizeEvent(self, ev: QResizeEvent | None) -> None:
        super().resizeEvent(ev)
        if not hasattr(self, "banner"):  # pyqtgraph resizes while it is being built
            return
        self._place_banner()
        self._fit_scene_to_viewport()
        self._place_hint()
        if self.arrangement == "auto":
            self.relayout()
        if self.fitted:  # once the panels have their new size
            self._refit_timer.start()

    # ------------------------------------------------------------------ units
    def set_unit(self, unit: str) -> None:
        """The unit choice: "DU" (px and depth units) or "nm" (physical where known)."""
        self.unit = unit
        self.units = Units.for_data(unit, self.data)
        for p in self.panels.values():
            p.set_units(self.units)
        if self.data is None:
            du = self.units.depth_unit
            for key in (DEPTH, TRUTH):
                self.panels[key].set_bar_label(f"depth ({du})")
            self.panels[AUX].set_bar_label(f"σ ({du})")

    @property
    def scale(self) -> float:
        """Factor from DU to the shown depth unit."""
        return self.units.depth_scale

    # ------------------------------------------------------------------ data
    def show_data(
        self, data: DisplayData | None, *, unit: str | None = None, reset_view: bool = False
    ) -> None:
        """Show a result (None clears). ``unit`` "DU" or "nm" (see :meth:`set_unit`)."""
        self.data = data
        self.set_unit(self.unit if unit is None else unit)
        for p in self.panels.values():
            p.set_message("")
        self.hint.setVisible(data is None)
        self.set_banner(data.domain_warning if data is not None else None)
        if data is None:
            for p in self.panels.values():
                p.set_array(None, (0.0, 1.0))
                p.set_holes(None)
                p.set_scale_bar(None, None)
                p.line_roi.hide()  # no tools over an empty view
                p.rect_roi.hide()
            self.panels[AUX].setTitle("Error or σ")
            self.refresh_sem()
            self._shape = None
            self._place_hint()
            return
        for tool, on in self.tools_visible.items():
            self.set_tool_visible(tool, on)
        du = self.units.depth_unit
        self.refresh_sem()
        self.panels[DEPTH].set_array(self.scaled(data.depth), self.depth_levels())
        self.panels[DEPTH].set_bar_label(f"depth ({du})")
        truth_panel = self.panels[TRUTH]
        truth_panel.set_bar_label(f"depth ({du})")
        if data.truth is not None:
            truth_panel.set_array(self.scaled(data.truth), self.depth_levels())
        else:
            truth_panel.set_array(None, self.depth_levels())
            rows, cols = data.shape
            truth_panel.set_message(
                "no ground truth\n(File > Load Ground Truth...)", (cols / 2, rows / 2)
            )
        self._show_aux(data, du)
        self.panels[SEM].set_scale_bar(
            data.shape, data.pixel_size_nm if self.units.physical_lengths else None
        )
        for p in self.panels.values():
            p.set_holes(data.holes)
        if reset_view or data.shape != self._shape:
            self._shape = data.shape
            self.reset_tools()
            if self.arrangement == "auto":
                self.relayout()
            self.fit_image()

    def _show_aux(self, data: DisplayData, du: str) -> None:
        aux = self.panels[AUX]
        if data.error is not None:
            self.aux_kind = "error"
            err = self.scaled(data.error)
            m = max(abs(finite_range(err)[0]), abs(finite_range(err)[1]), 1e-6)
            aux.setTitle("Error")
            aux.set_colormap(ERROR_COLORMAP)
            aux.set_bar_label(f"error ({du})")  # predicted − true (the Readout says so)
            aux.set_array(err, (-m, m))
        elif data.uncertainty is not None:
            self.aux_kind = "uncertainty"
            unc = self.scaled(data.uncertainty)
            aux.setTitle("Uncertainty (raw TTA spread)")
            aux.set_colormap(UNCERTAINTY_COLORMAP)
            aux.set_bar_label(f"σ ({du})")
            aux.set_array(unc, (0.0, max(finite_range(unc)[1], 1e-6)))
        else:
            self.aux_kind = "none"
            aux.set_array(None, (0.0, 1.0))

    def refresh_sem(self) -> None:
        """Show the shown data's SEM image (raw or denoised, see ``DisplayData.shown_sem``)
        with its own intensity range; the title and colour-bar label say which."""
        panel = self.panels[SEM]
        data = self.data
        if data is None:
            panel.setTitle("SEM image")
            panel.set_bar_label("intensity (raw)")
            return
        img = data.shown_sem
        panel.set_array(img, finite_range(img))
        denoised = data.sem_kind == "denoised"
        panel.setTitle("SEM image (denoised, Noise2Self)" if denoised else "SEM image")
        panel.set_bar_label("intensity (denoised)" if denoised else "intensity (raw)")

    @property
    def sem_kind(self) -> str:
        """``"denoised"`` or ``"raw"``: which SEM image the SEM panel shows."""
        return self.data.sem_kind if self.data is not None else "raw"

    def set_show_denoised(self, on: bool) -> None:
        """Show the denoised SEM (when the shown result has one) or the raw SEM."""
        if self.data is None:
            return
        self.data.show_denoised = bool(on)
        self.refresh_sem()

    def scaled(self, array: np.ndarray) -> np.ndarray:
        """A DU array in the display unit (the array itself in DU, ``array * k`` in nm)."""
        if self.scale == 1.0:
            return array
        return (array * np.float32(self.scale)).astype(np.float32)

    @property
    def unit_label(self) -> str:
        """The shown depth unit ("DU" or "nm")."""
        return self.units.depth_unit

    # ------------------------------------------------------------------ levels
    def depth_levels(self) -> tuple[float, float]:
        """Levels shared by predicted and true depth, in the display unit."""
        if not self.auto_levels or self.data is None:
            return self.fixed_levels
        lo, hi = finite_range(self.data.depth, self.data.truth)
        return lo * self.scale, hi * self.scale

    def set_auto_levels(self, auto: bool) -> None:
        self.auto_levels = auto
        self._apply_depth_levels()

    def set_fixed_levels(self, lo: float, hi: float) -> None:
        self.fixed_levels = (float(lo), float(hi))
        self.auto_levels = False
        self._apply_depth_levels()

    def _apply_depth_levels(self) -> None:
        levels = self.depth_levels()
        for key in (DEPTH, TRUTH):
            self.panels[key].bar.setLevels(levels)

    def _on_depth_bar_dragged(self, bar: pg.ColorBarItem) -> None:
        lo, hi = bar.levels()
        for key in (DEPTH, TRUTH):
            other = self.panels[key].bar
            if other is not bar:
                other.setLevels((lo, hi))
        self.fixed_levels = (float(lo), float(hi))
        self.auto_levels = False
        self.depthLevelsChanged.emit(float(lo), float(hi))

    def set_depth_colormap(self, name: str) -> None:
        self.depth_cmap = name
        for key in (DEPTH, TRUTH):
            self.panels[key].set_colormap(name)

    # ------------------------------------------------------------------ cursor
    def scene_pos_of_pixel(self, row: float, col: float, panel: str = SEM) -> QPointF:
        """Scene position of the centre of pixel (row, col) in a panel (for tests and tools)."""
        return self.panels[panel].vb.mapViewToScene(QPointF(col + 0.5, row + 0.5))

    def pixel_at_scene_pos(self, pos: QPointF) -> tuple[int, int] | None:
        """(row, col) under a scene position, or None when it is over no panel."""
        for p in self.panels.values():
            if not p.isVisible():
                continue
            if p.vb.sceneBoundingRect().contains(pos):
                v = p.vb.mapSceneToView(pos)
                return math.floor(v.y()), math.floor(v.x())
        return None

    def on_mouse_moved(self, event: Any) -> None:
        """The SignalProxy slot: ``event`` is ``(scene_pos,)``."""
        pos = event[0] if isinstance(event, tuple | list) else event
        hit = self.pixel_at_scene_pos(pos)
        if hit is None or self.data is None:
            for p in self.panels.values():
                p.vline.hide()
                p.hline.hide()
            self.cursorLeft.emit()
            return
        row, col = hit
        rows, cols = self.data.shape
        inside = 0 <= row < rows and 0 <= col < cols
        for p in self.panels.values():
            p.vline.setVisible(inside)
            p.hline.setVisible(inside)
            if inside:
                p.vline.setPos(col + 0.5)
                p.hline.setPos(row + 0.5)
        if inside:
            self.cursorMoved.emit(row, col)
        else:
            self.cursorLeft.emit()

    # ------------------------------------------------------------------ tools
    def reset_tools(self) -> None:
        """Line across the middle row, rectangle over the central half."""
        if self.data is None:
            return
        rows, cols = self.data.shape
        y = rows / 2
        self.set_line((0.5, y), (cols - 0.5, y))
        self.set_rect(cols / 4, rows / 4, cols / 2, rows / 2)

    def set_tool_visible(self, tool: str, visible: bool) -> None:
        self.tools_visible[tool] = visible
        for p in self.panels.values():
            (p.line_roi if tool == "line" else p.rect_roi).setVisible(visible)

    def set_line(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        roi = self.panels[SEM].line_roi
        state = roi.getState()
        state["pos"] = pg.Point(0, 0)
        state["points"] = [pg.Point(*p0), pg.Point(*p1)]
        roi.setState(state)  # mirrored and signalled by _on_line_moved

    def line(self) -> tuple[tuple[float, float], tuple[float, float]]:
        roi = self.panels[SEM].line_roi
        pts = [roi.mapToParent(p) for p in roi.listPoints()]
        return (pts[0].x(), pts[0].y()), (pts[1].x(), pts[1].y())

    def set_rect(self, x: float, y: float, w: float, h: float) -> None:
        roi = self.panels[SEM].rect_roi
        roi.setPos((x, y), update=False, finish=False)
        roi.setSize((w, h))

    def rect(self) -> tuple[float, float, float, float]:
        roi = self.panels[SEM].rect_roi
        pos, size = roi.pos(), roi.size()
        return pos.x(), pos.y(), size.x(), size.y()

    def _mirror(self, roi: pg.ROI, attr: str) -> bool:
        """Copy ``roi``'s state to the same ROI (``attr``) of every other panel; False while
        already mirroring (the copies' own change signals)."""
        if self._mirroring:
            return False
        self._mirroring = True
        try:
            state = roi.getState()
            for p in self.panels.values():
                other = getattr(p, attr)
                if other is not roi:
                    other.setState(state)
        finally:
            self._mirroring = False
        return True

    def _on_line_moved(self, roi: pg.LineSegmentROI) -> None:
        if not self._mirror(roi, "line_roi"):
            return
        pts = [roi.mapToParent(p) for p in roi.listPoints()]
        self.lineChanged.emit(((pts[0].x(), pts[0].y()), (pts[1].x(), pts[1].y())))

    def _on_rect_moved(self, roi: pg.RectROI) -> None:
        if not self._mirror(roi, "rect_roi"):
            return
        pos, size = roi.pos(), roi.size()
        self.rectChanged.emit((pos.x(), pos.y(), size.x(), size.y()))

    def center_on(self, row: float, col: float, span: float | None = None) -> None:
        """Centre every panel on (row, col); ``span`` (px) zooms to show that much around
        it, else the zoom is kept (the panels are linked)."""
        vb = self.panels[self.visible_keys()[0]].vb
        (x0, x1), (y0, y1) = vb.viewRange()
        w, h = (span, span) if span else (x1 - x0, y1 - y0)
        vb.setRange(xRange=(col - w / 2, col + w / 2), yRange=(row - h / 2, row + h / 2), padding=0)
        self.fitted = False

    def select_hole(self, hole: Any | None) -> None:
        """Highlight ``hole`` in every panel and zoom to it (4 diameters across)."""
        for p in self.panels.values():
            p.select_hole(hole)
        if hole is not None:
            span = max(4.0 * hole_size_px(hole), 16.0)
            self.center_on(hole.row + 0.5, hole.col + 0.5, span)
