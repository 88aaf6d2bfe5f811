"""Small files for the batch tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image


def png(path: Path, seed: int = 0, shape: tuple[int, int] = (72, 48)) -> Path:
    """A random 8-bit gray PNG at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def temp_files(folder: Path) -> list[Path]:
    """Left-over temporary or hidden files under ``folder`` (an atomic write leaves none)."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


def wait_for_items(
    proc: subprocess.Popen[str], out: Path, n: int, timeout: float, poll: float = 0.05
) -> None:
    """Wait until the running batch ``proc`` has recorded ``n`` inputs in ``out``'s
    manifest (or has ended, or ``timeout`` seconds have passed)."""
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and manifest.read_text().count('"event": "item"') >= n:
            return
        time.sleep(poll)
