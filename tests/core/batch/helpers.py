"""Small files for the batch tests."""

from __future__ import annotations

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
