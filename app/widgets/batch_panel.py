"""The batch queue: a table of files with their status, a progress bar with Cancel, a summary.

The table is a ``QTableView`` over :class:`QueueModel` (rows read from :class:`AppState`), so
a finished image updates one row without re-measuring the others (the GUI stays responsive
over batches of thousands of files); the summary line and progress bar are refreshed at most
every 100 ms.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..state import CANCELLED, DONE, FAILED, RUNNING, AppState, QueueRow, short_reason
from .elided_label import ElidedLabel

COLUMNS = ("File", "Status", "Mean ({})", "RMSE ({})", "Time (s)")
COLUMN_WIDTHS = (None, 72, 76, 76, 58)
STATUS_COLOURS = {
    DONE: "#43a047",
    FAILED: "#e53935",
    RUNNING: "#1e88e5",
    CANCELLED: "#9e9e9e",
}
WARNING_COLOUR = "#fb8c00"
OUT_OF_DOMAIN_STATUS = "done ⚠ out of domain"  # a finished row the engine flagged
_Index = QModelIndex | QPersistentModelIndex


def row_texts(row: QueueRow, nm: bool = False) -> tuple[str, str, str, str, str]:
    """The cells of a row; a failed row's status is the short reason ("failed: truncated
    file"), the full text is its tooltip. ``nm``: depths in nm (the row's depth scale)."""
    status = row.status
    if row.status == FAILED and row.error:
        status = f"failed: {short_reason(row.error, row.source)}"
    elif row.status == DONE and row.domain_warning:
        status = OUT_OF_DOMAIN_STATUS
    k = float(row.nm_per_du) if nm and row.nm_per_du else 1.0
    return (
        row.source.name,
        status,
        "" if row.mean_depth is None else f"{row.mean_depth * k:.2f}",
        "" if row.rmse is None else f"{row.rmse * k:.3f}",
        "" if row.seconds is None else f"{row.seconds:.2f}",
    )


class QueueModel(QAbstractTableModel):
    """A read-only table model over ``AppState.rows``."""

    def __init__(self, state: AppState, parent: Any = None) -> None:
        super().__init__(parent)
        self.state = state
        self._shown = 0
        self.unit_choice = "DU"
        self._unit: tuple[str, bool] | None = None  # (unit, nm): recomputed once per change
        self._last_unit: tuple[str, bool] = ("DU", False)
        state.rowsAdded.connect(self._on_rows_added)
        state.rowChanged.connect(self._on_row_changed)
        state.rowsCleared.connect(self._on_cleared)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._shown

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            unit, _ = self.depth_unit()
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section].format(unit)
            if role == Qt.ItemDataRole.ToolTipRole and section == 2:
                return f"Mean predicted depth of the image ({unit})"
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= self._shown:
            return None
        row = self.state.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row_texts(row, self.depth_unit()[1])[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return str(row.source)
            return row.error or row.domain_warning or row.status
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            colour = WARNING_COLOUR if row.domain_warning else STATUS_COLOURS.get(row.status)
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return row.row_id
        return None

    def depth_unit(self) -> tuple[str, bool]:
        """The depth columns' unit (see :meth:`AppState.depth_unit`), computed once after
        each change, not once per cell."""
        if self._unit is None:
            unit = self.state.depth_unit(self.unit_choice)
            changed = unit != self._last_unit
            self._unit = self._last_unit = unit
            if changed:  # the headers say the unit: redraw them only when it changes
                self.headerDataChanged.emit(Qt.Orientation.Horizontal, 2, 3)
        return self._unit

    def set_unit(self, choice: str) -> None:
        """The unit choice ("DU" or "nm"): depths in nm when every row has the model
        card's depth scale."""
        self.unit_choice = choice
        self._unit = None
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 2, 3)
        if self._shown:
            self.dataChanged.emit(self.index(0, 2), self.index(self._shown - 1, 3))

    def _on_rows_added(self, first: int, count: int) -> None:
        self._unit = None
        self.beginInsertRows(QModelIndex(), first, first + count - 1)
        self._shown = len(self.state.rows)
        self.endInsertRows()

    def _on_row_changed(self, index: int) -> None:
        self._unit = None
        if 0 <= index < self._shown:
            self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))

    def _on_cleared(self) -> None:
        self.beginResetModel()
        self._shown = 0
        self.endResetModel()


