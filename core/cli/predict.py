"""``semdepth predict``: depth maps for SEM files, folders and globs.

Exit codes: 0 every input succeeded (inputs skipped by ``--scale-policy skip`` are not
failures); 1 some failed (see summary.csv), or the batch stopped early because the summary
could not be written (a full disk); 2 bad arguments or an output folder that cannot take
the batch, found before the model is loaded (no inputs, unknown format, missing or
unusable model, a ``--denoise`` file that is not a denoiser checkpoint, ``--out`` a file,
unwritable, full, in use by another run, or holding an earlier run without ``--resume`` /
``--overwrite``); 130 cancelled with Ctrl+C, 143 stopped by SIGTERM (in both cases the
file being predicted writes nothing, the files written so far are complete and the
summary lists them).

``--denoise MODEL`` denoises each SEM image with a Noise2Self denoiser before the depth
model; the outputs' JSON descriptions and summary.csv record it (``denoised``).

``--batch-files N|auto``: crop-sized files share forward passes, reading, predicting and
writing overlap (:mod:`core.batch.crossfile`). ``--engine ray``: the predictions on a Ray
cluster (``--address``) or an embedded local Ray, written here by the same code
(:mod:`core.batch.ray_engine`, docs/cluster.md); without Ray installed: exit 2 naming
``pip install 'semdepth[cluster]'``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.cli.predict_sources import (
    AUTO_BATCH_FILES,
    batch_files_for,
    local_batch_files,
    predict_workers_for,
    process_source,
    ray_source,
    tta_of,
)
from core.cli.support import bar_progress, finish_batch, progress_bar, sigint_cancels
from core.progress import CancelToken, ProgressCallback

FAST_PATH_CHOICES = ("auto", "fp32", "channels-last", "bf16", "onnx", "compile")
SCALE_POLICY_CHOICES = ("auto", "model", "native", "skip")
TTA_CHOICES = ("auto", "on", "off")  # core.inference.tta.TTA_CHOICES, without torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="SEM files, folders or globs")
    p.add_argument("--out", "-o", type=Path, metavar="DIR", help="output folder (required)")
    p.add_argument(
        "--format",
        default="tiff,csv,png",
        help="comma-separated outputs: tiff (depth, depth below top, uncertainty, "
        "calibrated sigma; float32), csv (depth, depth below top), png (colour map with a "
        "colour bar), dacon (8-bit PNG), report (self-contained HTML per image and "
        "report.html per batch) [tiff,csv,png]",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model weights (.safetensors with its .json card) [the bundled default model]",
    )
    p.add_argument(
        "--denoise",
        type=Path,
        default=None,
        metavar="MODEL",
        help="denoise each SEM image first with this Noise2Self denoiser checkpoint "
        "(.safetensors with its .json card, from 'semdepth denoise train')",
    )
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|mps [auto]")
    p.add_argument("--mode", default="auto", choices=("auto", "crop", "field", "tiled"))
    p.add_argument(
        "--scale-policy",
        default="auto",
        choices=SCALE_POLICY_CHOICES,
        help="when an image's pixel size differs from the model's: auto = resample within "
        "0.25-4x and 16 Mpx, else predict at native scale with an out-of-domain note; "
        "model = resample within 1/8-8x and 64 Mpx; native = never resample; skip = like "
        "auto, but skip the images auto would predict out of domain [auto]",
    )
    p.add_argument(
        "--fast-path",
        default="auto",
        help=f"{'|'.join(FAST_PATH_CHOICES)} [auto: the card's, else bf16 where the CPU "
        "has it, else channels-last]",
    )
    p.add_argument("--gt", type=Path, default=None, metavar="DIR", help="ground-truth folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish an earlier run into the same --out (same model and settings): "
        "complete inputs are kept, the rest predicted",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run's outputs in --out"
    )
    p.add_argument(
        "--tta",
        choices=TTA_CHOICES,
        default=None,
        help="test-time flips for the uncertainty map: auto (default) runs them on every "
        "image but one out of the model's domain by its known pixel size, which gets one "
        "pass; on: always; off: never (4x faster)",
    )
    p.add_argument("--no-tta", action="store_true", help="the same as --tta off")
    p.add_argument("--samples", action="store_true", help="add the bundled sample images")
    p.add_argument(
        "--batch-size", type=int, default=None, help="images per forward pass [by fast path]"
    )
    p.add_argument(
        "--batch-files",
        default="auto",
        metavar="N",
        help="crop-sized files whose crops share one forward pass, reading, predicting and "
        "writing overlapping (1: one file at a time, with progress inside each file); "
        f"auto = {AUTO_BATCH_FILES} when the inputs are crop-sized and predict worker "
        "processes run them, else 1 [auto]",
    )
    p.add_argument(
        "--predict-workers",
        default="auto",
        metavar="N",
        help="with --batch-files > 1: worker processes that read, predict and write while "
        "this one records the rows (0: threads in this process); auto = one per core and "
        "one more (at most 8) for 200 or more files on 2 or more cores, else 0 [auto]",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    ray = p.add_argument_group(
        "cluster (--engine ray; needs pip install 'semdepth[cluster]', see docs/cluster.md)"
    )
    ray.add_argument(
        "--engine",
        default="local",
        choices=("local", "ray"),
        help="local: this process; ray: actors on a Ray cluster predict, this process "
        "writes the same files and rows [local]",
    )
    ray.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster (auto, or host:6379) [an embedded local Ray]",
    )
    ray.add_argument("--workers", type=int, default=2, help="Ray actors, one predictor each [2]")
    ray.add_argument(
        "--gpus-per-worker", type=float, default=0.0, metavar="G", help="GPUs per actor [0]"
    )
    ray.add_argument(
        "--cpus-per-worker",
        type=float,
        default=None,
        metavar="C",
        help="CPUs per actor (its torch threads) [embedded: the cores shared out; cluster: 1]",
    )
    ray.add_argument(
        "--workers-write",
        choices=("auto", "yes", "no"),
        default="auto",
        help="each actor writes its results' files into --out itself (yes: --out must be a "
        "folder every node sees at the same path, a shared file system) or sends them here "
        "to be written (no) [auto: yes for the embedded Ray, no with --address]",
    )


def _err(msg: str) -> None:
    print(f"semdepth predict: {msg}", file=sys.stderr)


def _check_arguments(args: argparse.Namespace) -> tuple[tuple[str, ...], str, list[Any]] | str:
    """(formats, fast path, inputs) or the message of the first bad argument."""
    from core.batch import check_formats
    from core.inference.fastpath import normalize_fast_path
    from core.resources import sample_images

    try:
        formats = check_formats(f for f in str(args.format).split(",") if f.strip())
        fast_path = normalize_fast_path(args.fast_path)
    except ValueError as exc:
        return str(exc)
    if not formats:
        return "no output format given (--format tiff,csv,png)"
    if args.no_tta and args.tta not in (None, "off"):
        return f"--no-tta and --tta {args.tta} contradict each other"
    if args.out is None:
        return "--out DIR is required"
    if args.resume and args.overwrite:
        return "--resume and --overwrite exclude each other"
    inputs: list[Any] = list(args.inputs)
    if args.samples:
        try:
            inputs.extend(sample_images())
        except OSError as exc:
            return f"bundled samples not found: {exc}"
    if not inputs:
        return "no inputs: give SEM files, folders or globs (or --samples)"
    if args.gt is not None and not Path(args.gt).is_dir():
        return f"--gt {args.gt}: not a folder"
    if args.batch_size is not None and args.batch_size < 1:
        return "--batch-size must be >= 1"
    if args.engine == "ray":
        if args.workers < 1:
            return "--workers must be >= 1"
        if args.gpus_per_worker < 0 or (args.cpus_per_worker or 1) <= 0:
            return "--gpus-per-worker must be >= 0 and --cpus-per-worker > 0"
        from core.batch.ray_engine import RayUnavailableError, require_ray

        try:
            require_ray()
        except RayUnavailableError as exc:
            return str(exc)
    elif args.address or args.gpus_per_worker:
        return "--address and --gpus-per-worker need --engine ray"
    if args.predict_workers != "auto" and not str(args.predict_workers).isdigit():
        return (
            f"--predict-workers must be auto or a whole number >= 0, not {args.predict_workers!r}"
        )
    if args.batch_files != "auto" and (
        not str(args.batch_files).isdigit() or int(args.batch_files) < 1
    ):
        return f"--batch-files must be auto or a whole number >= 1, not {args.batch_files!r}"
    return formats, fast_path, inputs


def _settings(args: argparse.Namespace, model_path: Path, formats: Any, fast_path: str) -> Any:
    """The manifest settings, from the files alone (the model is not loaded yet)."""
    from core.batch import batch_settings, file_sha256
    from core.inference import ScalePolicy
    from core.inference.inputs import checkpoint_file

    def digest(path: Path, what: str) -> str:
        weights = checkpoint_file(path, what)
        card = weights.with_suffix(".json")
        return file_sha256(weights, *([card] if card.is_file() else []))

    return batch_settings(
        model_sha256=digest(model_path, "model"),
        denoiser_sha256=None if args.denoise is None else digest(Path(args.denoise), "denoiser"),
        formats=formats,
        mode=args.mode,
        tta=tta_of(args),
        scale_policy=ScalePolicy.named(args.scale_policy).settings(),
        fast_path=fast_path,
    )


def _prestart_workers(args: argparse.Namespace, n_todo: int) -> None:
    """When worker processes will likely predict (the ``auto`` rules, assuming crop-sized
    inputs: the model is not loaded yet), start their fork server before this process
    loads the model, so that the two imports of torch overlap (a wrong guess costs one idle
    process's start, on a job of 200 or more large images)."""
    if args.engine == "ray":
        return
    batch_files = 1 if str(args.batch_files) == "1" else 2
    if predict_workers_for(args.predict_workers, batch_files, n_todo) > 0:
        from core.batch.procs import prestart

        prestart()


def run(args: argparse.Namespace) -> int:
    from core.batch import (
        FolderBusyError,
        OutputFolderError,
        open_output_folder,
        scan_inputs,
    )
    from core.inference.inputs import check_depth_model, checkpoint_file
    from core.models import inspect_checkpoint
    from core.resources import default_model_path

    checked = _check_arguments(args)
    if isinstance(checked, str):
        _err(checked)
        return 2
    formats, fast_path, inputs = checked
    model_path = Path(args.model) if args.model is not None else default_model_path()
    if not model_path.exists():
        hint = "" if args.model is not None else " (the bundled default model is missing)"
        _err(f"model not found: {model_path}{hint}; pass --model PATH.safetensors")
        return 2
    try:  # every refusal of a model file comes before anything is allocated or written
        model_path = check_depth_model(model_path)
        if args.denoise is not None:
            inspect_checkpoint(checkpoint_file(Path(args.denoise), "denoiser"))
    except ValueError as exc:  # CheckpointError
        _err(f"--denoise: {exc}" if args.denoise and str(args.denoise) in str(exc) else str(exc))
        return 2
    out_dir = Path(args.out)
    paths, _problems = scan_inputs(inputs, exclude=[out_dir])
    if not paths:
        _err("no SEM images found in the inputs: " + ", ".join(str(i) for i in inputs))
        return 2
    try:  # the output folder first: its faults are found before the model is loaded
        settings = _settings(args, model_path, formats, fast_path)
        folder = open_output_folder(
            out_dir, settings, paths, formats, resume=args.resume, overwrite=args.overwrite
        )
    except (OutputFolderError, FolderBusyError, ValueError, OSError) as exc:
        _err(str(exc))
        return 2
    with folder:
        for line in folder.warnings:
            _err(f"warning: {line}")
        if folder.removed_temps:
            _err(f"removed {len(folder.removed_temps)} temporary file(s) a killed run left")
        _prestart_workers(args, len(paths) - len(folder.complete))
        return _predict(args, folder, inputs, paths, formats, fast_path, model_path)


def _predict(
    args: argparse.Namespace,
    folder: Any,
    inputs: list[Any],
    paths: list[Path],
    formats: Any,
    fast_path: str,
    model_path: Path,
) -> int:
    from core.batch import run_batch
    from core.inference import Predictor

    ray = args.engine == "ray"
    try:  # with --engine ray the predictor here only describes the model: the CPU does
        predictor = Predictor.from_checkpoint(
            model_path,
            device="cpu" if ray else args.device,
            fast_path=fast_path,
            batch_size=args.batch_size,
        )
    except ValueError as exc:  # CheckpointError, unknown/unavailable device or fast path
        _err(str(exc))
        return 2
    if args.denoise is not None:
        try:
            predictor.set_denoiser(Path(args.denoise))
        except ValueError as exc:  # CheckpointError: missing, or not a denoiser checkpoint
            _err(f"--denoise: {exc}")
            return 2
    n_done, n_inputs = len(folder.complete), len(paths)
    batch_files = batch_files_for(args.batch_files, paths, predictor.input_size)
    workers = (
        0 if ray else predict_workers_for(args.predict_workers, batch_files, n_inputs - n_done)
    )
    if not ray:
        batch_files = local_batch_files(args.batch_files, batch_files, workers)
    print(
        f"model {predictor.model_id} ({model_path}); device {predictor.device}; "
        f"fast path {predictor.fast_path}; mode {args.mode}; scale policy {args.scale_policy}; "
        f"TTA {tta_of(args)}; "
        f"denoise {predictor.denoiser.model_id if predictor.denoiser else 'off'}; "
        f"{batch_files} file(s) per pass"
        f"{f', {workers} predict worker process(es)' if workers else ''}; {n_inputs} input(s)"
        f"{f', {n_done} already complete' if n_done else ''} -> {folder.path}",
        file=sys.stderr,
    )
    source = None
    if ray:
        source = ray_source(
            args, model_path, fast_path, batch_files, _err, folder=folder, formats=formats
        )
        if source is None:
            return 2
    elif workers:
        source = process_source(
            args, model_path, fast_path, batch_files, workers,
            folder=folder, formats=formats,
        )  # fmt: skip
    token = CancelToken()
    with _progress(n_inputs, quiet=args.quiet) as progress, sigint_cancels(token, "predict"):
        summary = run_batch(
            inputs,
            predictor,
            folder,
            formats=formats,
            gt_dir=args.gt,
            mode=args.mode,
            tta=tta_of(args),
            scale_policy=args.scale_policy,
            progress=progress,
            cancel=token,
            batch_files=batch_files,
            source=source,
        )
    flagged = [i for i in summary.items if i.stats.get("in_domain") is False]
    if flagged:
        print(
            f"warning: {len(flagged)} of {len(summary.items)} image(s) out of the model's "
            "domain: their numbers are not to be signed off (summary.csv: domain_reasons)",
            file=sys.stderr,
        )
    return finish_batch(summary, token)


@contextmanager
def _progress(total: int, *, quiet: bool) -> Iterator[ProgressCallback]:
    """A progress callback driving a tqdm bar of ``total`` images (none when ``quiet``),
    closed on the way out."""
    bar = progress_bar(total, quiet=quiet, unit="img")
    try:
        yield bar_progress(bar)
    finally:
        if bar is not None:
            bar.close()
