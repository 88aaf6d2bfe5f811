"""app.workers: a Task runs its callable in its own thread and reports through signals in
the GUI thread; cancel, errors and thread clean-up; a TaskGroup routes and joins tasks."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QObject

from app import workers
from app.workers import Task, TaskFailure, TaskGroup, run_task
from core.progress import CancelToken


def wait_for_cancel(cancel: CancelToken, started: threading.Event | None = None) -> None:
    """A worker that runs until cancelled (at most 10 s)."""
    if started is not None:
        started.set()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        cancel.raise_if_cancelled()
        time.sleep(0.002)
    raise AssertionError("never cancelled")


@pytest.fixture(autouse=True)
def no_leaked_threads(qtbot: Any) -> Any:
    yield
    qtbot.waitUntil(lambda: not workers.live_tasks(), timeout=5000)


def test_result_and_messages_arrive_in_the_gui_thread(qtbot: Any) -> None:
    gui = threading.get_ident()
    ran_in: list[int] = []
    messages: list[Any] = []
    received_in: list[int] = []
    order: list[str] = []

    def fn(emit: Callable[[Any], None], _cancel: CancelToken) -> int:
        ran_in.append(threading.get_ident())
        for i in range(3):
            emit(("step", i))
        return 6 * 7

    task = Task("answer", fn)
    task.message.connect(lambda m: (messages.append(m), received_in.append(threading.get_ident())))
    task.succeeded.connect(
        lambda r: (order.append(f"succeeded {r}"), received_in.append(threading.get_ident()))
    )
    task.failed.connect(lambda f: order.append("failed"))
    task.finished.connect(lambda: order.append("finished"))
    with qtbot.waitSignal(task.succeeded, timeout=5000) as sig:
        task.start()
    assert sig.args == [42]
    qtbot.waitUntil(lambda: "finished" in order, timeout=5000)
    assert ran_in and ran_in[0] != gui  # the callable ran in the worker thread
    assert messages == [("step", 0), ("step", 1), ("step", 2)]  # every message, in order
    assert set(received_in) == {gui}  # the signals arrive in the GUI thread
    assert order == ["succeeded 42", "finished"]  # exactly one outcome, then finished
    assert not task.is_running()
    assert task not in workers.live_tasks()


def test_an_exception_is_reported_through_failed(qtbot: Any) -> None:
    outcomes: list[str] = []

    def fn(_emit: Any, _cancel: CancelToken) -> None:
        raise ValueError("bad input file")

    task = Task("read", fn)
    task.succeeded.connect(lambda _r: outcomes.append("succeeded"))
    with qtbot.waitSignal(task.failed, timeout=5000) as sig:
        task.start()
    failure = sig.args[0]
    assert isinstance(failure, TaskFailure)
    assert failure.task == "read"
    assert isinstance(failure.exception, ValueError)
    assert failure.message == "bad input file"
    assert not failure.cancelled
    assert "ValueError: bad input file" in failure.traceback
    assert "in fn" in failure.traceback  # the worker's own frame is in the traceback
    with qtbot.waitSignal(task.finished, timeout=5000, raising=False):
        pass
    assert outcomes == []


def test_message_of_an_exception_without_text_is_its_type(qtbot: Any) -> None:
    def fn(_emit: Any, _cancel: CancelToken) -> None:
        raise KeyError

    with qtbot.waitSignal(run_task("lookup", fn).failed, timeout=5000) as sig:
        pass
    assert sig.args[0].message == "KeyError"


def test_cancel_stops_the_work_and_reports_cancelled(qtbot: Any) -> None:
    started = threading.Event()
    task = run_task("long", lambda _emit, cancel: wait_for_cancel(cancel, started))
    assert started.wait(5.0)
    assert task.is_running()
    assert task in workers.live_tasks()
    with qtbot.waitSignal(task.failed, timeout=5000) as sig:
        task.cancel()
    failure = sig.args[0]
    assert failure.cancelled and failure.traceback == ""
    assert task.cancel_token.cancelled


def test_wait_joins_the_thread_without_the_event_loop(qtbot: Any) -> None:
    started = threading.Event()
    task = run_task("long", lambda _emit, cancel: wait_for_cancel(cancel, started))
    assert started.wait(5.0)
    task.cancel()
    t0 = time.monotonic()
    assert task.wait(5000)  # no qtbot.wait: the thread quits from inside the worker
    assert time.monotonic() - t0 < 2.0
    assert not task.is_running()
    assert task not in workers.live_tasks()


def test_shutdown_all_cancels_and_joins_every_task(qtbot: Any) -> None:
    gates = [threading.Event(), threading.Event()]
    tasks = [
        run_task(f"t{i}", lambda _e, c, g=g: wait_for_cancel(c, g)) for i, g in enumerate(gates)
    ]
    assert all(g.wait(5.0) for g in gates)
    assert sorted(t.name for t in workers.live_tasks()) == ["t0", "t1"]
    assert workers.shutdown_all(5000)
    assert not any(t.is_running() for t in tasks)
    assert workers.live_tasks() == []


def test_a_task_that_never_started_waits_at_once() -> None:
    task = Task("idle", lambda _e, _c: None)
    assert not task.is_running()
    assert task.wait(0)


# ----------------------------------------------------------------------------- TaskGroup


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, kind: str) -> Callable[[Any], None]:
        return lambda value: self.calls.append((kind, value))


def test_group_routes_outcomes_and_forgets_finished_tasks(qtbot: Any) -> None:
    owner = QObject()
    rec = Recorder()
    group = TaskGroup(owner, rec("default failure"))

    def steps(emit: Any, _c: CancelToken) -> str:
        emit(1)
        emit(2)
        return "done"

    ok = group.start("steps", steps, rec("success"), on_message=rec("message"))
    assert ok.parent() is owner
    bad = group.start("bad", lambda _e, _c: 1 / 0, rec("success"))
    own = group.start("own", lambda _e, _c: [][1], rec("success"), on_failure=rec("own failure"))
    qtbot.waitUntil(lambda: len(group) == 0, timeout=5000)
    kinds = [k for k, _ in rec.calls]
    assert [v for k, v in rec.calls if k == "message"] == [1, 2]
    assert ("success", "done") in rec.calls
    assert kinds.count("default failure") == 1 and kinds.count("own failure") == 1
    default = next(v for k, v in rec.calls if k == "default failure")
    assert default.task == "bad" and isinstance(default.exception, ZeroDivisionError)
    own_failure = next(v for k, v in rec.calls if k == "own failure")
    assert own_failure.task == "own" and isinstance(own_failure.exception, IndexError)
    assert list(group) == [] and not any(t.is_running() for t in (ok, bad, own))


def test_group_cancels_by_name(qtbot: Any) -> None:
    rec = Recorder()
    group = TaskGroup(QObject(), rec("failure"))
    gates = {n: threading.Event() for n in ("export", "open")}
    for name, gate in gates.items():
        group.start(name, lambda _e, c, g=gate: wait_for_cancel(c, g), rec("success"))
    assert all(g.wait(5.0) for g in gates.values())
    group.cancel("export")
    qtbot.waitUntil(lambda: [t.name for t in group] == ["open"], timeout=5000)
    assert [(k, v.task, v.cancelled) for k, v in rec.calls] == [("failure", "export", True)]
    group.close(5000)


def test_group_close_joins_and_skips_late_callbacks(qtbot: Any) -> None:
    rec = Recorder()
    group = TaskGroup(QObject(), rec("failure"))
    started = threading.Event()
    task = group.start("long", lambda _e, c: wait_for_cancel(c, started), rec("success"))
    assert started.wait(5.0)
    group.close(5000)
    assert group.closing
    assert not task.is_running() and len(group) == 0
    qtbot.wait(50)  # the queued failed signal is delivered now, and skipped
    assert rec.calls == []


# ----------------------------------------------------------------------------- garbage collection


class Finalized:
    """A reference cycle that records the thread its finalizer ran in."""

    def __init__(self, threads: list[int]) -> None:
        self.threads = threads
        self.cycle = self

    def __del__(self) -> None:
        self.threads.append(threading.get_ident())


def test_garbage_is_collected_in_the_gui_thread_while_tasks_run(qtbot: Any) -> None:
    gui = threading.get_ident()
    enabled_before = gc.isenabled()
    finalized_in: list[int] = []
    seen_in_worker: list[bool] = []
    Finalized(finalized_in)  # garbage (a cycle) that only the cyclic collector frees

    def allocate(_emit: Any, _cancel: CancelToken) -> int:
        seen_in_worker.append(gc.isenabled())
        junk = [[i] for i in range(300_000)]  # far past every collection threshold
        return len(junk)

    with qtbot.waitSignal(run_task("allocate", allocate).succeeded, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: not workers.live_tasks(), timeout=5000)
    assert seen_in_worker == [False]  # no automatic collection while the worker ran
    qtbot.waitUntil(lambda: gc.isenabled() == enabled_before, timeout=5000)  # handed back
    gc.collect()
    assert finalized_in == [gui]  # freed by the GUI thread, never by the worker
