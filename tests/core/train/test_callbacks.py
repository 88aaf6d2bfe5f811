"""What the trainer reports and the callbacks that receive it (core/train/callbacks.py)."""

from __future__ import annotations

import dataclasses
import io
import math

from core.progress import Progress
from core.train import (
    METRIC_COLUMNS,
    EpochMetrics,
    FunctionCallback,
    ProgressAdapter,
    StepInfo,
    TqdmCallback,
)
from core.train.callbacks import call_all, start_info


def _metrics(best: bool) -> EpochMetrics:
    nan = math.nan
    return EpochMetrics(2, 20, 3.0, 1e-3, 1.5, nan, nan, nan, nan, nan, 4.25, 4.5, 3.0, best, 50.0)


def test_metric_columns_are_the_epoch_fields_in_order() -> None:
    assert METRIC_COLUMNS[0] == "epoch" and METRIC_COLUMNS[-1] == "samples_per_s"
    assert tuple(f.name for f in dataclasses.fields(EpochMetrics)) == METRIC_COLUMNS
    assert tuple(_metrics(True).to_row()) == METRIC_COLUMNS
    assert len(METRIC_COLUMNS) == 15


def test_call_all_reaches_every_object_with_the_method() -> None:
    got: list[tuple[str, object]] = []

    class OnlyEpochs:  # duck typing: no Callback base class, only one hook
        def on_epoch_end(self, m: EpochMetrics) -> None:
            got.append(("duck", m.epoch))

    fn = FunctionCallback(on_epoch_end=lambda m: got.append(("fn", m.epoch)))
    call_all([fn, OnlyEpochs(), object()], "on_epoch_end", _metrics(False))
    call_all([fn, OnlyEpochs()], "on_step", None)  # neither reacts to steps
    assert got == [("fn", 2), ("duck", 2)]


def test_progress_adapter_counts_steps_over_the_run() -> None:
    reports: list[Progress] = []
    adapter = ProgressAdapter(reports.append)
    adapter.on_train_start(start_info(
        epochs=3, steps_per_epoch=4, start_epoch=0, n_train=10, n_val=2, device="cpu",
        amp="off", channels_last=False, world_size=1,
    ))  # fmt: skip
    adapter.on_step(StepInfo(2, 3, 3, 4, 7, {"loss_g": 0.25}, 1e-3, 1.0))
    assert reports[-1].done == 7 and reports[-1].total == 12  # (2 - 1) x 4 + 3 of 3 x 4
    assert reports[-1].message == "epoch 2/3 loss 0.25"


def test_tqdm_callback_prints_one_line_per_epoch() -> None:
    out = io.StringIO()
    cb = TqdmCallback(file=out)
    cb.on_step(StepInfo(2, 3, 1, 2, 5, {"loss_g": 0.5}, 1e-3, 1.0))
    assert cb.bar is not None
    cb.on_epoch_end(_metrics(best=True))
    assert cb.bar is None
    line = out.getvalue().splitlines()[-1]
    assert line == (
        "epoch 2: loss_g 1.5  val RMSE per image 4.2500 DU, pooled 4.5000 DU  (50 samples/s) *"
    )
