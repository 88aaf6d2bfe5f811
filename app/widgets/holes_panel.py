"""The per-hole table and the field statistics under it; selecting a row asks the view to
highlight that hole and zoom to it.

With the prediction's trust step (:class:`core.metrology.holes.HoleTable`) the table is the
engine's metrology, as the holes CSV and the report write it: centre, top and bottom CD (nm
with a pixel size, else px), depth below the local top +- U (k = 2, the calibrated 95 %
interval half-width; the header says "uncalibrated" without a calibration) in the engine's
depth unit, ellipticity, flags. Without one (a result built by hand) it is field mode's
detector table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..units import Units, length_unit
from ..views.panel import hole_size_px

Column = tuple[str, Callable[[Any], str]]
#: Header tooltips, by the start of the header (definitions in docs/metrology.md).
HEADER_TIPS = {
    "Top CD": "Equivalent-circle diameter of the hole at 10 % of its depth below the top",
    "Bottom CD": "Equivalent-circle diameter of the hole at 90 % of its depth below the top",
    "Depth below top": "Depth of the hole's bottom below the local top surface; ± U is the "
    "calibrated 95 % interval half-width (k = 2), inflated out of domain",
    "Ellipticity": "Major / minor axis of the top-CD area",
    "Flags": "out_of_domain, touching_border, merged (not one hole), closed, under_etched",
}
#: Field statistics' columns (attributes of core.metrology.fieldstats.FieldStats).
STAT_COLUMNS = (
    ("count", "Count"),
    ("mean", "Mean"),
    ("sigma", "σ"),
    ("three_sigma", "3σ"),
    ("min", "Min"),
    ("max", "Max"),
)


ROW_PX = 20  # the field statistics' compact rows


def _num(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def cd_unit(table: Any) -> str:
    """The CDs' unit: nm when the image's pixel size is known, else px (as the engine's
    statistics give them)."""
    return "nm" if getattr(table, "pixel_size_nm", None) else "px"


def position_columns(units: Units, holes: Sequence[Any]) -> list[Column]:
    """Centre columns: px, or one physical unit for the whole table (the farthest centre
    picks it: "11.35 µm", not "1.135e+04 nm")."""
    if units.physical_lengths and units.pixel_size_nm:
        ps = float(units.pixel_size_nm)
        farthest = max((max(h.row, h.col) + 0.5 for h in holes), default=1.0)
        factor, symbol = length_unit(farthest * ps)

        def length(px: float) -> str:
            return f"{px * ps / factor:.4g}"

        return [
            (f"y ({symbol})", lambda h: length(h.row + 0.5)),
            (f"x ({symbol})", lambda h: length(h.col + 0.5)),
        ]
    return [("Row (px)", lambda h: f"{h.row:.2f}"), ("Col (px)", lambda h: f"{h.col:.2f}")]


def metrology_columns(units: Units, holes: Sequence[Any], table: Any) -> list[Column]:
    """(header, hole -> text) of the metrology table (see the module docstring)."""
    du, cd = table.depth_unit, cd_unit(table)

    def length(attr: str) -> Callable[[Any], str]:
        return lambda h: _num(getattr(h, f"{attr}_{cd}"))

    def depth(h: Any) -> str:
        text = _num(h.depth)
        return text if h.depth_u is None else f"{text} ± {h.depth_u:.2f}"

    head = (
        f"Depth below top ± U ({du})"
        if table.calibrated
        else f"Depth below top ({du}, uncalibrated)"
    )
    return [
        ("#", lambda h: str(h.id)),
        *position_columns(units, holes),
        (f"Top CD ({cd})", length("top_cd")),
        (f"Bottom CD ({cd})", length("bottom_cd")),
        (head, depth),
        ("Ellipticity", lambda h: _num(h.ellipticity, 3)),
        ("Flags", lambda h: ", ".join(h.flags)),
    ]


def hole_columns(units: Units, holes: Sequence[Any], table: Any = None) -> list[Column]:
    """The columns of ``holes``: the metrology table with a trust step's ``table``, else
    the detector's (diameter, bottom and mean depth, spread in the chosen units)."""
    if table is not None:
        return metrology_columns(units, holes, table)
    du = units.depth_unit

    def depth(attr: str) -> Callable[[Any], str]:
        return lambda h: f"{getattr(h, attr) * units.depth_scale:.2f}"

    cols = position_columns(units, holes)
    if units.physical_lengths and units.pixel_size_nm:
        ps = float(units.pixel_size_nm)
        factor, symbol = length_unit(max((hole_size_px(h) * ps for h in holes), default=1.0))
        diameter: Column = (f"Diameter ({symbol})", lambda h: f"{h.diameter_px * ps / factor:.4g}")
    else:
        diameter = ("Diameter (px)", lambda h: f"{h.diameter_px:.2f}")
    return [
        ("#", lambda h: str(h.id)),
        *cols,
        diameter,
        (f"Bottom depth ({du})", depth("bottom_depth")),
        (f"Mean depth ({du})", depth("mean_depth")),
        (f"σ ({du})", depth("uncertainty")),
    ]


