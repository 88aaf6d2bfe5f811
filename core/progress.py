"""Progress reporting and cancellation without Qt.

The engine reports through plain callables and polls a :class:`CancelToken`;
the CLI turns them into a tqdm bar and Ctrl+C handling, the GUI into signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
