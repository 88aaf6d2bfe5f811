""" "Denoise first (Noise2Self)": load a denoiser checkpoint (in a worker thread), give it to
the predictor when the model panel's box is ticked, remember the choice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from core.device import resolve_device
from core.inference import load_denoiser

from .. import settings as keys
from ..widgets.model_panel import ModelPanel
from ..workers import Task, TaskFailure
from .context import WindowContext
from .model import ModelController

log = logging.getLogger(__name__)


class DenoiserController(QObject):
    """Owns the loaded Noise2Self denoiser and the "Denoise first" choice.

    ``loaded(denoiser)`` / ``failed(message)`` report each load. ``choose_path() -> Path |
    None`` asks for a denoiser checkpoint (a file dialog; tests replace it).
    ``repredict()`` re-predicts the shown image when the choice changes.
    """

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        ctx: WindowContext,
        model: ModelController,
        panel: ModelPanel,
        repredict: Callable[[], None],
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = model
        self.panel = panel
        self.repredict = repredict
        self.denoiser: Any = None  # the loaded Noise2SelfDenoiser, used when the box is ticked
        self.path: Path | None = None
        self.choose_path: Callable[[], Path | None] = self._file_dialog

    def wanted(self) -> Any:
        """The denoiser new predictions use: the loaded one when the box is ticked."""
        return self.denoiser if self.panel.denoise_enabled() else None

    def configure(self, predictor: Any) -> None:
        """Give a newly loaded predictor the wanted denoiser."""
        want = self.wanted()
        predictor.set_denoiser(want, source=self.path if want is not None else None)

    def _file_dialog(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self.ctx.window,
            "Load Noise2Self denoiser",
            self.ctx.last_folder,
            "Denoisers (*.safetensors);;All files (*)",
        )
        return Path(path) if path else None

    def restore(self) -> None:
        """Start-up: load the remembered denoiser when "Denoise first" was on."""
        enabled, path = keys.denoise_settings(self.ctx.settings)
        self.path = Path(path) if path else None
        if self.path is not None:
            self.panel.set_denoiser_info(None, note=f"Denoiser: {self.path.name} (not loaded)")
        if not enabled:
            return
        if self.path is None or not self.path.is_file():
            msg = f"Denoise first is off: the denoiser {self.path or ''} is missing."
            self.ctx.status(msg, 15000)
            log.warning(msg)
            return
        self.panel.set_denoise_checked(True)
        self.load(self.path)

    def save(self) -> None:
        keys.save_denoise_settings(self.ctx.settings, self.panel.denoise_enabled(), self.path)

    def _set_checked(self, on: bool) -> None:
        self.panel.set_denoise_checked(on)
        keys.DENOISE_ENABLED.write(self.ctx.settings, bool(on))

    def set_enabled(self, on: bool) -> Task | None:
        """Turn "Denoise first (Noise2Self)" on or off (the model panel's box calls this).

        New predictions use the choice, starting with the shown image, which is
        re-predicted; cached results of other rows are dropped so they re-predict when
        shown. Turning it on with no denoiser loaded loads the remembered one, or asks for a
        file (:attr:`choose_path`); returns that loading task.
        """
        self._set_checked(on)
        if on and self.denoiser is None:
            path = self.path
            if path is None or not path.is_file():
                path = self.choose_path()
            if path is None:
                self._set_checked(False)
                self.ctx.status("Denoise first: no denoiser chosen.", 5000)
                return None
            return self.load(Path(path))
        self._apply()
        return None

    def load(self, path: Path, *, enable: bool = True) -> Task:
        """Load a Noise2Self denoiser checkpoint in a worker thread; ``loaded`` fires when
        it is ready. ``enable`` ticks "Denoise first" once loaded; new predictions wait for
        the denoiser meanwhile."""
        path = Path(path)
        device = self.panel.device()
        batch = self.ctx.batch
        self.panel.set_denoiser_info(None, note=f"Loading denoiser {path.name}...")
        if enable:
            batch.set_enabled(False)  # queued images wait for the denoiser

        def release() -> None:
            if enable:
                batch.set_enabled(True)
                batch.start_if_idle()

        def work(_emit: Any, _cancel: Any) -> Any:
            return load_denoiser(path, device=resolve_device(device))

        def ok(denoiser: Any) -> None:
            self.denoiser = denoiser
            self.path = path
            keys.DENOISE_PATH.write(self.ctx.settings, str(path))
            self.panel.set_denoiser_info(denoiser.model_id, str(path))
            if enable:
                self._set_checked(True)
            log.info("denoiser %s loaded from %s", denoiser.model_id, path)
            self.loaded.emit(denoiser)
            self._apply()
            release()

        def failed(f: TaskFailure) -> None:
            if self.denoiser is None:
                self._set_checked(False)
                self.panel.set_denoiser_info(None)
            else:
                self.panel.set_denoiser_info(self.denoiser.model_id, str(self.path or ""))
            self.ctx.errors.report("Could not load the denoiser", f.message, f.traceback)
            self.failed.emit(f.message)
            release()

        return self.ctx.tasks.start("load denoiser", work, ok, failed)

    def load_dialog(self) -> None:
        path = self.choose_path()
        if path:
            keys.remember_folder(self.ctx.settings, Path(path))
            self.load(Path(path))

    def on_device_changed(self, _device: str) -> None:
        """Reload the loaded denoiser onto the newly chosen device."""
        if self.denoiser is not None and self.path is not None:
            self.load(self.path, enable=False)

    def _apply(self) -> None:
        """Give the predictor the wanted denoiser; re-predict the shown image if it changed."""
        want = self.wanted()
        pred = self.model.predictor
        if pred is None or pred.denoiser is want:
            return
        pred.set_denoiser(want, source=self.path if want is not None else None)
        log.info("denoise first %s", f"on ({want.model_id})" if want is not None else "off")
        self.repredict()