def _readonly(table: QTableWidget) -> None:
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)


class HolesPanel(QTableWidget):
    """Emits ``holeSelected(hole)`` (a :class:`core.metrology.holes.HoleMeasurement`, or a
    :class:`core.inference.HoleRecord` without a trust step)."""

    holeSelected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 0, parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        _readonly(self)
        self.verticalHeader().setVisible(False)
        self.holes: list[Any] = []
        self.table: Any = None
        self.units = Units()
        self.itemSelectionChanged.connect(self._on_selection)
        self.set_holes(None)

    def set_holes(
        self, holes: Sequence[Any] | None, units: Units | None = None, table: Any = None
    ) -> None:
        self.holes = list(holes or [])
        self.table = table
        if units is not None:
            self.units = units
        columns = hole_columns(self.units, self.holes, table)
        self.blockSignals(True)
        self.clearContents()
        self.setColumnCount(len(columns))
        self.setHorizontalHeaderLabels([title for title, _ in columns])
        for c, (title, _) in enumerate(columns):
            tip = next((t for k, t in HEADER_TIPS.items() if title.startswith(k)), "")
            self.horizontalHeaderItem(c).setToolTip(tip)
        self.setRowCount(len(self.holes))
        for r, hole in enumerate(self.holes):
            for c, (_, text) in enumerate(columns):
                self.setItem(r, c, QTableWidgetItem(text(hole)))
        self.blockSignals(False)

    def headers(self) -> list[str]:
        return [self.horizontalHeaderItem(c).text() for c in range(self.columnCount())]

    def column(self, header_start: str) -> int:
        """The index of the first column whose header starts with ``header_start``."""
        return next(i for i, h in enumerate(self.headers()) if h.startswith(header_start))

    def _on_selection(self) -> None:
        rows = {i.row() for i in self.selectedIndexes()}
        if len(rows) == 1:
            self.holeSelected.emit(self.holes[rows.pop()])


def stat_rows(table: Any) -> list[tuple[str, str, int]]:
    """(quantity key, row title with its unit, digits) of the field statistics."""
    cd = cd_unit(table)
    return [
        ("depth", f"Depth below top ({table.depth_unit})", 2),
        ("top_cd", f"Top CD ({cd})", 2),
        ("bottom_cd", f"Bottom CD ({cd})", 2),
        ("ellipticity", "Ellipticity", 3),
    ]


class FieldStatsTable(QTableWidget):
    """The engine's field statistics of the hole table (holes touching the border or
    merged left out): count, mean, sigma, 3 sigma, min and max per quantity."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(STAT_COLUMNS), parent)
        _readonly(self)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setHorizontalHeaderLabels([title for _, title in STAT_COLUMNS])
        self.setToolTip("Field statistics over the holes not touching the border nor merged")
        self.verticalHeader().setDefaultSectionSize(ROW_PX)
        self.set_table(None)

    def content_height(self) -> int:
        """Pixels its header and rows need (its most useful height)."""
        rows = sum(self.rowHeight(r) for r in range(self.rowCount()))
        return self.horizontalHeader().height() + rows + 2 * self.frameWidth() + 2

    def set_table(self, table: Any) -> None:
        rows = stat_rows(table) if table is not None else []
        self.setRowCount(len(rows))
        self.setVerticalHeaderLabels([title for _, title, _ in rows])
        for r, (key, _, digits) in enumerate(rows):
            stats = table.stats.get(key)
            for c, (attr, _) in enumerate(STAT_COLUMNS):
                v = getattr(stats, attr, None) if stats is not None else None
                text = str(v) if attr == "count" and v is not None else _num(v, digits)
                self.setItem(r, c, QTableWidgetItem(text))
        self.setMaximumHeight(self.content_height())  # the table above takes the rest
        self.setVisible(bool(rows))

    def text(self, row: int, col: int) -> str:
        item = self.item(row, col)
        return item.text() if item is not None else ""
