"""core.progress: Stopwatch (named step durations), two-level progress with an ETA,
the skip of the current item."""

from __future__ import annotations

import pytest

import core.progress as progress_mod
from core.progress import Cancelled, CancelToken, ItemProgress, Progress, Skipped, Stopwatch


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


# ----------------------------------------------------------------------------- two levels
def test_progress_fraction_counts_the_inner_part() -> None:
    p = Progress(2, 4, "c.tif", inner=Progress(1, 4, "tiles"), eta_s=3.2)
    assert p.fraction == pytest.approx(2.25 / 4)
    assert p.describe() == "tiles 1/4, 3 s left"
    assert Progress(1, 2, "a.png").describe() == "a.png"
    assert Progress(0, 0).fraction == 0.0


def test_item_progress_wraps_inner_reports_with_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([10.0, 11.0, 13.0, 14.0, 15.0])
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: next(ticks))
    seen: list[Progress] = []
    item = ItemProgress(seen.append, 3, 10, "big.jpg")  # started at 10 s
    item(Progress(1, 5, "tiles"))  # 11 s: 1 tile in 1 s -> 4 s left
    item(Progress(3, 5, "tiles"))  # 13 s: 2 tiles in 2 s since -> 2 s left
    item(Progress(5, 5, "tiles"))  # 14 s: done
    assert [(p.done, p.total, p.message) for p in seen] == [(3, 10, "big.jpg")] * 3
    assert [p.inner.done for p in seen if p.inner] == [1, 3, 5]
    assert [p.eta_s for p in seen] == [4.0, 2.0, 0.0]
    ItemProgress(None, 0, 1, "x")(Progress(1, 2))  # no callback: nothing to do


def test_skip_current_hits_only_the_item_running_when_asked() -> None:
    token = CancelToken()
    token.begin_item(0)
    token.raise_if_cancelled()  # nothing asked
    token.skip_current()
    assert token.skipping and not token.cancelled
    with pytest.raises(Skipped, match="skipped by the user"):
        token.raise_if_cancelled()
    token.begin_item(1)  # the next item is not skipped
    token.raise_if_cancelled()
    token.begin_item(None)
    token.skip_current()  # between items: a no-op for the next one
    token.begin_item(2)
    token.raise_if_cancelled()
    token.cancel("SIGTERM")
    with pytest.raises(Cancelled) as info:
        token.raise_if_cancelled()
    assert not isinstance(info.value, Skipped) and token.reason == "SIGTERM"
