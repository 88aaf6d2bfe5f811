"""Export: depth maps of the shown result or of every finished result, written through
:mod:`core.batch` (the same files and names as ``semdepth predict``), and images of the
view (clipboard, PNG).

One naming rule for both scopes (:func:`export_stems`): the CLI's
:class:`core.batch.StemNamer` over the finished results, so the shown image is written
under the name that exporting all would give it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from core.batch import StemNamer, run_batch, write_outputs
from core.io.atomic import OutputExistsError

from .. import settings as keys
from ..dialogs.export_dialog import ExportDialog, ExportRequest
from ..views.image_view import LinkedImageView
from ..workers import Task, TaskFailure
from .batch import path_key
from .context import WindowContext
from .model import ModelController

log = logging.getLogger(__name__)


def export_stems(sources: Sequence[Path]) -> dict[str, str]:
    """Output stem of each source (by :func:`path_key`), as ``core.batch.run_batch`` names
    them when given ``sources`` (duplicates dropped, order kept)."""
    unique: dict[str, Path] = {}
    for p in sources:
        unique.setdefault(path_key(p), Path(p))
    namer = StemNamer(list(unique.values()))
    return {k: namer(p) for k, p in unique.items()}


class ExportController(QObject):
    """Writes results in a worker thread; never overwrites without asking.

    ``finished`` carries the written files (current: kind -> path) or the
    :class:`core.batch.BatchSummary` (all); ``failed`` the reason.
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        ctx: WindowContext,
        model: ModelController,
        view: LinkedImageView,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = model
        self.view = view

    def done_sources(self) -> list[Path]:
        return [r.source for r in self.ctx.state.done_rows()]

    def dialog(self) -> None:
        state = self.ctx.state
        n_done = len(state.done_rows())
        if state.current is None and n_done == 0:
            self.ctx.status("Nothing to export yet.", 5000)
            return
        dlg = ExportDialog(
            self.ctx.window,
            folder=keys.export_folder(self.ctx.settings),
            has_current=state.current is not None,
            n_done=n_done,
        )
        if dlg.exec() != ExportDialog.DialogCode.Accepted:
            return
        request = dlg.request()
        if request is None:
            self.ctx.status("Export needs a folder and at least one format.", 5000)
            return
        self.export(request)

    def export(self, request: ExportRequest, *, overwrite: bool | None = None) -> Task | None:
        """Write results through ``core.batch`` (same files as ``semdepth predict``).

        Never overwrites without asking: ``current`` asks when a file exists, ``all`` asks
        when the folder is not empty. ``overwrite`` skips the question (tests, re-tries).
        """
        keys.EXPORT_FOLDER.write(self.ctx.settings, str(request.out_dir))
        if request.scope == "current":
            return self._export_current(request, bool(overwrite))
        return self._export_all(request, overwrite)

    def current_stem(self) -> str | None:
        """The shown result's output stem (None when nothing is shown)."""
        data = self.ctx.state.current
        if data is None:
            return None
        if data.source is None:
            return "depth"
        sources = self.done_sources()
        if path_key(data.source) not in {path_key(s) for s in sources}:
            sources.append(data.source)
        return export_stems(sources)[path_key(data.source)]

    def _export_current(self, request: ExportRequest, overwrite: bool) -> Task | None:
        state = self.ctx.state
        data = state.current
        item = state.cache.get(data.row_id) if data and data.row_id is not None else None
        stem = self.current_stem()
        if data is None or item is None or stem is None:
            self.ctx.status("No result to export.", 5000)
            return None
        out_dir, formats = request.out_dir, request.formats

        def work(_emit: Any, _cancel: Any) -> Any:
            out_dir.mkdir(parents=True, exist_ok=True)
            return write_outputs(item, out_dir, formats=formats, stem=stem, overwrite=overwrite)

        def ok(outputs: Any) -> None:
            self.ctx.status(f"Exported {stem} to {out_dir}", 8000)
            log.info("exported %s: %s", stem, ", ".join(str(p) for p in dict(outputs).values()))
            self.finished.emit(outputs)

        def failed(f: TaskFailure) -> None:
            if isinstance(f.exception, OutputExistsError | FileExistsError) and not overwrite:
                if self.ctx.ask("Overwrite?", f"{f.message}\n\nOverwrite the existing files?"):
                    self._export_current(request, True)
                    return
                self.ctx.status("Export cancelled: files exist.", 8000)
                self.failed.emit(f.message)
                return
            self.ctx.report_failure(f)
            self.failed.emit(f.message)

        return self.ctx.tasks.start("export", work, ok, failed)

    def _export_all(self, request: ExportRequest, overwrite: bool | None) -> Task | None:
        predictor = self.model.predictor
        if predictor is None:
            self.ctx.status("Load a model before exporting all results.", 5000)
            return None
        sources = self.done_sources()
        if not sources:
            self.ctx.status("No finished results to export.", 5000)
            return None
        out_dir, formats = request.out_dir, request.formats
        if overwrite is None:
            overwrite = False
            if out_dir.is_dir() and any(out_dir.iterdir()):
                if not self.ctx.ask(
                    "Overwrite?",
                    f"{out_dir} is not empty. Files with the same names will be replaced.\n\n"
                    "Overwrite existing files?",
                ):
                    self.ctx.status("Export cancelled.", 5000)
                    return None
                overwrite = True

        def work(emit: Any, cancel: Any) -> Any:
            return run_batch(
                sources,
                predictor,
                out_dir,
                formats=formats,
                overwrite=bool(overwrite),
                progress=lambda p: emit(p),
                cancel=cancel,
            )

        def progress(p: Any) -> None:
            self.ctx.status(f"Exporting {p.done}/{p.total}...", 2000)

        def ok(summary: Any) -> None:
            msg = f"Exported {summary.n_done} result(s) to {out_dir}"
            if summary.n_failed:
                msg += f"; {summary.n_failed} failed (see the log)"
                for it in summary.items:
                    if it.status == "failed":
                        log.warning("export %s: %s", it.source, it.error)
            self.ctx.status(msg, 10000)
            log.info(msg)
            self.finished.emit(summary)

        return self.ctx.tasks.start("export", work, ok, on_message=progress)

    # images of the view -------------------------------------------------------
    def copy_view(self) -> None:
        QGuiApplication.clipboard().setPixmap(self.view.grab())
        self.ctx.status("View copied to the clipboard.", 3000)

    def save_view(self, path: Path, *, overwrite: bool = False) -> bool:
        path = Path(path)
        if path.exists() and not overwrite and not self.ctx.ask("Overwrite?", f"Replace {path}?"):
            return False
        ok = self.view.grab().save(str(path), "PNG")
        if not ok:
            self.ctx.errors.report(
                "Could not save the view", f"{path}: the PNG could not be written"
            )
        return bool(ok)

    def save_view_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.ctx.window, "Save view as PNG", self.ctx.last_folder, "PNG images (*.png)"
        )
        if path:
            # the file dialog already asked about replacing an existing file
            self.save_view(Path(path), overwrite=True)
