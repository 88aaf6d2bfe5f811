"""The per-hole table of field mode, in the chosen units; selecting a row asks the view to
outline that hole and zoom to it."""

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


def hole_columns(units: Units, holes: Sequence[Any]) -> list[tuple[str, Callable[[Any], str]]]:
    """(header, hole -> text) of each column: positions and diameters in px or in one
    physical unit for the whole table (the largest diameter picks it), depths in DU or nm."""
    du = units.depth_unit

    def depth(attr: str) -> Callable[[Any], str]:
        return lambda h: f"{getattr(h, attr) * units.depth_scale:.2f}"

    if units.physical_lengths and units.pixel_size_nm:
        ps = float(units.pixel_size_nm)
        biggest = max((float(h.diameter_px) * ps for h in holes), default=1.0)
        factor, symbol = length_unit(biggest)

        def length(px: float) -> str:
            return f"{px * ps / factor:.4g}"

        lengths: list[tuple[str, Callable[[Any], str]]] = [
            (f"y ({symbol})", lambda h: length(h.row + 0.5)),
            (f"x ({symbol})", lambda h: length(h.col + 0.5)),
            (f"Diameter ({symbol})", lambda h: length(h.diameter_px)),
        ]
    else:
        lengths = [
            ("Row (px)", lambda h: f"{h.row:.2f}"),
            ("Col (px)", lambda h: f"{h.col:.2f}"),
            ("Diameter (px)", lambda h: f"{h.diameter_px:.2f}"),
        ]
    return [
        ("#", lambda h: str(h.id)),
        *lengths,
        (f"Bottom depth ({du})", depth("bottom_depth")),
        (f"Mean depth ({du})", depth("mean_depth")),
        (f"σ ({du})", depth("uncertainty")),
    ]


class HolesPanel(QTableWidget):
    """Emits ``holeSelected(hole)`` (a :class:`core.inference.HoleRecord`)."""

    holeSelected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 0, parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.holes: list[Any] = []
        self.units = Units()
        self.itemSelectionChanged.connect(self._on_selection)
        self.set_holes(None)

    def set_holes(self, holes: Sequence[Any] | None, units: Units | None = None) -> None:
        self.holes = list(holes or [])
        if units is not None:
            self.units = units
        columns = hole_columns(self.units, self.holes)
        self.blockSignals(True)
        self.clearContents()
        self.setColumnCount(len(columns))
        self.setHorizontalHeaderLabels([title for title, _ in columns])
        self.setRowCount(len(self.holes))
        for r, hole in enumerate(self.holes):
            for c, (_, text) in enumerate(columns):
                self.setItem(r, c, QTableWidgetItem(text(hole)))
        self.blockSignals(False)

    def headers(self) -> list[str]:
        return [self.horizontalHeaderItem(c).text() for c in range(self.columnCount())]

    def _on_selection(self) -> None:
        rows = {i.row() for i in self.selectedIndexes()}
        if len(rows) == 1:
            self.holeSelected.emit(self.holes[rows.pop()])
