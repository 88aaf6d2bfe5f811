"""Pieces shared by the batch sub-commands (``semdepth predict``, ``denoise``, ...).

- :func:`sigint_cancels`: the first Ctrl+C sets a :class:`~core.progress.CancelToken` (the
  work finishes its current item cleanly), a second one raises ``KeyboardInterrupt``.
- :func:`progress_bar` / :func:`bar_progress`: a tqdm bar on stderr and the
  :class:`~core.progress.Progress` callback that drives it.
- :func:`finish_batch`: the end-of-batch report and the exit code.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from core.progress import CancelToken, Progress, ProgressCallback

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 130


@contextmanager
def sigint_cancels(token: CancelToken, command_name: str) -> Iterator[None]:
    """While inside: first Ctrl+C sets ``token`` and says so on stderr, naming
    ``semdepth <command_name>``; a second one raises ``KeyboardInterrupt`` at once. The
    previous handler comes back on exit. Outside the main thread (where signal handlers
    cannot be installed) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print(
            f"\nsemdepth {command_name}: cancelling (Ctrl+C again to abort at once)...",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_bar(total: int, *, quiet: bool, unit: str) -> Any:
    """A tqdm bar on stderr counting ``unit``; None when ``quiet``. Close it when done."""
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


def bar_progress(bar: Any) -> ProgressCallback:
    """A progress callback that moves ``bar`` (a no-op when ``bar`` is None): position and
    total from the report, the last 40 characters of its message as the postfix."""

    def progress(p: Progress) -> None:
        if bar is not None:
            if bar.total != p.total:
                bar.total = p.total
            bar.n = p.done
            bar.set_postfix_str(p.message[-40:], refresh=True)

    return progress


class _Item(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def error(self) -> str | None: ...


class _Summary(Protocol):
    @property
    def items(self) -> Sequence[_Item]: ...

    @property
    def n_done(self) -> int: ...

    @property
    def n_failed(self) -> int: ...

    @property
    def cancelled(self) -> bool: ...

    @property
    def summary_csv(self) -> Path | None: ...


def finish_batch(summary: _Summary) -> int:
    """Print ``FAILED <error>`` per failed item and the ``N done, M failed[, cancelled];
    summary: PATH`` line on stderr; return the exit code: 130 when cancelled, else 1 when
    any item failed, else 0."""
    for item in summary.items:
        if item.status == "failed":
            print(f"FAILED {item.error}", file=sys.stderr)
    print(
        f"{summary.n_done} done, {summary.n_failed} failed"
        f"{', cancelled' if summary.cancelled else ''}; summary: {summary.summary_csv}",
        file=sys.stderr,
    )
    if summary.cancelled:
        return EXIT_CANCELLED
    return EXIT_FAILED if summary.n_failed else EXIT_OK
