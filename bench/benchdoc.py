"""The one way bench scripts write their section of ``docs/benchmarks.md``."""

from __future__ import annotations

import re
from pathlib import Path


def update_section(doc: Path, heading: str, body: str) -> None:
    """Replace (or append) the ``heading`` section of ``doc`` with ``body``, atomically;
    every other section stays as it is."""
    from core.io.atomic import atomic_write

    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{heading}\n\n{body.rstrip()}\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
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
