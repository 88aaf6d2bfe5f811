"""Training depth models: presets of the report's variants, callbacks, checkpoints, resume.

:func:`train` takes a typed :class:`TrainConfig` and writes a *run folder*:

- ``config.toml``: the effective configuration (feed it back with ``--config``);
- ``metrics.csv``: one row per epoch (losses, validation RMSE per image and pooled, DU);
- ``curves.png``: the loss and RMSE curves (drawn with Pillow);
- ``best.safetensors`` + ``best.json`` and ``last.safetensors`` + ``last.json``: the
  generator and its model card (``core.models.save_checkpoint``);
- ``trainer_state.safetensors`` + ``trainer_state.json``: everything ``--resume`` needs
  (weights of both networks, optimizer moments, RNG states as tensors; counters, history
  and optimizer hyper-parameters as JSON; nothing is ever unpickled).

The GUI drives training through plain :class:`Callback` objects and a
:class:`~core.progress.CancelToken`; the CLI adds :class:`TqdmCallback`. Under
``torchrun`` the trainer runs data-parallel (DistributedDataParallel: gloo on CPU,
nccl on CUDA); only rank 0 writes files.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as _dt
import io
import json
import logging
import math
import os
import random
import shlex
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import core
from core.io.atomic import atomic_write_bytes, atomic_write_text
from core.metrics import MetricAccumulator
from core.progress import CancelToken, Progress, ProgressCallback

log = logging.getLogger(__name__)

AMP_CHOICES = ("auto", "bf16", "off")
SCHEDULES = ("constant", "cosine", "onecycle")
CHANNELS_LAST_CHOICES = ("auto", "on", "off")
BASELINE_PRESET = "intensity-baseline"

STATE_NAME = "trainer_state"
CONFIG_NAME = "config.toml"
METRICS_NAME = "metrics.csv"
CURVES_NAME = "curves.png"
RUN_FILES = (
    "best.safetensors",
    "best.json",
    "last.safetensors",
    "last.json",
    f"{STATE_NAME}.safetensors",
    f"{STATE_NAME}.json",
    METRICS_NAME,
    "baseline.json",
)

METRIC_COLUMNS = (
    "epoch",
    "global_step",
    "seconds",
    "lr",
    "loss_g",
    "loss_l1",
    "loss_gan",
    "loss_rmse",
    "loss_d",
    "train_rmse",
    "val_rmse_per_image",
    "val_rmse_pooled",
    "val_mae",
    "best",
    "samples_per_s",
)


class TrainError(ValueError):
    """A training set-up that cannot run (bad config, run folder in the way, resume mismatch)."""


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Everything one training run needs; ``None`` means "the preset's value".

    ``generator`` / ``discriminator`` override keys of the preset's network configs (for
    example ``{"base_width": 16}``); ``lambda_l1``, ``rmse_mode``, ``gan_mode`` and
    ``d_every`` override the preset's loss. ``time_budget_s`` bounds the wall-clock time
    of the training loop (validation included, data loading excluded). ``schedule``
    shapes the learning rate over the run (``constant`` as the report; ``cosine`` and
    ``onecycle`` follow the epochs or, when set, the time budget). ``beta1`` overrides the
    first Adam beta of the preset (pix2pix's 0.5 for GANs). ``ema`` keeps an
    exponential moving average of the generator's weights (decay per step) that is
    validated and saved instead of the raw weights. ``num_workers`` is accepted for
    symmetry with other trainers but unused: batches are sliced from preloaded arrays.
    """

    preset: str
    data: Path
    out: Path
    epochs: int = 50
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    early_stopping: int | None = None
    time_budget_s: float | None = None
    resume: bool = False
    overwrite: bool = False
    amp: str = "auto"
    channels_last: str = "auto"
    num_workers: int = 0
    augment: bool = True
    schedule: str = "constant"
    warmup_fraction: float = 0.05
    beta1: float | None = None
    weight_decay: float = 0.0
    ema: float | None = None
    grad_clip: float | None = None
    generator: dict[str, Any] = field(default_factory=dict)
    discriminator: dict[str, Any] = field(default_factory=dict)
    lambda_l1: float | None = None
    rmse_mode: str | None = None
    gan_mode: str | None = None
    d_every: int | None = None
    val_batch_size: int = 256
    command: str | None = None

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        self.out = Path(self.out)
        self.generator = dict(self.generator or {})
        self.discriminator = dict(self.discriminator or {})
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> TrainError:
            return TrainError(f"training config: {msg}")

        if self.epochs < 1:
            raise bad(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise bad(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not (self.lr >= 0 and math.isfinite(self.lr)):
            raise bad(f"lr must be a finite number >= 0, got {self.lr}")
        for name in ("val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise bad(f"{name} must be in [0, 1), got {v}")
        if self.val_fraction <= 0:
            raise bad("val_fraction must be > 0: validation picks the best checkpoint")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise bad("val_fraction + test_fraction must be < 1")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise bad(f"early_stopping must be >= 1 epoch, got {self.early_stopping}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise bad(f"time_budget_s must be > 0 seconds, got {self.time_budget_s}")
        if self.amp not in AMP_CHOICES:
            raise bad(f"amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")
        if self.schedule not in SCHEDULES:
            raise bad(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.channels_last not in CHANNELS_LAST_CHOICES:
            raise bad(f"channels_last must be one of {', '.join(CHANNELS_LAST_CHOICES)}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise bad(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise bad(f"ema must be in (0, 1), got {self.ema}")
        if self.d_every is not None and self.d_every < 1:
            raise bad(f"d_every must be >= 1, got {self.d_every}")
        if self.val_batch_size < 1:
            raise bad(f"val_batch_size must be >= 1, got {self.val_batch_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = str(self.data)
        d["out"] = str(self.out)
        return d


_CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_from_mapping(values: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from a mapping (TOML keys may use ``-`` or ``_``); unknown
    keys are an error naming ``source``."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name == "time_budget":
            name = "time_budget_s"
        if name not in _CONFIG_FIELDS:
            raise TrainError(f"{source}: unknown setting {key!r}")
        clean[name] = value
    for name in ("preset", "data", "out"):
        if clean.get(name) in (None, ""):
            raise TrainError(f"{source}: {name!r} is required")
    try:
        return TrainConfig(**clean)
    except TypeError as exc:
        raise TrainError(f"{source}: {exc}") from exc


def load_config_toml(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML file (a ``[train]`` table or top-level keys)."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TrainError(f"{path}: not valid TOML ({exc})") from exc
    if "train" in data and isinstance(data["train"], dict):
        data = data["train"]
    data.pop("resolved", None)  # written by the trainer for information only
    data.pop("product_version", None)
    # relative paths in the file are relative to the file
    for key in ("data", "out"):
        if key in data and isinstance(data[key], str) and not Path(data[key]).is_absolute():
            data[key] = str(path.parent / data[key])
    return data


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, Path):
        v = str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any], _prefix: str = "") -> str:
    """A small TOML writer for nested dicts of scalars and lists (``None`` is left out)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if value is None:
            continue
        k = key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
        if isinstance(value, Mapping):
            tables.append((f"{_prefix}{k}", value))
        else:
            lines.append(f"{k} = {_toml_value(value)}")
    out = "\n".join(lines)
    for name, table in tables:
        body = dumps_toml(table, f"{name}.")
        out += ("\n\n" if out else "") + f"[{name}]" + ("\n" + body if body else "")
    return out


# --------------------------------------------------------------------------- callbacks


@dataclass(frozen=True)
class StepInfo:
    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based within the epoch
    steps: int
    global_step: int
    losses: dict[str, float]
    lr: float
    seconds: float


@dataclass(frozen=True)
class EpochMetrics:
    """One row of ``metrics.csv`` (RMSE and MAE in DU)."""

    epoch: int
    global_step: int
    seconds: float
    lr: float
    loss_g: float
    loss_l1: float
    loss_gan: float
    loss_rmse: float
    loss_d: float
    train_rmse: float
    val_rmse_per_image: float
    val_rmse_pooled: float
    val_mae: float
    best: bool
    samples_per_s: float

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    run_dir: Path
    best_path: Path | None
    last_path: Path | None
    epochs_completed: int
    best_epoch: int | None
    best_val_rmse_per_image: float | None
    best_val_rmse_pooled: float | None
    stopped: str  # "completed" | "early_stopping" | "time_budget" | "cancelled" | "interrupted"
    seconds: float
    history: list[EpochMetrics] = field(default_factory=list)
    amp: str = "off"
    channels_last: bool = False
    model: nn.Module | None = field(default=None, repr=False)  # final weights (EMA if used)


class Callback:
    """Hooks the trainer calls; override any. Plain Python: the GUI wraps them in signals.

    The trainer also accepts any object with some of these methods (duck typing)."""

    def on_train_start(self, info: dict[str, Any]) -> None:
        """``info``: epochs, steps_per_epoch, start_epoch, n_train, n_val, device, amp."""

    def on_step(self, step: StepInfo) -> None:
        """After every optimisation step."""

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        """After validation at the end of every epoch."""

    def on_train_end(self, result: TrainResult) -> None:
        """Once, after the last files were written (also after a cancel)."""


class FunctionCallback(Callback):
    """Callbacks from plain functions: ``FunctionCallback(on_epoch_end=rows.append)``."""

    def __init__(
        self,
        *,
        on_train_start: Callable[[dict[str, Any]], None] | None = None,
        on_step: Callable[[StepInfo], None] | None = None,
        on_epoch_end: Callable[[EpochMetrics], None] | None = None,
        on_train_end: Callable[[TrainResult], None] | None = None,
    ) -> None:
        self._start, self._step, self._epoch, self._end = (
            on_train_start,
            on_step,
            on_epoch_end,
            on_train_end,
        )

    def on_train_start(self, info: dict[str, Any]) -> None:
        if self._start:
            self._start(info)

    def on_step(self, step: StepInfo) -> None:
        if self._step:
            self._step(step)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self._epoch:
            self._epoch(metrics)

    def on_train_end(self, result: TrainResult) -> None:
        if self._end:
            self._end(result)


class ProgressAdapter(Callback):
    """Turns steps into :class:`core.progress.Progress` reports (done/total steps)."""

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.total = 0

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.total = int(info["epochs"]) * int(info["steps_per_epoch"])

    def on_step(self, step: StepInfo) -> None:
        done = (step.epoch - 1) * step.steps + step.step
        msg = f"epoch {step.epoch}/{step.epochs} loss {step.losses.get('loss_g', float('nan')):.4g}"
        self.progress(Progress(done, max(self.total, done), msg))


class TqdmCallback(Callback):
    """A tqdm bar per epoch with the losses, and a line per epoch with the validation RMSE."""

    def __init__(self, file: Any = None) -> None:
        self.file = file if file is not None else sys.stderr
        self.bar: Any = None

    def on_step(self, step: StepInfo) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=step.steps,
                desc=f"epoch {step.epoch}/{step.epochs}",
                file=self.file,
                leave=False,
                dynamic_ncols=True,
            )
        self.bar.update(1)
        post = {k.removeprefix("loss_"): f"{v:.4g}" for k, v in step.losses.items()}
        self.bar.set_postfix(post, refresh=False)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        star = " *" if metrics.best else ""
        print(
            f"epoch {metrics.epoch}: loss_g {metrics.loss_g:.4g}  val RMSE per image "
            f"{metrics.val_rmse_per_image:.4f} DU, pooled {metrics.val_rmse_pooled:.4f} DU  "
            f"({metrics.samples_per_s:.0f} samples/s){star}",
            file=self.file,
        )

    def on_train_end(self, result: TrainResult) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _call(callbacks: Sequence[Any], name: str, arg: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, name, None)
        if fn is not None:
            fn(arg)


class EarlyStopping:
    """Stop after ``patience`` epochs without a validation RMSE below the best minus
    ``min_delta`` (DU)."""

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.bad_epochs = 0

    def update(self, value: float) -> bool:
        """Record one epoch's value; True when training should stop."""
        if value < self.best - self.min_delta:
            self.best = value
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def lr_factor(schedule: str, progress: float, warmup: float = 0.05) -> float:
    """The learning-rate multiplier at ``progress`` (0..1 of the run)."""
    p = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        if warmup > 0 and p < warmup:
            return max(p / warmup, 0.01)
        q = (p - warmup) / (1.0 - warmup) if warmup < 1 else 1.0
        return 0.5 * (1.0 + math.cos(math.pi * q))
    if schedule == "onecycle":  # torch's OneCycleLR shape: 30% up from lr/25, cosine down to ~0
        pct = 0.3
        start, end = 1.0 / 25.0, 1.0 / 25.0 / 1e4
        if p < pct:
            return start + (1.0 - start) * 0.5 * (1.0 - math.cos(math.pi * p / pct))
        q = (p - pct) / (1.0 - pct)
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * q))
    raise TrainError(f"unknown schedule {schedule!r}")


# --------------------------------------------------------------------------- files


def _atomic_text(path: Path, text: str) -> None:
    atomic_write_text(path, text, overwrite=True)


def _atomic_bytes(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, overwrite=True)


def write_metrics_csv(path: Path, history: Sequence[EpochMetrics]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), lineterminator="\n")
    w.writeheader()
    for m in history:
        row = m.to_row()
        row["best"] = int(row["best"])
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    _atomic_text(path, buf.getvalue())


def read_metrics_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a run's ``metrics.csv`` as numbers."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_curves(history: Sequence[EpochMetrics], *, size: tuple[int, int] = (960, 380)) -> bytes:
    """PNG bytes: training losses (left) and RMSE in DU (right) per epoch, drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    epochs = [float(m.epoch) for m in history]
    panels = [
        (
            "training losses",
            [("loss_g", "G loss", (31, 119, 180)), ("loss_d", "D loss", (214, 39, 40))],
        ),
        (
            "RMSE (DU)",
            [
                ("train_rmse", "train", (127, 127, 127)),
                ("val_rmse_per_image", "val per image", (44, 160, 44)),
                ("val_rmse_pooled", "val pooled", (255, 127, 14)),
            ],
        ),
    ]
    pw = width // 2
    for k, (title, series) in enumerate(panels):
        x0, y0, x1, y1 = k * pw + 58, 28, (k + 1) * pw - 16, height - 40
        draw.text((x0, 8), title, fill="black", font=font)
        draw.rectangle((x0, y0, x1, y1), outline="black")
        vals = [
            float(getattr(m, key))
            for key, _, _ in series
            for m in history
            if math.isfinite(float(getattr(m, key)))
        ]
        if not epochs or not vals:
            draw.text((x0 + 10, y0 + 10), "no data", fill="gray", font=font)
            continue
        vmin, vmax = min(vals), max(vals)
        if vmax - vmin < 1e-12:
            vmin, vmax = vmin - 0.5, vmax + 0.5
        pad = 0.05 * (vmax - vmin)
        vmin, vmax = vmin - pad, vmax + pad
        emin, emax = min(epochs), max(epochs)
        if emax == emin:
            emin, emax = emin - 0.5, emax + 0.5

        def xy(
            e: float,
            v: float,
            x0: int = x0,
            x1: int = x1,
            y0: int = y0,
            y1: int = y1,
            emin: float = emin,
            emax: float = emax,
            vmin: float = vmin,
            vmax: float = vmax,
        ) -> tuple[float, float]:
            return (
                x0 + (e - emin) / (emax - emin) * (x1 - x0),
                y1 - (v - vmin) / (vmax - vmin) * (y1 - y0),
            )

        for t in range(5):  # y ticks
            v = vmin + (vmax - vmin) * t / 4
            _, yy = xy(emin, v)
            draw.line((x0 - 4, yy, x0, yy), fill="black")
            draw.text((x0 - 54, yy - 6), f"{v:.3g}", fill="black", font=font)
        for e in _ticks(emin, emax):
            xx, _ = xy(e, vmin)
            draw.line((xx, y1, xx, y1 + 4), fill="black")
            draw.text((xx - 6, y1 + 6), f"{e:g}", fill="black", font=font)
        draw.text(((x0 + x1) // 2 - 14, y1 + 20), "epoch", fill="black", font=font)
        ly = y0 + 6
        for key, label, colour in series:
            pts = [
                xy(m_e, float(getattr(m, key)))
                for m_e, m in zip(epochs, history, strict=True)
                if math.isfinite(float(getattr(m, key)))
            ]
            if not pts:
                continue
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=2)
            for px, py in pts:
                draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
            draw.line((x1 - 120, ly + 6, x1 - 100, ly + 6), fill=colour, width=2)
            draw.text((x1 - 95, ly), label, fill="black", font=font)
            ly += 14
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = hi - lo
    raw = span / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + 1e-9:
        out.append(round(v, 10))
        v += step
    return out


# --------------------------------------------------------------------------- trainer state


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": [], "state": {}}
    for group in sd["param_groups"]:
        scalars["param_groups"].append(
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()}
        )
    for idx, st in sd["state"].items():
        plain: dict[str, Any] = {}
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{k}"] = v.detach().cpu().contiguous().clone()
            else:
                plain[k] = v
        scalars["state"][str(idx)] = plain
    return tensors, scalars


def _unflatten_optimizer(
    prefix: str, opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], scalars: dict
) -> None:
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in scalars["state"].items()}
    pre = prefix + ".state."
    for key, t in tensors.items():
        if key.startswith(pre):
            idx, name = key[len(pre) :].split(".", 1)
            state.setdefault(int(idx), {})[name] = t
    groups = []
    for g in scalars["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def _module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.{k}": v.detach().cpu().contiguous().clone()
        for k, v in module.state_dict().items()
    }


def _load_module(prefix: str, module: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    pre = prefix + "."
    sd = {k[len(pre) :]: v for k, v in tensors.items() if k.startswith(pre)}
    module.load_state_dict(sd, strict=True)


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state().clone()
    np_state: Any = np.random.get_state()
    py_state = random.getstate()
    scalars = {
        "numpy": [np_state[0], np.asarray(np_state[1]).tolist(), *map(float, np_state[2:])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, scalars


def _set_rng_state(tensors: Mapping[str, torch.Tensor], scalars: Mapping[str, Any]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    if "numpy" in scalars:
        n = scalars["numpy"]
        np.random.set_state(
            (n[0], np.asarray(n[1], dtype=np.uint32), int(n[2]), int(n[3]), float(n[4]))
        )
    if "python" in scalars:
        p = scalars["python"]
        random.setstate((p[0], tuple(p[1]), p[2]))


def save_trainer_state(
    run_dir: Path, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]
) -> None:
    """``trainer_state.safetensors`` (tensors) + ``trainer_state.json`` (the rest); the two
    carry the same ``token`` so a torn pair is detected."""
    from safetensors.torch import save

    token = f"{scalars['epoch']}-{scalars['global_step']}-{time.time_ns()}"
    scalars = {**scalars, "token": token}
    data = save(tensors, metadata={"token": token, "format": "semdepth-trainer-state/1"})
    _atomic_bytes(run_dir / f"{STATE_NAME}.safetensors", data)
    _atomic_text(run_dir / f"{STATE_NAME}.json", json.dumps(scalars, indent=1) + "\n")


def load_trainer_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    tpath = run_dir / f"{STATE_NAME}.safetensors"
    jpath = run_dir / f"{STATE_NAME}.json"
    for p in (tpath, jpath):
        if not p.is_file():
            raise TrainError(f"{p}: no trainer state to resume from (was this run started?)")
    try:
        scalars = json.loads(jpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainError(f"{jpath}: unreadable trainer state ({exc})") from exc
    try:
        with safe_open(str(tpath), framework="pt") as fh:  # type: ignore[no-untyped-call]
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types
        raise TrainError(f"{tpath}: unreadable trainer state ({exc})") from exc
    if meta.get("token") != scalars.get("token"):
        raise TrainError(
            f"{run_dir}: {tpath.name} and {jpath.name} are from different saves "
            "(interrupted while saving?)"
        )
    return tensors, scalars


# --------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    enabled: bool = False
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_name: str) -> _Dist:
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    owns = False
    if not dist.is_initialized():
        use_cuda = device_name.startswith("cuda") or (
            device_name == "auto" and torch.cuda.is_available()
        )
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    return _Dist(True, dist.get_rank(), dist.get_world_size(), local, owns)


def _broadcast_flag(d: _Dist, value: int) -> int:
    if not d.enabled:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return int(t.item())


def _allreduce_grads(d: _Dist, module: nn.Module) -> None:
    """Average the gradients of ``module`` over ranks (the discriminator, stepped rarely)."""
    if not d.enabled:
        return
    import torch.distributed as dist

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= d.world
    off = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[off : off + n].view_as(g))
        off += n


def _broadcast_module(d: _Dist, module: nn.Module, *, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless ``buffers_only``) and buffers to every rank."""
    if not d.enabled:
        return
    import torch.distributed as dist

    tensors = [] if buffers_only else list(module.parameters())
    with torch.no_grad():
        for t in [*tensors, *module.buffers()]:
            dist.broadcast(t.data, src=0)


# --------------------------------------------------------------------------- speed choices


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def portable_path(path: Path) -> str:
    """``path`` relative to the working folder when inside it (POSIX form), else absolute.

    Model cards travel with the model to other machines: a path relative to where
    training ran says where the data was without naming this machine's folders.
    """
    p = Path(path).resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(p)


def _channels_last(module: nn.Module) -> None:
    module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def _autocast(device: torch.device, amp: bool) -> Any:
    if not amp:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _probe_speed(
    generator: nn.Module,
    shape: tuple[int, int],
    batch: int,
    device: torch.device,
    variants: Sequence[tuple[bool, bool]],
    steps: int = 2,
) -> dict[str, float]:
    """Samples/s of a forward+backward of a copy of ``generator`` per (bf16, channels_last)."""
    g = torch.Generator().manual_seed(12345)
    x = torch.rand((batch, 1, *shape), generator=g)
    y = torch.rand((batch, 1, *shape), generator=g) * 255
    results: dict[str, float] = {}
    for amp, cl in variants:
        model = copy.deepcopy(generator).to(device).train()
        xx, yy = x.to(device), y.to(device)
        if cl:
            _channels_last(model)
            xx = xx.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        times = []
        for k in range(steps + 1):
            t0 = time.perf_counter()
            with _autocast(device, amp):
                out = model(xx)
            loss = (out.float() - yy).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if k:
                times.append(time.perf_counter() - t0)
        results[f"{'bf16' if amp else 'fp32'}{'-cl' if cl else ''}"] = batch / min(times)
    return results


# --------------------------------------------------------------------------- the trainer


def _resolved_preset(config: TrainConfig) -> Any:
    from core.models import PRESETS

    if config.preset not in PRESETS:
        raise TrainError(
            f"unknown preset {config.preset!r}; choose one of "
            f"{', '.join([*sorted(PRESETS), BASELINE_PRESET])}"
        )
    p = PRESETS[config.preset]
    gen = {**p.generator, **config.generator}
    disc = None if p.discriminator is None else {**p.discriminator, **config.discriminator}
    if p.discriminator is None and config.discriminator:
        raise TrainError(f"preset {p.name!r} has no discriminator to configure")
    return dataclasses.replace(
        p,
        generator=gen,
        discriminator=disc,
        lambda_l1=p.lambda_l1 if config.lambda_l1 is None else float(config.lambda_l1),
        rmse_mode=p.rmse_mode if config.rmse_mode is None else config.rmse_mode,
        gan_mode=p.gan_mode if config.gan_mode is None else config.gan_mode,
        d_every=p.d_every if config.d_every is None else int(config.d_every),
        lr=p.lr if config.lr is None else float(config.lr),
        batch_size=p.batch_size if config.batch_size is None else int(config.batch_size),
    )


def _prepare_run_dir(config: TrainConfig, main: bool) -> None:
    out = config.out
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out}: exists and is not a folder")
    present = [n for n in RUN_FILES if (out / n).exists()]
    if config.resume:
        return
    if present and not config.overwrite:
        raise TrainError(
            f"{out}: already holds a run ({', '.join(present[:3])}...); use --resume to "
            "continue it, --overwrite to replace it, or another --out"
        )
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if config.overwrite:
            for n in (*RUN_FILES, CURVES_NAME, CONFIG_NAME):
                (out / n).unlink(missing_ok=True)


def _fingerprint(config: TrainConfig, preset: Any) -> dict[str, Any]:
    """Settings a resumed run must share with the run it continues."""
    return {
        "preset": config.preset,
        "generator": preset.generator,
        "discriminator": preset.discriminator,
        "batch_size": preset.batch_size,
        "seed": config.seed,
        "val_fraction": config.val_fraction,
        "test_fraction": config.test_fraction,
        "lambda_l1": preset.lambda_l1,
        "rmse_mode": preset.rmse_mode,
        "gan_mode": preset.gan_mode,
        "d_every": preset.d_every,
        "ema": config.ema,
        "betas": list(preset.betas) if config.beta1 is None else [config.beta1, preset.betas[1]],
    }


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def _default_command() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""


def train(
    config: TrainConfig,
    *,
    callbacks: Sequence[Any] = (),
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train ``config.preset`` on ``config.data``; write the run folder ``config.out``.

    Returns after the last epoch, early stopping, the time budget or a cancel (the last
    weights and the trainer state are saved first, so ``resume=True`` continues).
    ``KeyboardInterrupt`` also saves ``last`` and the trainer state, then propagates.
    """
    callbacks = list(callbacks)
    if progress is not None:
        callbacks.append(ProgressAdapter(progress))
    if config.preset == BASELINE_PRESET:
        return _train_baseline(config, callbacks, cancel)
    trainer = _Trainer(config, callbacks, cancel)
    try:
        return trainer.run()
    finally:
        trainer.close()


class _Trainer:
    def __init__(
        self, config: TrainConfig, callbacks: Sequence[Any], cancel: CancelToken | None
    ) -> None:
        self.config = config
        self.callbacks = callbacks
        self.cancel = cancel
        self.dist = _Dist()
        self.command = config.command or _default_command()

    def close(self) -> None:
        if self.dist.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        from core.data import (
            DepthDataset,
            dataset_hash,
            find_records,
            read_synth_meta,
            split_by_structure,
        )
        from core.device import resolve_device
        from core.models import GANLoss, create_model

        cfg = self.config
        self.preset = _resolved_preset(cfg)
        self.dist = _init_distributed(cfg.device)
        d = self.dist
        if d.enabled and cfg.device in ("auto", "cuda") and torch.cuda.is_available():
            self.device = torch.device("cuda", d.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = resolve_device(cfg.device)
        _prepare_run_dir(cfg, d.main)

        records = [r for r in find_records(cfg.data) if r.depth_path is not None]
        if not records:
            raise TrainError(f"{cfg.data}: no labelled images (SEM + depth map pairs) to train on")
        self.data_hash = dataset_hash(records)
        split = split_by_structure(
            records,
            val_fraction=cfg.val_fraction,
            test_fraction=cfg.test_fraction,
            seed=cfg.seed,
        )
        self.split = split
        self.synth_meta = read_synth_meta(cfg.data) or {}
        self.train_ds = DepthDataset(
            split.train, augment=cfg.augment, preload=True, cancel=self.cancel
        )
        self.val_ds = DepthDataset(split.val, augment=False, preload=True, cancel=self.cancel)
        assert self.train_ds.sem_array is not None
        rows, cols = self.train_ds.sem_array.shape[1:3]
        self.shape = (int(rows), int(cols))

        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        random.seed(cfg.seed)
        p = self.preset
        self.G: nn.Module = create_model(p.generator_arch, **p.generator).to(self.device)
        self.D: nn.Module | None = None
        if p.discriminator is not None:
            self.D = create_model(p.discriminator_arch, **p.discriminator).to(self.device)
            self.gan_loss = GANLoss(self.preset.gan_mode).to(self.device)
        _broadcast_module(d, self.G)
        if self.D is not None:
            _broadcast_module(d, self.D)

        self._choose_speed()
        if self.channels_last:
            _channels_last(self.G)
            if self.D is not None:
                _channels_last(self.D)
        betas = (p.betas[0] if cfg.beta1 is None else float(cfg.beta1), float(p.betas[1]))
        self.betas = betas
        self.opt_g = torch.optim.Adam(
            self.G.parameters(), lr=self.preset.lr, betas=betas, weight_decay=cfg.weight_decay
        )
        self.opt_d = (
            torch.optim.Adam(self.D.parameters(), lr=self.preset.lr, betas=betas)
            if self.D is not None
            else None
        )
        self.ema_model: nn.Module | None = None
        if cfg.ema is not None:
            self.ema_model = copy.deepcopy(self.G).eval()
            for p in self.ema_model.parameters():
                p.requires_grad_(False)
        self.G_train: nn.Module = self.G
        if d.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train = DDP(self.G, device_ids=ids)

        bs = self.preset.batch_size
        per_rank = math.ceil(len(self.train_ds) / d.world)
        self.steps_per_epoch = max(1, math.ceil(per_rank / bs))
        self.start_epoch = 0
        self.global_step = 0
        self.seconds_before = 0.0
        self.history: list[EpochMetrics] = []
        self.best_value = math.inf
        self.best_epoch: int | None = None
        self.stopper = EarlyStopping(cfg.early_stopping) if cfg.early_stopping else None
        if cfg.resume:
            self._resume()
        elif d.main:
            self._write_config()

    def _choose_speed(self) -> None:
        cfg, dev = self.config, self.device
        self.speed_probe: dict[str, float] = {}
        supported = bf16_supported(dev)
        if cfg.amp == "bf16" and not supported:
            raise TrainError(f"--amp bf16: bfloat16 is not supported on this {dev.type} device")
        cl_allowed = dev.type in ("cpu", "cuda") and cfg.channels_last != "off"
        if cfg.amp == "off":
            self.amp = False
        elif cfg.amp == "bf16":
            self.amp = True
        elif dev.type == "cuda":
            self.amp = supported
        elif dev.type != "cpu" or not supported:
            self.amp = False
        else:
            self.amp = False
            budget = cfg.time_budget_s if cfg.time_budget_s is not None else math.inf
            work = cfg.epochs * len(self.train_ds)
            if budget >= 60 and work >= 20_000:
                variants = [(False, False), (True, cl_allowed)]
                if cl_allowed:
                    variants.insert(1, (False, True))
                self.speed_probe = _probe_speed(
                    self.G, self.shape, min(self.preset.batch_size, 32), dev, variants
                )
                best_fp32 = max(v for k, v in self.speed_probe.items() if k.startswith("fp32"))
                bf16 = max(v for k, v in self.speed_probe.items() if k.startswith("bf16"))
                self.amp = bf16 >= 1.15 * best_fp32
                log.info("speed probe (samples/s): %s -> amp %s", self.speed_probe, self.amp)
        if cfg.channels_last == "on":
            self.channels_last = cl_allowed
        elif cfg.channels_last == "off" or not cl_allowed:
            self.channels_last = False
        elif self.speed_probe and not self.amp:
            self.channels_last = self.speed_probe.get("fp32-cl", 0) > self.speed_probe["fp32"]
        else:
            self.channels_last = self.amp or dev.type == "cuda"

    def _write_config(self) -> None:
        cfg = self.config.to_dict()
        cfg["data"] = str(self.config.data.resolve())
        cfg["out"] = str(self.config.out.resolve())
        cfg["command"] = self.command
        p = self.preset
        cfg["resolved"] = {
            "generator": p.generator,
            "discriminator": p.discriminator if p.discriminator is not None else {},
            "gan_mode": p.gan_mode,
            "lambda_l1": p.lambda_l1,
            "rmse_mode": p.rmse_mode,
            "d_every": p.d_every,
            "lr": p.lr,
            "batch_size": p.batch_size,
            "amp": "bf16" if self.amp else "off",
            "channels_last": self.channels_last,
            "device": str(self.device),
            "world_size": self.dist.world,
            "speed_probe_samples_per_s": self.speed_probe,
        }
        cfg["product_version"] = core.__version__
        header = "# semdepth train: effective configuration (CLI flags override --config)\n"
        _atomic_text(self.config.out / CONFIG_NAME, header + dumps_toml(_jsonable(cfg)) + "\n")

    def _resume(self) -> None:
        tensors, scalars = load_trainer_state(self.config.out)
        want = _jsonable(_fingerprint(self.config, self.preset))
        have = scalars.get("fingerprint", {})
        diff = [k for k in want if want[k] != have.get(k)]
        if diff:
            raise TrainError(
                f"{self.config.out}: cannot resume with different settings: "
                + ", ".join(f"{k} {have.get(k)!r} -> {want[k]!r}" for k in diff)
            )
        if scalars.get("data_hash") != self.data_hash:
            raise TrainError(
                f"{self.config.out}: the data in {self.config.data} differ from the data this "
                "run was trained on (data-set hash changed); start a new run"
            )
        _load_module("G", self.G, tensors)
        if self.D is not None:
            _load_module("D", self.D, tensors)
        if self.ema_model is not None:
            _load_module("EMA", self.ema_model, tensors)
        _unflatten_optimizer("optG", self.opt_g, tensors, scalars["opt_g"])
        if self.opt_d is not None:
            _unflatten_optimizer("optD", self.opt_d, tensors, scalars["opt_d"])
        _set_rng_state(tensors, scalars.get("rng", {}))
        self.start_epoch = int(scalars["epoch"])
        self.global_step = int(scalars["global_step"])
        self.seconds_before = float(scalars["seconds"])
        self.history = [EpochMetrics(**h) for h in scalars.get("history", [])]
        self.best_value = float(scalars.get("best_value", math.inf))
        self.best_epoch = scalars.get("best_epoch")
        if self.stopper is not None:
            self.stopper.best = self.best_value
            self.stopper.bad_epochs = int(scalars.get("bad_epochs", 0))
        if self.start_epoch >= self.config.epochs:
            raise TrainError(
                f"{self.config.out}: already trained {self.start_epoch} epoch(s); "
                f"ask for more than that with --epochs to continue"
            )
        log.info("resuming %s after epoch %d", self.config.out, self.start_epoch)

    # ------------------------------------------------------------------ pieces
    def _eval_model(self) -> nn.Module:
        return self.ema_model if self.ema_model is not None else self.G

    def _validate(self) -> MetricAccumulator:
        model = self._eval_model()
        was_training = model.training
        model.eval()
        acc = MetricAccumulator()
        n = len(self.val_ds)
        bs = self.config.val_batch_size
        with torch.inference_mode():
            for i in range(0, n, bs):
                idx = list(range(i, min(n, i + bs)))
                b = self.val_ds.batch(idx, augment=False)
                x = b["sem"].to(self.device)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(self.device, self.amp):  # the head stays float32
                    y = model(x).float()
                acc.add(
                    y[:, 0].cpu().numpy(),
                    b["depth"][:, 0].numpy(),
                    [self.val_ds.records[k] for k in idx],
                    indices=idx,
                )
        if was_training:
            model.train()
        return acc

    def _update_ema(self) -> None:
        if self.ema_model is None or self.config.ema is None:
            return
        decay = min(self.config.ema, (1 + self.global_step) / (10 + self.global_step))
        with torch.no_grad():
            for e, p in zip(self.ema_model.parameters(), self.G.parameters(), strict=True):
                e.lerp_(p.detach(), 1.0 - decay)
            for eb, b in zip(self.ema_model.buffers(), self.G.buffers(), strict=True):
                eb.copy_(b)

    def _l1(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        from core.models import l1_term

        return l1_term(fake, real)

    def _progress_fraction(self, t_start: float) -> float:
        cfg = self.config
        total = cfg.epochs * self.steps_per_epoch
        p = self.global_step / max(total, 1)
        if cfg.time_budget_s is not None:
            p = max(p, (time.perf_counter() - t_start) / cfg.time_budget_s)
        return p

    def _set_lr(self, t_start: float) -> float:
        f = lr_factor(
            self.config.schedule, self._progress_fraction(t_start), self.config.warmup_fraction
        )
        lr = self.preset.lr * f
        for opt in (self.opt_g, self.opt_d):
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = lr
        return lr

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        from core.models import rmse_term

        p, dev = self.preset, self.device
        sem = batch["sem"].to(dev, non_blocking=True)
        real = batch["depth"].to(dev, non_blocking=True)
        if self.channels_last:
            sem = sem.contiguous(memory_format=torch.channels_last)
            real = real.contiguous(memory_format=torch.channels_last)
        with _autocast(dev, self.amp):
            fake = self.G_train(sem)
        fake = fake.float()
        losses: dict[str, float] = {}
        D = self.D
        if D is not None and self.opt_d is not None:
            if self.global_step % p.d_every == 0:
                for q in D.parameters():
                    q.requires_grad_(True)
                with _autocast(dev, self.amp):
                    pred_fake = D(torch.cat([sem, fake.detach() / 255.0], 1))
                    pred_real = D(torch.cat([sem, real / 255.0], 1))
                loss_d = 0.5 * (
                    self.gan_loss(pred_fake.float(), False) + self.gan_loss(pred_real.float(), True)
                )
                self.opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                _allreduce_grads(self.dist, D)
                self.opt_d.step()
                self.last_loss_d = float(loss_d.detach())
            for q in D.parameters():
                q.requires_grad_(False)
            with _autocast(dev, self.amp):
                pred = D(torch.cat([sem, fake / 255.0], 1))
            loss_gan = self.gan_loss(pred.float(), True)
        else:
            loss_gan = torch.zeros((), device=dev)
        loss_l1 = self._l1(fake, real)
        loss_rmse = rmse_term(fake, real, p.rmse_mode)
        loss_g = loss_gan + p.lambda_l1 * loss_l1 + loss_rmse
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if self.config.grad_clip:
            nn.utils.clip_grad_norm_(self.G.parameters(), self.config.grad_clip)
        self.opt_g.step()
        self._update_ema()
        with torch.no_grad():
            se = float(((fake.detach() - real) ** 2).mean())
        losses["loss_g"] = float(loss_g.detach())
        losses["loss_l1"] = float(loss_l1.detach())
        losses["loss_gan"] = float(loss_gan.detach())
        losses["loss_rmse"] = float(loss_rmse.detach())
        if D is not None:
            losses["loss_d"] = getattr(self, "last_loss_d", math.nan)
        losses["_mse"] = se
        return losses

    def _card(
        self, metrics: Mapping[str, Any], epochs: int, seconds: float, interrupted: bool = False
    ) -> dict[str, Any]:
        from core.models import CARD_FORMAT

        cfg, p = self.config, self.preset
        model = self._eval_model()
        now = _dt.datetime.now(_dt.UTC)
        card = {
            "format": CARD_FORMAT,
            "created": now.isoformat(timespec="seconds"),
            "product_version": core.__version__,
            "architecture": {
                "name": getattr(model, "arch_name", "unet"),
                "config": _jsonable(getattr(model, "config", p.generator)),
            },
            "input": {
                "normalization": "dtype-range-0-1",
                "size": list(self.shape),
                "pixel_size_nm": self.synth_meta.get("pixel_size_nm"),
            },
            "output": {
                "range": [0, 255],
                "unit": "DU",
                "convention": "deeper = smaller",
                "nm_per_depth_unit": self.synth_meta.get("nm_per_depth_unit"),
            },
            "training": {
                "preset": cfg.preset,
                "command": self.command,
                "data": {
                    "root": portable_path(cfg.data),
                    "hash": self.data_hash,
                    "n_train": len(self.split.train),
                    "n_val": len(self.split.val),
                    "n_test": len(self.split.test),
                    "seed": cfg.seed,
                    "val_fraction": cfg.val_fraction,
                    "test_fraction": cfg.test_fraction,
                    "synth_seed": self.synth_meta.get("seed"),
                },
                "epochs": epochs,
                "seconds": round(seconds, 3),
                "interrupted": interrupted,
                "loss": {
                    "gan_mode": p.gan_mode if p.discriminator is not None else None,
                    "lambda_l1": p.lambda_l1,
                    "rmse_mode": p.rmse_mode,
                    "d_every": p.d_every if p.discriminator is not None else None,
                },
                "discriminator": p.discriminator,
                "optimizer": {
                    "name": "adam",
                    "lr": p.lr,
                    "betas": list(self.betas),
                    "schedule": cfg.schedule,
                    "batch_size": p.batch_size,
                    "world_size": self.dist.world,
                    "ema": cfg.ema,
                },
                "amp": "bf16" if self.amp else "off",
                "channels_last": self.channels_last,
                "device": str(self.device),
                "augment": cfg.augment,
            },
            "metrics": _jsonable(dict(metrics)),
            # The inference fast path is an inference-time measurement (bench/speed.py), not
            # the training precision: "auto" lets the Predictor pick for the machine it runs on.
            "inference": {"fast_path": "auto"},
        }
        return card

    def _save_model(self, name: str, card: dict[str, Any]) -> Path:
        from core.models import save_checkpoint

        path = self.config.out / f"{name}.safetensors"
        save_checkpoint(path, self._eval_model(), card, overwrite=True)
        return path

    def _save_state(self, epochs_done: int, seconds: float) -> None:
        tensors = {**_module_tensors("G", self.G)}
        scalars: dict[str, Any] = {}
        if self.D is not None:
            tensors.update(_module_tensors("D", self.D))
        if self.ema_model is not None:
            tensors.update(_module_tensors("EMA", self.ema_model))
        t, s = _flatten_optimizer("optG", self.opt_g)
        tensors.update(t)
        scalars["opt_g"] = s
        if self.opt_d is not None:
            t, s = _flatten_optimizer("optD", self.opt_d)
            tensors.update(t)
            scalars["opt_d"] = s
        rt, rs = _rng_state()
        tensors.update(rt)
        scalars.update(
            {
                "format": "semdepth-trainer-state/1",
                "epoch": epochs_done,
                "global_step": self.global_step,
                "seconds": seconds,
                "best_value": self.best_value if math.isfinite(self.best_value) else None,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.stopper.bad_epochs if self.stopper else 0,
                "history": [m.to_row() for m in self.history],
                "fingerprint": _jsonable(_fingerprint(self.config, self.preset)),
                "data_hash": self.data_hash,
                "rng": rs,
                "product_version": core.__version__,
            }
        )
        if scalars["best_value"] is None:
            scalars["best_value"] = math.inf
        save_trainer_state(self.config.out, tensors, _jsonable(scalars))

    def _metrics_dict(self, m: EpochMetrics | None) -> dict[str, Any]:
        if m is None:
            return {}
        return {
            "val_rmse_per_image": m.val_rmse_per_image,
            "val_rmse_pooled": m.val_rmse_pooled,
            "val_mae": m.val_mae,
            "epoch": m.epoch,
            "n_val": len(self.split.val),
        }

    def _write_epoch_files(self) -> None:
        out = self.config.out
        write_metrics_csv(out / METRICS_NAME, self.history)
        _atomic_bytes(out / CURVES_NAME, plot_curves(self.history))

    # ------------------------------------------------------------------ loop
    def run(self) -> TrainResult:
        from torch.utils.data.distributed import DistributedSampler

        self._setup()
        cfg, d = self.config, self.dist
        bs = self.preset.batch_size
        info = {
            "epochs": cfg.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "start_epoch": self.start_epoch,
            "n_train": len(self.train_ds),
            "n_val": len(self.val_ds),
            "device": str(self.device),
            "amp": "bf16" if self.amp else "off",
            "channels_last": self.channels_last,
            "world_size": d.world,
        }
        _call(self.callbacks, "on_train_start", info)
        sampler: DistributedSampler[Any] = DistributedSampler(
            self.train_ds,
            num_replicas=d.world,
            rank=d.rank,
            shuffle=True,
            seed=cfg.seed,
        )
        t_start = time.perf_counter()
        stopped = "completed"
        epochs_done = self.start_epoch
        self.G_train.train()
        if self.D is not None:
            self.D.train()

        def elapsed() -> float:
            return self.seconds_before + time.perf_counter() - t_start

        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                sampler.set_epoch(epoch)
                order = list(sampler)
                flips = torch.Generator().manual_seed(
                    (cfg.seed * 1_000_003 + epoch * 7919 + d.rank) % 2**63
                )
                sums: dict[str, float] = {}
                n_steps = 0
                n_samples = 0
                t_epoch = time.perf_counter()
                lr = self.preset.lr
                halt = 0
                for k in range(self.steps_per_epoch):
                    idx = order[k * bs : (k + 1) * bs]
                    if not idx:
                        break
                    lr = self._set_lr(t_start)
                    batch = self.train_ds.batch(idx, generator=flips)
                    losses = self._step(batch)
                    self.global_step += 1
                    n_steps += 1
                    n_samples += len(idx)
                    for key, v in losses.items():
                        sums[key] = sums.get(key, 0.0) + v
                    shown = {key: v for key, v in losses.items() if not key.startswith("_")}
                    _call(
                        self.callbacks,
                        "on_step",
                        StepInfo(
                            epoch + 1,
                            cfg.epochs,
                            k + 1,
                            self.steps_per_epoch,
                            self.global_step,
                            shown,
                            lr,
                            elapsed(),
                        ),
                    )
                    if d.main:
                        if self.cancel is not None and self.cancel.cancelled:
                            halt = 1
                        elif (
                            cfg.time_budget_s is not None
                            and time.perf_counter() - t_start >= cfg.time_budget_s
                        ):
                            halt = 2
                    halt = _broadcast_flag(d, halt)
                    if halt:
                        break
                # DDP syncs buffers at each forward; after the last one, make every rank
                # hold rank 0's batch-norm statistics (the ones rank 0 validates and saves)
                _broadcast_module(d, self.G, buffers_only=True)
                if halt == 1:
                    stopped = "cancelled"
                    break
                epochs_done = epoch + 1
                train_secs = time.perf_counter() - t_epoch
                self._end_epoch(epoch + 1, sums, n_steps, n_samples, lr, train_secs, elapsed())
                stop = 0
                if (
                    d.main
                    and self.stopper is not None
                    and self.stopper.bad_epochs >= (self.stopper.patience)
                ):
                    stop = 1
                if halt == 2:
                    stopped = "time_budget"
                    break
                if _broadcast_flag(d, stop):
                    stopped = "early_stopping"
                    break
        except KeyboardInterrupt:
            if d.main:
                self._save_last(epochs_done, elapsed(), interrupted=True)
            raise
        if stopped == "cancelled" and d.main:
            self._save_last(epochs_done, elapsed(), interrupted=True)
        result = TrainResult(
            run_dir=cfg.out,
            best_path=(cfg.out / "best.safetensors") if self.best_epoch is not None else None,
            last_path=cfg.out / "last.safetensors",
            epochs_completed=epochs_done,
            best_epoch=self.best_epoch,
            best_val_rmse_per_image=(self.best_value if math.isfinite(self.best_value) else None),
            best_val_rmse_pooled=next(
                (m.val_rmse_pooled for m in self.history if m.epoch == self.best_epoch), None
            ),
            stopped=stopped,
            seconds=elapsed(),
            history=list(self.history),
            amp="bf16" if self.amp else "off",
            channels_last=self.channels_last,
            model=self._eval_model(),
        )
        _call(self.callbacks, "on_train_end", result)
        return result

    def _save_last(self, epochs_done: int, seconds: float, *, interrupted: bool) -> None:
        last = self.history[-1] if self.history else None
        self._save_model(
            "last",
            self._card(self._metrics_dict(last), epochs_done, seconds, interrupted=interrupted),
        )
        self._save_state(epochs_done, seconds)

    def _end_epoch(
        self,
        epoch: int,
        sums: Mapping[str, float],
        n_steps: int,
        n_samples: int,
        lr: float,
        train_secs: float,
        seconds: float,
    ) -> None:
        d = self.dist
        if not d.main:
            return
        acc = self._validate()
        s = acc.summary()
        is_best = s.rmse_per_image < self.best_value
        if self.stopper is not None:
            self.stopper.update(s.rmse_per_image)
        if is_best:
            self.best_value = s.rmse_per_image
            self.best_epoch = epoch

        def mean(key: str) -> float:
            return sums[key] / n_steps if key in sums and n_steps else math.nan

        m = EpochMetrics(
            epoch=epoch,
            global_step=self.global_step,
            seconds=seconds,
            lr=lr,
            loss_g=mean("loss_g"),
            loss_l1=mean("loss_l1"),
            loss_gan=mean("loss_gan"),
            loss_rmse=mean("loss_rmse"),
            loss_d=mean("loss_d"),
            train_rmse=math.sqrt(mean("_mse")) if n_steps else math.nan,
            val_rmse_per_image=s.rmse_per_image,
            val_rmse_pooled=s.rmse_pooled,
            val_mae=s.mae,
            best=is_best,
            samples_per_s=n_samples * d.world / train_secs if train_secs > 0 else math.nan,
        )
        self.history.append(m)
        metrics = self._metrics_dict(m)
        if is_best:
            self._save_model("best", self._card(metrics, epoch, seconds))
        self._save_model("last", self._card(metrics, epoch, seconds))
        self._save_state(epoch, seconds)
        self._write_epoch_files()
        _call(self.callbacks, "on_epoch_end", m)


# --------------------------------------------------------------------------- baseline


def _train_baseline(
    config: TrainConfig, callbacks: Sequence[Any], cancel: CancelToken | None
) -> TrainResult:
    """``--preset intensity-baseline``: least-squares fit on the training split."""
    from core.baseline import IntensityBaseline
    from core.data import dataset_hash, find_records, read_synth_meta, split_by_structure
    from core.evaluate import evaluate_model

    _prepare_run_dir(config, True)
    t0 = time.perf_counter()
    records = [r for r in find_records(config.data) if r.depth_path is not None]
    if not records:
        raise TrainError(f"{config.data}: no labelled images (SEM + depth map pairs) to fit on")
    split = split_by_structure(
        records,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    _call(
        callbacks,
        "on_train_start",
        {
            "epochs": 1,
            "steps_per_epoch": 1,
            "start_epoch": 0,
            "n_train": len(split.train),
            "n_val": len(split.val),
            "device": "cpu",
            "amp": "off",
            "channels_last": False,
            "world_size": 1,
        },
    )
    if cancel is not None:
        cancel.raise_if_cancelled()
    base = IntensityBaseline().fit(split.train)
    rep = evaluate_model(base, split.val, cancel=cancel)
    seconds = time.perf_counter() - t0
    meta = read_synth_meta(config.data) or {}
    base.training.update(
        {
            "preset": BASELINE_PRESET,
            "command": config.command or _default_command(),
            "data": {
                "root": portable_path(config.data),
                "hash": dataset_hash(records),
                "n_train": len(split.train),
                "n_val": len(split.val),
                "n_test": len(split.test),
                "seed": config.seed,
                "val_fraction": config.val_fraction,
                "test_fraction": config.test_fraction,
            },
            "seconds": round(seconds, 3),
            "product_version": core.__version__,
            "pixel_size_nm": meta.get("pixel_size_nm"),
            "nm_per_depth_unit": meta.get("nm_per_depth_unit"),
        }
    )
    base.metrics = {
        "val_rmse_per_image": rep.rmse_per_image,
        "val_rmse_pooled": rep.rmse_pooled,
        "val_mae": rep.mae,
        "n_val": rep.n_images,
    }
    path = base.save(config.out / "baseline.json", overwrite=True)
    nan = math.nan
    m = EpochMetrics(
        epoch=1,
        global_step=1,
        seconds=seconds,
        lr=0.0,
        loss_g=nan,
        loss_l1=nan,
        loss_gan=nan,
        loss_rmse=nan,
        loss_d=nan,
        train_rmse=nan,
        val_rmse_per_image=rep.rmse_per_image,
        val_rmse_pooled=rep.rmse_pooled,
        val_mae=rep.mae,
        best=True,
        samples_per_s=len(split.train) / max(seconds, 1e-9),
    )
    write_metrics_csv(config.out / METRICS_NAME, [m])
    cfg = config.to_dict()
    cfg["command"] = base.training["command"]
    _atomic_text(config.out / CONFIG_NAME, dumps_toml(_jsonable(cfg)) + "\n")
    _call(callbacks, "on_epoch_end", m)
    result = TrainResult(
        run_dir=config.out,
        best_path=path,
        last_path=path,
        epochs_completed=1,
        best_epoch=1,
        best_val_rmse_per_image=rep.rmse_per_image,
        best_val_rmse_pooled=rep.rmse_pooled,
        stopped="completed",
        seconds=seconds,
        history=[m],
    )
    _call(callbacks, "on_train_end", result)
    return result
