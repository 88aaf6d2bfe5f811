"""The batch loop shared by every batch (``semdepth predict``, ``semdepth denoise``, the
GUI's batch worker): one input at a time, a bad input becomes a failed item and never
stops the batch, progress after each, cancel between (or inside) inputs, skip of the
current input (:meth:`~core.progress.CancelToken.skip_current`), the summary CSV kept up
to date. When the summary itself cannot be written (a full disk) the loop stops cleanly:
:attr:`ItemsRun.stopped` says why, nothing is raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from core.batch.summary import SummaryWriter
from core.progress import Cancelled, CancelToken, ProgressCallback, Skipped, report

CANCELLED_MESSAGE = "cancelled before this file was finished"
SKIPPED_MESSAGE = "skipped by the user"


class ItemRecord(Protocol):
    """What :func:`capture_failure` and :func:`run_items` need of a per-input item."""

    status: str
    error: str | None
    seconds: float


ItemT = TypeVar("ItemT", bound=ItemRecord)


@contextmanager
def capture_failure(item: ItemRecord, path: Path, logger: logging.Logger) -> Iterator[None]:
    """Run one input's work; turn its failure into ``item``'s status and error (a bad file
    must never stop the batch) and set ``item.seconds`` to the time spent.

    ``Skipped`` -> status ``skipped``; ``Cancelled`` -> status ``cancelled``;
    ``SemReadError``, ``FileExistsError``,
    ``ValueError``, ``OSError`` -> ``error = str(exc)``; any other ``Exception`` is logged
    on ``logger`` with its traceback -> ``error = "Type: message"``. Status is left as the
    work set it otherwise (items start as ``failed`` and the work sets ``done`` last).
    ``BaseException`` (``KeyboardInterrupt``) passes through.
    """
    from core.io import SemReadError

    t0 = time.perf_counter()
    try:
        yield
    except Skipped:
        item.status, item.error = "skipped", SKIPPED_MESSAGE
    except Cancelled:
        item.status, item.error = "cancelled", CANCELLED_MESSAGE
    except (SemReadError, FileExistsError, ValueError, OSError) as exc:
        item.error = str(exc)
    except Exception as exc:
        logger.exception("unexpected error on %s", path)
        item.error = f"{type(exc).__name__}: {exc}"
    item.seconds = time.perf_counter() - t0


class Records(Protocol):
    """Where each finished item is recorded (``summary.csv``, the manifest)."""

    def add(self, item: Any) -> None: ...

    def flush(self) -> None: ...


@dataclass
class ItemsRun(Generic[ItemT]):
    """What :func:`run_items` did: the items in input order, their counts, the summary
    file (None without a writer), and why it stopped early when it could not go on."""

    items: list[ItemT]
    n_done: int
    n_failed: int
    cancelled: bool
    summary_csv: Path | None = None
    n_skipped: int = 0
    stopped: str | None = None


def run_items(
    paths: Sequence[Path],
    process: Callable[[int, Path], ItemT],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_item: Callable[[ItemT], None] | None = None,
    release: Callable[[ItemT], None] | None = None,
    writer: SummaryWriter | Records | None = None,
) -> ItemsRun[ItemT]:
    """The batch loop shared by :func:`core.batch.run_batch` and
    :func:`core.denoise.denoise_batch`.

    ``process(index, path)`` makes each item (never raising for a bad input); then
    ``on_item(item)``, ``release(item)`` (drop its arrays), the item goes to ``writer``
    and one progress report. Stops before the next input once ``cancel`` is set, and after
    an item that came back ``cancelled``; an item ``skipped`` through the token does not
    stop it. ``writer`` is flushed at the end, also on an exception; when it cannot write
    (``OSError``) the loop stops with :attr:`ItemsRun.stopped` set instead of raising.
    """
    run: ItemsRun[ItemT] = ItemsRun([], 0, 0, False, getattr(writer, "path", None))
    total = len(paths)
    report(progress, 0, total, "")
    try:
        for index, path in enumerate(paths):
            if cancel is not None and cancel.cancelled:
                run.cancelled = True
                break
            if cancel is not None:
                cancel.begin_item(index)
            item = process(index, path)
            if item.status == "done":
                run.n_done += 1
            elif item.status == "failed":
                run.n_failed += 1
            elif item.status == "skipped":
                run.n_skipped += 1
            if on_item is not None:
                on_item(item)
            if release is not None:
                release(item)
            run.items.append(item)
            report(progress, index + 1, total, path.name)
            if writer is not None:
                writer.add(item)
            if item.status == "cancelled":
                run.cancelled = True
                break
    except OSError as exc:  # the summary or manifest cannot be written: stop cleanly
        run.stopped = str(exc)
    finally:
        if cancel is not None:
            cancel.begin_item(None)
        if writer is not None:
            try:
                writer.flush()
            except OSError as exc:
                run.stopped = run.stopped or str(exc)
    return run
