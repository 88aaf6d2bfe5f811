"""The batch's results: what each finished image updates, which result is shown (and
re-predicted when its arrays were dropped), stepping through results, a loaded ground
truth, cancelling and clearing the queue."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from core.io import read_depth

from ..state import DONE, QUEUED, DisplayData
from ..widgets.batch_panel import BatchPanel
from ..widgets.display_controls import DisplayControls
from ..workers import Task, TaskFailure
from .context import WindowContext

log = logging.getLogger(__name__)

DEPTH_FILTER = "Depth maps (*.png *.tif *.tiff);;All files (*)"


class ResultsController(QObject):
    """Turns the batch runner's signals into queue-table updates and the shown result.

    :attr:`show_next` (set when the user opens files) shows the next finished image;
    ``groundTruthLoaded(DisplayData)`` fires when a truth map joined the shown result.
    """

    groundTruthLoaded = Signal(object)

    def __init__(
        self,
        ctx: WindowContext,
        panel: BatchPanel,
        controls: DisplayControls,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.panel = panel
        self.controls = controls
        self.show_next = False
        self._pending_show: int | None = None
        batch = ctx.batch
        batch.itemReady.connect(self._on_item_ready)
        batch.progressChanged.connect(self._on_progress)
        batch.jobStarted.connect(self._on_job_started)
        batch.jobFinished.connect(self._on_job_finished)
        batch.jobFailed.connect(self._on_job_failed)
        panel.rowActivated.connect(self.show_row)
        panel.cancelRequested.connect(self.cancel_batch)
        panel.skipRequested.connect(self.skip_file)
        panel.can_skip = batch.can_skip
        panel.clearRequested.connect(self.clear_queue)

    # the batch runner ---------------------------------------------------------
    def _on_job_started(self, _n_images: int) -> None:
        self.panel.set_running(True)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.panel.set_progress(done, total)
        self.panel.set_current_file(message if done < total else "")

    def _on_item_ready(self, row_id: int, item: Any) -> None:
        if item.status == DONE and item.result is not None:
            if self._pending_show == row_id or self.show_next:
                self._pending_show = None
                self.show_next = False
                self._display_item(row_id, item)
        elif item.status != DONE:
            log.warning("%s: %s", item.source, item.error)
            if self._pending_show == row_id:
                self._pending_show = None

    def _on_job_finished(self, summary: Any) -> None:
        self.panel.set_running(self.ctx.batch.busy)
        self.panel.update_summary()
        if summary is not None and getattr(summary, "cancelled", False):
            self.ctx.status("Batch cancelled.", 5000)

    def _on_job_failed(self, failure: TaskFailure) -> None:
        self.panel.set_running(self.ctx.batch.busy)
        self.ctx.errors.report("Batch failed", failure.message, failure.traceback)

    def cancel_batch(self) -> None:
        """Stop the batch (and a running export) within one image; drop queued rows."""
        self.ctx.batch.cancel()
        self.ctx.tasks.cancel("export")
        self.ctx.status("Cancelling...", 3000)

    def skip_file(self) -> None:
        """Abandon the file being predicted; the batch goes on with the next one."""
        if self.ctx.batch.skip_current():
            self.ctx.status("Skipping the current file...", 3000)

    def clear_queue(self) -> None:
        if self.ctx.batch.busy:
            self.ctx.status("Cancel the running batch before clearing.", 5000)
            return
        self.ctx.state.clear()

    # showing ------------------------------------------------------------------
    def _requeue_and_show(self, row_id: int, message: str) -> None:
        self.ctx.status(message, 5000)
        self._pending_show = row_id
        self.ctx.state.set_status(row_id, QUEUED)
        self.ctx.batch.start_if_idle()

    def show_row(self, row_id: int) -> None:
        """Show a finished row (re-running it when its arrays were dropped from memory)."""
        state = self.ctx.state
        try:
            row = state.row(row_id)
        except KeyError:
            return
        item = state.cache.get(row_id)
        if item is not None:
            self._display_item(row_id, item)
        elif row.status == DONE:
            self._requeue_and_show(row_id, f"Recomputing {row.source.name}...")
        elif row.error:
            self.ctx.status(f"{row.source.name}: {row.error}", 10000)
        else:
            self.ctx.status(f"{row.source.name}: {row.status}", 5000)

    def repredict_current(self) -> None:
        """Drop every cached result and re-predict the shown image (its settings changed)."""
        state = self.ctx.state
        state.cache.clear()
        cur = state.current
        if cur is None or cur.row_id is None:
            return
        try:
            row = state.row(cur.row_id)
        except KeyError:
            return
        if row.status != DONE:
            return  # queued or running rows pick up the new setting
        self._requeue_and_show(cur.row_id, f"Re-predicting {row.source.name}...")

    def _display_item(self, row_id: int, item: Any) -> None:
        try:
            data = DisplayData.from_item(item, row_id)
        except ValueError as exc:
            self.ctx.status(str(exc), 8000)
            return
        data.show_denoised = self.controls.sem_denoised_check.isChecked()
        self.ctx.state.set_current(data)
        self.panel.select_row_id(row_id)

    def _step(self, delta: int) -> None:
        state = self.ctx.state
        ids = [r.row_id for r in state.rows if r.status == DONE]
        if not ids:
            return
        cur = state.current.row_id if state.current is not None else None
        i = ids.index(cur) + delta if cur in ids else 0 if delta > 0 else len(ids) - 1
        if 0 <= i < len(ids):
            self.show_row(ids[i])

    def show_previous(self) -> None:
        self._step(-1)

    def show_next_result(self) -> None:
        self._step(+1)

    # ground truth -------------------------------------------------------------
    def load_ground_truth(self, path: Path) -> Task | None:
        """Read a true depth map for the shown result (worker thread) and show the error."""
        state = self.ctx.state
        data = state.current
        if data is None:
            self.ctx.status("Open an image before loading its ground truth.", 5000)
            return None
        row_id = data.row_id

        def work(_emit: Any, _cancel: Any) -> Any:
            return read_depth(path)

        def ok(truth: Any) -> None:
            cur = state.current
            if cur is None or cur.row_id != row_id:
                return
            try:
                cur.set_truth(np.asarray(truth, dtype=np.float32))
            except ValueError as exc:
                self.ctx.errors.report("Ground truth does not fit", f"{path}: {exc}")
                return
            item = state.cache.get(row_id) if row_id is not None else None
            if item is not None and row_id is not None:
                item = copy.copy(item)
                item.ground_truth = cur.truth
                item.rmse = cur.rmse
                state.record_item(row_id, item)
            log.info("ground truth %s loaded (RMSE %.3f DU pooled)", path, cur.rmse or 0.0)
            state.set_current(cur)
            self.groundTruthLoaded.emit(cur)

        return self.ctx.tasks.start("load ground truth", work, ok)

    def load_ground_truth_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.ctx.window, "Load ground-truth depth map", self.ctx.last_folder, DEPTH_FILTER
        )
        if path:
            self.load_ground_truth(Path(path))
