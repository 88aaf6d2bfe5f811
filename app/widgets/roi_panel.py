"""Statistics of the rectangle ROI: the depth below the local top (the engine's
``roi_stats``: mean, shallowest, the deepest point +- 2 sigma and where it is) in the
trust step's unit, then the DACON height map and its truth in the chosen unit."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QWidget

from ..trust import format_depth
from ..units import Units

FIELDS = (
    ("region", "Region"),
    ("size", "Size (w x h)"),
    ("n_pixels", "Pixels"),
    ("bt_mean", "Mean below top"),
    ("bt_min", "Min below top"),
    ("bt_max", "Deepest (±2σ)"),
    ("bt_at", "Deepest at"),
    ("mean", "Mean height"),
    ("std", "Std height"),
    ("min", "Min height"),
    ("max", "Max height"),
    ("truth_mean", "Mean true height"),
    ("rmse", "RMSE vs truth"),
)


def roi_texts(stats: dict[str, Any] | None, units: Units | None = None) -> dict[str, str]:
    """The text of each field; depths in ``units``' depth unit, the region's size in its
    length unit."""
    units = units or Units()
    out = {k: "–" for k, _ in FIELDS}
    if not stats:
        return out
    r0, r1 = stats["rows"]
    c0, c1 = stats["cols"]
    if r1 > r0 and c1 > c0:
        out["region"] = f"rows {r0}–{r1 - 1}, cols {c0}–{c1 - 1}"
        out["size"] = f"{units.length(c1 - c0)} x {units.length(r1 - r0)}"
    else:
        out["region"] = "empty"
    out["n_pixels"] = str(stats["n_pixels"])
    for key in ("mean", "std", "min", "max", "truth_mean", "rmse"):
        v = stats.get(key)
        if v is not None:
            out[key] = units.depth(v, 3)
    bt = stats.get("below_top")
    if bt and bt.get("count"):
        unit = bt["unit"]
        out["bt_mean"] = f"{bt['mean']:.2f} {unit}"
        out["bt_min"] = f"{bt['min']:.2f} {unit}"
        out["bt_max"] = format_depth(bt["max"], bt["max_plus_minus_2sigma"], unit)
        r, c = bt["deepest_at"]
        out["bt_at"] = f"x {c}, y {r} px"
        if units.physical_lengths:
            out["bt_at"] += f" ({units.length(c)}, {units.length(r)})"
    return out


#: Fields in the first column when there are two (the region and the depth below top).
FIRST_COLUMN = 7
TIP = (
    "Depth below the local top surface (positive down) over the rectangle's pixels: mean, "
    "minimum, and the deepest point with its calibrated ±2σ (95 %) and where it is"
)
GAP_PX = 24  # between the two columns


class RoiPanel(QScrollArea):
    """The fields in two columns (the region and its depth below top | the height map)
    when the dock is wide enough, else in one that scrolls down: the dock asks only one
    column's width of the line profile beside it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        self.grid = QGridLayout(inner)
        self.grid.setHorizontalSpacing(8)
        self.setWidget(inner)
        self.labels: dict[str, QLabel] = {}
        self.titles: dict[str, QLabel] = {}
        for key, title in FIELDS:
            label = QLabel("–")
            label.setObjectName(f"roi_{key}")
            self.labels[key] = label
            self.titles[key] = QLabel(title + ":")
            if key.startswith("bt_"):
                self.titles[key].setToolTip(TIP)
        self.columns = 0
        self.stats: dict[str, Any] | None = None
        self._arrange(1)

    def _width(self, keys: list[str]) -> int:
        """Pixels one column of these fields needs (at their current texts)."""
        titles = max(self.titles[k].sizeHint().width() for k in keys)
        values = max(self.labels[k].sizeHint().width() for k in keys)
        return titles + values + self.grid.horizontalSpacing()

    def two_column_width(self) -> int:
        """Pixels two columns need (titles and values at their current texts)."""
        keys = [k for k, _ in FIELDS]
        m = self.grid.contentsMargins()
        inner = self._width(keys[:FIRST_COLUMN]) + self._width(keys[FIRST_COLUMN:]) + GAP_PX
        return inner + m.left() + m.right() + self.grid.horizontalSpacing()

    def one_column_width(self) -> int:
        """Pixels one column needs, with the vertical scroll bar beside it."""
        m = self.grid.contentsMargins()
        bar = self.verticalScrollBar().sizeHint().width()
        return self._width([k for k, _ in FIELDS]) + m.left() + m.right() + bar + 2

    def _arrange(self, columns: int) -> None:
        if columns == self.columns:
            return
        self.columns = columns
        for key, _ in FIELDS:
            self.grid.removeWidget(self.titles[key])
            self.grid.removeWidget(self.labels[key])
        per = FIRST_COLUMN if columns == 2 else len(FIELDS)
        for i, (key, _) in enumerate(FIELDS):
            col, row = divmod(i, per)
            self.grid.addWidget(self.titles[key], row, 3 * col)
            self.grid.addWidget(self.labels[key], row, 3 * col + 1)
        for c in range(6):
            self.grid.setColumnStretch(c, 0)
            self.grid.setColumnMinimumWidth(c, 0)
        if columns == 2:
            self.grid.setColumnMinimumWidth(2, GAP_PX)
        self.grid.setColumnStretch(5 if columns == 2 else 2, 1)
        self.grid.setRowStretch(len(FIELDS), 1)

    def _fit_columns(self) -> None:
        """Never narrower than one column (values are not cut off; the minimum only grows,
        so dragging the rectangle does not re-lay out the docks), two when they fit."""
        one = self.one_column_width()
        if one > self.minimumWidth():
            self.setMinimumWidth(one)
        self._arrange(2 if self.contentsRect().width() >= self.two_column_width() else 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def set_stats(self, stats: dict[str, Any] | None, units: Units | None = None) -> None:
        self.stats = stats
        for key, text in roi_texts(stats, units).items():
            self.labels[key].setText(text)
        self._fit_columns()
