"""Pixel conversions shared by the readers and :class:`~core.io.image.SemImage`: colour
and palette images to one gray channel.

RGB/RGBA use ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B, the weights Pillow's
``convert("L")`` uses), alpha ignored; equal-channel RGB keeps the channel values exactly.
Palette images use the palette's luminance unless the palette is a plain gray ramp (then
the indices). numpy only: no file access, no other ``core.io`` module.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LUMA_601", "palette_to_gray", "rgb_to_gray"]

LUMA_601 = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights used for RGB -> gray."""


def rgb_to_gray(arr: np.ndarray) -> tuple[np.ndarray, str]:
    """(rows, cols, 3|4) -> float32 gray: the channel itself if R == G == B, else BT.601 luma."""
    rgb = arr[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return r.astype(np.float32), "RGB with equal channels: channel values"
    wr, wg, wb = LUMA_601
    gray = (
        np.float32(wr) * r.astype(np.float32)
        + np.float32(wg) * g.astype(np.float32)
        + np.float32(wb) * b.astype(np.float32)
    )
    return gray.astype(np.float32), "RGB luma ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B)"


def palette_to_gray(
    indices: np.ndarray, colormap: np.ndarray, bit_depth: int
) -> tuple[np.ndarray, str]:
    """Palette image -> gray: the indices if the palette is a plain gray ramp, else luminance.

    ``colormap`` is (3, n) in 0..65535 (TIFF) units; the luminance is scaled to the
    index range (0..2**bit_depth - 1) so the values stay in the original dtype's range.
    """
    top = float(2**bit_depth - 1)
    n = colormap.shape[1]
    cm = colormap / 65535.0 * top
    ramp = np.arange(n, dtype=np.float64)
    gray_entries = np.array_equal(colormap[0], colormap[1]) and np.array_equal(
        colormap[1], colormap[2]
    )
    if gray_entries and np.all(np.abs(cm[0] - ramp) <= 1.0):
        return indices.astype(np.float32), "palette is a gray ramp: indices"
    wr, wg, wb = LUMA_601
    lut = (wr * cm[0] + wg * cm[1] + wb * cm[2]).astype(np.float32)
    idx = np.clip(indices.astype(np.int64), 0, n - 1)
    return lut[idx], "palette luminance ITU-R BT.601"
