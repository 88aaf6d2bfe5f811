"""Tiny PNG trees for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

H, W = 12, 8  # rows, cols: small and non-square


def save_gray(path: Path, array: np.ndarray, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.asarray(array)
    if mode == "RGB":
        Image.fromarray(np.stack([a.astype(np.uint8)] * 3, axis=-1), "RGB").save(path)
    else:
        Image.fromarray(a.astype(np.uint8), "L").save(path)
    return path


def pattern(seed: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def make_dacon(
    root: Path,
    n_structures: int = 6,
    cases: tuple[str, ...] = ("Case_1", "Case_2", "Case_3", "Case_4"),
    shots: tuple[int, ...] = (0, 1),
) -> Path:
    """``root/simulation_data/{SEM,Depth}/Case_k/<bucket>/...``; structure i in bucket
    80 + i % 2, under every case. Pixel values encode (structure, case, shot) so tests can
    check that pairs line up: depth = 10 * i + case, SEM = depth + shot + 1."""
    sim = root / "simulation_data"
    for i in range(n_structures):
        bucket = str(80 + i % 2)
        for c, case in enumerate(cases, start=1):
            depth = np.full((H, W), 10 * i + c, dtype=np.uint8)
            depth[0, 0] = 200  # a marker pixel, asymmetric
            save_gray(sim / "Depth" / case / bucket / f"struct{i:03d}.png", depth)
            for shot in shots:
                sem = np.full((H, W), 10 * i + c + shot + 1, dtype=np.uint8)
                save_gray(sim / "SEM" / case / bucket / f"struct{i:03d}_itr{shot}.png", sem)
    return root
