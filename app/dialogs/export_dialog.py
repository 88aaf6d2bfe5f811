"""Export dialog: folder, which results, which formats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

FORMAT_LABELS = (
    ("tiff", "Depth and uncertainty TIFF (float32, calibrated)"),
    ("csv", "Depth CSV"),
    ("png", "Colour-mapped depth PNG (with colour bar)"),
    ("dacon", "8-bit depth PNG (DACON convention)"),
    ("report", "HTML report per image (all results: and the batch's report.html)"),
)


@dataclass
class ExportRequest:
    out_dir: Path
    formats: tuple[str, ...]
    scope: str  # "current" | "all"


class ExportDialog(QDialog):
    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        folder: str = "",
        has_current: bool = True,
        n_done: int = 0,
        formats: tuple[str, ...] = ("tiff", "csv", "png"),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export depth maps")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.current = QRadioButton("Current result")
        self.all = QRadioButton(f"All finished results ({n_done}) with summary.csv")
        self.current.setEnabled(has_current)
        self.all.setEnabled(n_done > 0)
        (self.current if has_current else self.all).setChecked(True)
        self.checks: dict[str, QCheckBox] = {}
        fmt_box = QVBoxLayout()
        for key, label in FORMAT_LABELS:
            cb = QCheckBox(label)
            cb.setChecked(key in formats)
            self.checks[key] = cb
            fmt_box.addWidget(cb)
        form = QFormLayout()
        form.addRow("Folder:", row)
        scope = QVBoxLayout()
        scope.addWidget(self.current)
        scope.addWidget(self.all)
        form.addRow("Results:", scope)
        form.addRow("Formats:", fmt_box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def request(self) -> ExportRequest | None:
        formats = tuple(k for k, cb in self.checks.items() if cb.isChecked())
        text = self.folder.text().strip()
        if not text or not formats:
            return None
        return ExportRequest(Path(text), formats, "current" if self.current.isChecked() else "all")
