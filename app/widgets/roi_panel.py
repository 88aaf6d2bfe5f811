"""Statistics of the rectangle ROI."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from ..units import Units

FIELDS = (
    ("region", "Region"),
    ("size", "Size (w x h)"),
    ("n_pixels", "Pixels"),
    ("mean", "Mean depth"),
    ("std", "Std depth"),
    ("min", "Min depth"),
    ("max", "Max depth"),
    ("truth_mean", "Mean true depth"),
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
    return out


class RoiPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        for key, title in FIELDS:
            label = QLabel("–")
            label.setObjectName(f"roi_{key}")
            self.labels[key] = label
            layout.addRow(title + ":", label)
        self.stats: dict[str, Any] | None = None

    def set_stats(self, stats: dict[str, Any] | None, units: Units | None = None) -> None:
        self.stats = stats
        for key, text in roi_texts(stats, units).items():
            self.labels[key].setText(text)
