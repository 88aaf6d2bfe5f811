"""Worker processes for the local engine (``--predict-workers``): the files and rows of one
file at a time, a bad file as a row, cancel, Ctrl+C to the whole process group."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

from core.batch import BatchItem, read_summary, run_batch
from core.batch.procs import ProcessSource
from core.batch.remote import PredictorSpec
from core.cli import main
from core.inference import Predictor
from core.progress import CancelToken
from tests.core.batch.compare import assert_same_outputs
from tests.core.batch.helpers import png, temp_files, wait_for_items


def _inputs(folder: Path, n: int) -> Path:
    for i in range(n):
        png(folder / f"c{i:02d}.png", seed=i, shape=(72, 48) if i % 4 else (66, 44))
    (folder / "c03_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return folder


def test_cli_predict_workers_writes_the_files_of_one_at_a_time(
    tmp_path: Path, tiny_checkpoint: Path, capsys
) -> None:
    src = _inputs(tmp_path / "in", 11)
    common = ["--model", str(tiny_checkpoint), "--fast-path", "fp32", "-q"]
    one = ["predict", str(src), "--out", str(tmp_path / "one"), "--batch-files", "1"]
    assert main(one + common) == 1
    procs = ["predict", str(src), "--out", str(tmp_path / "procs"), "--batch-files", "4"]
    assert main([*procs, "--predict-workers", "1", *common]) == 1
    assert "1 predict worker process(es)" in capsys.readouterr().err
    assert_same_outputs(tmp_path / "one", tmp_path / "procs", atol=1e-3)
    rows = {Path(r["file"]).name: r for r in read_summary(tmp_path / "procs" / "summary.csv")}
    assert rows["c03_broken.png"]["status"] == "failed"
    assert "c03_broken.png" in rows["c03_broken.png"]["error"]


def test_cancel_stops_the_workers_and_keeps_what_is_listed(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    src = _inputs(tmp_path / "in", 30)
    spec = PredictorSpec.from_files(
        tiny_checkpoint, device="cpu", fast_path="fp32", batch_size=None, mode="auto",
        tta=True, scale_policy="auto",
    )  # fmt: skip
    source = ProcessSource(spec, workers=1, files=3)
    token = CancelToken()

    def on_item(item: BatchItem) -> None:
        if item.index == 4:
            token.cancel()

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    out = tmp_path / "out"
    summary = run_batch(
        [src], pred, out, formats=("tiff",), source=source, cancel=token, on_item=on_item,
        batch_files=3,
    )  # fmt: skip
    assert summary.cancelled and len(summary.items) == 5
    rows = read_summary(out / "summary.csv")
    listed = {name for r in rows for name in r["outputs"].split(";") if name}
    assert {p.name for p in out.glob("*.tif")} == listed
    assert source._pool is None and not temp_files(out)  # the workers are gone


def test_ctrl_c_to_the_process_group_cancels(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """SIGINT to the whole group, as Ctrl+C in a terminal: the workers ignore it, the
    driver cancels: exit 130, the rows so far, nothing written beyond them."""
    from tests.core.batch.faults import cli

    src = tmp_path / "in"
    for i in range(300):
        png(src / f"c{i:03d}.png", seed=i)
    out = tmp_path / "out"
    args = [str(src), "--out", str(out), "--model", str(tiny_checkpoint), "--fast-path", "fp32"]
    args += ["--batch-files", "2", "--predict-workers", "1", "-q"]
    proc = cli(["predict", *args], start_new_session=True, cwd=tmp_path)
    wait_for_items(proc, out, 3, timeout=120)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    rows = read_summary(out / "summary.csv")
    assert 3 <= len(rows) < 300
    listed = {name for r in rows for name in r["outputs"].split(";") if name}
    written = {p.name for p in out.iterdir() if p.name.startswith("c")}
    assert written == listed and not temp_files(out)


def test_the_auto_rules(tmp_path: Path, monkeypatch) -> None:
    import sys

    from core.cli.predict_sources import batch_files_for, local_batch_files, predict_workers_for

    crops = [png(tmp_path / f"c{i}.png", seed=i) for i in range(3)]
    big = png(tmp_path / "big.png", shape=(400, 300))
    assert batch_files_for("auto", crops, (72, 48)) == 32
    assert batch_files_for("auto", [*crops, big], (72, 48)) == 1  # progress inside big files
    assert batch_files_for("5", [big], (72, 48)) == 5
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert predict_workers_for("auto", 32, 1000) == 3  # one per core and one more
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert predict_workers_for("auto", 32, 1000) == 5
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert predict_workers_for("auto", 32, 1000) == 8
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert predict_workers_for("auto", 32, 100) == 0  # not worth a worker's start-up
    assert predict_workers_for("auto", 1, 1000) == 0  # one file at a time: this process
    assert predict_workers_for("3", 32, 5) == 3
    # without workers, auto is one file at a time in this process; a number is kept
    assert local_batch_files("auto", 32, 0) == 1 and local_batch_files("auto", 32, 3) == 32
    assert local_batch_files("16", 16, 0) == 16
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert predict_workers_for("auto", 32, 1000) == 0


def _writing_spec(tiny_checkpoint: Path, out: Path, formats: tuple[str, ...]) -> PredictorSpec:
    spec = PredictorSpec.from_files(
        tiny_checkpoint, device="cpu", fast_path="fp32", batch_size=None, mode="auto",
        tta=True, scale_policy="auto",
    )  # fmt: skip
    return dataclasses.replace(spec, write={"out": str(out), "formats": list(formats)})


def test_workers_write_the_files_themselves(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch
) -> None:
    """With the output folder in the spec the workers write; this process only records:
    its own writer is made to fail, and every file is there all the same, listed."""
    src = _inputs(tmp_path / "in", 9)
    out = tmp_path / "out"

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the driver wrote a result's files")

    monkeypatch.setattr("core.batch.predict.write_outputs", never)
    source = ProcessSource(_writing_spec(tiny_checkpoint, out, ("tiff", "csv")), files=4)
    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    summary = run_batch([src], pred, out, formats=("tiff", "csv"), source=source, batch_files=4)
    assert (summary.n_done, summary.n_failed) == (9, 1)  # c03_broken.png
    rows = read_summary(out / "summary.csv")
    listed = {name for r in rows for name in r["outputs"].split(";") if name}
    on_disk = {p.name for p in out.iterdir() if p.name.startswith("c")}
    assert on_disk == listed and "c00_depth.csv" in listed and "c08_depth.tif" in listed
    assert not temp_files(out)


def test_a_write_failure_in_a_worker_is_that_files_row(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """One output path is taken by a folder: that input fails with the path and the
    reason, none of its files stay, the others are written."""
    src = _inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    (out / "c02_depth.csv").mkdir(parents=True)
    source = ProcessSource(_writing_spec(tiny_checkpoint, out, ("tiff", "csv")), files=3)
    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    summary = run_batch(
        [src], pred, out, formats=("tiff", "csv"), source=source, batch_files=3, overwrite=True
    )
    rows = {Path(r["file"]).name: r for r in read_summary(out / "summary.csv")}
    assert rows["c02.png"]["status"] == "failed"
    assert "c02_depth.csv" in rows["c02.png"]["error"] and "directory" in rows["c02.png"]["error"]
    assert not [p for p in out.iterdir() if p.name.startswith("c02_") and p.is_file()]
    assert rows["c01.png"]["status"] == "done" and (out / "c01_depth.tif").is_file()
    assert (summary.n_done, summary.n_failed) == (5, 2)  # c02 and c03_broken.png


def test_a_cancel_removes_only_what_this_runs_workers_wrote(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """An overwriting run cancelled early: the inputs its workers never reached keep the
    earlier run's files; nothing on disk is left that neither run lists."""
    src = _inputs(tmp_path / "in", 30)
    out = tmp_path / "out"
    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    run_batch([src], pred, out, formats=("tiff",))
    before = (out / "c29_depth.tif").read_bytes()
    token = CancelToken()

    def on_item(item: BatchItem) -> None:
        if item.index == 2:
            token.cancel()

    source = ProcessSource(_writing_spec(tiny_checkpoint, out, ("tiff",)), files=2)
    summary = run_batch(
        [src], pred, out, formats=("tiff",), source=source, cancel=token, on_item=on_item,
        batch_files=2, overwrite=True,
    )  # fmt: skip
    assert summary.cancelled and len(summary.items) == 3
    # what the workers wrote ahead of the batch, for inputs it never took: all removed
    assert source.written and all(p.is_absolute() for fs in source.written.values() for p in fs)
    taken = {item.source for item in summary.items}
    assert not taken & set(source.written)
    assert not any(f.exists() for fs in source.written.values() for f in fs)
    assert (out / "c29_depth.tif").read_bytes() == before  # never handed to a worker
    listed = {n for r in read_summary(out / "summary.csv") for n in r["outputs"].split(";") if n}
    assert listed and all((out / n).is_file() for n in listed)
    assert not temp_files(out)


