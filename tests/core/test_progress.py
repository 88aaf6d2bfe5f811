"""core.progress.Stopwatch: named step durations and the total, from the clock."""

from __future__ import annotations

import pytest

import core.progress as progress_mod
from core.progress import Stopwatch


def test_stopwatch_times_steps_and_total(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([100.0, 101.0, 103.5, 104.0, 110.0, 111.25])
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: next(ticks))
    watch = Stopwatch()  # t0 = 100
    with watch.step("read"):  # 101 -> 103.5
        pass
    with watch.step("predict"):  # 104 -> 110
        pass
    assert watch.stop() == {"read": 2.5, "predict": 6.0, "total": 11.25}
    assert list(watch.timings) == ["read", "predict", "total"]


def test_a_failing_step_records_nothing() -> None:
    watch = Stopwatch()
    with pytest.raises(ZeroDivisionError), watch.step("bad"):
        _ = 1 / 0
    assert "bad" not in watch.timings
