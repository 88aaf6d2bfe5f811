"""Geometric augmentation applied identically to a SEM image and its depth map.

Only flips: 72x48 crops are not square, so 90-degree rotations would change the shape, and
resampling would blur the 8-bit depth steps. A horizontal flip reverses columns (x), a
vertical flip reverses rows (y); both together are a 180-degree rotation.
"""

from __future__ import annotations

import numpy as np
import torch


def flip_pair(
    sem: np.ndarray, depth: np.ndarray | None, *, hflip: bool, vflip: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Flip ``sem`` and ``depth`` (arrays ``(..., rows, cols)``) the same way; views, no copy."""
    if depth is not None and sem.shape[-2:] != depth.shape[-2:]:
        raise ValueError(f"SEM {sem.shape[-2:]} and depth {depth.shape[-2:]} differ in shape")
    if hflip:
        sem = sem[..., :, ::-1]
        depth = None if depth is None else depth[..., :, ::-1]
    if vflip:
        sem = sem[..., ::-1, :]
        depth = None if depth is None else depth[..., ::-1, :]
    return sem, depth


def random_flips(generator: torch.Generator | None = None) -> tuple[bool, bool]:
    """Two fair coins ``(hflip, vflip)`` from torch's RNG (seeded per DataLoader worker)."""
    bits = torch.randint(0, 2, (2,), generator=generator)
    return bool(bits[0]), bool(bits[1])


def random_flip_pair(
    sem: np.ndarray, depth: np.ndarray | None, generator: torch.Generator | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`flip_pair` with random flips drawn by :func:`random_flips`."""
    hflip, vflip = random_flips(generator)
    return flip_pair(sem, depth, hflip=hflip, vflip=vflip)


def flip_batch(
    sem: torch.Tensor,
    depth: torch.Tensor | None,
    hflip: torch.Tensor,
    vflip: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-sample flips of batches ``(N, C, rows, cols)``: sample ``i`` is flipped left-right
    where ``hflip[i]`` and up-down where ``vflip[i]`` (bool tensors of length N)."""

    def apply(x: torch.Tensor) -> torch.Tensor:
        x = torch.where(hflip.view(-1, 1, 1, 1), x.flip(-1), x)
        return torch.where(vflip.view(-1, 1, 1, 1), x.flip(-2), x)

    return apply(sem), None if depth is None else apply(depth)
