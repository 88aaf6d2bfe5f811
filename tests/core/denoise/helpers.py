"""Tiny synthetic images for the denoiser tests: smooth dark blobs on a grey background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def clean_image(rng: np.random.Generator, size: int = 48) -> np.ndarray:
    r, c = np.mgrid[0:size, 0:size]
    img = np.full((size, size), 0.5)
    for _ in range(3):
        cy, cx = rng.uniform(8, size - 8, 2)
        s = rng.uniform(3, 7)
        img -= 0.35 * np.exp(-((r - cy) ** 2 + (c - cx) ** 2) / (2 * s * s))
    return img.astype(np.float32)


def noisy_set(
    n: int, *, sigma: float = 0.1, seed: int = 0, size: int = 48
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(clean, noisy)`` lists of ``n`` float32 0..1 images with Gaussian noise."""
    rng = np.random.default_rng(seed)
    clean = [clean_image(rng, size) for _ in range(n)]
    noisy = [np.clip(a + rng.normal(0, sigma, a.shape), 0, 1).astype(np.float32) for a in clean]
    return clean, noisy


def write_pngs(folder: Path, images: list[np.ndarray], prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, a in enumerate(images):
        p = folder / f"{prefix}{k:02d}.png"
        Image.fromarray(np.round(a * 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths
