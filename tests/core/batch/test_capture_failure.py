"""core.batch.capture_failure: one input's failure becomes its item's status and error."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.batch import CANCELLED_MESSAGE, capture_failure
from core.io import SemReadError
from core.io.atomic import OutputExistsError
from core.progress import Cancelled

log = logging.getLogger("tests.capture_failure")


@dataclass
class _Item:
    status: str = "failed"
    error: str | None = None
    seconds: float = -1.0


def _run(exc: BaseException | None) -> _Item:
    item = _Item()
    with capture_failure(item, Path("a.png"), log):
        if exc is not None:
            raise exc
        item.status = "done"
    return item


def test_success_keeps_status_and_times() -> None:
    item = _run(None)
    assert (item.status, item.error) == ("done", None)
    assert 0.0 <= item.seconds < 5.0


def test_cancelled() -> None:
    item = _run(Cancelled("cancelled by the user"))
    assert (item.status, item.error) == ("cancelled", CANCELLED_MESSAGE)
    assert CANCELLED_MESSAGE == "cancelled before this file was finished"
    assert item.seconds >= 0.0


@pytest.mark.parametrize(
    "exc",
    [
        SemReadError("a.png", "not an image"),
        OutputExistsError(Path("o/a_depth.tif")),
        FileExistsError("o/a_depth.tif exists"),
        ValueError("bad shape"),
        OSError("disk full"),
    ],
)
def test_expected_errors_keep_their_message(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        item = _run(exc)
    assert (item.status, item.error) == ("failed", str(exc))
    assert item.seconds >= 0.0
    assert caplog.records == []


def test_unexpected_error_is_logged_with_type(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        item = _run(ZeroDivisionError("division by zero"))
    assert (item.status, item.error) == ("failed", "ZeroDivisionError: division by zero")
    assert [r.name for r in caplog.records] == ["tests.capture_failure"]
    assert caplog.records[0].getMessage() == "unexpected error on a.png"
    assert caplog.records[0].exc_info is not None


def test_keyboard_interrupt_passes_through() -> None:
    with pytest.raises(KeyboardInterrupt):
        _run(KeyboardInterrupt())
