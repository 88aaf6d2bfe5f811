"""core.cli.support: Ctrl+C handling, the progress bar adapter and the end-of-batch report."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.cli.support import (
    bar_progress,
    cancel_exit_code,
    finish_batch,
    progress_bar,
    sigint_cancels,
)
from core.progress import CancelToken, Progress


@dataclass
class _Item:
    status: str
    error: str | None = None


@dataclass
class _Summary:
    items: list[_Item] = field(default_factory=list)
    n_done: int = 0
    n_failed: int = 0
    cancelled: bool = False
    summary_csv: Path | None = None


def test_finish_batch_all_done(capsys: pytest.CaptureFixture[str]) -> None:
    s = _Summary([_Item("done"), _Item("done")], 2, 0, False, Path("out") / "summary.csv")
    assert finish_batch(s) == 0
    err = capsys.readouterr().err
    assert err == f"2 done, 0 failed; summary: {Path('out') / 'summary.csv'}\n"


def test_finish_batch_failures(capsys: pytest.CaptureFixture[str]) -> None:
    items = [_Item("failed", "a.png: not an image"), _Item("done"), _Item("failed", "b.tif: x")]
    assert finish_batch(_Summary(items, 1, 2, False, Path("s.csv"))) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "FAILED a.png: not an image",
        "FAILED b.tif: x",
        "1 done, 2 failed; summary: s.csv",
    ]


def test_finish_batch_cancelled_wins_over_failures(capsys: pytest.CaptureFixture[str]) -> None:
    items = [_Item("failed", "bad"), _Item("cancelled", "cancelled before this file was finished")]
    assert finish_batch(_Summary(items, 0, 1, True, None)) == 130
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["FAILED bad", "0 done, 1 failed, cancelled; summary: None"]


def test_finish_batch_cancelled_without_failures(capsys: pytest.CaptureFixture[str]) -> None:
    assert finish_batch(_Summary([_Item("done")], 1, 0, True, Path("s.csv"))) == 130
    assert capsys.readouterr().err == "1 done, 0 failed, cancelled; summary: s.csv\n"


def test_sigint_first_cancels_second_interrupts(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGINT)
    token = CancelToken()
    with sigint_cancels(token, "denoise"):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler) and handler is not before
        handler(signal.SIGINT, None)
        assert token.cancelled
        assert "semdepth denoise: cancelling (Ctrl+C again" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)
    assert signal.getsignal(signal.SIGINT) is before


def test_sigint_handler_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    token = CancelToken()
    with sigint_cancels(token, "predict"):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, None)
    assert "\nsemdepth predict: cancelling" in capsys.readouterr().err
    assert token.reason == "SIGINT" and cancel_exit_code(token) == 130


def test_sigterm_cancels_like_ctrl_c_and_exits_143(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    token = CancelToken()
    with sigint_cancels(token, "predict"):
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler) and handler is not before
        handler(signal.SIGTERM, None)
        assert token.cancelled and token.reason == "SIGTERM"
        assert "semdepth predict: cancelling on SIGTERM (SIGTERM again" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before
    assert cancel_exit_code(token) == 143
    assert finish_batch(_Summary([], 0, 0, True, None), token) == 143


def test_sigint_restores_handler_on_exception() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError), sigint_cancels(CancelToken(), "predict"):
        raise RuntimeError("boom")
    assert signal.getsignal(signal.SIGINT) is before


def test_sigint_outside_main_thread_installs_nothing() -> None:
    before = signal.getsignal(signal.SIGINT)
    seen: list[object] = []

    def work() -> None:
        with sigint_cancels(CancelToken(), "predict"):
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [before]


class _FakeBar:
    def __init__(self, total: int) -> None:
        self.total = total
        self.n = 0
        self.postfix: list[tuple[str, bool]] = []

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        self.postfix.append((s, refresh))


def test_bar_progress_moves_the_bar() -> None:
    bar = _FakeBar(5)
    cb = bar_progress(bar)
    cb(Progress(2, 5, "x" * 50 + "tail.png"))
    assert bar.n == 2 and bar.total == 5
    assert bar.postfix == [(("x" * 50 + "tail.png")[-40:], True)]
    assert len(bar.postfix[0][0]) == 40
    cb(Progress(3, 7, "b.png"))  # a changed total is followed
    assert (bar.n, bar.total) == (3, 7)
    assert bar.postfix[-1] == ("b.png", True)


def test_bar_progress_without_bar_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    callback = bar_progress(None)
    assert callback(Progress(1, 2, "a")) is None
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_quiet_and_not() -> None:
    assert progress_bar(3, quiet=True, unit="img") is None
    bar = progress_bar(3, quiet=False, unit="img")
    try:
        assert bar.total == 3 and bar.unit == "img"
        bar_progress(bar)(Progress(2, 3, "a.png"))
        assert bar.n == 2
    finally:
        bar.close()


def test_bar_progress_shows_the_part_of_the_file_and_the_time_left() -> None:
    bar = _FakeBar(4)
    cb = bar_progress(bar)
    cb(Progress(1, 4, "big.jpg", inner=Progress(5, 20, "tiles"), eta_s=6.4))
    assert bar.n == 1.25  # one file done and a quarter of the second
    assert bar.postfix[-1] == ("big.jpg: tiles 5/20, 6 s left", True)


def test_finish_batch_counts_skipped_and_resumed_and_says_why_it_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @dataclass
    class _Full(_Summary):
        n_skipped: int = 0
        n_resumed: int = 0
        stopped: str | None = None

    items = [_Item("skipped", "a.tif: skipped: pixel size 80 nm is 40x the model's 2 nm")]
    assert finish_batch(_Full(items, 2, 0, False, Path("s.csv"), 1, 2)) == 0
    assert capsys.readouterr().err.splitlines() == [
        "SKIPPED a.tif: skipped: pixel size 80 nm is 40x the model's 2 nm",
        "2 done, 0 failed, 1 skipped, 2 already complete (resumed); summary: s.csv",
    ]
    full = _Full([], 1, 0, False, Path("s.csv"), stopped="s.csv: cannot write (No space left)")
    assert finish_batch(full) == 1
    assert (
        capsys.readouterr().err.splitlines()[-1] == "stopped: s.csv: cannot write (No space left)"
    )
