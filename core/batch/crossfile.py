"""The cross-file path of the local engine: the crops of many files share forward passes.

:class:`CrossFileSource` is a :class:`~core.batch.ahead.Source` of two threads: a reader
prepares each input (read, input checks, scale policy, second shot, denoise, resample,
mode: :func:`~core.inference.many.prepare_one`) into a bounded queue; the model thread
takes up to ``files`` prepared inputs at a time and runs their forward passes together
(:func:`~core.inference.many.infer_prepared`: the crop-mode ones stacked, field and tiled
ones through their own mode), then hands each to the writer pool
(:class:`~core.batch.ahead.Ahead`), which finishes it (the trust step) and writes it.
Reading, predicting and writing overlap; the results equal
:meth:`Predictor.predict <core.inference.predictor.Predictor.predict>`'s (see
:mod:`core.inference.many`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.ahead import LIMIT_PIXELS, Ahead
from core.progress import Cancelled, CancelToken

if TYPE_CHECKING:
    from core.inference import Predictor
    from core.inference.many import Inferred
    from core.inference.stages import Prepared

log = logging.getLogger(__name__)

_END = object()


class CrossFileSource:
    """Predicts ``files`` inputs per forward pass group with ``predictor`` (module
    docstring); ``mode``, ``tta`` and ``scale_policy`` as in ``run_batch``."""

    def __init__(
        self,
        predictor: Predictor,
        *,
        files: int,
        mode: str,
        tta: bool | str,
        scale_policy: Any,
        cancel: CancelToken | None = None,
    ) -> None:
        from core.inference import ScalePolicy

        self.predictor = predictor
        self.files = max(1, int(files))
        self.mode, self.tta = mode, tta
        self.policy = ScalePolicy.named(scale_policy or predictor.scale_policy)
        self.cancel = cancel
        self._stop = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2 * self.files)
        self._threads: list[threading.Thread] = []
        # pixels prepared and not yet predicted: a few large images at a time, not 2 x files
        self._queued = 0
        self._gate = threading.Condition()

    def start(self, todo: Sequence[tuple[int, Path]], sink: Ahead) -> None:
        reader = threading.Thread(
            target=self._read, args=(list(todo),), name="semdepth-read", daemon=True
        )
        model = threading.Thread(
            target=self._predict, args=(sink,), name="semdepth-model", daemon=True
        )
        self._threads = [reader, model]
        for t in self._threads:
            t.start()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    # ------------------------------------------------------------------ threads
    def _offer(self, entry: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _admit(self, pixels: int) -> bool:
        """Wait until ``pixels`` more fit in :data:`~core.batch.ahead.LIMIT_PIXELS` (one
        input always fits); False when stopped."""
        with self._gate:
            while self._queued and self._queued + pixels > LIMIT_PIXELS:
                if self._stop.is_set():
                    return False
                self._gate.wait(0.1)
            self._queued += pixels
        return True

    def _release(self, pixels: int) -> None:
        with self._gate:
            self._queued -= pixels
            self._gate.notify_all()

    def _read(self, todo: list[tuple[int, Path]]) -> None:
        from core.inference.many import prepare_one

        try:
            for index, path in todo:
                if self._stop.is_set():
                    return
                prep = prepare_one(
                    self.predictor,
                    path,
                    mode=self.mode,
                    tta=self.tta,
                    policy=self.policy,
                    cancel=self.cancel,
                )
                if not self._admit(_pixels(prep)) or not self._offer((index, prep)):
                    return
        except Cancelled:
            pass
        except BaseException as exc:  # a bug: the inputs not read fail with it
            log.exception("reading the inputs failed")
            self._offer(exc)
        finally:
            self._offer(_END)

    def _group(self) -> tuple[list[tuple[int, Prepared | Exception]], Any]:
        """Up to ``files`` prepared inputs (waiting for the first), and what ended the
        reading when it did (``_END`` or its failure), else None."""
        group: list[tuple[int, Prepared | Exception]] = []
        while not self._stop.is_set() and len(group) < self.files:
            try:
                entry = self._queue.get(timeout=0.1) if not group else self._queue.get_nowait()
            except queue.Empty:
                if group:
                    break
                continue
            if entry is _END or isinstance(entry, BaseException):
                return group, entry
            group.append(entry)
            self._release(_pixels(entry[1]))
        return group, None

    def _predict(self, sink: Ahead) -> None:
        from core.inference.many import infer_prepared

        failure: BaseException | None = None
        try:
            while not self._stop.is_set():
                group, ended = self._group()
                if group:
                    done = infer_prepared(self.predictor, [p for _, p in group], self.cancel)
                    for (index, prep), inferred in zip(group, done, strict=True):
                        if not sink.put(index, self._finisher(inferred), _pixels(prep)):
                            return
                if ended is not None:
                    failure = ended if isinstance(ended, BaseException) else None
                    break
        except Cancelled:
            pass
        except BaseException as exc:
            log.exception("the forward passes failed")
            failure = exc
        finally:
            sink.end(failure)

    def _finisher(self, inferred: Inferred | Exception) -> Any:
        from core.inference.many import finish_one

        predictor = self.predictor
        return lambda: finish_one(predictor, inferred)


def _pixels(prep: Any) -> int:
    work = getattr(prep, "work", None)
    return int(work.size) if work is not None else 0


__all__ = ["CrossFileSource"]
