"""Worker threads: every read, inference and write of the GUI runs here, never on the GUI thread.

A :class:`Task` runs one callable in its own ``QThread`` (a ``QObject`` worker moved to the
thread). The callable gets ``emit`` (send any object back to the GUI thread) and a
:class:`~core.progress.CancelToken`. Results, messages and errors come back through
signals of the :class:`Task`, which lives in the GUI thread, so every connection is queued
across threads. A :class:`TaskGroup` holds the tasks one window started: it routes their
outcomes to callbacks (skipped once the window closes) and cancels and joins them on close.
While any task runs, Python's garbage collection runs on the GUI thread only
(:class:`_GuiThreadCollector`), so no Qt object is ever deleted by a worker thread.

This is the project's own worker (one thread per task, so a long batch never queues a model
load or an export behind it, and ``wait`` joins a thread without the event loop); superqt's
``thread_worker`` is not used.
"""

from __future__ import annotations

import gc
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from core.progress import Cancelled, CancelToken

log = logging.getLogger(__name__)

TaskFn = Callable[[Callable[[Any], None], CancelToken], Any]


@dataclass
class TaskFailure:
    """Why a task did not finish: the exception, its traceback, whether it was cancelled."""

    task: str
    exception: BaseException
    traceback: str
    cancelled: bool = False

    @property
    def message(self) -> str:
        return str(self.exception) or type(self.exception).__name__


_LIVE: set[Task] = set()


def live_tasks() -> list[Task]:
    """Tasks whose thread has not finished yet (tests fail on leaks with this)."""
    return [t for t in _LIVE if t.is_running()]


class _GuiThreadCollector(QObject):
    """Keeps Python's cyclic garbage collection on the GUI thread while workers run.

    Automatic collection runs in whichever thread happens to allocate past a threshold. In
    a worker thread it would delete the Qt objects found in garbage cycles (pyqtgraph's
    parentless menus of a closed view, for one) off the GUI thread, which crashes Qt
    (seen as a segfault in ``QApplication``'s active-window bookkeeping). So while any task
    runs, automatic collection is off and a timer in the GUI thread collects, generation
    by generation as the thresholds say; when the last task ends, it is on again.
    """

    INTERVAL_MS = 100

    def __init__(self) -> None:
        super().__init__()
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self.collect)
        self._restore: bool | None = None  # gc.isenabled() when collection was taken over

    @property
    def active(self) -> bool:
        return self._restore is not None

    def update(self) -> None:
        """Take over collection while any task runs; hand it back when none does."""
        busy = bool(live_tasks())
        if busy and not self.active:
            self._restore = gc.isenabled()
            gc.disable()
            self._timer.start()
        elif not busy and self.active:
            self._timer.stop()
            if self._restore:
                gc.enable()
            self._restore = None

    @Slot()
    def collect(self) -> None:
        """One timer tick: collect what the thresholds ask for, then re-check the tasks
        (a task whose finish was never delivered does not keep collection off)."""
        counts, limits = gc.get_count(), gc.get_threshold()
        for generation in range(3):
            if counts[generation] <= limits[generation]:
                break
            gc.collect(generation)
        self.update()


_COLLECTOR: _GuiThreadCollector | None = None


def _collector() -> _GuiThreadCollector:
    """The collector (created on first use, in the GUI thread that starts tasks)."""
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = _GuiThreadCollector()
    return _COLLECTOR


def shutdown_all(timeout_ms: int = 30_000) -> bool:
    """Cancel every live task and wait for its thread; True when all stopped in time."""
    tasks = list(_LIVE)
    for t in tasks:
        t.cancel()
    ok = True
    for t in tasks:
        ok = t.wait(timeout_ms) and ok
    return ok


class _Worker(QObject):
    """Lives in the task's thread; runs the callable once."""

    message = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(self, name: str, fn: TaskFn, cancel: CancelToken) -> None:
        super().__init__()
        self._name = name
        self._fn = fn
        self._cancel = cancel

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self.message.emit, self._cancel)
        except Cancelled as exc:
            self.failed.emit(TaskFailure(self._name, exc, "", cancelled=True))
        except BaseException as exc:  # reported to the user through the failed signal
            tb = traceback.format_exc()
            self.failed.emit(TaskFailure(self._name, exc, tb))
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()


class Task(QObject):
    """A callable running in its own QThread; signals arrive in the GUI thread.

    ``message`` carries what the callable passed to ``emit``; then exactly one of
    ``succeeded(result)`` / ``failed(TaskFailure)``; then ``finished()`` once the thread
    has stopped.
    """

    message = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, name: str, fn: TaskFn, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.cancel_token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName(f"semdepth-{name}")
        self._worker = _Worker(name, fn, self.cancel_token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # quit from the worker thread itself, so wait() never needs the GUI event loop
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._worker.message.connect(self._on_message)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)
        self._thread.finished.connect(self._on_thread_finished)
        self._started = False
        self._finished = False

    def start(self) -> Task:
        _LIVE.add(self)
        self._started = True
        _collector().update()  # before the thread runs any Python
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def is_running(self) -> bool:
        return self._started and not self._finished and not self._thread.isFinished()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has stopped (used on close, after ``cancel``)."""
        if not self._started:
            return True
        ok = bool(self._thread.wait(timeout_ms))
        if ok:
            self._finished = True
            _LIVE.discard(self)
            _collector().update()
        return ok

    @Slot(object)
    def _on_message(self, payload: object) -> None:
        self.message.emit(payload)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        self.succeeded.emit(result)

    @Slot(object)
    def _on_failed(self, failure: object) -> None:
        self.failed.emit(failure)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._finished = True
        _LIVE.discard(self)
        _collector().update()
        self.finished.emit()


def run_task(name: str, fn: TaskFn, parent: QObject | None = None) -> Task:
    """Create and start a :class:`Task`."""
    return Task(name, fn, parent).start()


class TaskGroup:
    """The tasks one owner (the window) started, each with its outcome callbacks.

    Callbacks run in the GUI thread and are skipped once :meth:`close` began (the window
    is going away). ``on_failure`` defaults to the group's ``report_failure``. Iterating
    gives the tasks still running (their thread has not finished).
    """

    def __init__(self, parent: QObject, report_failure: Callable[[TaskFailure], None]) -> None:
        self._parent = parent
        self._report_failure = report_failure
        self._tasks: set[Task] = set()
        self.closing = False

    def start(
        self,
        name: str,
        fn: TaskFn,
        on_success: Callable[[Any], None],
        on_failure: Callable[[TaskFailure], None] | None = None,
        on_message: Callable[[Any], None] | None = None,
    ) -> Task:
        task = Task(name, fn, self._parent)
        self._tasks.add(task)
        failure = on_failure or self._report_failure
        task.succeeded.connect(lambda r: None if self.closing else on_success(r))
        task.failed.connect(lambda f: None if self.closing else failure(f))
        if on_message is not None:
            task.message.connect(lambda m: None if self.closing else on_message(m))
        task.finished.connect(lambda: self._tasks.discard(task))
        return task.start()

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)

    def cancel(self, name: str) -> None:
        """Cancel the running tasks called ``name``."""
        for t in list(self._tasks):
            if t.name == name:
                t.cancel()

    def close(self, timeout_ms: int = 60_000) -> None:
        """Skip every callback from now on, cancel every task and wait for its thread."""
        self.closing = True
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            t.wait(timeout_ms)
        self._tasks.clear()


__all__ = [
    "Task",
    "TaskFailure",
    "TaskGroup",
    "live_tasks",
    "run_task",
    "shutdown_all",
]
