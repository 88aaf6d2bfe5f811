"""Where ``semdepth predict``'s predictions are made: files per pass (``--batch-files``),
worker processes (``--predict-workers``, :mod:`core.batch.procs`) or a Ray cluster
(``--engine ray``, :mod:`core.batch.ray_engine`); the writing is always this process's."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: ``--batch-files auto`` for crop-sized inputs (the cross-file path, docs/inference.md).
AUTO_BATCH_FILES = 32
#: ``--predict-workers auto`` starts worker processes from this many files to predict: the
#: first file comes about 2 s after the start (the workers' fork server imports torch;
#: bench/speed.py --only files measures the engines side by side on a quiet CPU:
#: docs/benchmarks.md).
AUTO_WORKERS_FROM = 200
#: and at most this many (each holds its own model and torch; a machine with more cores
#: gives each of them several threads)
AUTO_WORKERS_MAX = 8


def tta_of(args: argparse.Namespace) -> str:
    """The ``--tta`` setting (``--no-tta`` is ``--tta off``; default ``auto``)."""
    if getattr(args, "no_tta", False):
        return "off"
    return str(getattr(args, "tta", None) or "auto")


def batch_files_for(requested: str | int, paths: list[Path], input_size: tuple[int, int]) -> int:
    """``--batch-files``: a number as given; ``auto``: :data:`AUTO_BATCH_FILES` when the
    first inputs (up to 64, from their headers) are all near the model's input size (crop
    mode), else 1 (large images keep their progress inside each file)."""
    if str(requested) != "auto":
        return max(1, int(requested))
    from core.inference.modes import near_input_size
    from core.io import peek_shape

    shapes = [peek_shape(p) for p in paths[:64]]
    known = [s for s in shapes if s is not None]
    crops = bool(known) and all(near_input_size(s, input_size) for s in known)
    return AUTO_BATCH_FILES if crops else 1


def predict_workers_for(requested: str | int, batch_files: int, n_todo: int) -> int:
    """``--predict-workers``: a number as given (only with ``batch_files > 1``); ``auto``:
    when files share passes, at least :data:`AUTO_WORKERS_FROM` are left to predict and
    the machine has 2 or more cores (a worker takes a moment to start), one worker per core
    and one more, at most :data:`AUTO_WORKERS_MAX` (each writes its own files, and while
    one waits for the disk another computes: on 2 cores three 1-thread workers wrote 104
    files/s steady against 98 for two and 55 for one 2-thread worker, 88 for two when each
    file was flushed on its own), else 0 (and always 0 in the desktop build)."""
    if batch_files <= 1:
        return 0
    if str(requested) != "auto":
        return max(0, int(requested))
    if getattr(sys, "frozen", False):  # the desktop build: threads (its workers are untested)
        return 0
    cores = os.cpu_count() or 1
    if n_todo < AUTO_WORKERS_FROM or cores < 2:
        return 0
    return min(cores + 1, AUTO_WORKERS_MAX)


def local_batch_files(requested: str | int, batch_files: int, workers: int) -> int:
    """The files per pass of the local engine once its workers are known: ``auto`` shares
    passes across files only with worker processes. In this one process the cross-file
    path's reader, model and writer threads share one interpreter lock and the two cores,
    and it measured 0.91x one file at a time on 400 crops (0.97x before the model got
    faster: bench/speed.py --only files, docs/benchmarks.md), so without workers it is one
    file at a time (with progress inside each file)."""
    if str(requested) == "auto" and workers == 0:
        return 1
    return batch_files


def predictor_spec(
    args: argparse.Namespace, model_path: Path, fast_path: str, device: str, threads: int
) -> Any:
    """What a worker (process or Ray actor) builds its predictor from."""
    from core.batch.remote import PredictorSpec

    return PredictorSpec.from_files(
        model_path,
        Path(args.denoise) if args.denoise is not None else None,
        device=device,
        fast_path=fast_path,
        batch_size=args.batch_size,
        mode=args.mode,
        tta=tta_of(args),
        scale_policy=args.scale_policy,
        threads=threads,
    )


def writing_into(spec: Any, folder: Any, formats: Sequence[str]) -> Any:
    """``spec`` (a :class:`~core.batch.remote.PredictorSpec`) for workers that write each
    result's files into the output ``folder`` (an :class:`~core.batch.folder.OutputFolder`)
    themselves, in ``formats``."""
    import dataclasses

    return dataclasses.replace(spec, write={"out": str(folder.path), "formats": list(formats)})


def process_source(
    args: argparse.Namespace,
    model_path: Path,
    fast_path: str,
    files: int,
    workers: int,
    *,
    folder: Any = None,
    formats: Sequence[str] = (),
) -> Any:
    """``workers`` worker processes, each with this process's torch threads shared out (one
    worker: the same threads, so the same bits as predicting here). With the output
    ``folder`` (an :class:`~core.batch.folder.OutputFolder`), each worker writes its
    results' files itself, under the names the batch gives them."""
    import torch

    from core.batch.procs import ProcessSource

    threads = max(1, torch.get_num_threads() // workers)
    spec = predictor_spec(args, model_path, fast_path, args.device, threads)
    if folder is not None:
        spec = writing_into(spec, folder, formats)
    return ProcessSource(spec, workers=workers, files=files)


def workers_write(args: argparse.Namespace) -> bool:
    """``--workers-write``: yes, no, or ``auto``: yes for the embedded Ray (this machine's
    disk), no with ``--address`` (a cluster's nodes may not see --out)."""
    choice = str(getattr(args, "workers_write", "auto") or "auto")
    if choice == "auto":
        return getattr(args, "address", None) is None
    return choice == "yes"


def ray_source(
    args: argparse.Namespace,
    model_path: Path,
    fast_path: str,
    files: int,
    err: Callable[[str], None],
    *,
    folder: Any = None,
    formats: Sequence[str] = (),
) -> Any:
    """The Ray engine's source, Ray started or joined (before Ctrl+C is ours); None after
    saying why it cannot be. With the output ``folder`` and :func:`workers_write`, each
    actor writes its results' files itself."""
    from core.batch.ray_engine import RayOptions, RaySource, RayUnavailableError

    device = "cuda" if args.gpus_per_worker > 0 and args.device == "auto" else args.device
    spec = predictor_spec(args, model_path, fast_path, device, threads=1)  # set per actor
    if folder is not None and workers_write(args):
        spec = writing_into(spec, folder, formats)
    options = RayOptions(
        address=args.address,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        files_per_call=files,
    )
    source = RaySource(spec, options)
    try:
        resources = source.connect()
    except RayUnavailableError as exc:
        err(str(exc))
        return None
    have = ", ".join(f"{v:g} {k}" for k, v in sorted(resources.items()))
    print(
        f"ray: {args.address or 'embedded local Ray'} ({have}); {args.workers} worker(s), "
        f"{options.cpus():g} CPU and {args.gpus_per_worker:g} GPU each, device {device}; "
        f"files written by {'the workers' if spec.write is not None else 'this process'}",
        file=sys.stderr,
    )
    return source


__all__ = [
    "AUTO_BATCH_FILES",
    "batch_files_for",
    "predict_workers_for",
    "predictor_spec",
    "process_source",
    "ray_source",
    "workers_write",
]
