"""Opening images: files, folders (recursive), globs, the bundled samples, the recent files,
drag and drop. What a folder holds is found in a worker thread, then queued."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtWidgets import QFileDialog, QMenu

from core import resources
from core.conventions import is_output_stem

from .. import settings as keys
from ..workers import Task
from .batch import expand_for_queue
from .context import WindowContext
from .model import ModelController

log = logging.getLogger(__name__)

IMAGE_FILTER = "SEM images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"


class InputsController(QObject):
    """Queues what the user opens; ``queued(files, rejected)`` fires once it is queued.

    ``show_first()`` is called when an open should show its first finished image.
    """

    queued = Signal(int, int)

    def __init__(
        self,
        ctx: WindowContext,
        model: ModelController,
        show_first: Callable[[], None],
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = model
        self.show_first = show_first

    def open_paths(
        self, paths: Sequence[str | Path], *, show_first: bool = True, note: str = ""
    ) -> Task:
        """Queue files, folders (recursive) and globs; expansion runs in a worker thread.

        ``note`` is appended to the status-bar message once the inputs are queued.
        """
        ctx = self.ctx
        inputs = [Path(p) for p in paths]
        if show_first:
            self.show_first()

        def work(_emit: Any, _cancel: Any) -> Any:
            return expand_for_queue(inputs)

        def ok(result: Any) -> None:
            accepted, rejected = result
            ctx.state.add_rows(accepted)
            for path, reason in rejected:
                ctx.state.add_failed_row(path, reason)
                log.warning("%s: %s", path, reason)
            for p in inputs:
                keys.add_recent_file(ctx.settings, p)
            if inputs:
                keys.remember_folder(ctx.settings, inputs[0])
            msg = f"Queued {len(accepted)} image(s)"
            if rejected:
                msg += f"; {len(rejected)} input(s) could not be queued"
            if self.model.predictor is None and accepted:
                if self.model.loading:
                    msg += " - they start once the model has loaded"
                else:
                    msg += " - no model loaded, load one to start"
            if note:
                msg += f". {note}"
            ctx.status(msg, 10000)
            self.queued.emit(len(accepted), len(rejected))
            ctx.batch.start_if_idle()

        return ctx.tasks.start("open", work, ok)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self.ctx.window, "Open SEM images", self.ctx.last_folder, IMAGE_FILTER
        )
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.ctx.window, "Open folder of SEM images", self.ctx.last_folder
        )
        if folder:
            self.open_paths([folder])

    def open_samples(self) -> Task | None:
        try:
            samples = resources.sample_images()
        except OSError as exc:
            samples = []
            log.warning("no sample images: %s", exc)
        # ground-truth maps bundled beside the samples (x_depth.png) are not SEM images
        samples = [s for s in samples if not is_output_stem(s.stem)]
        if not samples:
            self.ctx.status("No sample images are bundled with this build.", 8000)
            return None
        return self.open_paths(samples)

    def open_urls(self, urls: Sequence[QUrl]) -> bool:
        """A drop: open the local files and folders, refuse the rest; True when any opened."""
        local = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        remote = [u.toString() for u in urls if not u.isLocalFile()]
        msg = ""
        if remote:
            msg = (
                f"Refused {len(remote)} non-local item(s) (only files and folders on this "
                f"computer can be opened): {', '.join(remote[:3])}"
            )
            self.ctx.status(msg, 10000)
            log.warning(msg)
        if not local:
            return False
        self.open_paths(local, note=msg if remote else "")
        return True

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        items = keys.recent_files(self.ctx.settings)
        if not items:
            a = menu.addAction("(none)")
            a.setEnabled(False)
            return
        for p in items:
            a = menu.addAction(p)
            a.triggered.connect(lambda _c=False, p=p: self.open_paths([p]))
        menu.addSeparator()
        menu.addAction("Clear Recent Files", lambda: keys.clear_recent_files(self.ctx.settings))
