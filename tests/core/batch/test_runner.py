"""core.batch.runner: capture_failure (one input's failure becomes its item's status and
error) and run_items (the loop every batch shares)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.batch import (
    CANCELLED_MESSAGE,
    BatchItem,
    SummaryWriter,
    capture_failure,
    read_summary,
    run_batch,
    run_items,
)
from core.io import SemReadError
from core.io.atomic import OutputExistsError
from core.progress import Cancelled, CancelToken, Progress
from tests.core.batch.helpers import png
from tests.core.inference.helpers import Times255, predictor_for

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


def test_seconds_measure_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.batch.runner as runner

    ticks = iter([10.0, 12.5])
    monkeypatch.setattr(runner.time, "perf_counter", lambda: next(ticks))
    item = _run(ValueError("late"))
    assert item.seconds == 2.5 and item.error == "late"


# ----------------------------------------------------------------------------- run_items
@dataclass
class _Rec:
    path: Path
    status: str
    error: str | None = None
    seconds: float = 0.0
    payload: object = None


def _process(outcomes: dict[str, str]):  # type: ignore[no-untyped-def]
    def process(index: int, path: Path) -> _Rec:
        return _Rec(path, outcomes.get(path.name, "done"), payload=index)

    return process


def test_run_items_counts_reports_and_hands_each_item_on(tmp_path: Path) -> None:
    paths = [Path(f"{n}.png") for n in ("a", "b", "c", "d")]
    events: list[str] = []
    seen: list[Progress] = []
    writer = SummaryWriter(
        tmp_path,
        overwrite=False,
        interval_s=3600.0,
        columns=("file", "status", "payload"),
        row=lambda r: [r.path.name, r.status, str(r.payload)],
    )

    def on_item(r: _Rec) -> None:
        events.append(f"on {r.path.name} {r.payload}")

    def release(r: _Rec) -> None:
        events.append(f"release {r.path.name}")
        r.payload = None

    run = run_items(
        paths,
        _process({"b.png": "failed", "d.png": "failed"}),
        progress=seen.append,
        on_item=on_item,
        release=release,
        writer=writer,
    )
    assert (run.n_done, run.n_failed, run.cancelled) == (2, 2, False)
    assert [r.path for r in run.items] == paths and all(r.payload is None for r in run.items)
    assert events[:4] == ["on a.png 0", "release a.png", "on b.png 1", "release b.png"]
    assert [(p.done, p.total, p.message) for p in seen] == [
        (0, 4, ""),
        (1, 4, "a.png"),
        (2, 4, "b.png"),
        (3, 4, "c.png"),
        (4, 4, "d.png"),
    ]
    assert run.summary_csv == tmp_path / "summary.csv"
    rows = read_summary(tmp_path / "summary.csv")  # flushed at the end
    assert [(r["file"], r["status"], r["payload"]) for r in rows] == [
        ("a.png", "done", "None"),  # the writer sees the item after release
        ("b.png", "failed", "None"),
        ("c.png", "done", "None"),
        ("d.png", "failed", "None"),
    ]


def test_run_items_stops_before_the_next_input_once_cancelled() -> None:
    token = CancelToken()
    paths = [Path(f"{i}.png") for i in range(5)]

    def on_item(r: _Rec) -> None:
        if r.payload == 1:
            token.cancel()

    run = run_items(paths, _process({}), cancel=token, on_item=on_item)
    assert run.cancelled and [r.path.name for r in run.items] == ["0.png", "1.png"]
    assert run.n_done == 2 and run.summary_csv is None


def test_run_items_stops_after_a_cancelled_item() -> None:
    paths = [Path(f"{i}.png") for i in range(4)]
    run = run_items(paths, _process({"1.png": "cancelled"}))
    assert run.cancelled and [r.status for r in run.items] == ["done", "cancelled"]
    assert (run.n_done, run.n_failed) == (1, 0)  # a cancelled item is neither


def test_run_items_flushes_the_summary_when_interrupted(tmp_path: Path) -> None:
    writer = SummaryWriter(
        tmp_path, overwrite=True, interval_s=3600.0, columns=("file",), row=lambda r: [r.path.name]
    )

    def process(index: int, path: Path) -> _Rec:
        if index == 2:
            raise KeyboardInterrupt
        return _Rec(path, "done")

    with pytest.raises(KeyboardInterrupt):
        run_items([Path("a.png"), Path("b.png"), Path("c.png")], process, writer=writer)
    assert read_summary(writer.path) == [{"file": "a.png"}, {"file": "b.png"}]


# ----------------------------------------------------------------------------- in a batch
def test_a_bad_file_becomes_a_failed_row_naming_it(tmp_path: Path) -> None:
    good = png(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / "bad.png"
    bad.write_text("this is not an image")
    summary = run_batch([bad, good], predictor_for(Times255()), tmp_path / "out", tta=False)
    assert (summary.n_done, summary.n_failed) == (1, 1)
    rows = read_summary(tmp_path / "out" / "summary.csv")
    assert [(Path(r["file"]).name, r["status"]) for r in rows] == [
        ("bad.png", "failed"),
        ("good.png", "done"),
    ]
    assert rows[0]["error"].startswith(f"{bad}: ")
    assert "does not match any supported image type" in rows[0]["error"]


def test_cancel_inside_a_file_writes_nothing_for_it(tmp_path: Path) -> None:
    token = CancelToken()

    class CancelsWhileRunning(Times255):
        def forward(self, x):  # type: ignore[no-untyped-def]
            token.cancel()  # the user presses Cancel while this image is predicted
            return super().forward(x)

    files = [png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(3)]
    out = tmp_path / "out"
    items: list[BatchItem] = []
    summary = run_batch(
        files, predictor_for(CancelsWhileRunning()), out, cancel=token, on_item=items.append
    )
    assert summary.cancelled and (summary.n_done, summary.n_failed) == (0, 0)
    assert [i.status for i in items] == ["cancelled"] and items[0].result is None
    rows = read_summary(out / "summary.csv")
    assert [(Path(r["file"]).name, r["status"], r["error"]) for r in rows] == [
        ("f0.png", "cancelled", "cancelled before this file was finished")
    ]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "summary.csv"]


def test_skip_current_abandons_one_file_and_goes_on(tmp_path: Path) -> None:
    token = CancelToken()
    seen: list[int] = []

    class SkipsTheSecond(Times255):
        def forward(self, x):  # type: ignore[no-untyped-def]
            seen.append(1)
            if len(seen) == 2:
                token.skip_current()  # the user skips the file being predicted
            return super().forward(x)

    files = [png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(3)]
    out = tmp_path / "out"
    summary = run_batch(
        files, predictor_for(SkipsTheSecond()), out, cancel=token, tta=False, formats=("tiff",)
    )
    assert [i.status for i in summary.items] == ["done", "skipped", "done"]
    assert (summary.n_done, summary.n_skipped, summary.cancelled) == (2, 1, False)
    assert summary.items[1].error == "skipped by the user"
    assert not (out / "f1_depth.tif").exists() and (out / "f2_depth.tif").is_file()
    rows = read_summary(out / "summary.csv")
    assert [r["status"] for r in rows] == ["done", "skipped", "done"]


def test_progress_inside_a_file_reaches_the_batch_callback(tmp_path: Path) -> None:
    big = png(tmp_path / "big.png", shape=(700, 600))
    seen: list[Progress] = []
    run_batch([big], predictor_for(Times255()), None, progress=seen.append, tta=False, mode="tiled")
    inner = [p for p in seen if p.inner is not None]
    assert [(p.inner.done, p.inner.total, p.inner.message) for p in inner] == [
        (k, 4, "tiles") for k in (1, 2, 3, 4)
    ]
    assert all(p.done == 0 and p.total == 1 and p.message == "big.png" for p in inner)
    assert inner[-1].eta_s == 0.0 and seen[-1].inner is None and seen[-1].done == 1
