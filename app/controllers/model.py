"""The depth model: load a checkpoint (in a worker thread), switch the device, show which
model is loaded (model panel and status bar)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QLabel

from core import resources
from core.inference import Predictor

from .. import settings as keys
from ..widgets.model_panel import ModelPanel
from ..workers import Task, TaskFailure
from .context import WindowContext

log = logging.getLogger(__name__)

#: ``MainWindow(model_path=DEFAULT_MODEL)``: load the bundled default model.
DEFAULT_MODEL: Any = object()


def load_predictor(path: Path, device: str | None) -> Any:
    """A :class:`~core.inference.Predictor` from a checkpoint, warmed up (kernel selection,
    autocast set-up) here rather than on the first image. Runs in a worker thread."""
    predictor = Predictor.from_checkpoint(path, device=device)
    rows, cols = predictor.input_size
    predictor.run_model(np.zeros((1, rows, cols), np.float32))
    return predictor


def choose_model(ctx: WindowContext, title: str) -> Path | None:
    """A checkpoint chosen in a file dialog (None: cancelled)."""
    path, _ = QFileDialog.getOpenFileName(
        ctx.window, title, ctx.last_folder, "Models (*.safetensors);;All files (*)"
    )
    return Path(path) if path else None


class ModelController(QObject):
    """Owns the :class:`~core.inference.Predictor` the batch predicts with.

    ``loaded(predictor)`` fires once a checkpoint is loaded and warmed up, ``failed(message)``
    when it could not be. ``prepare(predictor)`` is called on each new predictor before it
    is used (the denoiser controller sets its denoiser there).
    """

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(
        self, ctx: WindowContext, panel: ModelPanel, status_label: QLabel, parent: QObject
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.panel = panel
        self.status_label = status_label
        self.predictor: Any = None
        self.path: Path | None = None
        self.loading = False  # a checkpoint is being loaded now
        self.prepare: Callable[[Any], None] = lambda _predictor: None

    def load_at_start(self, model_path: Any) -> None:
        """The window's first model: ``DEFAULT_MODEL`` (the one remembered by "Use this
        model", else the bundled one), a path, or None."""
        if model_path is DEFAULT_MODEL:
            model_path = self._remembered() or resources.default_model_path()
            if not Path(model_path).is_file():
                self._no_model(
                    f"No model loaded: the default model {Path(model_path).name} is missing. "
                    "Use Model > Load Model..."
                )
                model_path = None
        if model_path is not None:
            self.load(Path(model_path))
        elif self.predictor is None and not self.status_label.text():
            self._no_model("No model loaded. Use Model > Load Model...")

    def _remembered(self) -> Path | None:
        """The model "Use this model" chose, when its file is still there."""
        text = keys.MODEL_PATH.read(self.ctx.settings)
        if text and Path(text).is_file():
            return Path(text)
        if text:
            self.ctx.status(f"The remembered model {text} is missing: using the default.", 15000)
            log.warning("remembered model %s is missing; loading the default model", text)
        return None

    def _no_model(self, message: str) -> None:
        self.predictor = None
        self.ctx.batch.set_predictor(None)
        self.status_label.setText("No model loaded")
        self.panel.set_card(None)
        self.ctx.status(message, 15000)
        log.warning(message)

    def load(self, path: Path, device: str | None = None) -> Task:
        """Load a checkpoint in a worker thread; ``loaded`` fires when it is ready."""
        device = device or self.panel.device()
        self.status_label.setText(f"Loading {Path(path).name}...")
        self.loading = True

        def work(_emit: Any, _cancel: Any) -> Any:
            return load_predictor(path, device)

        def ok(predictor: Any) -> None:
            self.loading = False
            self.predictor = predictor
            self.path = Path(path)
            self.prepare(predictor)
            self.ctx.batch.set_predictor(predictor)
            dev = f"{predictor.device} ({getattr(predictor, 'fast_path', '')})"
            self.panel.set_card(predictor.card, str(path), dev)
            model_id = getattr(predictor, "model_id", Path(path).stem)
            self.status_label.setText(f"Model: {model_id} on {predictor.device}")
            log.info("model %s loaded from %s on %s", model_id, path, predictor.device)
            self.loaded.emit(predictor)
            self.ctx.batch.start_if_idle()

        def failed(f: TaskFailure) -> None:
            self.loading = False
            self._no_model(f"No model loaded: {f.message}")
            self.ctx.errors.report("Could not load the model", f.message, f.traceback)
            self.failed.emit(f.message)

        return self.ctx.tasks.start("load model", work, ok, failed)

    def load_dialog(self) -> None:
        path = choose_model(self.ctx, "Load model")
        if path is not None:
            self.load(path)

    def set_device(self, device: str) -> None:
        """Remember the device and reload the model onto it."""
        keys.DEVICE.write(self.ctx.settings, device)
        if self.path is not None:
            if self.ctx.batch.busy:
                self.ctx.status("The device change applies after the running batch.", 5000)
            self.load(self.path, device)
