"""The per-pixel readout panel (the status bar shows the same values on one line)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

FIELDS: tuple[tuple[str, str], ...] = (
    ("position", "Position"),
    ("position_nm", "Position (nm)"),
    ("sem", "SEM intensity (raw)"),
    ("depth", "Predicted depth"),
    ("truth", "True depth"),
    ("error", "Error (pred − true)"),
    ("uncertainty", "Uncertainty (σ)"),
)


def readout_texts(values: dict[str, Any] | None) -> dict[str, str]:
    """The text of each readout field for :meth:`DisplayData.readout_at` values."""
    out = {k: "–" for k, _ in FIELDS}
    if not values or not values.get("inside"):
        return out
    out["position"] = f"x {values['col']} px, y {values['row']} px"
    if values.get("x_nm") is not None:
        out["position_nm"] = f"x {values['x_nm']:.2f} nm, y {values['y_nm']:.2f} nm"
    sem = values.get("sem")
    if sem is not None:
        out["sem"] = str(int(sem)) if float(sem).is_integer() else f"{sem:.6g}"
    for key in ("depth", "truth", "error", "uncertainty"):
        v = values.get(key)
        if v is None:
            continue
        text = f"{v:.3f} DU"
        nm = values.get(f"{key}_nm")
        if nm is not None:
            text += f"  ({nm:.2f} nm)"
        out[key] = text
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

    def set_values(self, values: dict[str, Any] | None) -> None:
        for key, text in readout_texts(values).items():
            self.labels[key].setText(text)
