"""Line profiles: sampling an array along a segment, and the profile plot."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QResizeEvent
from scipy import ndimage as ndi

Point = tuple[float, float]
AXIS_WIDTH_PX = 72  # room for six-character tick labels (e.g. "-123.5") and the axis title
LEGEND_ONE_ROW_PX = 520  # plot width from which the legend's entries fit in one row
LEGEND_TWO_ROWS_PX = 300  # ... in two rows (below: one column)
BAND_BRUSH = pg.mkBrush(79, 195, 247, 60)  # the +-2 sigma band around the predicted curve


def line_positions(p0: Point, p1: Point, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample positions (x, y) in view coordinates from ``p0`` to ``p1`` (both included).

    ``n`` defaults to one sample per pixel of length (at least 2).
    """
    (x0, y0), (x1, y1) = p0, p1
    length = math.hypot(x1 - x0, y1 - y0)
    if n is None:
        n = max(2, math.ceil(length) + 1)
    t = np.linspace(0.0, 1.0, n)
    return x0 + t * (x1 - x0), y0 + t * (y1 - y0)


def sample_line(array: np.ndarray, p0: Point, p1: Point, n: int | None = None) -> np.ndarray:
    """Bilinear samples of a (rows, cols) array along the segment ``p0`` -> ``p1``.

    Points are in the image's view coordinates (x = column, y = row; pixel (r, c) covers
    ``[c, c+1) x [r, r+1)``, so its centre is at (c + 0.5, r + 0.5)). Positions outside the
    image take the nearest edge value. Returns float64 of length ``n``.
    """
    xs, ys = line_positions(p0, p1, n)
    coords = np.vstack([ys - 0.5, xs - 0.5])
    return ndi.map_coordinates(
        np.asarray(array, dtype=np.float64), coords, order=1, mode="nearest", prefilter=False
    )


def line_distances(p0: Point, p1: Point, n: int | None = None) -> np.ndarray:
    """Distance (px) of each sample of :func:`line_positions` from ``p0``."""
    xs, ys = line_positions(p0, p1, n)
    return np.hypot(xs - xs[0], ys - ys[0])


def _span(*arrays: np.ndarray | None) -> tuple[float, float]:
    """(min, max) over the finite values of the arrays (a unit span around a single value;
    (0, 1) when there are none)."""
    finite = [a[np.isfinite(a)] for a in arrays if a is not None and len(a)]
    values = np.concatenate(finite) if finite else np.empty(0)
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    return lo, hi


