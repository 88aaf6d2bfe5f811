"""The batch queue's inputs and runner: what a dropped folder queues, and the worker that
runs the queued rows through :func:`core.batch.run_batch` (the CLI's loop).

:class:`BatchController` runs one job at a time in a :class:`~app.workers.Task`; rows
queued while a job runs start when it ends. Each finished image comes back as a
:class:`core.batch.BatchItem` and is stored in the :class:`~app.state.AppState`.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

# Imported here, at start-up, not lazily in a worker: a first import of the engine (torch,
# scipy, scikit-image) inside a worker thread holds the GIL long enough to freeze the GUI.
from core.batch import expand_inputs, run_batch
from core.progress import CancelToken, Progress

from ..state import CANCELLED, FAILED, QUEUED, RUNNING, AppState
from ..workers import Task, TaskFailure

log = logging.getLogger(__name__)


def path_key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(str(path)))


def expand_for_queue(inputs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to queue and rejected inputs with a reason (runs in a worker thread).

    Folders (recursive) and globs go through :func:`core.batch.expand_inputs`, so the GUI
    queues exactly what ``semdepth predict`` would process. A named file is queued as given
    even when it cannot be read: the batch then fails it with the reader's reason. A folder
    or glob that holds no image is rejected with a reason.
    """
    accepted: list[Path] = []
    rejected: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for raw in inputs:
        p = Path(raw)
        try:
            found = expand_inputs([raw])
        except Exception as exc:
            rejected.append((p, str(exc)))
            continue
        if not found:
            what = "folder" if p.is_dir() else "pattern"
            rejected.append((p, f"{what} holds no supported image files"))
        for f in found:
            k = path_key(f)
            if k not in seen:
                seen.add(k)
                accepted.append(Path(f))
    return accepted, rejected


def progress_text(p: Progress) -> str:
    """The file a batch report names and, where the engine reports it, the progress inside
    it ("hole_2.png: tiles 12/40, 3 s left")."""
    describe = getattr(p, "describe", None)
    inner = getattr(p, "inner", None)
    if inner is not None and callable(describe):
        return f"{p.message}: {describe()}" if p.message else str(describe())
    return p.message


