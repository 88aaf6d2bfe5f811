"""Training Noise2Self denoisers and denoising batches of SEM files.

:func:`train_denoiser` reads noisy SEM images only (any layout :func:`core.data.find_records`
understands; depth maps, if any, are ignored), trains a small J-invariant U-Net
(:mod:`core.models.noise2self`) on random crops, keeps the weights with the lowest
validation self-supervised loss (the J-invariant masked loss on held-out images, which by
the Noise2Self argument tracks the error against the unknown clean images) and writes a
run folder::

    OUT/denoiser.safetensors + OUT/denoiser.json   (model card, "task": "denoise")
    OUT/metrics.csv                                 (step, seconds, train and val loss)

:func:`denoise_batch` denoises files, folders and globs (expanded like ``semdepth
predict`` by :func:`core.batch.expand_inputs`) into ``<stem>_denoised.tif`` (float32,
0..1, calibrated when the pixel size is known) and ``<stem>_denoised.png`` (8-bit), plus a
``summary.csv``; a bad file becomes a failed row, never an exception, and existing outputs
are never replaced unless ``overwrite``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.models.noise2self import (
    MASK_MODES,
    MASK_PATTERNS,
    Masker,
    Noise2SelfDenoiser,
    create_denoiser_net,
    invariant_forward,
    masked_mse,
)
from core.progress import CancelToken, ProgressCallback, report

log = logging.getLogger(__name__)

WEIGHTS_NAME = "denoiser"
METRICS_NAME = "metrics.csv"
DENOISE_FORMATS = ("tiff", "png")
SUMMARY_COLUMNS = ("file", "status", "error", "rows", "cols", "seconds", "outputs")
INTENSITY_UNIT = "normalized intensity (0..1)"


class DenoiseError(ValueError):
    """A denoiser set-up that cannot run (bad settings, no images, run folder in the way)."""


# --------------------------------------------------------------------------- training
@dataclass
class DenoiseTrainConfig:
    """Settings of one Noise2Self training run.

    ``steps`` bounds the optimisation steps and ``time_budget_s`` the wall-clock time of the
    loop (whichever comes first). ``patch`` is the side of the random training crops (px;
    smaller images are used whole). ``width``, ``mode`` and ``pattern`` configure the
    :class:`~core.models.noise2self.Masker`.
    """

    data: Path | None = None
    out: Path | None = None
    steps: int = 2000
    time_budget_s: float | None = None
    batch_size: int = 32
    lr: float = 1e-3
    patch: int = 64
    width: int = 4
    mode: str = "interpolate"
    pattern: str = "grid"
    levels: int = 2
    base_width: int = 16
    norm: str = "batch"
    val_fraction: float = 0.1
    validate_every: int = 100
    max_images: int | None = None
    seed: int = 0
    device: str = "auto"
    overwrite: bool = False
    command: str | None = None

    def validate(self) -> None:
        def bad(msg: str) -> DenoiseError:
            return DenoiseError(f"denoiser training: {msg}")

        if self.steps < 1:
            raise bad(f"steps must be >= 1, got {self.steps}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise bad(f"time budget must be > 0 s, got {self.time_budget_s}")
        if self.batch_size < 1:
            raise bad(f"batch size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise bad(f"lr must be a finite number > 0, got {self.lr}")
        if self.patch < 8:
            raise bad(f"patch must be >= 8 px, got {self.patch}")
        if self.width < 2:
            raise bad(f"mask width must be >= 2, got {self.width}")
        if self.mode not in MASK_MODES:
            raise bad(f"mask mode must be one of {', '.join(MASK_MODES)}, got {self.mode!r}")
        if self.pattern not in MASK_PATTERNS:
            raise bad(f"mask pattern must be one of {', '.join(MASK_PATTERNS)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise bad(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.validate_every < 1:
            raise bad(f"validate_every must be >= 1, got {self.validate_every}")
        if self.max_images is not None and self.max_images < 1:
            raise bad(f"max_images must be >= 1, got {self.max_images}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"] = None if self.data is None else str(self.data)
        d["out"] = None if self.out is None else str(self.out)
        return d


@dataclass
class DenoiseTrainResult:
    denoiser: Noise2SelfDenoiser
    weights_path: Path | None
    steps: int
    seconds: float
    best_val_loss: float | None
    stopped: str  # "completed" | "time_budget" | "cancelled"
    history: list[dict[str, float]] = field(default_factory=list)


def load_training_images(
    root: str | Path,
    *,
    max_images: int | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[np.ndarray]:
    """Every SEM image under ``root`` as float32 0..1 (data bar removed); labels ignored.

    ``max_images`` keeps a random subset (seeded). Raises :class:`DenoiseError` when
    there are no images or one cannot be read (naming the file)."""
    from core.data import DatasetError, find_records
    from core.io import SemReadError, read_sem

    try:
        records = find_records(root)
    except DatasetError as exc:
        raise DenoiseError(str(exc)) from None
    paths = [Path(r.sem_path) for r in records]
    if not paths:
        raise DenoiseError(f"{root}: no SEM images found")
    if max_images is not None and len(paths) > max_images:
        pick = np.random.default_rng(seed).choice(len(paths), size=max_images, replace=False)
        paths = [paths[i] for i in sorted(pick)]
    images: list[np.ndarray] = []
    for k, p in enumerate(paths):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            images.append(read_sem(p).normalized().astype(np.float32, copy=False))
        except SemReadError as exc:
            raise DenoiseError(str(exc)) from None
        report(progress, k + 1, len(paths), "loading images")
    return images


class _CropSampler:
    """Random crops (``rows x cols`` px, the same for every image) with random flips."""

    def __init__(self, images: Sequence[np.ndarray], patch: int, rng: np.random.Generator):
        if not images:
            raise DenoiseError("no training images")
        self.images = [np.asarray(a, dtype=np.float32) for a in images]
        for a in self.images:
            if a.ndim != 2:
                raise DenoiseError(f"training images must be 2-D, got shape {a.shape}")
        self.rows = min(patch, min(a.shape[0] for a in self.images))
        self.cols = min(patch, min(a.shape[1] for a in self.images))
        if self.rows < 4 or self.cols < 4:
            raise DenoiseError(f"training images are too small ({self.rows}x{self.cols} px)")
        self.rng = rng

    def sample(self, n: int) -> np.ndarray:
        out = np.empty((n, self.rows, self.cols), dtype=np.float32)
        idx = self.rng.integers(0, len(self.images), size=n)
        for k, i in enumerate(idx):
            a = self.images[int(i)]
            r = int(self.rng.integers(0, a.shape[0] - self.rows + 1))
            c = int(self.rng.integers(0, a.shape[1] - self.cols + 1))
            crop = a[r : r + self.rows, c : c + self.cols]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            if self.rng.random() < 0.5:
                crop = crop[::-1, :]
            out[k] = crop
        return out


def _val_crops(images: Sequence[np.ndarray], rows: int, cols: int, limit: int = 64) -> np.ndarray:
    """Deterministic centre crops of up to ``limit`` validation images."""
    out = []
    for a in images[:limit]:
        r0 = (a.shape[0] - rows) // 2
        c0 = (a.shape[1] - cols) // 2
        out.append(a[r0 : r0 + rows, c0 : c0 + cols])
    return np.stack(out).astype(np.float32)


def validation_loss(net: torch.nn.Module, x: torch.Tensor, masker: Masker) -> float:
    """The J-invariant self-supervised loss ``mean((f_J(x) - x)^2)`` over every pixel."""
    was = net.training
    net.eval()
    with torch.inference_mode():
        y = invariant_forward(net, x, masker)
        loss = float(torch.mean((y - x) ** 2))
    net.train(was)
    return loss


def fit_denoiser(
    images: Sequence[np.ndarray],
    config: DenoiseTrainConfig,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_validate: Callable[[dict[str, float]], None] | None = None,
) -> DenoiseTrainResult:
    """Train a Noise2Self denoiser on in-memory 0..1 images (no files written).

    Each step: a batch of random crops, one random mask set ``J`` of the masker, masked
    pixels replaced (interpolated or random), MSE on the masked pixels only. A cancel
    stops after the current step and returns the best weights so far
    (``stopped="cancelled"``)."""
    from core.device import resolve_device

    config.validate()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    imgs = [np.asarray(a, dtype=np.float32) for a in images]
    if not imgs:
        raise DenoiseError("no training images")
    order = rng.permutation(len(imgs))
    n_val = round(config.val_fraction * len(imgs)) if len(imgs) > 1 else 0
    n_val = min(n_val, len(imgs) - 1)
    val_imgs = [imgs[i] for i in order[:n_val]]
    train_imgs = [imgs[i] for i in order[n_val:]]
    sampler = _CropSampler(train_imgs, config.patch, rng)
    masker = Masker(config.width, config.mode, config.pattern)
    net = create_denoiser_net(
        levels=config.levels, base_width=config.base_width, norm=config.norm
    ).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    x_val = None
    if val_imgs:
        x_val = torch.from_numpy(_val_crops(val_imgs, sampler.rows, sampler.cols))[:, None]
        x_val = x_val.to(device)
    best_state: dict[str, torch.Tensor] | None = None
    best_loss = math.inf
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    step = 0
    stopped = "completed"
    running = 0.0
    n_running = 0
    net.train()
    while step < config.steps:
        if cancel is not None and cancel.cancelled:
            stopped = "cancelled"
            break
        if config.time_budget_s is not None and time.perf_counter() - t0 >= config.time_budget_s:
            stopped = "time_budget"
            break
        x = torch.from_numpy(sampler.sample(config.batch_size))[:, None].to(device)
        i = int(torch.randint(0, masker.n_masks, (1,), generator=gen))
        xm, m = masker.apply(x, i, generator=gen)
        loss = masked_mse(net(xm), x, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        running += float(loss.detach())
        n_running += 1
        last = step == config.steps
        if step % config.validate_every == 0 or last:
            row = {
                "step": float(step),
                "seconds": time.perf_counter() - t0,
                "train_loss": running / max(n_running, 1),
                "val_loss": math.nan,
            }
            running, n_running = 0.0, 0
            if x_val is not None:
                row["val_loss"] = validation_loss(net, x_val, masker)
                if row["val_loss"] < best_loss:
                    best_loss = row["val_loss"]
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            history.append(row)
            if on_validate is not None:
                on_validate(row)
        report(progress, step, config.steps, f"step {step}, masked loss {float(loss.detach()):.5f}")
    if x_val is not None:  # the final weights may beat the last validated ones
        final = validation_loss(net, x_val, masker)
        if final < best_loss:
            best_loss, best_state = final, None
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    seconds = time.perf_counter() - t0
    denoiser = Noise2SelfDenoiser(net, masker, device=device)
    return DenoiseTrainResult(
        denoiser=denoiser,
        weights_path=None,
        steps=step,
        seconds=seconds,
        best_val_loss=None if not math.isfinite(best_loss) else best_loss,
        stopped=stopped,
        history=history,
    )


def _prepare_out(out: Path, overwrite: bool) -> None:
    targets = [
        out / f"{WEIGHTS_NAME}.safetensors",
        out / f"{WEIGHTS_NAME}.json",
        out / METRICS_NAME,
    ]
    if out.exists() and not out.is_dir():
        raise DenoiseError(f"{out}: exists and is not a folder")
    if not overwrite:
        for t in targets:
            if t.exists():
                raise DenoiseError(f"{t}: exists (pass overwrite to replace the run)")
    out.mkdir(parents=True, exist_ok=True)


def _metrics_csv(history: Sequence[dict[str, float]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "seconds", "train_loss", "val_loss"])
    for row in history:
        w.writerow(
            [
                int(row["step"]),
                f"{row['seconds']:.3f}",
                f"{row['train_loss']:.8g}",
                "" if math.isnan(row["val_loss"]) else f"{row['val_loss']:.8g}",
            ]
        )
    return buf.getvalue()


def train_denoiser(
    config: DenoiseTrainConfig,
    *,
    images: Sequence[np.ndarray] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DenoiseTrainResult:
    """Load ``config.data`` (or use ``images``), train, and write the run folder
    ``config.out`` (see the module docstring). A cancelled run still saves its best
    weights, with ``"interrupted": true`` in the card."""
    config.validate()
    if config.out is None:
        raise DenoiseError("denoiser training: no output folder")
    out = Path(config.out)
    _prepare_out(out, config.overwrite)
    if images is None:
        if config.data is None:
            raise DenoiseError("denoiser training: no data folder")
        images = load_training_images(
            config.data, max_images=config.max_images, seed=config.seed, cancel=cancel
        )
    if cancel is not None:
        cancel.raise_if_cancelled()
    result = fit_denoiser(images, config, progress=progress, cancel=cancel)
    shapes = sorted({tuple(int(s) for s in np.shape(a)) for a in images})
    card = {
        "input": {"size": list(shapes[0]) if len(shapes) == 1 else None},
        "training": {
            "method": "noise2self",
            "command": config.command,
            "data": {
                "root": None if config.data is None else str(Path(config.data).resolve()),
                "n_images": len(images),
            },
            "config": config.to_dict(),
            "steps": result.steps,
            "seconds": round(result.seconds, 3),
            "stopped": result.stopped,
            "interrupted": result.stopped == "cancelled",
        },
        "metrics": {"val_masked_mse": result.best_val_loss},
    }
    result.weights_path = result.denoiser.save(
        out / WEIGHTS_NAME, card=card, overwrite=config.overwrite
    )
    from core.io.atomic import atomic_write_text

    atomic_write_text(out / METRICS_NAME, _metrics_csv(result.history), overwrite=True)
    return result


# --------------------------------------------------------------------------- batch denoising
@dataclass
class DenoiseItem:
    index: int
    source: Path
    status: str  # "done" | "failed" | "cancelled"
    error: str | None
    outputs: dict[str, Path]
    seconds: float
    shape: tuple[int, int] | None = None
    denoised: np.ndarray | None = None


@dataclass
class DenoiseSummary:
    items: list[DenoiseItem]
    n_done: int
    n_failed: int
    cancelled: bool
    summary_csv: Path | None


def check_denoise_formats(formats: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for f in formats:
        key = f.strip().lower()
        if key == "tif":
            key = "tiff"
        if key not in DENOISE_FORMATS:
            raise ValueError(
                f"unknown output format {f!r}; choose from {', '.join(DENOISE_FORMATS)}"
            )
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("no output format given (tiff, png)")
    return tuple(out)


def planned_denoise_outputs(out_dir: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    plan: dict[str, Path] = {}
    if "tiff" in formats:
        plan["denoised_tiff"] = out_dir / f"{stem}_denoised.tif"
    if "png" in formats:
        plan["denoised_png"] = out_dir / f"{stem}_denoised.png"
    return plan


def _summary_row(it: DenoiseItem) -> list[str]:
    return [
        str(it.source),
        it.status,
        it.error or "",
        "" if it.shape is None else str(it.shape[0]),
        "" if it.shape is None else str(it.shape[1]),
        f"{it.seconds:.3f}",
        ";".join(p.name for p in it.outputs.values()),
    ]


def _denoise_one(
    index: int,
    path: Path,
    denoiser: Noise2SelfDenoiser,
    out_dir: Path | None,
    stem: str,
    *,
    formats: tuple[str, ...],
    invariant: bool,
    overwrite: bool,
    cancel: CancelToken | None,
) -> DenoiseItem:
    from core.batch import capture_failure, refuse_existing
    from core.io import read_sem, write_depth_png, write_depth_tiff

    item = DenoiseItem(index, path, "failed", None, {}, 0.0)
    with capture_failure(item, path, log):
        plan = planned_denoise_outputs(out_dir, stem, formats) if out_dir is not None else {}
        if not overwrite:
            refuse_existing(plan.values())
        img = read_sem(path)
        item.shape = img.shape
        den = denoiser.denoise(img.normalized(), invariant=invariant)
        item.denoised = den
        if cancel is not None:
            cancel.raise_if_cancelled()
        desc = {
            "source": str(path),
            "quantity": "denoised SEM intensity",
            "denoiser": denoiser.model_id,
            "method": "noise2self",
            "invariant": invariant,
            "source_dtype": img.dtype,
        }
        for kind, target in plan.items():
            if kind == "denoised_tiff":
                item.outputs[kind] = write_depth_tiff(
                    target,
                    den,
                    pixel_size_nm=img.pixel_size_nm,
                    value_unit=INTENSITY_UNIT,
                    description=desc,
                    overwrite=overwrite,
                )
            else:
                item.outputs[kind] = write_depth_png(target, den * 255.0, overwrite=overwrite)
        item.status = "done"
    return item


def denoise_batch(
    inputs: Sequence[str | Path],
    denoiser: Noise2SelfDenoiser,
    out_dir: str | Path | None,
    *,
    formats: Sequence[str] = DENOISE_FORMATS,
    invariant: bool = False,
    overwrite: bool = False,
    keep_results: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_item: Callable[[DenoiseItem], None] | None = None,
) -> DenoiseSummary:
    """Denoise every input (files, folders, globs) and write its outputs; never raises for
    a bad input. ``out_dir=None`` computes only. ``keep_results`` keeps each denoised array
    on its item. Raises only for bad arguments (unknown format)."""
    from core.batch import StemNamer, SummaryWriter, expand_inputs, run_items

    fmts = check_denoise_formats(formats)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    paths = expand_inputs(inputs, exclude=[out] if out is not None else [])
    namer = StemNamer(paths)
    writer = (
        SummaryWriter(out, overwrite=overwrite, columns=SUMMARY_COLUMNS, row=_summary_row)
        if out is not None
        else None
    )

    def process(index: int, path: Path) -> DenoiseItem:
        return _denoise_one(
            index,
            path,
            denoiser,
            out,
            namer(path),
            formats=fmts,
            invariant=invariant,
            overwrite=overwrite,
            cancel=cancel,
        )

    def release(item: DenoiseItem) -> None:
        item.denoised = None

    run = run_items(
        paths,
        process,
        progress=progress,
        cancel=cancel,
        on_item=on_item,
        release=None if keep_results else release,
        writer=writer,
    )
    return DenoiseSummary(
        run.items, run.n_done, run.n_failed, run.cancelled, writer.path if writer else None
    )
