"""The per-pixel readout panel (the status bar shows the same values on one line)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from ..trust import format_depth
from ..units import Units, format_length

FIELDS: tuple[tuple[str, str], ...] = (
    ("position", "Position"),
    ("position_nm", "Position (physical)"),
    ("sem", "SEM intensity (raw)"),
    ("below_top", "Depth below top (±2σ)"),
    ("depth", "Height (DACON)"),
    ("sigma", "Calibrated σ (height)"),
    ("truth", "True height"),
    ("error", "Error (pred − true)"),
    ("uncertainty", "Raw spread (TTA σ)"),
)
TOOLTIPS = {
    "below_top": "Depth below the local top surface, positive down, with its calibrated "
    "95 % interval (±2σ); nm when the model card gives nm per depth unit and the image was "
    "predicted at the model's pixel size, else DU",
    "depth": "The model's height map (DACON convention: 0-255 DU, deeper = smaller)",
    "sigma": "Calibrated σ of the height map (the model card's uncertainty section)",
    "uncertainty": "Spread of the model's answers over test-time flips (and shots): a "
    "lower bound on the error, not an interval",
}


def readout_texts(values: dict[str, Any] | None, units: Units | None = None) -> dict[str, str]:
    """The text of each readout field for :meth:`DisplayData.readout_at` values: depths in
    the chosen unit first, the other unit beside it when the depth scale is known."""
    units = units or Units()
    out = {k: "–" for k, _ in FIELDS}
    if not values or not values.get("inside"):
        return out
    out["position"] = f"x {values['col']} px, y {values['row']} px"
    if values.get("x_nm") is not None:
        out["position_nm"] = f"x {format_length(values['x_nm'])}, y {format_length(values['y_nm'])}"
    sem = values.get("sem")
    if sem is not None:
        out["sem"] = str(int(sem)) if float(sem).is_integer() else f"{sem:.6g}"
    bt = values.get("below_top")
    if bt is not None:
        text = format_depth(bt["depth_below_top"], bt["plus_minus_2sigma"], bt["unit"])
        if bt["unit"] != "DU":
            text += f"  ({bt['depth_below_top_du']:.3f} DU)"
        out["below_top"] = text if bt["in_domain"] else f"⚠ {text}"
        if values.get("sigma") is None:
            out["sigma"] = "uncalibrated"
    for key in ("depth", "sigma", "truth", "error", "uncertainty"):
        v = values.get(key)
        if v is None:
            continue
        du = f"{v:.3f} DU"
        nm = values.get(f"{key}_nm")
        if nm is None:
            out[key] = du
        elif units.nm_depths:
            out[key] = f"{nm:.2f} nm  ({du})"
        else:
            out[key] = f"{du}  ({nm:.2f} nm)"
    return out


class ReadoutPanel(QWidget):
    """A form of the values under the cursor."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        self.titles: dict[str, QLabel] = {}
        for key, title in FIELDS:
            label = QLabel("–")
            label.setObjectName(f"readout_{key}")
            label.setMinimumWidth(160)
            self.labels[key] = label
            self.titles[key] = QLabel(title + ":")
            if key in TOOLTIPS:
                self.titles[key].setToolTip(TOOLTIPS[key])
                label.setToolTip(TOOLTIPS[key])
            layout.addRow(self.titles[key], label)

    def set_sem_kind(self, kind: str) -> None:
        """Name which SEM image the intensity comes from ("raw" or "denoised")."""
        self.titles["sem"].setText(f"SEM intensity ({kind}):")

    def set_values(self, values: dict[str, Any] | None, units: Units | None = None) -> None:
        for key, text in readout_texts(values, units).items():
            self.labels[key].setText(text)
