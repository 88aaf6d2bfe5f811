"""Faults without tracebacks, each reproduced for real where this machine allows (a tiny
tmpfs, a read-only mount, a folder nobody may read, real signals to a real subprocess) and
by an injected ``OSError`` from the real write call everywhere:

- ``--out`` a file, unwritable, or on a full disk: refused up front, exit 2, before the
  model is loaded;
- a write error mid-run: that input fails with the path and the OS reason, its partial
  outputs are removed, the summary is flushed and the batch goes on, or stops cleanly
  when the summary itself cannot be written;
- SIGTERM like Ctrl+C: the summary is flushed, exit 143 (130 for SIGINT);
- unreadable sub-folders and symlink loops are failed rows; symlinked folders are
  followed once.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
from pathlib import Path

import pytest

from core.batch import OutputFolderError, read_summary, run_batch, scan_inputs
from core.cli import main
from tests.core.batch.faults import (
    IS_ROOT,
    cli,
    fill,
    open_tree,
    run_unprivileged,
    tmpfs,
)
from tests.core.batch.helpers import png, temp_files, wait_for_items
from tests.core.inference.helpers import Times255, predictor_for


def _predict(args: list[str], model: Path) -> int:
    return main(["predict", *args, "--model", str(model), "--no-tta", "-q"])


def _complete_or_absent(out: Path, rows: list[dict[str, str]]) -> None:
    """Every done row has all its files, every other row none (no orphans)."""
    from core.conventions import OUTPUT_SUFFIXES

    for r in rows:
        stem = Path(r["file"]).stem
        files = [stem + s for s in OUTPUT_SUFFIXES.values() if (out / (stem + s)).exists()]
        if r["status"] == "done":
            assert sorted(files) == sorted(r["outputs"].split(";"))
        else:
            assert files == [], f"orphan outputs of a {r['status']} row: {files}"


# ----------------------------------------------------------------------------- up front
def test_out_is_a_file_exit_2_before_the_model_loads(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = png(tmp_path / "a.png")
    out = tmp_path / "out.txt"
    out.write_text("a file")
    assert _predict([str(f), "--out", str(out)], tiny_checkpoint) == 2
    err = capsys.readouterr().err
    assert err == f"semdepth predict: --out {out}: is a file, not a folder\n"  # one line
    with pytest.raises(OutputFolderError, match="is a file, not a folder"):
        run_batch([f], predictor_for(Times255()), out)


def test_unwritable_out_injected(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The probe write fails as a read-only or permission-less folder makes it fail."""
    import builtins

    import core.batch.folder as folder_mod

    real_open = builtins.open

    def deny(file, mode="r", *a, **kw):  # type: ignore[no-untyped-def]
        if "semdepth-probe" in str(file) and "w" in mode:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(folder_mod, "open", deny, raising=False)
    f = png(tmp_path / "a.png")
    assert _predict([str(f), "--out", str(tmp_path / "out")], tiny_checkpoint) == 2
    err = capsys.readouterr().err
    assert "cannot write into the folder (Permission denied)" in err and "model tiny" not in err


