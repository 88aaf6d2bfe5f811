"""Progress reporting, cancellation and step timings without Qt.

The engine reports through plain callables and polls a :class:`CancelToken`;
the CLI turns them into a tqdm bar and Ctrl+C handling, the GUI into signals.
A :class:`Stopwatch` times the named steps of one piece of work.

Two levels of progress: a batch reports ``Progress(done, total, file name)`` per input,
and while one input runs, the same callback gets reports whose ``inner`` field is the
progress inside that file (``Progress(tiles_done, n_tiles, "tiles")`` or holes) with
``eta_s``, the seconds left in that file estimated from the time so far.

Cancelling: :meth:`CancelToken.cancel` stops the whole work; :meth:`CancelToken.skip_current`
abandons only the item that runs when it is called (the batch marks it ``skipped`` and goes
on with the next one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class Cancelled(Exception):
    """Raised inside long work when its :class:`CancelToken` was set."""


class Skipped(Cancelled):
    """Raised inside one item's work when :meth:`CancelToken.skip_current` named that item."""


class CancelToken:
    """A thread-safe flag: ``cancel()`` from any thread, ``raise_if_cancelled()`` in the work.

    ``skip_current()`` asks to abandon only the current item: the batch loop calls
    :meth:`begin_item` before each item, so a skip requested for one item never hits the
    next. ``reason`` says what cancelled (e.g. ``"SIGTERM"``), for exit codes.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._current: object = None
        self._skip: object = None
        self.reason: str | None = None

    def cancel(self, reason: str | None = None) -> None:
        if reason is not None and self.reason is None:
            self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def begin_item(self, key: object) -> None:
        """The batch loop starts item ``key`` (any hashable id, e.g. its index)."""
        with self._lock:
            self._current = key

    def skip_current(self) -> None:
        """Abandon the item running now (a no-op between items)."""
        with self._lock:
            self._skip = self._current

    @property
    def skipping(self) -> bool:
        with self._lock:
            return self._skip is not None and self._skip == self._current

    def without_skip(self) -> CancelToken:
        """A view of this token for work done ahead of the batch loop's current item (in
        other threads): cancelled together with it, never skipped."""
        view = CancelToken()
        view._event = self._event
        return view

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")
        if self.skipping:
            raise Skipped("skipped by the user")


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` steps, with a short message.

    ``inner``: the progress inside the current step (tiles or holes of the file being
    predicted), or None; ``eta_s``: estimated seconds left in that step, or None.
    """

    done: int
    total: int
    message: str = ""
    inner: Progress | None = None
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        """Done fraction, counting the current step's own progress."""
        if not self.total:
            return 0.0
        part = self.inner.fraction if self.inner is not None else 0.0
        return min(1.0, (self.done + part) / self.total)

    def describe(self) -> str:
        """A short text for a bar or a table row: ``"tiles 12/40, 3 s left"``."""
        inner = self.inner
        if inner is None:
            return self.message
        text = f"{inner.message} {inner.done}/{inner.total}".strip()
        if self.eta_s is not None:
            text += f", {self.eta_s:.0f} s left"
        return text


ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Call ``callback`` if there is one (the engine's single way to report progress)."""
    if callback is not None:
        callback(Progress(done, total, message))


class ItemProgress:
    """Turns the reports from inside one item (``Progress(k, n, "tiles")``) into batch
    reports ``Progress(index, total, name, inner=..., eta_s=...)`` for ``callback``.

    The estimate: the rate since the item's first inner report (before it, the time since
    the item started) times the steps left."""

    def __init__(
        self, callback: ProgressCallback | None, index: int, total: int, name: str
    ) -> None:
        self.callback = callback
        self.index, self.total, self.name = index, total, name
        self.t0 = time.perf_counter()
        self._first: tuple[float, int] | None = None

    def eta(self, inner: Progress) -> float | None:
        """Seconds left in the item, or None when nothing is known yet."""
        now = time.perf_counter()
        left = inner.total - inner.done
        if left <= 0:
            return 0.0
        if self._first is None or inner.done <= self._first[1]:
            if self._first is None:
                self._first = (now, inner.done)
            if inner.done <= 0:
                return None
            return (now - self.t0) * left / inner.done
        t1, d1 = self._first
        return (now - t1) * left / (inner.done - d1)

    def __call__(self, inner: Progress) -> None:
        if self.callback is None:
            return
        eta = self.eta(inner)
        self.callback(Progress(self.index, self.total, self.name, inner=inner, eta_s=eta))


class Stopwatch:
    """Seconds per named step of one piece of work, and the total since it was made.

    ``with watch.step("read"): ...`` records the block's duration under ``"read"`` (a
    step that raises records nothing); :meth:`stop` adds ``"total"`` and returns the dict.
    """

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t

    def stop(self) -> dict[str, float]:
        self.timings["total"] = time.perf_counter() - self.t0
        return self.timings
