"""Training a Noise2Self denoiser in memory: :class:`DenoiseTrainConfig`,
:func:`load_training_images` and :func:`fit_denoiser`.

Noisy SEM images only (depth maps, if any, are ignored); a small J-invariant U-Net
(:mod:`core.models.noise2self`) trains on random crops and keeps the weights with the
lowest validation self-supervised loss (the J-invariant masked loss on held-out images,
which by the Noise2Self argument tracks the error against the unknown clean images).
"""

from __future__ import annotations

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


class DenoiseError(ValueError):
    """A denoiser set-up that cannot run (bad settings, no images, run folder in the way)."""


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


def _split_images(
    images: Sequence[np.ndarray], val_fraction: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(train, val)`` images: a random ``val_fraction`` held out (none of a single image,
    at least one image always left to train on)."""
    imgs = [np.asarray(a, dtype=np.float32) for a in images]
    if not imgs:
        raise DenoiseError("no training images")
    order = rng.permutation(len(imgs))
    n_val = round(val_fraction * len(imgs)) if len(imgs) > 1 else 0
    n_val = min(n_val, len(imgs) - 1)
    return [imgs[i] for i in order[n_val:]], [imgs[i] for i in order[:n_val]]


class _Fit:
    """One training run's state: the data, network, optimizer and the best weights."""

    def __init__(self, images: Sequence[np.ndarray], config: DenoiseTrainConfig) -> None:
        from core.device import resolve_device

        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        train_imgs, val_imgs = _split_images(images, config.val_fraction, rng)
        self.sampler = _CropSampler(train_imgs, config.patch, rng)
        self.masker = Masker(config.width, config.mode, config.pattern)
        self.net = create_denoiser_net(
            levels=config.levels, base_width=config.base_width, norm=config.norm
        ).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.x_val: torch.Tensor | None = None
        if val_imgs:
            crops = _val_crops(val_imgs, self.sampler.rows, self.sampler.cols)
            self.x_val = torch.from_numpy(crops)[:, None].to(self.device)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_loss = math.inf

    def step(self) -> float:
        """One step: random crops, one random mask set, MSE on the masked pixels."""
        x = torch.from_numpy(self.sampler.sample(self.config.batch_size))[:, None]
        x = x.to(self.device)
        i = int(torch.randint(0, self.masker.n_masks, (1,), generator=self.gen))
        xm, m = self.masker.apply(x, i, generator=self.gen)
        loss = masked_mse(self.net(xm), x, m)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def validate(self) -> float:
        """The validation loss (NaN without validation images); keeps the best weights."""
        if self.x_val is None:
            return math.nan
        value = validation_loss(self.net, self.x_val, self.masker)
        if value < self.best_loss:
            self.best_loss = value
            self.best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        return value

    def finish(self) -> Noise2SelfDenoiser:
        """The best weights (the final ones when they beat the last validated ones)."""
        if self.x_val is not None:
            final = validation_loss(self.net, self.x_val, self.masker)
            if final < self.best_loss:
                self.best_loss, self.best_state = final, None
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        self.net.eval()
        return Noise2SelfDenoiser(self.net, self.masker, device=self.device)


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
    config.validate()
    fit = _Fit(images, config)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    step = 0
    stopped = "completed"
    running = 0.0
    n_running = 0
    fit.net.train()
    while step < config.steps:
        if cancel is not None and cancel.cancelled:
            stopped = "cancelled"
            break
        if config.time_budget_s is not None and time.perf_counter() - t0 >= config.time_budget_s:
            stopped = "time_budget"
            break
        loss = fit.step()
        step += 1
        running += loss
        n_running += 1
        if step % config.validate_every == 0 or step == config.steps:
            row = {
                "step": float(step),
                "seconds": time.perf_counter() - t0,
                "train_loss": running / max(n_running, 1),
                "val_loss": math.nan,
            }
            running, n_running = 0.0, 0
            row["val_loss"] = fit.validate()
            history.append(row)
            if on_validate is not None:
                on_validate(row)
        report(progress, step, config.steps, f"step {step}, masked loss {loss:.5f}")
    denoiser = fit.finish()
    return DenoiseTrainResult(
        denoiser=denoiser,
        weights_path=None,
        steps=step,
        seconds=time.perf_counter() - t0,
        best_val_loss=None if not math.isfinite(fit.best_loss) else fit.best_loss,
        stopped=stopped,
        history=history,
    )