def test_unwritable_out_for_real(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    f = png(tmp_path / "a.png")
    if IS_ROOT:  # chmod does not stop root: a read-only mount does
        with tmpfs(64, read_only=True) as ro:
            assert _predict([str(f), "--out", str(ro / "out")], tiny_checkpoint) == 2
            assert "Read-only file system" in capsys.readouterr().err
            code = _predict([str(f), "--out", str(ro)], tiny_checkpoint)
            assert code == 2 and "cannot write into the folder" in capsys.readouterr().err
        return
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert _predict([str(f), "--out", str(out)], tiny_checkpoint) == 2
        assert "cannot write into the folder (Permission denied)" in capsys.readouterr().err
    finally:
        out.chmod(0o755)


def test_full_disk_refused_up_front(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    f = png(tmp_path / "a.png")
    with tmpfs(256) as fs:
        fill(fs)
        assert _predict([str(f), "--out", str(fs / "out")], tiny_checkpoint) == 2
        err = capsys.readouterr().err
        assert "No space left on device" in err and "model tiny" not in err


def test_little_space_refused_up_front_injected(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import core.batch.folder as folder_mod

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(folder_mod.shutil, "disk_usage", lambda p: usage._replace(free=10_000))
    f = png(tmp_path / "a.png", shape=(512, 512))
    assert _predict([str(f), "--out", str(tmp_path / "out")], tiny_checkpoint) == 2
    err = capsys.readouterr().err
    assert "No space left on device: 0.0 MB free, the outputs of one input need about" in err


# ----------------------------------------------------------------------------- mid-run
def test_a_full_disk_mid_run_for_real(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    files = [png(tmp_path / "in" / f"f{i}.png", seed=i, shape=(96, 96)) for i in range(12)]
    with tmpfs(400) as fs:
        out = fs / "out"
        code = _predict(
            [str(tmp_path / "in"), "--out", str(out), "--format", "tiff,csv"], tiny_checkpoint
        )
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        assert "No space left on device" in err
        assert not temp_files(out)
        rows = read_summary(out / "summary.csv") if (out / "summary.csv").is_file() else []
        failed = [r for r in rows if r["status"] == "failed"]
        for r in failed:
            assert (
                f"{out}/" in r["error"] and "cannot write (No space left on device)" in r["error"]
            )
        _complete_or_absent(out, rows)
        assert len(rows) <= len(files)


def test_a_write_error_mid_run_injected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC from the real write of the second input's CSV: that input fails with its
    path and the reason, its TIFFs are removed again, the next input is done."""
    import core.io.writers as writers_mod

    files = [png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(3)]
    real_write = writers_mod.write_matrix

    def write_matrix(fh, *a, **kw):  # type: ignore[no-untyped-def]
        if "f1_depth.csv" in str(getattr(fh, "name", "")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fh, *a, **kw)

    monkeypatch.setattr(writers_mod, "write_matrix", write_matrix)
    out = tmp_path / "out"
    s = run_batch(files, predictor_for(Times255()), out, formats=("tiff", "csv"), tta=False)
    assert [i.status for i in s.items] == ["done", "failed", "done"] and s.stopped is None
    assert s.items[1].error == f"{out / 'f1_depth.csv'}: cannot write (No space left on device)"
    rows = read_summary(out / "summary.csv")
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    _complete_or_absent(out, rows)
    assert not temp_files(out)


def test_a_summary_that_cannot_be_written_stops_the_batch_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.batch.summary import SummaryWriter

    files = [png(tmp_path / "in" / f"f{i}.png", seed=i) for i in range(4)]
    real_write = SummaryWriter._write
    calls = {"n": 0}

    def write(self, path, *, overwrite):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1:  # the header is written, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, path, overwrite=overwrite)

    monkeypatch.setattr(SummaryWriter, "_write", write)
    monkeypatch.setattr(
        SummaryWriter, "add", lambda self, item: (self.rows.append([]), self.flush())
    )
    s = run_batch(files, predictor_for(Times255()), tmp_path / "out", formats=("tiff",), tta=False)
    assert s.stopped is not None and "No space left on device" in s.stopped
    assert len(s.items) == 1  # the first input is done, the others never tried


# ----------------------------------------------------------------------------- signals
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_flushes_the_summary(
    tmp_path: Path, tiny_checkpoint: Path, sig: int, code: int
) -> None:
    for i in range(40):
        png(tmp_path / "in" / f"f{i:03d}.png", seed=i)
    out = tmp_path / "out"
    args = f"predict {tmp_path / 'in'} --out {out} --model {tiny_checkpoint}".split()
    proc = cli([*args, "--format", "tiff,png", "--no-tta", "-q"])
    wait_for_items(proc, out, 2, timeout=60, poll=0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "cancelled; summary: " in err
    rows = read_summary(out / "summary.csv")
    assert 2 <= len(rows) < 40
    assert all(r["status"] == "done" for r in rows[:-1]) and rows[-1]["status"] in (
        "done",
        "cancelled",
    )
    _complete_or_absent(out, rows)
    assert not temp_files(out)


# ----------------------------------------------------------------------------- input folders
def test_symlinked_folders_followed_once_and_loops_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    a = png(root / "a" / "x.png")
    png(tmp_path / "elsewhere" / "y.png")
    (root / "link_out").symlink_to(tmp_path / "elsewhere")  # followed
    (root / "a" / "again").symlink_to(root / "a")  # a loop
    (root / "twice").symlink_to(tmp_path / "elsewhere")  # the same folder again: once
    paths, problems = scan_inputs([root])
    assert paths == [a, root / "a" / "again", root / "link_out" / "y.png"]
    assert problems == {
        root / "a" / "again": f"{root / 'a' / 'again'}: symlink loop (leads back to "
        f"{root / 'a'}); not followed"
    }
    s = run_batch([root], predictor_for(Times255()), tmp_path / "out", formats=("tiff",), tta=False)
    assert [(i.source.name, i.status) for i in s.items] == [
        ("x.png", "done"),
        ("again", "failed"),
        ("y.png", "done"),
    ]
    assert "symlink loop" in (s.items[1].error or "")


def test_unreadable_sub_folder_is_a_failed_row_injected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.batch.inputs as inputs_mod

    root = tmp_path / "data"
    png(root / "ok" / "a.png")
    png(root / "secret" / "b.png")
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if Path(path).name == "secret":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(inputs_mod.os, "scandir", scandir)
    s = run_batch([root], predictor_for(Times255()), tmp_path / "out", formats=("tiff",), tta=False)
    assert [(i.source.name, i.status) for i in s.items] == [("a.png", "done"), ("secret", "failed")]
    assert s.items[1].error == f"{root / 'secret'}: cannot list the folder (Permission denied)"
    rows = read_summary(tmp_path / "out" / "summary.csv")
    assert rows[1]["status"] == "failed" and "cannot list the folder" in rows[1]["error"]


def test_unreadable_sub_folder_for_real() -> None:
    """chmod 000, scanned by a user for whom it holds (root: as nobody)."""
    base = open_tree()
    try:
        png(base / "ok" / "a.png")
        png(base / "secret" / "b.png")
        for d in (base / "ok",):
            d.chmod(0o755)
        (base / "secret").chmod(0o000)
        done = run_unprivileged(
            f"print(repr(scan_inputs([{str(base)!r}])[1]))", "from core.batch import scan_inputs"
        )
        assert done.returncode == 0, done.stderr
        assert "secret: cannot list the folder (Permission denied)" in done.stdout
    finally:
        (base / "secret").chmod(0o755)
        shutil.rmtree(base)
