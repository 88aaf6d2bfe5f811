"""Matching the model's pixel size: when both the image's pixel size and the card's
``input.pixel_size_nm`` are known and differ by more than 5 %, the image is resampled to
the model's pixel size (anti-aliased when shrinking), predicted, and the maps resampled
back to the image's own grid. Beyond :data:`MAX_RESAMPLE_FACTOR` or
:data:`MAX_RESAMPLED_PIXELS` it is predicted as it is, with a note.
"""

from __future__ import annotations

import numpy as np

# Resampling to the model's pixel size is skipped (with a note) outside these limits.
MAX_RESAMPLE_FACTOR = 8.0
MAX_RESAMPLED_PIXELS = 64_000_000
#: Pixel sizes within this relative difference count as equal (no resampling).
SAME_PIXEL_SIZE = 0.05


def resample_factor(
    image_px_nm: float | None,
    model_px_nm: float | None,
    shape: tuple[int, ...],
    notes: list[str],
) -> float:
    """The scale (> 1: enlarge) that brings an image of ``shape`` and pixel size
    ``image_px_nm`` to the model's ``model_px_nm``; 1.0 when either is unknown, within
    5 %, or beyond the limits (then a note says so and that depths are unreliable)."""
    if not image_px_nm or not model_px_nm:
        return 1.0
    factor = float(image_px_nm) / float(model_px_nm)
    if abs(factor - 1.0) <= SAME_PIXEL_SIZE:
        return 1.0
    new_pixels = shape[0] * shape[1] * factor * factor
    if not (1.0 / MAX_RESAMPLE_FACTOR <= factor <= MAX_RESAMPLE_FACTOR) or (
        new_pixels > MAX_RESAMPLED_PIXELS
    ):
        notes.append(
            f"pixel size {image_px_nm:g} nm is {factor:.3g}x the model's {model_px_nm:g} nm, "
            f"beyond the resampling limit ({1 / MAX_RESAMPLE_FACTOR:g}-"
            f"{MAX_RESAMPLE_FACTOR:g}x, {MAX_RESAMPLED_PIXELS / 1e6:g} Mpx): predicted "
            "at the image's own pixel size; depths are unreliable"
        )
        return 1.0
    return factor


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
