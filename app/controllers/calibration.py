"""Model > Calibrate to my tool...: runs :func:`core.calibrate.calibrate` in a worker thread
for the loaded model, feeds the dialog (progress, live loss, the result), and "Use this
model" loads the calibrated checkpoint and remembers it."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.calibrate import CalibrationError, CalibrationRequest, calibrate
from core.progress import Progress

from .. import settings as keys
from ..dialogs.calibrate_dialog import CalibrateDialog
from ..workers import Task, TaskFailure
from .context import WindowContext
from .model import ModelController

log = logging.getLogger(__name__)

TASK = "calibrate"
PROGRESS_EVERY_S = 0.1  # the worker sends progress at most this often


class CalibrationController(QObject):
    """``finished(result)`` once a calibration saved its model; ``failed(message)`` when it
    was refused, failed or cancelled (nothing written then)."""

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, ctx: WindowContext, model: ModelController, parent: QObject) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = model
        self.dialog: CalibrateDialog | None = None
        self.task: Task | None = None
        self.result: Any = None

    def open_dialog(self) -> CalibrateDialog | None:
        """Show the dialog for the loaded model (a status message when none is loaded)."""
        if self.model.path is None:
            self.ctx.status("Load a model first (Model > Load Model...).", 8000)
            return None
        if self.dialog is None:
            self.dialog = CalibrateDialog(
                self.ctx.window, model_name=self.model.path.name, folder=self.ctx.last_folder
            )
            self.dialog.startRequested.connect(self.start)
            self.dialog.cancelRequested.connect(self.cancel)
            self.dialog.useRequested.connect(self.use_model)
        self.dialog.setWindowTitle(f"Calibrate {self.model.path.name} to my tool")
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _request(self) -> CalibrationRequest | None:
        assert self.dialog is not None and self.model.path is not None
        v = self.dialog.values()
        if v["images"] is None:
            self.dialog.show_message("Choose the folder of images of your tool.")
            return None
        out = v["out"] or v["images"].parent / f"{v['images'].name}_calibrated.safetensors"
        try:
            request = CalibrationRequest(
                model=self.model.path, images=v["images"], out=out,
                averages_csv=v["averages"], references_csv=v["references"],
                budget_s=v["budget_s"], overwrite=out.exists() and self._replace(out),
            )  # fmt: skip
            request.check_paths()
        except CalibrationError as exc:
            self.dialog.show_message(str(exc))
            return None
        return request

    def _replace(self, out: Path) -> bool:
        return self.ctx.ask("Replace model?", f"{out} exists. Replace it?")

    def start(self) -> Task | None:
        """Start the calibration the dialog describes (refusals go to its status line)."""
        if self.dialog is None or (self.task is not None and self.task.is_running()):
            return None
        request = self._request()
        if request is None:
            return None
        dialog = self.dialog
        dialog.set_running(True)
        dialog.show_message("Starting...")

        def work(emit: Any, cancel: Any) -> Any:
            last = [0.0]

            def progress(p: Progress) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S or p.done >= p.total:
                    last[0] = now
                    emit(("progress", p))

            def loss(losses: dict[str, float]) -> None:
                if "loss" in losses:
                    emit(("loss", losses["loss"]))

            return calibrate(request, progress=progress, cancel=cancel, on_loss=loss)

        def message(payload: Any) -> None:
            kind, value = payload
            if kind == "progress":
                dialog.set_progress(value.done, value.total, value.message)
            else:
                dialog.add_losses([value])

        def ok(result: Any) -> None:
            self.result = result
            dialog.set_running(False)
            dialog.set_progress(1, 1, f"Saved {result.out} (model {result.card.get('id')}).")
            dialog.show_result(result.section, result.references)
            log.info("calibrated model saved to %s", result.out)
            self.finished.emit(result)

        def failed(f: TaskFailure) -> None:
            dialog.set_running(False)
            if f.cancelled:
                dialog.show_message("Cancelled: nothing was written.")
            elif isinstance(f.exception, CalibrationError):
                dialog.show_message(f.message)
            else:
                dialog.show_message(f"Calibration failed: {f.message}")
                self.ctx.errors.report("Calibration failed", f.message, f.traceback)
            self.failed.emit("cancelled" if f.cancelled else f.message)

        self.task = self.ctx.tasks.start(TASK, work, ok, failed, message)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def use_model(self) -> Task | None:
        """Load the calibrated model and remember it for the next start."""
        if self.result is None:
            return None
        path = Path(self.result.out)
        keys.MODEL_PATH.write(self.ctx.settings, str(path))
        self.ctx.status(f"Using the calibrated model {path.name}.", 8000)
        return self.model.load(path)
