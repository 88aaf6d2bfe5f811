"""Draw the application icon ``resources/icons/semdepth.png`` (256 x 256 RGBA) with numpy.

A rounded tile showing one etched hole: left half as an SEM image (grey, bright rim,
dark bottom), right half as its depth map (viridis-like colours). Run from the repo root:
``python scripts/make_icon.py [--out PATH] [--size N]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

# viridis sampled at 6 points (0 = deep, 1 = top surface)
_VIRIDIS = np.array(
    [
        [68, 1, 84],
        [65, 68, 135],
        [42, 120, 142],
        [34, 168, 132],
        [122, 209, 81],
        [253, 231, 37],
    ],
    dtype=np.float64,
)


def _viridis(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    i = np.minimum(np.floor(t).astype(int), len(_VIRIDIS) - 2)
    f = (t - i)[..., None]
    return _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f


def draw_icon(size: int = 256) -> np.ndarray:
    """The icon as an (size, size, 4) uint8 RGBA array."""
    s = float(size)
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / s  # 0..1
    r = np.hypot(xx - 0.5, yy - 0.5) / 0.30  # hole radius 0.30 of the tile
    # depth: flat top (1.0), a bowl going down to 0.05 at the centre
    depth = np.where(r < 1.0, 0.05 + 0.95 * r**2, 1.0)
    # SEM: bright rim at the edge, darker with depth
    rim = np.exp(-(((r - 1.0) / 0.08) ** 2))
    sem = 0.55 + 0.35 * rim + 0.10 * (depth - 1.0) * 6 * (r < 1.0)
    sem = np.clip(sem, 0.0, 1.0)
    rgb = np.where(
        (xx < 0.5)[..., None],
        np.repeat(sem[..., None] * 255.0, 3, axis=-1),
        _viridis(depth),
    )
    # a thin white divider
    divider = np.abs(xx - 0.5) < 1.2 / s
    rgb[divider] = 255.0
    # rounded-square alpha mask with anti-aliased edge
    margin, radius = 0.04, 0.16
    qx = np.maximum(np.abs(xx - 0.5) - (0.5 - margin - radius), 0.0)
    qy = np.maximum(np.abs(yy - 0.5) - (0.5 - margin - radius), 0.0)
    dist = np.hypot(qx, qy) - radius
    alpha = np.clip(0.5 - dist * s, 0.0, 1.0)
    out = np.dstack([rgb, alpha * 255.0])
    return np.round(out).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=repo / "resources" / "icons" / "semdepth.png")
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw_icon(args.size), "RGBA").save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
