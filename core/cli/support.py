"""Pieces shared by the batch sub-commands (``semdepth predict``, ``denoise``, ...).

- :func:`sigint_cancels`: the first Ctrl+C (SIGINT) or SIGTERM sets a
  :class:`~core.progress.CancelToken` (the work stops inside the current item, which then
  writes nothing, and the summary is flushed), a second one raises ``KeyboardInterrupt``.
  The token's ``reason`` says which signal came, for the exit code (130 or 143).
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
EXIT_USAGE = 2
EXIT_CANCELLED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


@contextmanager
def sigint_cancels(token: CancelToken, command_name: str) -> Iterator[None]:
    """While inside: the first Ctrl+C (SIGINT) or SIGTERM sets ``token`` (its ``reason``
    the signal's name) and says so on stderr, naming ``semdepth <command_name>``; a second
    one raises ``KeyboardInterrupt`` at once. The previous handlers come back on exit.
    Outside the main thread (where signal handlers cannot be installed) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        token.cancel(name)
        why = "" if signum == signal.SIGINT else f" on {name}"
        again = "Ctrl+C" if signum == signal.SIGINT else name
        print(
            f"\nsemdepth {command_name}: cancelling{why} ({again} again to abort at once)...",
            file=sys.stderr,
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def cancel_exit_code(token: CancelToken | None) -> int:
    """143 when SIGTERM cancelled, else 130."""
    return EXIT_TERMINATED if token is not None and token.reason == "SIGTERM" else EXIT_CANCELLED


def progress_bar(total: int, *, quiet: bool, unit: str) -> Any:
    """A tqdm bar on stderr counting ``unit``; None when ``quiet``. Close it when done."""
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


def bar_progress(bar: Any) -> ProgressCallback:
    """A progress callback that moves ``bar`` (a no-op when ``bar`` is None): position and
    total from the report, counting the part of the current file already done (tiles or
    holes), and as the postfix the file's name and that part with the time left in it
    (``x.tif: tiles 12/25, 3 s left``)."""

    def progress(p: Progress) -> None:
        if bar is not None:
            if bar.total != p.total:
                bar.total = p.total
            bar.n = round(p.fraction * p.total, 2) if p.inner is not None else p.done
            text = p.message[-40:]
            if p.inner is not None:
                text = f"{text}: {p.describe()}"
            bar.set_postfix_str(text, refresh=True)

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


def finish_batch(summary: _Summary, token: CancelToken | None = None) -> int:
    """Print ``FAILED <error>`` per failed item (``SKIPPED <why>`` per skipped one) and the
    ``N done, M failed[, K skipped][, J resumed][, cancelled]; summary: PATH`` line on
    stderr (``stopped: <why>`` when the batch could not go on); return the exit code: 130
    when cancelled (143 by SIGTERM, see :func:`cancel_exit_code`), else 1 when any item
    failed or the batch stopped early, else 0 (skipped items are not failures)."""
    for item in summary.items:
        if item.status in ("failed", "skipped"):
            print(f"{item.status.upper()} {item.error}", file=sys.stderr)
    skipped = getattr(summary, "n_skipped", 0)
    resumed = getattr(summary, "n_resumed", 0)
    stopped = getattr(summary, "stopped", None)
    print(
        f"{summary.n_done} done, {summary.n_failed} failed"
        f"{f', {skipped} skipped' if skipped else ''}"
        f"{f', {resumed} already complete (resumed)' if resumed else ''}"
        f"{', cancelled' if summary.cancelled else ''}; summary: {summary.summary_csv}",
        file=sys.stderr,
    )
    if stopped:
        print(f"stopped: {stopped}", file=sys.stderr)
    if summary.cancelled:
        return cancel_exit_code(token)
    return EXIT_FAILED if summary.n_failed or stopped else EXIT_OK
