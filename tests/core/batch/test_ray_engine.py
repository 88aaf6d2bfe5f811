"""The Ray engine on a real local Ray with 2 workers: the files and rows of the local
engine, a bad file among good ones, resume, cancel, Ctrl+C (``pip install -e
'.[cluster]'``; skipped without Ray)."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.batch import BatchItem, read_summary, run_batch
from core.batch.ray_engine import PredictorSpec, RayOptions, RaySource
from core.cli import main
from core.inference import Predictor
from core.progress import CancelToken
from tests.core.batch.compare import assert_same_outputs, summary_rows
from tests.core.batch.helpers import png, temp_files, wait_for_items

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray for the module (2 CPUs: 2 workers of 1 CPU each)."""
    from core.batch.ray_engine import init_ray

    init_ray(num_cpus=2)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.core.inference.helpers import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("model"))


def _inputs(folder: Path, n: int) -> Path:
    for i in range(n):
        png(folder / f"c{i:02d}.png", seed=i, shape=(72, 48) if i % 5 else (64, 44))
    (folder / "c05_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but no image")
    return folder


def _source(
    model: Path,
    workers: int = 2,
    files: int = 4,
    write: tuple[Path, tuple[str, ...]] | None = None,
) -> RaySource:
    spec = PredictorSpec.from_files(
        model, device="cpu", fast_path="fp32", batch_size=None, mode="auto", tta=True,
        scale_policy="auto",
    )  # fmt: skip
    if write is not None:  # the actors write the files into this folder themselves
        spec = dataclasses.replace(spec, write={"out": str(write[0]), "formats": list(write[1])})
    return RaySource(spec, RayOptions(workers=workers, cpus_per_worker=1, files_per_call=files))


def test_ray_writes_the_files_and_rows_of_the_local_engine(
    local_ray: None, model: Path, tmp_path: Path
) -> None:
    src = _inputs(tmp_path / "in", 14)
    pred = Predictor.from_checkpoint(model, device="cpu", fast_path="fp32")
    local = run_batch([src], pred, tmp_path / "local", formats=("tiff", "csv", "png"))
    remote = run_batch(
        [src], pred, tmp_path / "ray", formats=("tiff", "csv", "png"), source=_source(model)
    )
    assert (remote.n_done, remote.n_failed) == (local.n_done, local.n_failed) == (14, 1)
    # the workers run 1 torch thread each, this process 2: float rounding apart, the same
    assert_same_outputs(tmp_path / "local", tmp_path / "ray", atol=1e-3)
    rows = {Path(r["file"]).name: r for r in summary_rows(tmp_path / "ray")}
    local_rows = {Path(r["file"]).name: r for r in summary_rows(tmp_path / "local")}
    bad = rows["c05_broken.png"]
    assert bad["status"] == "failed" and bad["error"] == local_rows["c05_broken.png"]["error"]
    assert "c05_broken.png" in bad["error"]
    assert not temp_files(tmp_path / "ray")


