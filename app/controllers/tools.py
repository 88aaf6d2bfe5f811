"""The measuring tools over the shown result: readout under the cursor, line profile,
rectangle (ROI) statistics, the hole table and its field statistics. With the prediction's
trust step each shows the depth below the local top (+-2 sigma or U when calibrated) in the
engine's unit beside the DACON height map (:mod:`app.trust`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDockWidget, QLabel

from ..state import AppState, DisplayData, format_readout
from ..trust import region_stats
from ..units import length_unit
from ..views.image_view import LinkedImageView
from ..views.profile import ProfilePlot, line_distances, sample_line
from ..views.readout import ReadoutPanel
from ..views.roi_stats import rect_slices, roi_statistics
from ..widgets.holes_panel import FieldStatsTable, HolesPanel
from ..widgets.roi_panel import RoiPanel


class ToolsController(QObject):
    """Keeps the readout, profile, ROI and hole docks in step with the view and the shown
    result (``state.current``). The line tool starts on, the rectangle off."""

    def __init__(
        self,
        state: AppState,
        view: LinkedImageView,
        *,
        readout_panel: ReadoutPanel,
        readout_label: QLabel,
        profile_plot: ProfilePlot,
        roi_panel: RoiPanel,
        holes_panel: HolesPanel,
        docks: dict[str, QDockWidget],
        parent: QObject,
        hole_stats: FieldStatsTable | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.view = view
        self.readout_panel = readout_panel
        self.readout_label = readout_label
        self.profile_plot = profile_plot
        self.roi_panel = roi_panel
        self.holes_panel = holes_panel
        self.hole_stats = hole_stats
        self.docks = docks  # "profile", "roi", "holes"
        self.line_on = True
        self.rect_on = False
        view.cursorMoved.connect(self.on_cursor)
        view.cursorLeft.connect(self.on_cursor_left)
        view.lineChanged.connect(self.on_line_moved)
        view.rectChanged.connect(self.on_rect_moved)
        holes_panel.holeSelected.connect(self.on_hole_selected)

    # readout ------------------------------------------------------------------
    def readout_at(self, row: int, col: int) -> dict[str, Any]:
        """The values under pixel (row, col) of the shown result (see DisplayData.readout_at)."""
        data = self.state.current
        if data is None:
            return {"row": row, "col": col, "inside": False}
        return data.readout_at(row, col)

    def on_cursor(self, row: int, col: int) -> None:
        values = self.readout_at(row, col)
        units = self.view.units
        self.readout_panel.set_values(values, units)
        self.readout_label.setText(format_readout(values, units))

    def on_cursor_left(self) -> None:
        self.readout_label.setText("")

    def clear_readout(self) -> None:
        self.readout_panel.set_values(None)
        self.readout_label.setText("")

    # line profile -------------------------------------------------------------
    def update_profile(self) -> None:
        data = self.state.current
        if data is None or not self.line_on:
            units = self.view.units
            self.profile_plot.clear_profile(
                distance_unit="nm" if units.length_symbol == "m" else "px",
                depth_unit=units.depth_unit,
            )
            return
        self.update_profile_for(data)

    def update_profile_for(self, data: DisplayData) -> None:
        """Sample the shown result along the line. With a trust step the plotted curves are
        the depth below the local top (its +-2 sigma band when calibrated, and the truth
        below its own top) in the trust step's unit; without one, the height map and its
        truth in the chosen unit. :attr:`ProfilePlot.values` keeps both: ``below_top``,
        ``below_top_2sigma``, ``truth_below_top``, ``height``, ``true_height``, ``sem``."""
        p0, p1 = self.view.line()
        dist = line_distances(p0, p1)
        unit = "px"
        units = self.view.units
        if units.physical_lengths and data.pixel_size_nm:
            nm = dist * data.pixel_size_nm
            factor, unit = length_unit(float(nm[-1]) if len(nm) else 0.0)
            dist = nm / factor

        def along(array: np.ndarray | None, k: float = 1.0) -> np.ndarray | None:
            return None if array is None else sample_line(array, p0, p1) * k

        height = along(self.view.scaled(data.depth))
        true_height = None if data.truth is None else along(self.view.scaled(data.truth))
        curves: dict[str, np.ndarray | None] = {
            "height": height,
            "true_height": true_height,
            "sem": along(data.shown_sem),
        }
        trust = data.trust
        if trust is None:
            curves.update(depth=height, truth=true_height)
            self.profile_plot.set_profile(
                dist, curves, distance_unit=unit, depth_unit=self.view.unit_label
            )
            return
        bt = trust.below_top
        k = float(np.float32(bt.factor))
        sigma = bt.sigma_du
        curves.update(
            below_top=along(bt.du, k),
            below_top_2sigma=None if sigma is None else along(sigma, 2.0 * k),
            truth_below_top=along(data.truth_below_top()),
        )
        curves.update(
            depth=curves["below_top"],
            truth=curves["truth_below_top"],
            band=curves["below_top_2sigma"],
        )
        self.profile_plot.set_profile(
            dist,
            curves,
            distance_unit=unit,
            depth_label=f"below top ({bt.unit})",  # short: the plot is often low
            downward=True,
        )

    def on_line_moved(self, _line: object) -> None:
        self.update_profile()

    def toggle_line(self, on: bool) -> None:
        self.line_on = bool(on)
        self.view.set_tool_visible("line", on)
        self.docks["profile"].setVisible(on)
        self.update_profile()

    # rectangle statistics -----------------------------------------------------
    def update_roi_stats(self) -> None:
        data = self.state.current
        if data is None or not self.rect_on:
            self.roi_panel.set_stats(None)
            return
        rows, cols = rect_slices(data.shape, *self.view.rect())
        stats = roi_statistics(data.depth, data.truth, rows, cols)
        if data.trust is not None:
            stats["below_top"] = region_stats(data.trust, rows, cols)
        self.roi_panel.set_stats(stats, self.view.units)

    def roi_stats(self) -> dict[str, Any] | None:
        """The rectangle's statistics in DU (None when the tool is off or nothing is shown)."""
        return self.roi_panel.stats

    def on_rect_moved(self, _rect: object) -> None:
        self.update_roi_stats()

    def toggle_rect(self, on: bool) -> None:
        self.rect_on = bool(on)
        self.view.set_tool_visible("rect", on)
        if on:
            self.docks["roi"].show()
            self.docks["roi"].raise_()
        self.update_roi_stats()

    # hole table and shown result ----------------------------------------------
    def on_hole_selected(self, hole: Any) -> None:
        self.view.select_hole(hole)

    def show_holes(self, data: DisplayData | None) -> None:
        self.set_holes(data)
        if data is not None and data.holes:
            self.docks["holes"].show()
            self.docks["holes"].raise_()

    def set_holes(self, data: DisplayData | None) -> None:
        """The hole table (and its field statistics) of ``data``, in the view's units."""
        table = data.hole_table if data is not None else None
        holes = data.holes if data is not None else None
        self.holes_panel.set_holes(holes, self.view.units, table)
        if self.hole_stats is not None:
            self.hole_stats.set_table(table)

    def refresh(self) -> None:
        """Recompute the profile, the ROI statistics and the hole table (new result, unit or
        SEM image)."""
        self.update_profile()
        self.update_roi_stats()
        self.set_holes(self.state.current)
