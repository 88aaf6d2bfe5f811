"""``semdepth predict``: depth maps for SEM files, folders and globs.

Exit codes: 0 every input succeeded, 1 some failed (see summary.csv), 2 bad arguments
(no inputs, unknown format, missing or unusable model, a ``--denoise`` file that is not a
denoiser checkpoint), 130 cancelled with Ctrl+C (the files written so far are complete and
the summary lists them).

``--denoise MODEL`` denoises each SEM image with a Noise2Self denoiser before the depth
model; the outputs' JSON descriptions and summary.csv record it (``denoised``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.cli.support import bar_progress, finish_batch, progress_bar, sigint_cancels
from core.progress import CancelToken, ProgressCallback

FAST_PATH_CHOICES = ("auto", "fp32", "channels-last", "bf16", "onnx", "compile")


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
        "--fast-path",
        default="auto",
        help=f"{'|'.join(FAST_PATH_CHOICES)} [auto: the card's, else bf16 where the CPU "
        "has it, else channels-last]",
    )
    p.add_argument("--gt", type=Path, default=None, metavar="DIR", help="ground-truth folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--no-tta", action="store_true", help="no flips (4x faster, no uncertainty)")
    p.add_argument("--samples", action="store_true", help="add the bundled sample images")
    p.add_argument(
        "--batch-size", type=int, default=None, help="images per forward pass [by fast path]"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _err(msg: str) -> None:
    print(f"semdepth predict: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from core.batch import check_formats, expand_inputs, run_batch
    from core.inference import Predictor
    from core.inference.fastpath import normalize_fast_path
    from core.resources import default_model_path, sample_images

    try:
        formats = check_formats(f for f in str(args.format).split(",") if f.strip())
        fast_path = normalize_fast_path(args.fast_path)
    except ValueError as exc:
        _err(str(exc))
        return 2
    if not formats:
        _err("no output format given (--format tiff,csv,png)")
        return 2
    if args.out is None:
        _err("--out DIR is required")
        return 2
    inputs: list[str | Path] = list(args.inputs)
    if args.samples:
        try:
            inputs.extend(sample_images())
        except OSError as exc:
            _err(f"bundled samples not found: {exc}")
            return 2
    if not inputs:
        _err("no inputs: give SEM files, folders or globs (or --samples)")
        return 2
    if args.gt is not None and not Path(args.gt).is_dir():
        _err(f"--gt {args.gt}: not a folder")
        return 2
    if args.batch_size is not None and args.batch_size < 1:
        _err("--batch-size must be >= 1")
        return 2
    model_path = Path(args.model) if args.model is not None else default_model_path()
    if not model_path.exists():
        hint = "" if args.model is not None else " (the bundled default model is missing)"
        _err(f"model not found: {model_path}{hint}; pass --model PATH.safetensors")
        return 2
    try:
        predictor = Predictor.from_checkpoint(
            model_path, device=args.device, fast_path=fast_path, batch_size=args.batch_size
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
    out_dir = Path(args.out)
    paths = expand_inputs(inputs, exclude=[out_dir])
    if not paths:
        _err("no SEM images found in the inputs: " + ", ".join(str(i) for i in inputs))
        return 2
    print(
        f"model {predictor.model_id} ({model_path}); device {predictor.device}; "
        f"fast path {predictor.fast_path}; mode {args.mode}; "
        f"TTA {'off' if args.no_tta else 'on'}; "
        f"denoise {predictor.denoiser.model_id if predictor.denoiser else 'off'}; "
        f"{len(paths)} input(s) -> {out_dir}",
        file=sys.stderr,
    )

    token = CancelToken()
    with _progress(len(paths), quiet=args.quiet) as progress, sigint_cancels(token, "predict"):
        summary = run_batch(
            paths,
            predictor,
            out_dir,
            formats=formats,
            gt_dir=args.gt,
            mode=args.mode,
            overwrite=args.overwrite,
            tta=not args.no_tta,
            progress=progress,
            cancel=token,
        )
    flagged = [i for i in summary.items if i.stats.get("in_domain") is False]
    if flagged:
        print(
            f"warning: {len(flagged)} of {len(summary.items)} image(s) out of the model's "
            "domain: their numbers are not to be signed off (summary.csv: domain_reasons)",
            file=sys.stderr,
        )
    return finish_batch(summary)


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
