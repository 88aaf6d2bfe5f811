"""Progress reporting, cancellation and step timings without Qt.

The engine reports through plain callables and polls a :class:`CancelToken`;
the CLI turns them into a tqdm bar and Ctrl+C handling, the GUI into signals.
A :class:`Stopwatch` times the named steps of one piece of work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class Cancelled(Exception):
    """Raised inside long work when its :class:`CancelToken` was set."""


class CancelToken:
    """A thread-safe flag: ``cancel()`` from any thread, ``raise_if_cancelled()`` in the work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` steps, with a short message."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Call ``callback`` if there is one (the engine's single way to report progress)."""
    if callback is not None:
        callback(Progress(done, total, message))


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
