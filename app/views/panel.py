"""One image panel of the linked view: a ``PlotItem`` holding an ``ImageItem``, a horizontal
colour bar, a crosshair, the mirrored line / rectangle ROIs, hole outlines (the selected one
highlighted), a scale bar, and axes in px or in metres with an SI prefix
(:class:`~app.units.Units`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg

from ..units import Units, format_length, nice_length

PANEL_MIN_WIDTH = 120.0  # px; every panel column gets the same width (see ImagePanel)

CROSSHAIR_PEN = pg.mkPen((255, 255, 255, 150), width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
LINE_PEN = pg.mkPen("#ff4081", width=2)
RECT_PEN = pg.mkPen("#76ff03", width=2)
HOLE_PEN = pg.mkPen((255, 213, 79, 170), width=1)
SELECTED_HOLE_PEN = pg.mkPen("#ffd54f", width=3)
SELECTED_BOTTOM_PEN = pg.mkPen("#ffd54f", width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
MIN_HOLE_MARK_PX = 6.0  # the circle of a hole without a known diameter
#: Screen pixels a tick label needs along a horizontal axis, and along a vertical one.
LABEL_SPACE_H, LABEL_SPACE_V = 56.0, 30.0


def get_colormap(name: str) -> pg.ColorMap:
    if name == "gray":
        return pg.ColorMap(pos=[0.0, 1.0], color=[(0, 0, 0), (255, 255, 255)], name="gray")
    cmap = pg.colormap.get(name)
    if cmap is None:  # pragma: no cover - every name offered ships with pyqtgraph
        raise ValueError(f"unknown colour map {name!r}")
    return cmap


def tick_step(span: float, size_px: float, label_px: float) -> float:
    """A 1, 2 or 5 x 10^k tick step giving labels at least ``label_px`` screen pixels apart
    over an axis ``size_px`` long showing ``span`` units."""
    if not (span > 0 and size_px > 0 and math.isfinite(span)):
        return 1.0
    n = max(1.0, math.floor(size_px / label_px))
    raw = span / n
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * base >= raw:
            return m * base
    return 10.0 * base


def spaced_ticks(axis: pg.AxisItem, label_px: float) -> None:
    """Make ``axis`` choose one level of ticks whose labels never run together
    ("100150200" on a narrow colour bar): pyqtgraph always draws its major level."""

    def spacing(min_val: float, max_val: float, size: float) -> list[tuple[float, float]]:
        return [(tick_step(max_val - min_val, size, label_px), 0.0)]

    axis.tickSpacing = spacing  # type: ignore[method-assign]


class ImagePanel(pg.PlotItem):
    """One image in a plot with a colour bar, a crosshair, the tool ROIs and hole markers."""

    def __init__(self, key: str, title: str, cmap: str, bar_label: str) -> None:
        super().__init__(title=title)
        self.key = key
        # The same minimum and preferred width for every panel, whatever it shows: left to
        # pyqtgraph, the grid gave the columns content-dependent widths (titles, tick and
        # colour-bar labels), so a result whose title differs from the last one re-laid out
        # and resized all four panels after their first paint, and the view painted twice.
        self.setMinimumWidth(PANEL_MIN_WIDTH)
        self.setPreferredWidth(PANEL_MIN_WIDTH)
        self.setAspectLocked(True)
        self.invertY(True)
        self.setMenuEnabled(False)
        self.hideButtons()
        for side in ("left", "bottom"):
            spaced_ticks(self.getAxis(side), LABEL_SPACE_V if side == "left" else LABEL_SPACE_H)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.image_item)
        self.bar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=get_colormap(cmap),
            label=bar_label,
            orientation="horizontal",
            interactive=True,
            width=14,
            rounding=0.01,
        )
        self.bar.setImageItem(self.image_item, insert_in=self)
        spaced_ticks(self.bar.axis, LABEL_SPACE_H)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=CROSSHAIR_PEN)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=CROSSHAIR_PEN)
        for line in (self.vline, self.hline):
            line.setZValue(20)
            line.hide()
            self.addItem(line, ignoreBounds=True)
        self.line_roi = pg.LineSegmentROI([(0, 0), (1, 1)], pen=LINE_PEN)
        self.line_roi.setZValue(30)
        self.addItem(self.line_roi, ignoreBounds=True)
        self.rect_roi = pg.RectROI((0, 0), (1, 1), pen=RECT_PEN, removable=False)
        self.rect_roi.setZValue(25)
        self.addItem(self.rect_roi, ignoreBounds=True)
        self.holes_item = pg.ScatterPlotItem(pxMode=False, symbol="o", brush=None, pen=HOLE_PEN)
        self.selected_item = pg.ScatterPlotItem(
            pxMode=False, symbol="o", brush=None, pen=SELECTED_HOLE_PEN
        )
        self.outline_item = pg.PlotDataItem(pen=HOLE_PEN)
        self.selected_outline = pg.PlotDataItem(pen=SELECTED_HOLE_PEN)
        self.selected_bottom = pg.PlotDataItem(pen=SELECTED_BOTTOM_PEN)
        for item in (
            self.holes_item,
            self.selected_item,
            self.outline_item,
            self.selected_outline,
            self.selected_bottom,
        ):
            item.setZValue(15)
            self.addItem(item, ignoreBounds=True)
        self.message = pg.TextItem("", color=(220, 220, 220), anchor=(0.5, 0.5))
        self.message.setZValue(40)
        self.addItem(self.message, ignoreBounds=True)
        self.scale_bar: pg.ScaleBar | None = None
        self.scale_bar_px = 0.0
        self.set_units(Units())

    def setTitle(self, title: str | None = None, **args: Any) -> None:
        """pyqtgraph makes a title's text width the panel's minimum width, which pushed the
        fourth panel of a narrow view behind the docks: the title may be cut instead."""
        super().setTitle(title, **args)
        label = getattr(self, "titleLabel", None)
        if label is not None:
            label.setMinimumWidth(0)
            label.updateMin = lambda: label.setMinimumWidth(0)  # type: ignore[method-assign]

    @property
    def image(self) -> np.ndarray | None:
        """The array the ImageItem shows."""
        img = self.image_item.image
        return None if img is None else np.asarray(img)

    def set_array(self, array: np.ndarray | None, levels: tuple[float, float]) -> None:
        if array is None:
            self.image_item.clear()
            self.image_item.image = None
            return
        self.image_item.setImage(array, autoLevels=False)
        self.bar.setLevels(levels)

    def set_message(self, text: str, at: tuple[float, float] = (0.0, 0.0)) -> None:
        self.message.setText(text)
        self.message.setPos(*at)
        self.message.setVisible(bool(text))

    def set_colormap(self, name: str) -> None:
        self.bar.setColorMap(get_colormap(name))

    def set_bar_label(self, label: str) -> None:
        self.bar.axis.setLabel(label)

    # ------------------------------------------------------------------ axes
    def set_units(self, units: Units) -> None:
        """Axes in px, or in metres with the SI prefix pyqtgraph picks (nm, µm, mm)."""
        for side, name in (("bottom", "x"), ("left", "y")):
            axis = self.getAxis(side)
            axis.setScale(units.axis_scale)
            if units.physical_lengths:
                axis.enableAutoSIPrefix(True)
                axis.setLabel(name, units="m")
            else:
                axis.enableAutoSIPrefix(False)
                # nothing shown with nm chosen: the empty view already says nm
                unit = "nm" if units.length_symbol == "m" else "px"
                axis.setLabel(name, units=unit)

    def axis_label(self, side: str) -> str:
        """The axis title as drawn ("x (µm)")."""
        return str(self.getAxis(side).label.toPlainText())

    # ------------------------------------------------------------------ scale bar
    def set_scale_bar(self, shape: tuple[int, int] | None, pixel_size_nm: float | None) -> None:
        """A bar of a round physical length (about a fifth of the image width) in the lower
        right corner; hidden without a pixel size."""
        bar = self.scale_bar
        if shape is None or not pixel_size_nm:
            if bar is not None:
                bar.hide()
            self.scale_bar_px = 0.0
            return
        length_nm = nice_length(shape[1] * float(pixel_size_nm) / 5.0)
        size_px = length_nm / float(pixel_size_nm)
        if bar is None:
            bar = pg.ScaleBar(size=size_px, width=4, brush=pg.mkBrush("w"), pen=pg.mkPen("k"))
            bar.setParentItem(self.vb)
            bar.anchor((1, 1), (1, 1), offset=(-12, -12))
            bar.setZValue(50)
            self.scale_bar = bar
        bar.size = size_px
        bar.text.setText(format_length(length_nm))
        bar.updateBar()
        bar.show()
        self.scale_bar_px = size_px

    @property
    def scale_bar_text(self) -> str:
        bar = self.scale_bar
        if bar is None or not bar.isVisible():
            return ""
        return str(bar.text.textItem.toPlainText())

    # ------------------------------------------------------------------ holes
    def set_holes(self, holes: Sequence[Any] | None) -> None:
        """Each hole's top outline (the trust step's metrology, :func:`outline_xy`), or a
        circle of its diameter at its centre when it has none (a closed hole, a detector's
        hole); nothing selected."""
        holes = list(holes or [])
        x, y = outline_xy([hole_outline(h) for h in holes])
        self.outline_item.setData(x=x, y=y, connect="finite")
        circles = [h for h in holes if not len(hole_outline(h))]
        if circles:
            self.holes_item.setData(
                x=[h.col + 0.5 for h in circles],
                y=[h.row + 0.5 for h in circles],
                size=[hole_size_px(h) for h in circles],
            )
        else:
            self.holes_item.setData([])
        self.select_hole(None)

    def select_hole(self, hole: Any | None) -> None:
        """Highlight ``hole``: its top outline drawn thick and its bottom outline dashed, or
        a thick circle when it has no outline (None: no highlight)."""
        empty = np.empty(0)
        top = hole_outline(hole) if hole is not None else _NO_OUTLINE
        x, y = outline_xy([top]) if len(top) else (empty, empty)
        self.selected_outline.setData(x=x, y=y, connect="finite")
        bottom = hole_outline(hole, "outline_bottom") if len(top) else _NO_OUTLINE
        x, y = outline_xy([bottom]) if len(bottom) else (empty, empty)
        self.selected_bottom.setData(x=x, y=y, connect="finite")
        if hole is None or len(top):
            self.selected_item.setData([])
            return
        self.selected_item.setData(
            x=[hole.col + 0.5], y=[hole.row + 0.5], size=[hole_size_px(hole) * 1.2]
        )


_NO_OUTLINE = np.empty((0, 2))


def hole_outline(hole: Any, which: str = "outline_top") -> np.ndarray:
    """A hole's outline polygon as an (n, 2) array of [row, col] (pixel centres at
    integers), or an empty (0, 2) array when it has none (fewer than 3 points)."""
    poly = getattr(hole, which, None)
    if poly is None or not len(poly):
        return _NO_OUTLINE
    arr = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    return arr if len(arr) >= 3 else _NO_OUTLINE


def hole_size_px(hole: Any) -> float:
    """A hole's diameter in px: the detector's ``diameter_px`` or the metrology's top CD;
    :data:`MIN_HOLE_MARK_PX` when neither is known (a closed hole)."""
    for attr in ("diameter_px", "top_cd_px"):
        v = getattr(hole, attr, None)
        if v is not None and math.isfinite(float(v)):
            return max(float(v), 1.0)
    return MIN_HOLE_MARK_PX


def outline_xy(polygons: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """View coordinates (x = col + 0.5, y = row + 0.5) of closed polygons ((n, 2) arrays or
    [[row, col], ...] lists; fewer than 3 points skipped), one NaN between two (drawn with
    ``connect="finite"``)."""
    parts: list[np.ndarray] = []
    gap = np.full((1, 2), np.nan)
    for poly in polygons:
        arr = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        if len(arr) < 3:
            continue
        if parts:
            parts.append(gap)
        parts += [arr, arr[:1]]
    if not parts:
        return np.empty(0), np.empty(0)
    rc = np.concatenate(parts)
    return rc[:, 1] + 0.5, rc[:, 0] + 0.5
