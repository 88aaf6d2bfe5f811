"""Predicting ahead of the batch loop: reading, predicting and writing overlap.

The batch loop (:func:`core.batch.runner.run_items`) takes one input at a time, in
order, and records it (``summary.csv``, ``manifest.jsonl``, progress). With a
:class:`Source` the predictions are made ahead of it, by threads (the cross-file path,
:mod:`core.batch.crossfile`) or by a Ray cluster (:mod:`core.batch.ray_engine`); each
prediction the source hands over (:meth:`Ahead.put`: an input's index and a ``finish``
callable that returns its result or raises its failure) is finished and written by a pool
of writer threads (:data:`WRITERS`: the writes' ``fsync`` waits overlap), and the loop
takes the finished items in order (:meth:`Ahead.take`), so the rows, the files and the
failures are those of the one-at-a-time loop.

Bounded: at most ``limit_items`` inputs, and :data:`LIMIT_PIXELS` pixels of them (always at
least one input), are between the source and the loop; the source waits in :meth:`put`.

Cancel: the writers check the token before writing (an input not yet written writes
nothing); :meth:`Ahead.close` waits for the writers and removes the outputs of every input
written but never taken by the loop, so the folder holds exactly what the summary lists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.batch.items import BatchItem
from core.batch.outputs import remove_outputs
from core.batch.runner import SKIPPED_MESSAGE
from core.progress import CancelToken

if TYPE_CHECKING:
    from core.inference import PredictionResult

#: Writer threads: each finishes (trust step) and writes one input at a time.
WRITERS = 4
#: Pixels of the inputs between the source and the loop (about 40 bytes each in flight).
LIMIT_PIXELS = 16_000_000

#: Returns an input's result, or raises its failure (run in a writer thread).
FinishFn = Callable[[], "PredictionResult"]
#: (index, path, finish) -> the input's finished item (outputs written), never raising.
ItemFn = Callable[[int, Path, FinishFn], BatchItem]


class Source(Protocol):
    """Where the predictions come from: :meth:`start` hands ``todo`` ((index, path) in
    order) to ``sink`` (:meth:`Ahead.put` each, then :meth:`Ahead.end`) from its own
    threads, and returns at once; :meth:`close` stops it (also mid-way). A source whose
    workers may write the files themselves is also a :class:`WritingWorkers`."""

    def start(self, todo: Sequence[tuple[int, Path]], sink: Ahead) -> None: ...

    def close(self) -> None: ...


class WritingWorkers:
    """The bookkeeping of a :class:`Source` whose workers (processes, Ray actors) may write
    the files themselves: ``stems`` (path -> output name, set by the batch before
    :meth:`start`), the files the workers wrote for each input until the batch takes it
    (:meth:`forget`), and after a stop the files no row will list (:meth:`unrecorded`),
    which the batch removes."""

    def __init__(self) -> None:
        self.stems: dict[Path, str] | None = None
        self.written: dict[Path, list[Path]] = {}
        self._taken: set[Path] = set()
        self._written_lock = threading.Lock()

    def note_written(self, path: Path, files: Sequence[str | Path]) -> None:
        """A worker wrote ``files`` for ``path`` (nothing to note when empty)."""
        if len(files):
            with self._written_lock:
                self.written[path] = [Path(str(f)) for f in files]

    def forget(self, path: Path) -> None:
        """The batch took ``path``'s item: its files are its row's business now."""
        with self._written_lock:
            self.written.pop(path, None)
            self._taken.add(path)

    def unrecorded(self) -> list[Path]:
        """After the source closed: the files the workers wrote, as reported back, for
        inputs the batch never took (stopped while the workers were ahead)."""
        with self._written_lock:
            return [f for files in self.written.values() for f in files]

    def taken(self, path: Path) -> bool:
        with self._written_lock:
            return path in self._taken


class Ahead:
    """The writer pool and the ordered hand-over to the batch loop (module docstring)."""

    def __init__(
        self,
        finish_item: ItemFn,
        paths: dict[int, Path],
        *,
        limit_items: int,
        cancel: CancelToken | None = None,
        writers: int = WRITERS,
        limit_pixels: int = LIMIT_PIXELS,
    ) -> None:
        self._finish_item = finish_item
        self._paths = paths
        self._cancel = cancel
        self._limit_items = max(1, limit_items)
        self._limit_pixels = limit_pixels
        self._pool = ThreadPoolExecutor(max(1, writers), thread_name_prefix="semdepth-write")
        self._cond = threading.Condition()
        self._futures: dict[int, Future[BatchItem]] = {}
        self._pixels: dict[int, int] = {}
        self._used = 0
        self._closed = False
        self._ended = False
        self._failure: BaseException | None = None
        self._taken: set[int] = set()

    # ------------------------------------------------------------------ the source's side
    def put(self, index: int, finish: FinishFn, pixels: int = 0) -> bool:
        """Hand over input ``index`` (``pixels``: its size, for the bound); waits while
        the pipeline is full. False once closed (the source should stop)."""
        with self._cond:
            while not self._closed and self._futures and self._full(pixels):
                self._cond.wait(0.1)
            if self._closed:
                return False
            path = self._paths[index]
            self._futures[index] = self._pool.submit(self._finish_item, index, path, finish)
            self._pixels[index] = pixels
            self._used += pixels
            self._cond.notify_all()
            return True

    def _full(self, pixels: int) -> bool:
        return len(self._futures) >= self._limit_items or self._used + pixels > self._limit_pixels

    def end(self, failure: BaseException | None = None) -> None:
        """The source has handed over all it will; ``failure``: why it stopped early (the
        inputs it never handed over fail with it)."""
        with self._cond:
            self._ended = True
            self._failure = failure
            self._cond.notify_all()

    # ------------------------------------------------------------------ the loop's side
    def take(self, index: int) -> BatchItem:
        """Input ``index``'s finished item (waits for it). The token's cancel or skip
        while waiting gives a ``cancelled`` or ``skipped`` item; a source that ended
        without it gives a ``failed`` item naming why."""
        from core.batch.runner import CANCELLED_MESSAGE

        path = self._paths[index]
        with self._cond:
            while index not in self._futures:
                if self._cancel is not None and self._cancel.cancelled:
                    return _item(index, path, "cancelled", CANCELLED_MESSAGE)
                if self._ended:
                    why = self._failure or RuntimeError("the prediction source stopped early")
                    return _item(index, path, "failed", _describe(why))
                self._cond.wait(0.1)
            future = self._futures[index]
        while True:
            try:
                item = future.result(timeout=0.1)
                break
            except TimeoutError:
                if self._cancel is not None and self._cancel.skipping:
                    return _item(index, path, "skipped", SKIPPED_MESSAGE)
        if self._cancel is not None and self._cancel.skipping and item.status == "done":
            remove_outputs(item.outputs.values())
            item.status, item.error, item.outputs, item.result = (
                "skipped",
                SKIPPED_MESSAGE,
                {},
                None,
            )
        with self._cond:
            self._futures.pop(index, None)
            self._used -= self._pixels.pop(index, 0)
            if item.status == "done":
                self._taken.add(index)
            self._cond.notify_all()
        return item

    def close(self) -> None:
        """Stop taking inputs, wait for the writers, and remove the outputs of every input
        written but not taken (a cancelled or stopped batch)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            left = list(self._futures.values())
        self._pool.shutdown(wait=True, cancel_futures=True)
        for future in left:
            item = future.result() if future.done() and not future.cancelled() else None
            if item is not None and item.index not in self._taken and item.outputs:
                remove_outputs(item.outputs.values())


def _item(index: int, path: Path, status: str, error: str) -> BatchItem:
    return BatchItem(index, path, status, error, None, None, None, {}, 0.0)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def todo_of(paths: Sequence[Path], skip: Callable[[Path], bool]) -> list[tuple[int, Path]]:
    """(index, path) of each input to predict, in order (``skip``: resumed or unreadable)."""
    return [(k, p) for k, p in enumerate(paths) if not skip(p)]


__all__ = ["LIMIT_PIXELS", "WRITERS", "Ahead", "FinishFn", "ItemFn", "Source", "todo_of"]
