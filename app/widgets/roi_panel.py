"""Statistics of the rectangle ROI: the depth below the local top (the engine's
``roi_stats``: mean, shallowest, the deepest point +- 2 sigma and where it is) in the
trust step's unit, then the DACON height map and its truth in the chosen unit."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QWidget

from ..trust import format_depth
from ..units import Units

FIELDS = (
    ("region", "Region"),
    ("size", "Size (w x h)"),
    ("n_pixels", "Pixels"),
    ("bt_mean", "Mean depth below top"),
    ("bt_min", "Shallowest below top"),
    ("bt_max", "Deepest point (±2σ)"),
    ("bt_at", "Deepest point at"),
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


#: The form's first column (the region and the depth below top), the rest in the second.
FIRST_COLUMN = 7


class RoiPanel(QWidget):
    """Two columns of fields: the region and its depth below top, then the height map."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        forms = (QFormLayout(), QFormLayout())
        for form in forms:
            row.addLayout(form)
        row.addStretch(1)
        self.labels: dict[str, QLabel] = {}
        for i, (key, title) in enumerate(FIELDS):
            label = QLabel("–")
            label.setObjectName(f"roi_{key}")
            self.labels[key] = label
            forms[0 if i < FIRST_COLUMN else 1].addRow(title + ":", label)
        self.stats: dict[str, Any] | None = None

    def set_stats(self, stats: dict[str, Any] | None, units: Units | None = None) -> None:
        self.stats = stats
        for key, text in roi_texts(stats, units).items():
            self.labels[key].setText(text)
