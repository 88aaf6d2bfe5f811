"""The per-pixel readout panel (the status bar shows the same values on one line)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from ..units import Units, format_length

FIELDS: tuple[tuple[str, str], ...] = (
    ("position", "Position"),
    ("position_nm", "Position (physical)"),
    ("sem", "SEM intensity (raw)"),
    ("depth", "Predicted depth"),
    ("truth", "True depth"),
    ("error", "Error (pred − true)"),
    ("uncertainty", "Uncertainty (σ)"),
)


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
    for key in ("depth", "truth", "error", "uncertainty"):
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
            layout.addRow(self.titles[key], label)

    def set_sem_kind(self, kind: str) -> None:
        """Name which SEM image the intensity comes from ("raw" or "denoised")."""
        self.titles["sem"].setText(f"SEM intensity ({kind}):")

    def set_values(self, values: dict[str, Any] | None, units: Units | None = None) -> None:
        for key, text in readout_texts(values, units).items():
            self.labels[key].setText(text)
