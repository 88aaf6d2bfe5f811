"""Real faults for the batch tests: a tiny or read-only file system, a folder nobody may
read, the CLI in a subprocess (for signals and a second process)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(size_kb: int, *, read_only: bool = False) -> Iterator[Path]:
    """A real file system of ``size_kb`` KiB (tmpfs, needs root and ``mount``), removed
    afterwards; the test is skipped where it cannot be made."""
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="semdepth-fs-"))
    opts = f"size={size_kb}k" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(folder: Path) -> None:
    """Write into ``folder`` until its file system is full."""
    fd = os.open(folder / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def open_tree() -> Path:
    """A temporary folder every user may enter (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="semdepth-test-"))
    path.chmod(0o755)
    return path


def run_unprivileged(code: str, preload: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a subprocess as a user for whom permissions hold: as is for
    a normal user; for root, as ``nobody`` after importing ``preload`` (root's Python
    install is not readable by nobody, so what the code needs is imported first)."""
    drop = ""
    if IS_ROOT:
        drop = "import os; os.setgid(65534); os.setuid(65534)\n"
    script = f"{preload}\n{drop}{code}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )


def cli(args: list[str], **kw: object) -> subprocess.Popen[str]:
    """``semdepth ARGS`` in a subprocess (stdout and stderr piped, text)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,  # type: ignore[arg-type]
    )