class BatchController(QObject):
    """Runs the queued rows of an :class:`AppState` through ``core.batch.run_batch``.

    One batch job at a time, in a worker thread; rows queued while a job runs start when it
    ends. Signals (GUI thread): ``itemReady(row_id, BatchItem)`` for each finished image,
    ``progressChanged(done, total, message)``; once the worker thread has stopped,
    ``jobFinished(BatchSummary | None)`` (None: cancelled before run_batch returned) or
    ``jobFailed(TaskFailure)``.
    """

    itemReady = Signal(int, object)
    progressChanged = Signal(int, int, str)  # done, total, what runs now (file, tiles, ETA)
    jobStarted = Signal(int)
    jobFinished = Signal(object)
    jobFailed = Signal(object)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.predictor: Any = None
        self.mode = "auto"
        #: the panel's "Scale policy" and "Test-time flips" (the next job uses them)
        self.scale_policy = "auto"
        self.tta = "auto"
        self.task: Task | None = None
        self._job_rows: list[list[int]] = []  # per unique input, the row ids it serves
        self._job_keys: list[str] = []
        self._key_to_index: dict[str, int] = {}
        self._enabled = True
        self._outcome: Any = None

    @property
    def busy(self) -> bool:
        return self.task is not None

    def set_predictor(self, predictor: Any) -> None:
        self.predictor = predictor

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def start_if_idle(self) -> bool:
        """Start a job for every queued row if none runs and a model is loaded."""
        if self.task is not None or self.predictor is None or not self._enabled:
            return False
        rows = self.state.queued_rows()
        if not rows:
            return False
        keys: list[str] = []
        groups: list[list[int]] = []
        paths: list[Path] = []
        index: dict[str, int] = {}
        for r in rows:
            k = path_key(r.source)
            if k in index:
                groups[index[k]].append(r.row_id)
            else:
                index[k] = len(keys)
                keys.append(k)
                groups.append([r.row_id])
                paths.append(r.source)
        self._job_rows, self._job_keys, self._key_to_index = groups, keys, index
        predictor, mode = self.predictor, self.mode
        scale_policy, tta = self.scale_policy, self.tta

        def job(emit: Callable[[Any], None], cancel: CancelToken) -> Any:
            def on_progress(p: Progress) -> None:
                emit(("progress", p))

            def on_item(item: Any) -> None:
                # a shallow copy: run_batch may drop the arrays from its own object afterwards
                emit(("item", copy.copy(item)))

            return run_batch(
                paths,
                predictor,
                None,
                mode=mode,
                tta=tta,
                scale_policy=scale_policy,
                keep_results=False,
                progress=on_progress,
                cancel=cancel,
                on_item=on_item,
            )

        for g in groups:
            for rid in g:
                self.state.set_status(rid, RUNNING if rid == groups[0][0] else QUEUED)
        self.task = Task("batch", job, self)
        self.task.message.connect(self._on_message)
        self.task.succeeded.connect(self._on_succeeded)
        self.task.failed.connect(self._on_failed)
        self.task.finished.connect(self._on_finished)
        self.task.start()
        self.jobStarted.emit(len(paths))
        self.progressChanged.emit(0, len(paths), "starting")
        log.info("batch started: %d image(s)", len(paths))
        return True

    @property
    def can_skip(self) -> bool:
        """Whether the engine can abandon only the file being predicted."""
        return hasattr(CancelToken, "skip_current")

    def skip_current(self) -> bool:
        """Abandon the file being predicted; the batch goes on (False: not possible)."""
        if self.task is None or not self.can_skip:
            return False
        self.task.cancel_token.skip_current()  # type: ignore[attr-defined]
        return True

    def cancel(self) -> None:
        """Stop the running job (within one image) and drop every queued row."""
        if self.task is not None:
            self.task.cancel()
        for r in self.state.queued_rows():
            self.state.set_status(r.row_id, CANCELLED, "cancelled by the user")

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel and wait for the worker thread (on window close)."""
        self._enabled = False
        task = self.task
        if task is None:
            return True
        task.cancel()
        return task.wait(timeout_ms)

    # -------------------------------------------------------------- slots (GUI thread)
    def _rows_for(self, item: Any) -> list[int]:
        idx = getattr(item, "index", None)
        k = path_key(item.source)
        if isinstance(idx, int) and 0 <= idx < len(self._job_keys) and self._job_keys[idx] == k:
            return self._job_rows[idx]
        i = self._key_to_index.get(k)
        return self._job_rows[i] if i is not None else []

    @Slot(object)
    def _on_message(self, payload: object) -> None:
        kind: str
        value: Any
        kind, value = payload  # type: ignore[misc]
        if kind == "progress":
            p: Progress = value
            self.progressChanged.emit(p.done, p.total, progress_text(p))
            if 0 <= p.done < len(self._job_rows):
                for rid in self._job_rows[p.done]:
                    if self.state.row(rid).status == QUEUED:
                        self.state.set_status(rid, RUNNING)
        elif kind == "item":
            for rid in self._rows_for(value):
                self.state.record_item(rid, value)
                self.itemReady.emit(rid, value)

    @Slot(object)
    def _on_succeeded(self, summary: object) -> None:
        self._finish_rows(cancelled=bool(getattr(summary, "cancelled", False)))
        self._outcome = summary

    @Slot(object)
    def _on_failed(self, failure: object) -> None:
        assert isinstance(failure, TaskFailure)
        self._finish_rows(cancelled=failure.cancelled, reason=failure.message)
        self._outcome = None if failure.cancelled else failure
        if not failure.cancelled:
            log.error("batch failed: %s\n%s", failure.message, failure.traceback)

    def _finish_rows(self, *, cancelled: bool, reason: str | None = None) -> None:
        for group in self._job_rows:
            for rid in group:
                try:
                    row = self.state.row(rid)
                except KeyError:
                    continue
                if row.status in (QUEUED, RUNNING):
                    if cancelled:
                        self.state.set_status(rid, CANCELLED, "cancelled by the user")
                    else:
                        self.state.set_status(rid, FAILED, reason or "not processed")

    @Slot()
    def _on_finished(self) -> None:
        """The worker thread has stopped: report the outcome, then start queued rows."""
        self.task = None
        self._job_rows, self._job_keys, self._key_to_index = [], [], {}
        outcome, self._outcome = self._outcome, None
        log.info("batch finished: %s", self.state.summary_text())
        if isinstance(outcome, TaskFailure):
            self.jobFailed.emit(outcome)
        else:
            self.jobFinished.emit(outcome)
        if self._enabled:
            self.start_if_idle()