class ProfilePlot(pg.PlotWidget):
    """Along the line: the depth below the local top (left axis, positive down, drawn
    downward, with its +-2 sigma band) or, without a trust step, the height map and its
    truth; the SEM intensity on the right axis."""

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent=parent)
        pi = self.getPlotItem()
        pi.showGrid(x=True, y=True, alpha=0.25)
        pi.addLegend(
            offset=(-10, 4), brush=pg.mkBrush(32, 33, 36, 210), labelTextSize="8pt", colCount=4
        )
        pi.setLabel("bottom", "distance along line (px)")
        pi.setLabel("left", "depth (DU)")
        pi.showAxis("right")
        pi.setLabel("right", "SEM intensity (raw)")
        # Fixed side-axis widths: pyqtgraph sizes an axis to its tick labels while painting,
        # so a profile with wider or narrower labels re-laid out the plot and painted again.
        for side in ("left", "right"):
            pi.getAxis(side).setWidth(AXIS_WIDTH_PX)
        self.sem_view = pg.ViewBox()
        pi.scene().addItem(self.sem_view)
        pi.getAxis("right").linkToView(self.sem_view)
        self.sem_view.setXLink(pi)
        pi.vb.sigResized.connect(self._sync_views)
        self.band_lo = pg.PlotCurveItem(pen=None)
        self.band_hi = pg.PlotCurveItem(pen=None)
        self.band = pg.FillBetweenItem(self.band_lo, self.band_hi, brush=BAND_BRUSH)
        pi.addItem(self.band)
        # the legend's swatch of the band (a FillBetweenItem's own sample crashes pyqtgraph)
        self.band_sample = pg.PlotDataItem(pen=None, fillLevel=0.0, fillBrush=BAND_BRUSH)
        self.depth_curve = pi.plot(pen=pg.mkPen("#4fc3f7", width=2), name="predicted")
        self.truth_curve = pi.plot(
            pen=pg.mkPen("#ffb74d", width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
            name="true",
        )
        self.sem_curve = pg.PlotDataItem(pen=pg.mkPen((200, 200, 200, 160), width=1))
        self.sem_view.addItem(self.sem_curve)
        if pi.legend is not None:
            pi.legend.addItem(self.sem_curve, "SEM (right)")
        self.values: dict[str, np.ndarray | None] = {}

    def resizeEvent(self, ev: QResizeEvent | None) -> None:
        """The legend in one row when the plot is wide, else in two, or one column (never
        cut off)."""
        super().resizeEvent(ev)
        item = self.getPlotItem()  # None while pyqtgraph builds the widget
        legend = item.legend if item is not None else None
        if legend is not None:
            width = self.width()
            columns = 4 if width >= LEGEND_ONE_ROW_PX else 2 if width >= LEGEND_TWO_ROWS_PX else 1
            if legend.columnCount != columns:
                legend.setColumnCount(columns)

    def _show_band(self, on: bool) -> None:
        """The +-2 sigma band and its legend entry (listed only while drawn)."""
        self.band.setVisible(on)
        legend = self.getPlotItem().legend
        if legend is None:
            return
        listed = any(sample.item is self.band_sample for sample, _ in legend.items)
        if on and not listed:
            legend.addItem(self.band_sample, "±2σ")
        elif not on and listed:
            legend.removeItem(self.band_sample)

    def _sync_views(self) -> None:
        self.sem_view.setGeometry(self.getPlotItem().vb.sceneBoundingRect())
        self.sem_view.linkedViewChanged(self.getPlotItem().vb, self.sem_view.XAxis)

    def set_profile(
        self,
        distance: np.ndarray,
        curves: Mapping[str, np.ndarray | None],
        *,
        distance_unit: str = "px",
        depth_unit: str = "DU",
        depth_label: str | None = None,
        downward: bool = False,
    ) -> None:
        """Show the sampled curves: ``depth`` and ``truth`` (left axis, titled
        ``depth_label``, default "depth (<depth_unit>)"; ``downward``: values grow down the
        axis, as depth below top does), ``band`` (the +-half-width around ``depth``) and
        ``sem`` (right axis). Other keys are kept in :attr:`values` only."""
        self.values = {"distance": distance, **curves}
        pi = self.getPlotItem()
        pi.setLabel("bottom", f"distance along line ({distance_unit})")
        pi.setLabel("left", depth_label or f"depth ({depth_unit})")
        pi.vb.invertY(downward)
        for key, curve in (
            ("depth", self.depth_curve),
            ("truth", self.truth_curve),
            ("sem", self.sem_curve),
        ):
            y = curves.get(key)
            if y is None:
                curve.setData([], [])
            else:
                curve.setData(distance, y)
        depth, half = curves.get("depth"), curves.get("band")
        lo = hi = None
        if depth is not None and half is not None:
            lo, hi = depth - half, depth + half
            self.band_lo.setData(distance, lo)
            self.band_hi.setData(distance, hi)
        else:
            self.band_lo.setData([], [])
            self.band_hi.setData([], [])
        self._show_band(lo is not None)
        # Set the ranges from the data now rather than enabling auto-range: pyqtgraph
        # computes auto-ranges while painting, and the changed range (and axis widths) then
        # asks for another paint (a new profile took three paints; now two).
        x_range = _span(distance)
        pi.vb.disableAutoRange()
        self.sem_view.disableAutoRange()
        pi.vb.setRange(xRange=x_range, yRange=_span(depth, curves.get("truth"), lo, hi))
        self.sem_view.setRange(xRange=x_range, yRange=_span(curves.get("sem")))

    def clear_profile(self, *, distance_unit: str = "px", depth_unit: str = "DU") -> None:
        """No profile: empty curves, neutral ranges, the axes in the chosen units."""
        self.values = {}
        for curve in (self.depth_curve, self.truth_curve, self.sem_curve):
            curve.setData([], [])
        self.band_lo.setData([], [])
        self.band_hi.setData([], [])
        self._show_band(False)
        pi = self.getPlotItem()
        pi.vb.invertY(False)
        pi.setLabel("bottom", f"distance along line ({distance_unit})")
        pi.setLabel("left", f"depth ({depth_unit})")
        pi.vb.setRange(xRange=(0.0, 1.0), yRange=(0.0, 1.0))
        self.sem_view.setRange(xRange=(0.0, 1.0), yRange=(0.0, 1.0))
