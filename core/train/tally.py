"""The training loop's bookkeeping: :class:`Clock` (seconds of this session and of the whole
run) and :class:`Tally` (one epoch's losses, counts, learning rate and why it halted)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field


class Clock:
    """Seconds of this session's loop, and of the whole run (earlier sessions included)."""

    def __init__(self, before: float) -> None:
        self.before = before
        self.t0 = time.perf_counter()

    def session(self) -> float:
        return time.perf_counter() - self.t0

    def elapsed(self) -> float:
        return self.before + self.session()


@dataclass
class Tally:
    """One epoch's training steps: loss sums, counts, the last lr and why it halted."""

    lr: float
    sums: dict[str, float] = field(default_factory=dict)
    n_steps: int = 0
    n_samples: int = 0
    halt: int = 0
    seconds: float = 0.0

    def add(self, losses: Mapping[str, float], n_samples: int) -> None:
        self.n_steps += 1
        self.n_samples += n_samples
        for key, v in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + v

    def mean(self, key: str) -> float:
        return self.sums[key] / self.n_steps if key in self.sums and self.n_steps else math.nan
