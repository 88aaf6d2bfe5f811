"""The Ray engine of ``semdepth predict --engine ray``: the predictions on a Ray cluster,
the files and rows written here, by the same code as the local engine.

Ray Data: the inputs left to predict (index, path) -> ``map_batches`` over a fixed pool of
``workers`` actors (:class:`PredictActor`), each holding one
:class:`~core.inference.Predictor` (on a GPU with ``gpus_per_worker``) and predicting
``files_per_call`` files per call with
:meth:`~core.inference.Predictor.predict_many` (the cross-file path) -> back to this
process (the driver) in input order, where :class:`RaySource` hands each result to the
batch's writer pool (:class:`~core.batch.ahead.Ahead`): the outputs, ``summary.csv``,
``manifest.jsonl`` (so ``--resume`` works), the progress bar and the failures as rows are
the local engine's. The model (and denoiser) files travel to the workers with the job; the
inputs are read by the workers from the same paths, so every node must see them (a shared
file system).

Who writes the files: the driver, or, when the spec says where (``PredictorSpec.write``:
``--workers-write``, on by default for the embedded Ray), each actor writes its results'
files itself (:func:`~core.batch.remote.write_here`, the same writer) under the names the
batch gives them, and the driver only records the rows and the manifest, as with local
worker processes: the driver's own write rate no longer caps the job. Files an actor wrote
for an input the batch never recorded (the job stopped while the actors were ahead) are
removed when the source closes (:meth:`RaySource.unrecorded`).

Without ``address``: an embedded local Ray (this machine, ``workers`` actors), shut down at
the end. With it: an existing cluster (``ray start --head``, KubeRay; ``auto`` finds the
local one). :meth:`RaySource.close` (Ctrl+C, the end) stops the dataset, which ends the
actors; leaving the cluster ends whatever of the job is left.

``ray`` is an optional extra (``pip install 'semdepth[cluster]'``), imported only here and
only when this engine is asked for; :func:`require_ray` says how to install it.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.batch.ahead import Ahead, WritingWorkers
from core.batch.remote import PredictActor, PredictorSpec, pack, unpack

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'semdepth[cluster]' (Ray Data, ray[data] >= 2.40)"


class RayUnavailableError(RuntimeError):
    """``--engine ray`` without Ray installed, or a cluster that cannot be reached."""


def require_ray() -> None:
    """:class:`RayUnavailableError` with the install command when Ray Data is missing."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise RayUnavailableError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}")
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RayUnavailableError(
            f"--engine ray needs Ray Data, which does not import ({exc}): {INSTALL_HINT}"
        ) from exc


@dataclass(frozen=True)
class RayOptions:
    """Where and how: ``address`` (None: an embedded local Ray), ``workers`` actors with
    ``gpus_per_worker`` GPUs and ``cpus_per_worker`` CPUs each (None: this machine's cores
    shared out when embedded, else 1), ``files_per_call`` files per actor call."""

    address: str | None = None
    workers: int = 2
    gpus_per_worker: float = 0.0
    cpus_per_worker: float | None = None
    files_per_call: int = 32

    def cpus(self) -> float:
        if self.cpus_per_worker is not None:
            return self.cpus_per_worker
        if self.address is None:
            return float(max(1, (os.cpu_count() or 1) // max(1, self.workers)))
        return 1.0


# ----------------------------------------------------------------------------- the driver
def init_ray(attempts: int = 3, **kwargs: Any) -> None:
    """``ray.init(**kwargs)``, quiet (no dashboard, no worker logs here); an embedded Ray
    whose node does not come up in time (Ray waits 30 s for its raylet, which a loaded
    machine can miss) is tried again, ``attempts`` times in all."""
    import ray

    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "configure_logging": False,
        **kwargs,
    }
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**options)
            return
        except Exception as exc:
            ray.shutdown()
            if "address" in options or attempt == attempts or "timed out" not in str(exc):
                raise
            log.warning("Ray did not start in time (%s); trying again", exc)