class BatchPanel(QWidget):
    """Shows :class:`AppState` rows; emits ``rowActivated(row_id)`` when one is clicked."""

    rowActivated = Signal(int)
    cancelRequested = Signal()
    skipRequested = Signal()  # abandon the file being predicted, go on with the next
    clearRequested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.model = QueueModel(state, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        for c, width in enumerate(COLUMN_WIDTHS):
            if width is None:
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
            else:
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
                self.table.setColumnWidth(c, width)
        self.table.clicked.connect(self._on_clicked)
        self.table.activated.connect(self._on_clicked)
        # the shown image follows the selection at once (Up/Down, Page Up/Down, Home/End)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        # at least six rows, whatever the dock's share of a small window
        self.table.setMinimumHeight(self.table.verticalHeader().defaultSectionSize() * 6 + 28)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")  # "%v / %m finished" once there are rows
        self.cancel_button = QPushButton("Stop Batch")
        self.cancel_button.setToolTip("Stop the batch: the file being predicted and the rest")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.skip_button = QPushButton("Skip File")
        self.skip_button.setToolTip("Abandon the file being predicted and go on with the next")
        self.skip_button.setEnabled(False)
        self.skip_button.clicked.connect(self.skipRequested)
        self.can_skip = False  # the engine's CancelToken offers skip_current
        self.current = ElidedLabel("")
        self.current.setObjectName("batch_current")
        # its text changes with every report: its width must never re-lay out the window
        self.current.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every row (and the results kept in memory)")
        self.clear_button.clicked.connect(self.clearRequested)
        self.summary = QLabel("No files queued.")
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.skip_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(bar)
        layout.addWidget(self.current)
        layout.addWidget(self.summary)
        self._status_widened = False
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(100)
        self._refresh.timeout.connect(self.flush)
        state.rowsAdded.connect(self._schedule)
        state.rowChanged.connect(self._schedule)
        state.rowsCleared.connect(self.flush)

    # ------------------------------------------------------------------ coalesced refresh
    def _schedule(self, *_args: Any) -> None:
        if not self._refresh.isActive():
            self._refresh.start()

    def flush(self) -> None:
        """Apply pending progress and summary updates now. The bar counts the table's rows:
        finished (done, failed or cancelled) of all rows, so it agrees with the table."""
        self._refresh.stop()
        c = self.state.counts()
        total = len(self.state.rows)
        finished = c[DONE] + c[FAILED] + c[CANCELLED]
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(finished, max(total, 1)))
        self.progress.setFormat("%v / %m finished" if total else "")
        self.update_summary()
        self._widen_status()

    def _widen_status(self) -> None:
        """The first "done ⚠ out of domain" row widens the Status column to show it whole
        (once: the user may narrow it again)."""
        if self._status_widened or not any(r.domain_warning for r in self.state.rows):
            return
        self._status_widened = True
        width = self.table.fontMetrics().horizontalAdvance(OUT_OF_DOMAIN_STATUS) + 16
        self.table.setColumnWidth(1, max(self.table.columnWidth(1), width))

    def set_unit(self, choice: str) -> None:
        self.model.set_unit(choice)
        self.update_summary()

    def update_summary(self) -> None:
        self.model.depth_unit()  # the headers follow when the unit changed
        choice = self.model.unit_choice
        text = self.state.summary_text(choice) if self.state.rows else "No files queued."
        if text != self.summary.text():
            self.summary.setText(text)

    def set_progress(self, done: int, total: int) -> None:
        """A batch job reported ``done`` of ``total``: refresh (the bar counts rows)."""
        if done >= total:
            self.flush()
        else:
            self._schedule()

    def set_current_file(self, text: str) -> None:
        """What the running batch does now ("hole_2.png: tiles 12/40, 3 s left")."""
        self.current.setText(text)

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.skip_button.setEnabled(running and self.can_skip)
        if not running:
            self.current.setText("")
        if not running:
            self.flush()

    def select_row_id(self, row_id: int) -> None:
        try:
            index = self.state.index_of(row_id)
        except KeyError:
            return
        selection = self.table.selectionModel()
        self.table.blockSignals(True)
        selection.blockSignals(True)
        self.table.selectRow(index)
        selection.blockSignals(False)
        self.table.blockSignals(False)
        self.table.scrollTo(self.model.index(index, 0))

    def status_text(self, index: int) -> str:
        value = self.model.data(self.model.index(index, 1))
        return "" if value is None else str(value)

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._on_clicked(current)

    def _on_clicked(self, index: QModelIndex) -> None:
        if index.isValid() and 0 <= index.row() < len(self.state.rows):
            self.rowActivated.emit(self.state.rows[index.row()].row_id)
