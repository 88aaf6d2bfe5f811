"""Augmentation: flips applied identically to a SEM image and its depth map, and random
detector changes of the SEM image alone (:func:`jitter_intensity`).

Geometry, only flips: 72x48 crops are not square, so 90-degree rotations would change the shape, and
resampling would blur the 8-bit depth steps. A horizontal flip reverses columns (x), a
vertical flip reverses rows (y); both together are a 180-degree rotation.
"""

from __future__ import annotations

import math

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


#: Ranges of :func:`jitter_intensity`, drawn uniformly per image (gamma log-uniformly).
INTENSITY_RANGES: dict[str, tuple[float, float]] = {
    "gamma": (0.6, 1.6),
    "gain": (0.7, 1.3),
    "offset": (-0.1, 0.1),
    "noise_std": (0.0, 0.03),
    "blur_sigma_px": (0.3, 1.2),
}
BLUR_PROBABILITY = 0.3
_BLUR_RADIUS = 3


def _blur_rows_cols(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of ``x`` (N, 1, H, W), image ``i`` with ``sigma[i]`` px
    (0: unchanged), borders replicated."""
    n = x.shape[0]
    r = _BLUR_RADIUS
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    s = sigma.to(x.dtype).clamp_min(1e-3).view(n, 1)
    k = torch.exp(-0.5 * (t.view(1, -1) / s) ** 2)
    k = torch.where(sigma.view(n, 1) > 0, k, (t.view(1, -1) == 0).to(x.dtype))
    k = k / k.sum(dim=1, keepdim=True)
    y = x.reshape(1, n, *x.shape[-2:])
    y = torch.nn.functional.pad(y, (r, r, r, r), mode="replicate")
    y = torch.nn.functional.conv2d(y, k.view(n, 1, 1, -1), groups=n)
    y = torch.nn.functional.conv2d(y, k.view(n, 1, -1, 1), groups=n)
    return y.reshape(x.shape)


def jitter_intensity(sem: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random detector changes of a batch of 0..1 SEM images ``(N, 1, H, W)``, per image:
    a gamma, a gain and a black-level offset, a Gaussian blur (probe size) with probability
    :data:`BLUR_PROBABILITY`, additive Gaussian noise, then a clip to 0..1 (saturation).
    Ranges in :data:`INTENSITY_RANGES`. Depth maps are unchanged: none of these moves a
    pixel, so the detector geometry (which side is lit) is kept."""
    n = sem.shape[0]
    u = torch.rand(n, 6, generator=generator).to(sem.device, sem.dtype)

    def draw(name: str, col: int) -> torch.Tensor:
        lo, hi = INTENSITY_RANGES[name]
        return (lo + (hi - lo) * u[:, col]).view(n, 1, 1, 1)

    g_lo, g_hi = INTENSITY_RANGES["gamma"]
    gamma = torch.exp(math.log(g_lo) + (math.log(g_hi) - math.log(g_lo)) * u[:, 0]).view(n, 1, 1, 1)
    x = sem.clamp(0.0, 1.0) ** gamma * draw("gain", 1) + draw("offset", 2)
    blur = torch.where(u[:, 4] < BLUR_PROBABILITY, draw("blur_sigma_px", 5).view(n), 0.0)
    if bool((blur > 0).any()):
        x = _blur_rows_cols(x, blur)
    noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
    x = x + draw("noise_std", 3) * noise
    return x.clamp(0.0, 1.0)
