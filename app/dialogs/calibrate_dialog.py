"""Model > Calibrate to my tool...: the dialog (inputs, progress, live loss, the before/after
table and the predicted-vs-reference scatter). A view only: the
:class:`~app.controllers.calibration.CalibrationController` runs the work."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

TABLE_COLUMNS = (
    "references", "n", "RMSE before", "RMSE after", "bias before", "bias after",
    "slope before", "slope after",
)  # fmt: skip
KIND_TITLES = {"averages": "averages (DU)", "points": "points (nm)"}
SERIES = {"average": "averages (DU)", "point": "points (nm)"}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


class CalibrateDialog(QDialog):
    """``startRequested`` / ``cancelRequested`` / ``useRequested`` are the buttons;
    :meth:`values` what the user chose."""

    startRequested = Signal()
    cancelRequested = Signal()
    useRequested = Signal()

    def __init__(
        self, parent: QWidget | None, *, model_name: str, folder: str = "", budget_s: int = 240
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Calibrate {model_name} to my tool")
        self.start_folder = folder
        self.images = QLineEdit()
        self.averages = QLineEdit()
        self.references = QLineEdit()
        self.out = QLineEdit()
        self.images.setPlaceholderText("folder of SEM images of your tool (required)")
        self.averages.setPlaceholderText("optional: image,average_depth_du")
        self.references.setPlaceholderText("optional: image,x_px,y_px,depth_nm")
        self.out.setPlaceholderText("the calibrated model (.safetensors)")
        self.budget = QSpinBox()
        self.budget.setRange(1, 7200)
        self.budget.setSuffix(" s")
        self.budget.setValue(budget_s)
        form = QFormLayout()
        form.addRow("Images", self._with_browse(self.images, self._browse_images))
        for label, edit in (("Averages CSV", self.averages), ("Points CSV", self.references)):
            form.addRow(label, self._with_browse(edit, self._browse_csv(edit)))
        form.addRow("Fine-tuning budget", self.budget)
        form.addRow("Save as", self._with_browse(self.out, self._browse_out))
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.use_button = QPushButton("Use this model")
        self.close_button = QPushButton("Close")
        self.start_button.clicked.connect(self.startRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.use_button.clicked.connect(self.useRequested)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.use_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Choose the images, then Start.")
        self.status.setWordWrap(True)
        self.status.setObjectName("calibration_status")
        self.loss_plot = pg.PlotWidget(title="loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#1f77b4", width=1.5))
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.method = QLabel("")
        self.method.setWordWrap(True)
        self.scatter_plot = pg.PlotWidget(title="predicted vs reference (held out)")
        self.scatter_plot.setLabel("bottom", "reference")
        self.scatter_plot.setLabel("left", "predicted")
        self.scatter_plot.addLegend()
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 1)
        plots.addWidget(self.scatter_plot, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(plots, 1)
        layout.addWidget(self.table)
        layout.addWidget(self.method)
        self.losses: list[float] = []
        self.scatter_points: dict[str, int] = {}
        self.set_running(False)
        self.use_button.setEnabled(False)
        self.resize(900, 760)

    # ------------------------------------------------------------------ inputs
    def _with_browse(self, edit: QLineEdit, slot: Any) -> QWidget:
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        button = QPushButton("Browse...")
        button.clicked.connect(slot)
        lay.addWidget(button)
        return row

    def _browse_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images of your tool", self.start_folder)
        if folder:
            self.images.setText(folder)
            if not self.out.text():
                p = Path(folder)
                self.out.setText(str(p.parent / f"{p.name}_calibrated.safetensors"))

    def _browse_csv(self, edit: QLineEdit) -> Any:
        def browse() -> None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Reference CSV", self.start_folder, "CSV (*.csv);;All files (*)"
            )
            if path:
                edit.setText(path)

        return browse

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the calibrated model", self.out.text() or self.start_folder,
            "Models (*.safetensors)",
        )  # fmt: skip
        if path:
            self.out.setText(path)

    def values(self) -> dict[str, Any]:
        """``images``, ``averages``, ``references``, ``out`` (Path or None) and ``budget_s``."""

        def path(edit: QLineEdit) -> Path | None:
            text = edit.text().strip()
            return Path(text) if text else None

        return {
            "images": path(self.images),
            "averages": path(self.averages),
            "references": path(self.references),
            "out": path(self.out),
            "budget_s": float(self.budget.value()),
        }

    # ------------------------------------------------------------------ running
    def set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.images, self.averages, self.references, self.out, self.budget):
            w.setEnabled(not running)
        if running:
            self.use_button.setEnabled(False)
            self.losses.clear()
            self.loss_curve.setData([], [])
            self.progress.setValue(0)

    def set_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.status.setText(message)

    def add_losses(self, losses: Sequence[float]) -> None:
        self.losses.extend(losses)
        self.loss_curve.setData(list(range(1, len(self.losses) + 1)), self.losses)

    def show_message(self, message: str) -> None:
        self.status.setText(message)

    def show_result(self, section: dict[str, Any], references: Sequence[Any]) -> None:
        """The before/after table, the scatter of held-out predictions, what was done."""
        agreement = section.get("agreement") or {}
        self.table.setRowCount(len(agreement))
        for row, (kind, entry) in enumerate(agreement.items()):
            b, a = entry["before"], entry["after"]
            cells = [KIND_TITLES.get(kind, kind), b["n"], b["rmse"], a["rmse"], b["bias"],
                     a["bias"], b["slope"], a["slope"]]  # fmt: skip
            for col, value in enumerate(cells):
                item = QTableWidgetItem(_fmt(value))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, col, item)
        self.scatter_plot.clear()
        self.scatter_points = {}
        colours = {"average": "#1f77b4", "point": "#d62728"}
        lo, hi = [], []
        for kind, title in SERIES.items():
            rows = [r for r in references if r.kind == kind]
            if not rows:
                continue
            ref = [r.value for r in rows]
            self.scatter_plot.plot(
                ref, [r.before for r in rows], pen=None, symbol="o", symbolSize=6,
                symbolBrush=pg.mkBrush(150, 150, 150, 160), name=f"{title} before",
            )  # fmt: skip
            self.scatter_plot.plot(
                ref, [r.after for r in rows], pen=None, symbol="o", symbolSize=7,
                symbolBrush=pg.mkBrush(colours[kind]), name=f"{title} after",
            )  # fmt: skip
            self.scatter_points[kind] = len(rows)
            values = ref + [r.before for r in rows] + [r.after for r in rows]
            lo.append(min(values))
            hi.append(max(values))
        if lo:
            self.scatter_plot.plot([min(lo), max(hi)], [min(lo), max(hi)],
                                   pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))  # fmt: skip
        note = "" if agreement else " No references: nothing to check it against."
        self.method.setText(f"{section.get('method', '')}.{note}")
        self.use_button.setEnabled(True)

    def closeEvent(self, event: Any) -> None:
        if self.cancel_button.isEnabled():
            self.cancelRequested.emit()
        super().closeEvent(event)
