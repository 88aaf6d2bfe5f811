"""Learning-rate schedules and early stopping (core/train/schedule.py)."""

from __future__ import annotations

import pytest

from core.train import EarlyStopping, TrainError, lr_factor


def test_lr_schedules() -> None:
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("cosine", 0.05, warmup=0.05) == pytest.approx(1.0)
    assert lr_factor("cosine", 0.525, warmup=0.05) == pytest.approx(0.5)
    assert lr_factor("cosine", 1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("onecycle", 0.0) == pytest.approx(1 / 25)
    assert lr_factor("onecycle", 0.3) == pytest.approx(1.0)
    assert lr_factor("onecycle", 1.0) == pytest.approx(1 / 25 / 1e4)


def test_early_stopping_counts_epochs_without_improvement() -> None:
    es = EarlyStopping(patience=2, min_delta=0.1)
    assert not es.update(5.0)
    assert not es.update(4.95)  # not better by more than min_delta
    assert es.update(5.0)
    es2 = EarlyStopping(patience=2)
    assert [es2.update(v) for v in (3.0, 2.0, 2.5, 1.0, 1.0, 1.0)] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]


def test_cosine_warmup_and_unknown_schedule() -> None:
    # linear warm-up from 1 % to the full rate over the first 5 % of the run
    assert lr_factor("cosine", 0.0, warmup=0.05) == pytest.approx(0.01)
    assert lr_factor("cosine", 0.025, warmup=0.05) == pytest.approx(0.5)
    assert lr_factor("cosine", 2.0) == lr_factor("cosine", 1.0)  # progress is clamped
    with pytest.raises(TrainError, match="unknown schedule 'step'"):
        lr_factor("step", 0.5)
