"""Worker processes for the local engine: the predictions (and, given the output folder,
the writing) in ``workers`` other processes (``semdepth predict --predict-workers N``).

One process shares one interpreter lock between its reading, trust step and writing
threads; on a small CPU that lock, not the model, caps the cross-file path. Here each
worker process holds one predictor (built from the model's bytes, as a Ray actor's is:
:class:`~core.batch.remote.PredictorSpec`) and predicts ``files`` inputs per call with
:meth:`~core.inference.Predictor.predict_many` (read, forward passes, trust step); this
process unpacks the results in input order and records them through the batch's writer
pool (:class:`~core.batch.ahead.Ahead`), so the files and rows are those of one file at a
time. When the spec names the output folder (``PredictorSpec.write``, set by ``semdepth
predict``) and the source knows each input's output name (``stems``), each worker also
writes its results' files (:func:`~core.batch.remote.write_here`): writing, about half of
a crop's CPU, then scales with the workers instead of capping every run at what this one
process writes; this process records the rows and the manifest, and removes a set whose
row ends other than done (cancelled, or a failure after the write). The workers ignore
Ctrl+C (this process cancels them) and start from a *fork server* where the platform
has one (Linux, macOS): a clean process, started once per run of this interpreter, that
imports torch and the engine (:data:`PRELOAD`) but never runs a model, so no torch thread
pool is ever forked; each worker is a fork of it and starts in a fraction of a second
instead of importing torch again (on 2 cores three spawned workers took 4.5 s to their
first file, each importing torch at the same time). Elsewhere (Windows) they are spawned.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.ahead import Ahead, WritingWorkers

if TYPE_CHECKING:
    from core.batch.remote import PredictActor, PredictorSpec

log = logging.getLogger(__name__)

_WORKER: PredictActor | None = None
#: what the fork server imports once, so that its forks (the workers) need not
PRELOAD = ["torch", "core.batch.procs", "core.batch.remote", "core.batch.outputs", "core.inference"]


def worker_context() -> Any:
    """The multiprocessing context the workers start from: the fork server (preloaded with
    :data:`PRELOAD`) where there is one, else ``spawn``."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def prestart() -> None:
    """Start the workers' fork server now (no-op without one, or when it runs): its import
    of torch then overlaps this process's own start (loading the model, the manifest)."""
    ctx = worker_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _init_worker(spec: PredictorSpec) -> None:
    """In each worker process: ignore Ctrl+C, build the predictor once."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from core.batch.remote import PredictActor

    _WORKER = PredictActor(spec)


def _predict_chunk(
    paths: list[str], stems: list[str] | None = None
) -> list[tuple[bytes, list[str]]]:
    """In a worker process: the packed outcome of each path, and the files written for
    it here (under ``stems``, when the spec says where)."""
    import numpy as np

    assert _WORKER is not None
    batch = {"index": np.arange(len(paths)), "path": np.asarray(paths, dtype=object)}
    if stems is not None:
        batch["stem"] = np.asarray(stems, dtype=object)
    out = _WORKER(batch)
    return [(bytes(b), list(w)) for b, w in zip(out["payload"], out["written"], strict=True)]


class ProcessSource(WritingWorkers):
    """A :class:`~core.batch.ahead.Source` of ``workers`` processes, ``files`` inputs per
    call, at most two calls per worker in flight (module docstring)."""

    def __init__(self, spec: PredictorSpec, *, workers: int = 1, files: int = 32) -> None:
        super().__init__()  # stems, the files the workers wrote (spec.write), forget
        self.spec = spec
        # the calls not yet handed over in full (close() collects what they wrote)
        self._pending: deque[tuple[list[tuple[int, Path]], Future[Any]]] = deque()
        self.workers = max(1, int(workers))
        self.files = max(1, int(files))
        self._stop = threading.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self.info: dict[str, Any] = {"predict_workers": self.workers}

    def start(self, todo: Sequence[tuple[int, Path]], sink: Ahead) -> None:
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=worker_context(),
            initializer=_init_worker,
            initargs=(self.spec,),
        )
        self._thread = threading.Thread(
            target=self._run, args=(list(todo), sink), name="semdepth-procs", daemon=True
        )
        self._thread.start()

    def _run(self, todo: list[tuple[int, Path]], sink: Ahead) -> None:
        assert self._pool is not None
        chunks = [todo[k : k + self.files] for k in range(0, len(todo), self.files)]
        pending = self._pending
        failure: BaseException | None = None
        try:
            for chunk in chunks:
                if self._stop.is_set():
                    return
                while len(pending) >= 2 * self.workers:
                    if not self._hand_over(pending[0], sink):
                        return
                    pending.popleft()
                stems = None
                if self.spec.write is not None and self.stems is not None:
                    named = [self.stems.get(p) for _, p in chunk]
                    # a path it has no name for: this process writes the chunk
                    stems = None if None in named else [str(n) for n in named]
                future = self._pool.submit(_predict_chunk, [str(p) for _, p in chunk], stems)
                pending.append((chunk, future))
            while pending:
                if not self._hand_over(pending[0], sink):
                    return
                pending.popleft()
        except BaseException as exc:
            if not self._stop.is_set():
                log.error("a worker process failed: %s", exc)
                failure = RuntimeError(f"a worker process failed: {exc}")
        finally:
            sink.end(failure)

    def _note_written(self, chunk: list[tuple[int, Path]], results: list[Any]) -> None:
        for (_, path), (_, files) in zip(chunk, results, strict=True):
            self.note_written(path, files)

    def _hand_over(self, entry: tuple[list[tuple[int, Path]], Future[Any]], sink: Ahead) -> bool:
        from core.batch.remote import unpack

        chunk, future = entry
        while True:
            if self._stop.is_set():
                return False
            try:
                results = future.result(timeout=0.1)
                break
            except TimeoutError:
                continue
        self._note_written(chunk, results)
        for (index, _), (raw, _files) in zip(chunk, results, strict=True):
            if not sink.put(index, _finisher(raw, unpack), len(raw) // 16):
                return False
        return True

    def close(self) -> None:
        """Stop handing over, cancel the calls not started, end the workers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        while self._pending:  # calls that ended after the hand-over stopped
            chunk, future = self._pending.popleft()
            if future.done() and not future.cancelled() and future.exception() is None:
                self._note_written(chunk, future.result())


def _finisher(raw: bytes, unpack: Any) -> Any:
    return lambda: unpack(raw)


__all__ = ["PRELOAD", "ProcessSource", "prestart", "worker_context"]
