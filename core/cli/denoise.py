"""``semdepth denoise-train`` and ``semdepth denoise``: Noise2Self denoisers.

``denoise-train --data DIR --out RUN`` trains on the noisy SEM images under ``DIR`` (no
labels needed) and writes ``RUN/denoiser.safetensors`` + ``RUN/denoiser.json`` and
``RUN/metrics.csv``. ``denoise INPUT... --model RUN --out DIR`` writes
``<stem>_denoised.tif`` (float32 0..1) and ``<stem>_denoised.png`` (8-bit) per input and a
``summary.csv``.

Exit codes (as ``semdepth predict``): 0 every input succeeded, 1 some failed (see
summary.csv), 2 bad arguments (no inputs, unknown format, missing or unusable model, no
training images), 130 cancelled with Ctrl+C (files written so far are complete).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.cli.support import bar_progress, finish_batch, progress_bar, sigint_cancels
from core.progress import CancelToken, ProgressCallback

T = TypeVar("T")


def _err(cmd: str, msg: str) -> None:
    print(f"semdepth {cmd}: {msg}", file=sys.stderr)


def _with_bar(
    cmd: str,
    total: int,
    *,
    quiet: bool,
    unit: str,
    work: Callable[[ProgressCallback, CancelToken], T],
) -> T:
    """Run ``work(progress, cancel)`` under a tqdm bar of ``total`` ``unit`` (none when
    ``quiet``) with Ctrl+C cancelling it cleanly; the bar is closed whatever happens."""
    bar = progress_bar(total, quiet=quiet, unit=unit)
    token = CancelToken()
    try:
        with sigint_cancels(token, cmd):
            return work(bar_progress(bar), token)
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------- denoise-train
def add_train_arguments(p: argparse.ArgumentParser) -> None:
    from core.models.noise2self import MASK_MODES, MASK_PATTERNS

    p.add_argument("--data", type=Path, help="folder of noisy SEM images (any layout; required)")
    p.add_argument("--out", type=Path, help="run folder to write (required)")
    p.add_argument("--steps", type=int, default=2000, help="optimisation steps [2000]")
    p.add_argument(
        "--time-budget", type=float, metavar="SECONDS", help="stop after this long [no limit]"
    )
    p.add_argument("--batch-size", type=int, default=32, help="crops per step [32]")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate [1e-3]")
    p.add_argument("--patch", type=int, default=64, help="training crop side, px [64]")
    p.add_argument("--mask-width", type=int, default=4, help="mask grid spacing, px [4]")
    p.add_argument(
        "--mask-mode",
        choices=MASK_MODES,
        default="interpolate",
        help="what replaces masked pixels [interpolate]",
    )
    p.add_argument(
        "--mask-pattern",
        choices=MASK_PATTERNS,
        default="grid",
        help="grid: the paper's pixel grid; rows: whole scan lines (row-correlated noise) [grid]",
    )
    p.add_argument("--base-width", type=int, default=16, help="U-Net base width [16]")
    p.add_argument("--levels", type=int, default=2, help="U-Net levels [2]")
    p.add_argument("--max-images", type=int, help="train on a random subset of this many images")
    p.add_argument("--val-fraction", type=float, default=0.1, help="images held out [0.1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|mps [auto]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> int:
    from core.denoise import DenoiseError, DenoiseTrainConfig, train_denoiser
    from core.models import CheckpointError

    cmd = "denoise-train"
    if args.data is None or args.out is None:
        _err(cmd, "--data DIR and --out RUN are required")
        return 2
    if not Path(args.data).exists():
        _err(cmd, f"--data {args.data}: no such file or folder")
        return 2
    config = DenoiseTrainConfig(
        data=Path(args.data),
        out=Path(args.out),
        steps=args.steps,
        time_budget_s=args.time_budget,
        batch_size=args.batch_size,
        lr=args.lr,
        patch=args.patch,
        width=args.mask_width,
        mode=args.mask_mode,
        pattern=args.mask_pattern,
        levels=args.levels,
        base_width=args.base_width,
        val_fraction=args.val_fraction,
        max_images=args.max_images,
        seed=args.seed,
        device=args.device,
        overwrite=args.overwrite,
        command=shlex.join(["semdepth", cmd, *sys.argv[sys.argv.index(cmd) + 1 :]])
        if cmd in sys.argv
        else None,
    )
    try:
        result = _with_bar(
            cmd,
            config.steps,
            quiet=args.quiet,
            unit="step",
            work=lambda progress, cancel: train_denoiser(config, progress=progress, cancel=cancel),
        )
    except (DenoiseError, CheckpointError, ValueError) as exc:
        _err(cmd, str(exc))
        return 2
    val = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.6g}"
    print(
        f"{result.stopped} after {result.steps} step(s), {result.seconds:.1f} s; "
        f"validation masked MSE {val} (0..1 scale); model {result.weights_path}",
        file=sys.stderr,
    )
    return 130 if result.stopped == "cancelled" else 0


# --------------------------------------------------------------------------- denoise
def add_denoise_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="SEM files, folders or globs")
    p.add_argument("--out", "-o", type=Path, metavar="DIR", help="output folder (required)")
    p.add_argument(
        "--model",
        type=Path,
        help="denoiser: RUN folder of denoise-train, or its denoiser.safetensors (required)",
    )
    p.add_argument(
        "--format", default="tiff,png", help="tiff (float32 0..1) and/or png (8-bit) [tiff,png]"
    )
    p.add_argument(
        "--invariant",
        action="store_true",
        help="strictly J-invariant output (one pass per mask set; slower)",
    )
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|mps [auto]")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _model_path(path: Path) -> Path:
    from core.denoise import WEIGHTS_NAME

    return path / f"{WEIGHTS_NAME}.safetensors" if path.is_dir() else path


def run_denoise(args: argparse.Namespace) -> int:
    from core.batch import expand_inputs
    from core.denoise import DenoiseSummary, check_denoise_formats, denoise_batch
    from core.device import resolve_device
    from core.models import CheckpointError
    from core.models.noise2self import Noise2SelfDenoiser

    cmd = "denoise"
    try:
        formats = check_denoise_formats([f for f in str(args.format).split(",") if f.strip()])
    except ValueError as exc:
        _err(cmd, str(exc))
        return 2
    if args.out is None:
        _err(cmd, "--out DIR is required")
        return 2
    if args.model is None:
        _err(cmd, "--model RUN (a denoise-train run folder or its .safetensors) is required")
        return 2
    if not args.inputs:
        _err(cmd, "no inputs: give SEM files, folders or globs")
        return 2
    model_path = _model_path(Path(args.model))
    if not model_path.exists():
        _err(cmd, f"model not found: {model_path}")
        return 2
    try:
        device = resolve_device(args.device)
        denoiser = Noise2SelfDenoiser.load(model_path, device=device)
    except (CheckpointError, ValueError) as exc:
        _err(cmd, str(exc))
        return 2
    out_dir = Path(args.out)
    paths = expand_inputs(list(args.inputs), exclude=[out_dir])
    if not paths:
        _err(cmd, "no SEM images found in the inputs: " + ", ".join(map(str, args.inputs)))
        return 2
    print(
        f"denoiser {denoiser.model_id} ({model_path}); device {device}; "
        f"{'J-invariant' if args.invariant else 'direct'}; {len(paths)} input(s) -> {out_dir}",
        file=sys.stderr,
    )

    def work(progress: ProgressCallback, cancel: CancelToken) -> DenoiseSummary:
        return denoise_batch(
            paths,
            denoiser,
            out_dir,
            formats=formats,
            invariant=args.invariant,
            overwrite=args.overwrite,
            progress=progress,
            cancel=cancel,
        )

    return finish_batch(_with_bar(cmd, len(paths), quiet=args.quiet, unit="img", work=work))