def test_workers_that_write_give_the_same_files_and_rows(
    local_ray: None, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.batch.predict as batch_predict

    src = _inputs(tmp_path / "in", 14)
    formats = ("tiff", "csv", "png")
    pred = Predictor.from_checkpoint(model, device="cpu", fast_path="fp32")
    run_batch([src], pred, tmp_path / "local", formats=formats)

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("the driver wrote a file: the actors were to write them")

    monkeypatch.setattr(batch_predict, "write_outputs", not_here)  # this process only
    out = tmp_path / "ray"
    source = _source(model, write=(out, formats))
    remote = run_batch([src], pred, out, formats=formats, source=source)
    assert (remote.n_done, remote.n_failed) == (14, 1)
    assert source.info["ray_workers_write"] is True
    assert_same_outputs(tmp_path / "local", out, atol=1e-3)
    rows = read_summary(out / "summary.csv")
    listed = {name for r in rows for name in r["outputs"].split(";") if name}
    on_disk = {p.name for p in out.iterdir() if p.name.endswith((".tif", ".csv", ".png"))}
    assert on_disk - {"summary.csv"} == listed
    assert not temp_files(out) and source.unrecorded() == []


def test_cli_engine_ray_and_resume(local_ray: None, model: Path, tmp_path: Path, capsys) -> None:
    src = _inputs(tmp_path / "in", 9)
    out = tmp_path / "out"
    argv = ["predict", str(src), "--out", str(out), "--model", str(model), "--fast-path", "fp32"]
    ray_args = ["--engine", "ray", "--workers", "2", "--cpus-per-worker", "1", "-q"]
    assert main([*argv, *ray_args]) == 1  # one bad file: exit 1, a failed row
    err = capsys.readouterr().err
    assert "ray: embedded local Ray" in err and "2 worker(s)" in err
    assert "files written by the workers" in err  # --workers-write auto: embedded
    rows = read_summary(out / "summary.csv")
    assert [r["status"] for r in rows].count("done") == 9 and len(rows) == 10
    assert (out / "c00_depth.tif").is_file()
    # --resume: the complete ones are kept, only the failed one is tried again
    before = (out / "c00_depth.tif").stat().st_mtime_ns
    assert main([*argv, *ray_args, "--resume"]) == 1
    assert "9 already complete" in capsys.readouterr().err
    assert (out / "c00_depth.tif").stat().st_mtime_ns == before
    assert len(read_summary(out / "summary.csv")) == 10


@pytest.mark.parametrize("workers_write", [False, True], ids=["driver-writes", "workers-write"])
def test_cancel_stops_the_job_and_keeps_what_is_listed(
    local_ray: None, model: Path, tmp_path: Path, workers_write: bool
) -> None:
    src = _inputs(tmp_path / "in", 24)
    token = CancelToken()

    def on_item(item: BatchItem) -> None:
        if item.index == 3:
            token.cancel()

    pred = Predictor.from_checkpoint(model, device="cpu", fast_path="fp32")
    out = tmp_path / "out"
    source = _source(model, files=2, write=(out, ("tiff",)) if workers_write else None)
    summary = run_batch(
        [src], pred, out, formats=("tiff",), source=source, cancel=token, on_item=on_item
    )
    assert summary.cancelled and summary.n_done == 4
    rows = read_summary(out / "summary.csv")
    listed = {name for r in rows for name in r["outputs"].split(";")}
    if workers_write:  # the actors were ahead: what they wrote for unrecorded inputs is gone
        assert source.unrecorded(), "the actors were not ahead: no clean-up was tested"
    assert {p.name for p in out.glob("*.tif")} == listed
    assert source._thread is not None and not source._thread.is_alive()  # the dataset stopped
    assert ray.is_initialized()  # a Ray it did not start is left running


@pytest.mark.slow
def test_ctrl_c_cancels_an_embedded_ray_job(model: Path, tmp_path: Path) -> None:
    """A real SIGINT to the process group of ``semdepth predict --engine ray`` (its own
    embedded Ray beside the module's): exit 130, the rows so far, nothing beyond them."""
    from tests.core.batch.faults import cli

    src = tmp_path / "in"
    for i in range(400):
        png(src / f"c{i:03d}.png", seed=i)
    out = tmp_path / "out"
    args = [str(src), "--out", str(out), "--model", str(model), "--fast-path", "fp32"]
    args += ["--engine", "ray", "--workers", "2", "--batch-files", "2", "--cpus-per-worker", "1"]
    # its own process group, signalled whole: what Ctrl+C in a terminal does
    proc = cli(["predict", *args, "-q"], start_new_session=True, cwd=tmp_path)
    wait_for_items(proc, out, 3, timeout=300, poll=0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "cancelling" in err
    rows = read_summary(out / "summary.csv")
    assert 3 <= len(rows) < 400
    listed = {name for r in rows for name in r["outputs"].split(";") if name}
    written = {p.name for p in out.iterdir() if p.name.startswith("c")}
    assert written == listed and not temp_files(out)
