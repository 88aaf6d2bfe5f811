"""The measuring tools over the shown result: readout under the cursor, line profile,
rectangle (ROI) statistics, the hole table of field mode."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDockWidget, QLabel

from ..state import AppState, DisplayData, format_readout
from ..units import length_unit
from ..views.image_view import LinkedImageView
from ..views.profile import ProfilePlot, line_distances, sample_line
from ..views.readout import ReadoutPanel
from ..views.roi_stats import rect_slices, roi_statistics
from ..widgets.holes_panel import HolesPanel
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
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.view = view
        self.readout_panel = readout_panel
        self.readout_label = readout_label
        self.profile_plot = profile_plot
        self.roi_panel = roi_panel
        self.holes_panel = holes_panel
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
        p0, p1 = self.view.line()
        dist = line_distances(p0, p1)
        unit = "px"
        units = self.view.units
        if units.physical_lengths and data.pixel_size_nm:
            nm = dist * data.pixel_size_nm
            factor, unit = length_unit(float(nm[-1]) if len(nm) else 0.0)
            dist = nm / factor
        curves = {
            "depth": sample_line(self.view.scaled(data.depth), p0, p1),
            "truth": None
            if data.truth is None
            else sample_line(self.view.scaled(data.truth), p0, p1),
            "sem": sample_line(data.shown_sem, p0, p1),
        }
        self.profile_plot.set_profile(
            dist, curves, distance_unit=unit, depth_unit=self.view.unit_label
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
        self.holes_panel.set_holes(data.holes if data is not None else None, self.view.units)
        if data is not None and data.holes:
            self.docks["holes"].show()
            self.docks["holes"].raise_()

    def refresh(self) -> None:
        """Recompute the profile, the ROI statistics and the hole table (new result, unit or
        SEM image)."""
        self.update_profile()
        self.update_roi_stats()
        data = self.state.current
        self.holes_panel.set_holes(data.holes if data is not None else None, self.view.units)
