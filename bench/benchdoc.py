"""The one way bench scripts write their section of ``docs/benchmarks.md``."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (benches run side by side both rewrite
    docs/benchmarks.md: without it one could drop the other's section)."""
    if os.name != "posix":
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_section(doc: Path, heading: str, body: str) -> None:
    """Replace (or append) the ``heading`` section of ``doc`` with ``body``, atomically;
    every other section stays as it is."""
    from core.io.atomic import atomic_write

    doc.parent.mkdir(parents=True, exist_ok=True)
    with _locked(doc.parent):
        _replace_section(doc, heading, body, atomic_write)


def _replace_section(doc: Path, heading: str, body: str, atomic_write: Any) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{heading}\n\n{body.rstrip()}\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    with atomic_write(doc, overwrite=True) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def publish(heading: str, body: str, *, write: bool, doc: Path | None = None) -> None:
    """Print ``body``; when ``write``, also make it the ``heading`` section of
    ``docs/benchmarks.md`` (or ``doc``) and say so."""
    print(body)
    if write:
        target = doc or Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        update_section(target, heading, body)
        print(f"updated {heading!r} in {target.name}")
