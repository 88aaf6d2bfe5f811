"""Export: depth maps of the shown result or of every result, written through
:mod:`core.batch` (the same files and names as ``semdepth predict``), and images of the
view (clipboard, PNG).

One naming rule for both scopes (:func:`export_stems`): the CLI's
:class:`core.batch.StemNamer` over the exported inputs, so the shown image is written
under the name that exporting all would give it. Results already computed are written
from memory (:func:`core.batch.write_outputs`), not predicted again; only those dropped
from memory are. ``summary.csv`` lists failed files too. The colour PNG uses the shown
unit and colour map (when the writer has it; viridis otherwise).

Reports (File > Export Report..., File > Export Batch Report...): the self-contained HTML
report of the shown result (:func:`core.report.write_report`), or of every result with the
batch's ``report.html`` beside them (:func:`core.report.write_batch_report`, the rows
``semdepth predict --format report`` writes); in a worker thread, atomically, never
replacing a file without asking.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QProgressBar

from core import report
from core.batch import (
    BatchItem,
    BatchSummary,
    ColourPng,
    StemNamer,
    SummaryWriter,
    capture_failure,
    run_batch,
    run_items,
    write_outputs,
)
from core.batch.trust_stats import batch_report_row, free_name
from core.conventions import BATCH_REPORT_NAME, output_name
from core.io.atomic import OutputExistsError
from core.io.colormaps import COLORMAPS

from .. import settings as keys
from ..dialogs.export_dialog import ExportDialog, ExportRequest
from ..state import DONE, FAILED, QueueRow
from ..views.image_view import LinkedImageView
from ..workers import Task, TaskFailure
from .batch import path_key
from .context import WindowContext
from .model import ModelController

log = logging.getLogger(__name__)

REPORT_FILTER = "HTML reports (*.html)"


def _drop_arrays(item: BatchItem) -> None:
    """The exported copy lets go of its arrays (the result cache keeps its own)."""
    item.result = None
    item.ground_truth = None


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
        progress: QProgressBar,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = model
        self.view = view
        self.progress = progress

    def export_rows(self) -> list[QueueRow]:
        """The rows an export of all lists: the finished ones and the failed ones."""
        return [r for r in self.ctx.state.rows if r.status in (DONE, FAILED)]

    def done_sources(self) -> list[Path]:
        return [r.source for r in self.export_rows()]

    def colour_png(self) -> ColourPng:
        """The colour PNG as the view shows depth: its unit and (if the writer has it) its
        colour map."""
        units = self.view.units
        cmap = self.view.depth_cmap if self.view.depth_cmap in COLORMAPS else "viridis"
        return ColourPng(cmap=cmap, scale=units.depth_scale, unit=units.depth_unit)

    def _show_progress(self, done: int, total: int, text: str = "") -> None:
        bar = self.progress
        bar.setRange(0, max(total, 1))
        bar.setValue(done)
        bar.setFormat(f"Export %v / %m{(' - ' + text) if text else ''}")
        bar.setVisible(done < total)

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
        out_dir, formats, colour = request.out_dir, request.formats, self.colour_png()
        self._show_progress(0, 1, stem)

        def work(_emit: Any, _cancel: Any) -> Any:
            out_dir.mkdir(parents=True, exist_ok=True)
            return write_outputs(
                item, out_dir, formats=formats, stem=stem, overwrite=overwrite, colour=colour
            )

        def ok(outputs: Any) -> None:
            self._show_progress(1, 1)
            self.ctx.status(f"Exported {stem} to {out_dir}", 8000)
            log.info("exported %s: %s", stem, ", ".join(str(p) for p in dict(outputs).values()))
            self.finished.emit(outputs)

        def failed(f: TaskFailure) -> None:
            self._show_progress(1, 1)
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
        state = self.ctx.state
        rows = self.export_rows()
        done = [r for r in rows if r.status == DONE]
        if not done:
            self.ctx.status("No finished results to export.", 5000)
            return None
        cached = {r.row_id: state.cache.get(r.row_id) for r in done}
        predictor = self.model.predictor
        if predictor is None and any(v is None for v in cached.values()):
            self.ctx.status("Load a model: some results must be predicted again.", 5000)
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
        stems = export_stems([r.source for r in rows])
        colour, replace = self.colour_png(), bool(overwrite)
        model_id = self._model_id(cached.values())
        batch = self.ctx.batch  # a row dropped from memory is predicted as the queue did

        def process(index: int, path: Path, cancel: Any) -> BatchItem:
            row = rows[index]
            if row.status == FAILED:  # listed in summary.csv with its reason
                return BatchItem(
                    index, path, "failed", row.error or "failed", None, None, None, {}, 0.0
                )
            source = cached.get(row.row_id)
            if source is None:  # dropped from memory: predict it again
                source = run_batch(
                    [path], predictor, None, keep_results=True, cancel=cancel,
                    tta=batch.tta, scale_policy=batch.scale_policy,
                )  # fmt: skip
                source = source.items[0]
                if source.status != DONE:
                    return source
            item = copy.copy(source)
            item.index, item.status, item.error = index, FAILED, None
            with capture_failure(item, path, log):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                item.outputs = write_outputs(
                    source,
                    out_dir,
                    formats=formats,
                    stem=stems[path_key(path)],
                    overwrite=replace,
                    colour=colour,
                )
                item.status = DONE
            item.seconds = source.seconds  # the summary's time is the prediction's
            return item

        def work(emit: Any, cancel: Any) -> Any:
            out_dir.mkdir(parents=True, exist_ok=True)
            run = run_items(
                [r.source for r in rows],
                lambda i, p: process(i, p, cancel),
                progress=emit,
                cancel=cancel,
                release=_drop_arrays,
                writer=SummaryWriter(out_dir, overwrite=replace),
            )
            if "report" in formats and run.items:
                report.write_batch_report(
                    [batch_report_row(item) for item in run.items],
                    free_name(out_dir / BATCH_REPORT_NAME, overwrite=replace),
                    title=f"Batch report: {len(run.items)} input(s), model {model_id}",
                    overwrite=replace,
                )
            return BatchSummary(run.items, run.n_done, run.n_failed, run.cancelled, run.summary_csv)

        def progress(p: Any) -> None:
            self._show_progress(p.done, p.total, p.message)
            self.ctx.status(f"Exporting {p.done}/{p.total}...", 2000)

        def ok(summary: Any) -> None:
            self._show_progress(1, 1)
            msg = f"Exported {summary.n_done} result(s) to {out_dir}"
            if summary.n_failed:
                msg += f"; {summary.n_failed} failed file(s) listed in the summary"
                for it in summary.items:
                    if it.status == FAILED:
                        log.warning("export %s: %s", it.source, it.error)
            self.ctx.status(msg, 10000)
            log.info(msg)
            self.finished.emit(summary)

        def failed(f: TaskFailure) -> None:
            self._show_progress(1, 1)
            self.ctx.report_failure(f)
            self.failed.emit(f.message)

        self._show_progress(0, len(rows))
        return self.ctx.tasks.start("export", work, ok, failed, on_message=progress)

    def _model_id(self, items: Any) -> str:
        """The model that made the results (the loaded one when none is in memory)."""
        ids = sorted({str(i.result.model_id) for i in items if i is not None and i.result})
        if ids:
            return ", ".join(ids)
        predictor = self.model.predictor
        return str(getattr(predictor, "model_id", "unknown"))

    # reports ------------------------------------------------------------------
    def report_dialog(self) -> None:
        """File > Export Report...: where to write the shown result's HTML report."""
        stem = self.current_stem()
        if stem is None:
            self.ctx.status("Nothing to report yet: open an image.", 5000)
            return
        start = Path(keys.export_folder(self.ctx.settings)) / output_name(stem, "report_html")
        path, _ = QFileDialog.getSaveFileName(
            self.ctx.window, "Export report", str(start), REPORT_FILTER
        )
        if path:
            # the file dialog already asked about replacing an existing file
            self.export_report(Path(path), overwrite=True)

    def export_report(self, path: Path, *, overwrite: bool = False) -> Task | None:
        """Write the shown result's self-contained HTML report to ``path`` (worker thread,
        atomic). An existing file is replaced only with ``overwrite`` or when the user says
        so. ``finished`` carries ``{"report_html": path}``."""
        state = self.ctx.state
        data = state.current
        item = state.cache.get(data.row_id) if data and data.row_id is not None else None
        if item is None or item.result is None:
            self.ctx.status("No result to report.", 5000)
            return None
        result, path = item.result, Path(path)

        def work(_emit: Any, _cancel: Any) -> Any:
            path.parent.mkdir(parents=True, exist_ok=True)
            return report.write_report(result, path, overwrite=overwrite)

        def ok(written: Any) -> None:
            self._show_progress(1, 1)
            self.ctx.status(f"Report written to {written}", 8000)
            log.info("report of %s written to %s", result.sem.path or "image", written)
            self.finished.emit({"report_html": Path(written)})

        def failed(f: TaskFailure) -> None:
            self._show_progress(1, 1)
            if isinstance(f.exception, OutputExistsError | FileExistsError) and not overwrite:
                if self.ctx.ask("Overwrite?", f"{f.message}\n\nReplace the existing report?"):
                    self.export_report(path, overwrite=True)
                    return
                self.ctx.status("Report not written: the file exists.", 8000)
                self.failed.emit(f.message)
                return
            self.ctx.report_failure(f)
            self.failed.emit(f.message)

        self._show_progress(0, 1, path.name)
        keys.EXPORT_FOLDER.write(self.ctx.settings, str(path.parent))
        return self.ctx.tasks.start("export", work, ok, failed)

    def batch_report_dialog(self) -> None:
        """File > Export Batch Report...: a folder for every result's report and the
        batch's report.html."""
        if not self.ctx.state.done_rows():
            self.ctx.status("No finished results to report.", 5000)
            return
        folder = QFileDialog.getExistingDirectory(
            self.ctx.window, "Export batch report to folder", keys.export_folder(self.ctx.settings)
        )
        if folder:
            self.export_batch_report(Path(folder))

    def export_batch_report(self, folder: Path, *, overwrite: bool | None = None) -> Task | None:
        """Every finished result's report and the batch's ``report.html`` (with the failed
        files' rows) in ``folder``: Export all in the ``report`` format."""
        return self.export(ExportRequest(Path(folder), ("report",), "all"), overwrite=overwrite)

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
