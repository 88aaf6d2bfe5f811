"""Resampling to the model's pixel size and back: :func:`rescale` brings the image to the
factor the scale policy chose (:mod:`core.inference.scale`; anti-aliased when shrinking),
:func:`back_to_grid` brings the predicted maps back to the image's own grid.
"""

from __future__ import annotations

import numpy as np


def rescale(a: np.ndarray, scale: float) -> np.ndarray:
    """``a`` scaled by ``scale`` (bilinear, anti-aliased when shrinking), float32; ``a``
    itself when ``scale`` is 1."""
    if scale == 1.0:
        return a
    from skimage.transform import rescale as sk_rescale

    out = sk_rescale(
        a, scale, order=1, anti_aliasing=scale < 1.0, preserve_range=True, mode="reflect"
    )
    return np.asarray(out, dtype=np.float32)


def resize_to(a: np.ndarray, shape: tuple[int, ...], *, down: bool) -> np.ndarray:
    """``a`` resized to ``shape[:2]`` (bilinear; anti-aliased when ``down``), float32."""
    from skimage.transform import resize

    out = resize(a, shape[:2], order=1, anti_aliasing=down, preserve_range=True, mode="reflect")
    return np.asarray(out, dtype=np.float32)


def back_to_grid(
    depth: np.ndarray, unc: np.ndarray, shape: tuple[int, ...], scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Depth and uncertainty maps predicted at ``scale`` brought back to ``shape``."""
    if scale == 1.0:
        return depth, unc
    down = scale > 1.0
    return resize_to(depth, shape, down=down), resize_to(unc, shape, down=down)