class RaySource(WritingWorkers):
    """A :class:`~core.batch.ahead.Source` on Ray (module docstring). :meth:`connect`
    starts or joins Ray (call it before installing Ctrl+C handlers); :meth:`start` runs
    the dataset in a thread that hands each result over in input order."""

    def __init__(self, spec: PredictorSpec, options: RayOptions) -> None:
        super().__init__()  # stems, the files the actors wrote (spec.write), forget
        self.spec = spec
        self.options = options
        self._owns_ray = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._todo: list[tuple[int, Path]] = []
        self._started_at = 0.0
        self.info: dict[str, Any] = {
            "engine": "ray",
            "ray_address": options.address or "embedded",
            "ray_workers": options.workers,
            "gpus_per_worker": options.gpus_per_worker,
            "cpus_per_worker": options.cpus(),
            "fast_path_used": None,  # each worker's own: see the rows (fast_path)
            "device": spec.device,
            "ray_workers_write": spec.write is not None,
        }

    def connect(self) -> dict[str, float]:
        """Start the embedded Ray or join the cluster; returns its resources (CPU, GPU)."""
        require_ray()
        import ray

        if not ray.is_initialized():
            opts = self.options
            kwargs: dict[str, Any] = {}
            if opts.address is None:
                need = opts.workers * opts.cpus()
                kwargs["num_cpus"] = max(os.cpu_count() or 1, math.ceil(need))
            else:
                kwargs["address"] = opts.address
            try:
                init_ray(**kwargs)
            except Exception as exc:  # Ray raises plain Exception for a node that never came up
                where = opts.address or "an embedded local Ray"
                raise RayUnavailableError(
                    f"--engine ray: cannot start or join {where}: {exc}"
                ) from exc
            self._owns_ray = True
        _quiet_ray_data()
        return {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}

    def start(self, todo: Sequence[tuple[int, Path]], sink: Ahead) -> None:
        self.connect()
        self._todo = list(todo)
        self._started_at = time.time()
        self._thread = threading.Thread(
            target=self._run, args=(list(todo), sink), name="semdepth-ray", daemon=True
        )
        self._thread.start()

    def _dataset(self, todo: list[tuple[int, Path]]) -> Any:
        import ray
        import ray.data

        opts = self.options
        spec = self.spec
        if spec.threads != max(1, int(opts.cpus())):
            spec = PredictorSpec(**{**spec.__dict__, "threads": max(1, int(opts.cpus()))})
        per_call = max(1, opts.files_per_call)
        stems = self.stems if spec.write is not None else None
        if stems is not None and all(p in stems for _, p in todo):
            items = [{"index": k, "path": str(p), "stem": stems[p]} for k, p in todo]
        else:  # no names for them: the driver writes (the actors see no stem column)
            items = [{"index": k, "path": str(p)} for k, p in todo]
        workers = max(1, min(opts.workers, len(items)))
        blocks = max(workers, math.ceil(len(items) / per_call))  # every worker gets some
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        return ds.map_batches(
            PredictActor,
            # the model's bytes go once into the object store; the actors get a reference
            fn_constructor_kwargs={"spec": [ray.put(spec)]},
            batch_size=per_call,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=opts.cpus(),
            num_gpus=opts.gpus_per_worker or None,
        )

    def _run(self, todo: list[tuple[int, Path]], sink: Ahead) -> None:
        failure: BaseException | None = None
        batches: Any = None
        try:
            if todo:
                batches = iter(
                    self._dataset(todo).iter_batches(batch_size=None, batch_format="numpy")
                )
                paths = dict(todo)
                for batch in batches:
                    self._note_written(paths, batch)
                    for index, data in zip(batch["index"], batch["payload"], strict=True):
                        raw = bytes(data)
                        finish = _finisher(raw)
                        if self._stop.is_set() or not sink.put(int(index), finish, len(raw) // 16):
                            return
                    if self._stop.is_set():
                        return
        except BaseException as exc:
            if not self._stop.is_set():
                log.error("the Ray job failed: %s", _first_line(exc))
                failure = RayUnavailableError(f"the Ray job failed: {_first_line(exc)}")
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                try:
                    close()  # stops the dataset: its actors end
                except Exception:
                    log.debug("closing the Ray dataset", exc_info=True)
            sink.end(failure)

    def _note_written(self, paths: dict[int, Path], batch: dict[str, Any]) -> None:
        written = batch.get("written")
        if written is None or self.spec.write is None:
            return
        for index, files in zip(batch["index"], written, strict=True):
            if files is not None:
                self.note_written(paths[int(index)], files)

    def unrecorded(self) -> list[Path]:
        """After :meth:`close`: the files the actors wrote for inputs the batch never took.
        Those whose results reached this process are known by name; an actor stopped
        mid-call sends nothing back, so for every input not taken, an output file of its
        name written since this job started (modified time, at most 1 s earlier: nodes'
        clocks in step) is counted too. Empty when the driver writes."""
        write = self.spec.write
        if write is None or self.stems is None:
            return []
        files = set(super().unrecorded())
        untaken = [p for _, p in self._todo if not self.taken(p)]
        from core.conventions import OUTPUT_SUFFIXES, output_name

        folder = Path(write["out"])
        since = self._started_at - 1.0
        for path in untaken:
            stem = self.stems.get(path)
            if stem is None:
                continue
            for kind in OUTPUT_SUFFIXES:
                f = folder / output_name(stem, kind)
                try:
                    if f.stat().st_mtime >= since:
                        files.add(f)
                except OSError:
                    continue
        return sorted(files)

    def close(self) -> None:
        """Stop the dataset (mid-way too) and leave Ray (the embedded one is shut down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False


def _finisher(raw: bytes) -> Any:
    return lambda: unpack(raw)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _quiet_ray_data() -> None:
    """No Ray Data progress bars or execution logs on the driver's terminal (the CLI has
    its own bar); results in input order."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    ctx.print_on_execution_start = False
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.ERROR)


__all__ = [
    "INSTALL_HINT",
    "PredictActor",
    "PredictorSpec",
    "RayOptions",
    "RaySource",
    "RayUnavailableError",
    "init_ray",
    "pack",
    "require_ray",
    "unpack",
]
