"""What the trainer reports and to whom: :class:`StepInfo` after every step,
:class:`EpochMetrics` (one row of ``metrics.csv``) after every epoch, :class:`TrainResult`
at the end, and the callbacks that receive them (plain Python: the GUI wraps them in
signals, the CLI adds :class:`TqdmCallback`)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from torch import nn


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


#: The columns of ``metrics.csv``: the fields of :class:`EpochMetrics`, in order.
METRIC_COLUMNS = tuple(f.name for f in dataclasses.fields(EpochMetrics))


def start_info(
    *,
    epochs: int,
    steps_per_epoch: int,
    start_epoch: int,
    n_train: int,
    n_val: int,
    device: str,
    amp: str,
    channels_last: bool,
    world_size: int,
) -> dict[str, Any]:
    """What ``on_train_start`` receives."""
    return {
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "start_epoch": start_epoch,
        "n_train": n_train,
        "n_val": n_val,
        "device": device,
        "amp": amp,
        "channels_last": channels_last,
        "world_size": world_size,
    }


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


def call_all(callbacks: Sequence[Any], name: str, arg: Any) -> None:
    """Call ``name(arg)`` on every callback that has such a method."""
    for cb in callbacks:
        fn = getattr(cb, name, None)
        if fn is not None:
            fn(arg)
