"""When to change the learning rate (:func:`lr_factor`) and when to stop
(:class:`EarlyStopping`)."""

from __future__ import annotations

import math

from core.train.config import TrainError


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