def test_prestart_starts_one_fork_server(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """prestart() starts the workers' fork server once; the CLI calls it before loading
    the model only when the auto rules will start workers."""
    import argparse
    import multiprocessing
    from multiprocessing import forkserver

    import pytest

    from core.batch import procs
    from core.cli import predict as predict_cli

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform (workers are spawned)")
    procs.prestart()
    pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert pid is not None
    os.kill(pid, 0)  # alive (raises if not)
    procs.prestart()
    assert forkserver._forkserver._forkserver_pid == pid  # type: ignore[attr-defined]

    calls: list[int] = []
    monkeypatch.setattr(procs, "prestart", lambda: calls.append(1))
    monkeypatch.setattr("os.cpu_count", lambda: 2)

    def args(**kw: str) -> argparse.Namespace:
        base = {"engine": "local", "batch_files": "auto", "predict_workers": "auto"}
        return argparse.Namespace(**{**base, **kw})

    predict_cli._prestart_workers(args(), 1000)
    assert calls == [1]
    predict_cli._prestart_workers(args(), 10)  # too few files for auto workers
    predict_cli._prestart_workers(args(predict_workers="0"), 1000)
    predict_cli._prestart_workers(args(batch_files="1"), 1000)
    predict_cli._prestart_workers(args(engine="ray"), 1000)
    assert calls == [1]
    predict_cli._prestart_workers(args(predict_workers="2"), 10)  # asked for: always
    assert calls == [1, 1]
