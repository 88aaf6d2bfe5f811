"""Resumable batches: the manifest, --resume after a kill, other settings refused, the lock
between two processes, and the exact messages (CLI flags, never Python arguments)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.batch import (
    MANIFEST_NAME,
    FolderBusyError,
    FolderLock,
    OutputFolderError,
    read_manifest,
    read_summary,
    run_batch,
)
from core.cli import main
from tests.core.batch.faults import REPO
from tests.core.batch.helpers import png, temp_files
from tests.core.inference.helpers import Times255, predictor_for

FORMATS = ("tiff", "csv")


def _batch(files: list[Path], out: Path, **kw):  # type: ignore[no-untyped-def]
    return run_batch(files, predictor_for(Times255()), out, formats=FORMATS, tta=False, **kw)


def _simulate_kill(out: Path, keep: int) -> None:
    """Leave ``out`` as a SIGKILL would: the manifest ends after ``keep`` items with a
    torn line, the input being written has an incomplete set (2 of its 3 files) and a
    0-byte temporary file, the next one nothing."""
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    items = [ln for ln in lines if json.loads(ln)["event"] == "item"]
    head = [ln for ln in lines if json.loads(ln)["event"] == "run"]
    torn = items[keep][: len(items[keep]) // 2]  # a line cut by the kill
    (out / MANIFEST_NAME).write_text("\n".join(head + items[:keep] + [torn]))
    (out / "f1_depth.csv").unlink()  # an incomplete set of the input being written
    (out / ".f1_depth.csv.0badc0de.tmp").write_bytes(b"")
    (out / ".f1_depth_below_top.tif.0badc0de.tmp").write_bytes(b"")  # a trust output's temp
    (out / "f2_depth.tif").unlink()
    (out / "f2_uncertainty.tif").unlink()
    (out / "f2_depth.csv").unlink()


def test_resume_skips_complete_sets_and_finishes_the_rest(tmp_path: Path) -> None:
    files = [png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(3)]
    out = tmp_path / "out"
    assert _batch(files, out).n_done == 3
    _simulate_kill(out, keep=1)
    first = (out / "f0_depth.tif").stat().st_mtime_ns
    unrelated = out / ".notes.txt.0badc0de.tmp"  # not ours: left alone
    unrelated.write_bytes(b"")
    resumed = _batch(files, out, resume=True)
    assert (resumed.n_done, resumed.n_failed, resumed.n_resumed) == (3, 0, 1)
    assert [i.resumed for i in resumed.items] == [True, False, False]
    assert (out / "f0_depth.tif").stat().st_mtime_ns == first  # not predicted again
    for i in range(3):
        for suffix in ("_depth.tif", "_uncertainty.tif", "_depth.csv"):
            assert (out / f"f{i}{suffix}").is_file()
    assert not (out / ".f1_depth.csv.0badc0de.tmp").exists()  # our stale temp: removed
    assert not (out / ".f1_depth_below_top.tif.0badc0de.tmp").exists()
    assert unrelated.exists()
    rows = read_summary(out / "summary.csv")
    assert [r["status"] for r in rows] == ["done"] * 3 and rows[0]["outputs"]
    assert not list(out.glob("summary_*.csv"))
    state = read_manifest(out / MANIFEST_NAME)
    assert state is not None and state.runs == 2 and len(state.complete(out)) == 3


def test_resume_on_an_empty_folder_is_a_fresh_run(tmp_path: Path) -> None:
    f = png(tmp_path / "a.png")
    summary = _batch([f], tmp_path / "out", resume=True)
    assert summary.n_done == 1 and summary.n_resumed == 0


def test_a_failed_input_is_retried_on_resume(tmp_path: Path) -> None:
    good = png(tmp_path / "in" / "a.png")
    bad = tmp_path / "in" / "b.png"
    bad.write_bytes(b"not yet")
    out = tmp_path / "out"
    assert _batch([good, bad], out).n_failed == 1
    png(bad, seed=3)  # fixed since
    again = _batch([good, bad], out, resume=True)
    assert (again.n_done, again.n_failed, again.n_resumed) == (2, 0, 1)


def test_other_settings_are_refused_unless_overwrite(tmp_path: Path) -> None:
    f = png(tmp_path / "a.png")
    out = tmp_path / "out"
    _batch([f], out)
    other = predictor_for(Times255(), id="another-model")  # another card: another hash
    with pytest.raises(OutputFolderError) as info:
        run_batch([f], other, out, formats=FORMATS, tta=False, resume=True)
    msg = str(info.value)
    assert "the earlier run used other settings (model_sha256:" in msg
    assert "pass --overwrite to replace its outputs, or choose another --out" in msg
    assert "overwrite=" not in msg
    with pytest.raises(OutputFolderError, match=r"tta: true -> false|formats: "):
        run_batch([f], predictor_for(Times255()), out, formats=("tiff",), tta=False, resume=True)
    replaced = run_batch([f], other, out, formats=FORMATS, tta=False, overwrite=True)
    assert replaced.n_done == 1
    state = read_manifest(out / MANIFEST_NAME)
    assert state is not None and state.runs == 1  # a new manifest


# ----------------------------------------------------------------------------- the lock
_HOLD = """
import sys, time
from core.batch import FolderLock
lock = FolderLock(sys.argv[1], command="semdepth predict in/ --out out").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _holder(folder: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_naming_the_first(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = png(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    proc = _holder(out)
    try:
        with pytest.raises(FolderBusyError) as info:
            _batch([f], out)
        msg = str(info.value)
        assert f"is in use by another semdepth run (pid {proc.pid} on host " in msg
        assert socket.gethostname() in msg and ", started 20" in msg
        assert "(semdepth predict in/ --out out)" in msg
        code = main(["predict", str(f), "--out", str(out), "--model", str(tiny_checkpoint), "-q"])
        assert code == 2
        err = capsys.readouterr().err
        assert f"pid {proc.pid}" in err and "model tiny" not in err  # refused before loading
        assert sorted(p.name for p in out.iterdir()) == ["semdepth.lock"]
    finally:
        proc.kill()
        proc.wait()
    # the OS dropped the lock with the killed process: its stale file is taken over
    assert (out / "semdepth.lock").exists()
    assert _batch([f], out).n_done == 1
    assert not (out / "semdepth.lock").exists()


def test_two_locks_in_one_process_conflict_too(tmp_path: Path) -> None:
    busy = pytest.raises(FolderBusyError, match=rf"pid {os.getpid()} .*\(first\)")
    with FolderLock(tmp_path, command="first"), busy:
        FolderLock(tmp_path).acquire()
    FolderLock(tmp_path).acquire().release()


# ----------------------------------------------------------------------------- scripts/run.sh
def test_run_sh_twice_resumes(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """What ``scripts/run.sh`` runs without a display, twice: the second run keeps the
    complete outputs (``--resume``), exits 0 and leaves no summary_2.csv."""
    out = tmp_path / "semdepth-output"
    argv = ["predict", "--samples", "--out", str(out), "--format", "tiff,csv,png", "--resume"]
    argv += ["--model", str(tiny_checkpoint), "--no-tta", "-q"]
    assert main(argv) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix != ".csv"}
    t0 = time.perf_counter()
    assert main(argv) == 0
    assert time.perf_counter() - t0 < 30
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix != ".csv"}
    assert {k: v for k, v in after.items() if k != MANIFEST_NAME} == {
        k: v for k, v in before.items() if k != MANIFEST_NAME
    }
    assert not list(out.glob("summary_*.csv")) and not temp_files(out)
    script = (REPO / "scripts" / "run.sh").read_text()
    assert "--resume" in script


def test_sigkill_mid_run_then_resume_completes(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """A real SIGKILL while a batch writes, then ``--resume``: every input ends with a
    complete set, nothing is predicted twice that was complete, no temporary file stays."""
    from tests.core.batch.faults import cli

    files = [png(tmp_path / "in" / f"f{i:03d}.png", seed=i) for i in range(40)]
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "--out", str(out), "--model", str(tiny_checkpoint)]
    args += ["--format", "tiff,png", "--no-tta", "-q"]
    proc = cli(["predict", *args])
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and manifest.read_text().count('"event": "item"') >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the batch ended before it could be killed"
    code = main(["predict", *args, "--resume"])
    assert code == 0
    rows = read_summary(out / "summary.csv")
    assert len(rows) == len(files) and all(r["status"] == "done" for r in rows)
    for f in files:
        for suffix in ("_depth.tif", "_uncertainty.tif", "_depth.png"):
            assert (out / f"{f.stem}{suffix}").is_file()
    assert not temp_files(out)
