"""The per-hole table of field mode; selecting a row asks the view to centre on that hole."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

COLUMNS = (
    ("id", "#"),
    ("row", "Row (px)"),
    ("col", "Col (px)"),
    ("diameter_px", "Diameter (px)"),
    ("diameter_nm", "Diameter (nm)"),
    ("bottom_depth", "Bottom depth (DU)"),
    ("mean_depth", "Mean depth (DU)"),
    ("uncertainty", "σ (DU)"),
)


class HolesPanel(QTableWidget):
    """Emits ``holeSelected(row, col)`` (the hole centre in px)."""

    holeSelected = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([t for _, t in COLUMNS])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.holes: list[Any] = []
        self.itemSelectionChanged.connect(self._on_selection)

    def set_holes(self, holes: Sequence[Any] | None) -> None:
        self.holes = list(holes or [])
        self.blockSignals(True)
        self.setRowCount(len(self.holes))
        for r, hole in enumerate(self.holes):
            for c, (attr, _) in enumerate(COLUMNS):
                v = getattr(hole, attr, None)
                if v is None:
                    text = ""
                elif isinstance(v, float):
                    text = f"{v:.2f}"
                else:
                    text = str(v)
                self.setItem(r, c, QTableWidgetItem(text))
        self.blockSignals(False)

    def _on_selection(self) -> None:
        rows = {i.row() for i in self.selectedIndexes()}
        if len(rows) == 1:
            hole = self.holes[rows.pop()]
            self.holeSelected.emit(float(hole.row), float(hole.col))
