"""How a point reference is read from a depth map.

A cross-section, TEM or AFM gives the depth of a hole *below the local top surface*, in
nm, positive down; the depth map is in DU with deeper = smaller and an absolute level (the
top surface at 150-170 DU) that a top-down image cannot reveal. So the map is compared
relative to its own local top:

* **local top** (DU): the :data:`TOP_PERCENTILE` th percentile of the map in the square
  window of half-width ``top_half_px`` centred on the point (clipped to the image), i.e.
  the level of the top surface around the hole (the window is wider than a hole, so most
  of it is top surface; a high percentile ignores the hole itself);
* **point** (DU): the mean of the map over the pixels whose centres lie within
  ``disk_px`` of ``(x, y)`` (the nearest pixel when none does);
* predicted depth below the top, nm: ``(top - point) * nm_per_du``.

:func:`probe_depth_du` does it on a numpy map (the agreement figures); :func:`probe_torch`
the same on a batch of torch maps (the fine-tuning loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

TOP_PERCENTILE = 80.0
DISK_PX = 2.0


@dataclass(frozen=True)
class Probe:
    """Where to read one point of one map: the window's rows/cols (slices) and the disk's
    pixels inside that window (a boolean mask of the window's shape)."""

    rows: slice
    cols: slice
    disk: np.ndarray


def make_probe(
    shape: tuple[int, int], x: float, y: float, *, top_half_px: int, disk_px: float = DISK_PX
) -> Probe:
    """The :class:`Probe` of point ``(x, y)`` (column, row; px) on a map of ``shape``;
    ``ValueError`` when the point lies outside the map."""
    h, w = shape
    if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
        raise ValueError(f"point ({x:g}, {y:g}) is outside the {w}x{h} px image")
    half = max(1, int(top_half_px))
    r0, r1 = max(0, round(y) - half), min(h, round(y) + half + 1)
    c0, c1 = max(0, round(x) - half), min(w, round(x) + half + 1)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    dist = np.hypot(cc - x, rr - y)
    disk = dist <= float(disk_px)
    if not disk.any():
        disk = dist == dist.min()
    return Probe(slice(r0, r1), slice(c0, c1), disk)


def probe_depth_du(depth_map: np.ndarray, probe: Probe) -> float:
    """Predicted depth below the local top (DU, positive down) at ``probe``."""
    window = np.asarray(depth_map, dtype=np.float64)[probe.rows, probe.cols]
    top = float(np.percentile(window, TOP_PERCENTILE))
    return top - float(window[probe.disk].mean())


def probe_torch(depth_maps: torch.Tensor, probes: list[Probe]) -> torch.Tensor:
    """Differentiable :func:`probe_depth_du` for ``depth_maps`` ``(N, 1, H, W)`` (or
    ``(N, H, W)``), one probe per map: ``(N,)`` DU."""
    maps = depth_maps.reshape(depth_maps.shape[0], *depth_maps.shape[-2:])
    out = []
    for m, p in zip(maps, probes, strict=True):
        window = m[p.rows, p.cols]
        top = torch.quantile(window.reshape(-1), TOP_PERCENTILE / 100.0)
        disk = torch.from_numpy(p.disk).to(window.device)
        out.append(top - window[disk].mean())
    return torch.stack(out)


def default_top_half(input_size: tuple[int, int]) -> int:
    """The top window's half-width: half the model input's longer side (36 px for the
    72 x 48 px crops), wide enough to hold top surface around the largest hole the
    simulator draws (80 nm = 40 px across at 2 nm/px)."""
    return max(4, math.ceil(max(input_size) / 2))
