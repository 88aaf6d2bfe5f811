"""One batch per output folder: :class:`FolderLock` on ``<folder>/semdepth.lock``.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) held on the
lock file for the whole run; the file says who holds it (pid, host, start time, command),
so a second run refuses with a message that names the other process. The OS drops the
lock when its process dies, even by SIGKILL, so a stale lock file never blocks a later
run: it is simply taken over.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

LOCK_NAME = "semdepth.lock"


class FolderBusyError(RuntimeError):
    """Another run holds the folder's lock; ``holder`` is what its lock file says."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host x, started 2026-11-30 20:41:07 (semdepth predict ...)``."""
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("started"):
        text += f", started {holder['started']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


class FolderLock:
    """``with FolderLock(folder): ...`` holds ``folder/semdepth.lock`` or raises
    :class:`FolderBusyError` naming the process that does."""

    def __init__(self, folder: str | os.PathLike[str], command: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command if command is not None else " ".join(sys.argv)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock (OSError when the lock file cannot be made)."""
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                holder = self._read(fd)
                os.close(fd)
                raise FolderBusyError(
                    f"{self.folder} is in use by another semdepth run "
                    f"({describe_holder(holder)}); wait for it to finish, or choose "
                    "another --out",
                    holder,
                )
            # the previous holder may have removed the file between our open and lock
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                self._fd = fd
                self._write_holder()
                return self
            os.close(fd)
        raise FolderBusyError(f"{self.folder}: could not take {LOCK_NAME}", {})

    def _read(self, fd: int) -> dict[str, Any]:
        try:
            raw = os.pread(fd, 4096, 0) if hasattr(os, "pread") else self.path.read_bytes()
            data = json.loads(raw.decode("utf-8", "replace") or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_holder(self) -> None:
        assert self._fd is not None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": _dt.datetime.now().astimezone().isoformat(sep=" ", timespec="seconds"),
            "command": self.command,
        }
        data = json.dumps(holder).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)
        with contextlib.suppress(OSError):
            os.fsync(self._fd)

    def release(self) -> None:
        """Remove the lock file and drop the lock (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
