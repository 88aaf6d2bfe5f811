"""The local top surface and depth below it: flat and tilted tops, holes excluded, units."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrology.surface import depth_below_top, depth_unit, estimate_top


def _disk_map(top: float = 160.0, depth: float = 80.0, shape=(72, 48), r: float = 12.0):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    hole = np.hypot(yy - 35.5, xx - 23.5) < r
    return np.where(hole, top - depth, top).astype(np.float32), hole


def test_crop_top_is_the_plateau_level_and_the_hole_is_excluded() -> None:
    height, hole = _disk_map()
    top = estimate_top(height)
    np.testing.assert_allclose(top.level, 160.0)
    assert not np.any(top.mask & hole)  # hole pixels (grown by the rim) are not top
    dbt = depth_below_top(height)
    assert dbt.du[hole].min() == pytest.approx(80.0)
    assert dbt.du[~hole].max() == pytest.approx(0.0)


def test_field_top_follows_a_tilted_surface_between_holes() -> None:
    rows, cols = 200, 300
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    plane = 150.0 + 0.02 * xx + 0.01 * yy
    height = plane.copy()
    for r in range(36, rows, 72):
        for c in range(24, cols, 48):
            height[np.hypot(yy - r, xx - c) < 10] -= 60.0
    top = estimate_top(height, smooth_px=24.0)
    away = top.mask
    interior = (yy > 30) & (yy < rows - 30) & (xx > 30) & (xx < cols - 30)
    # between holes the estimate follows the plane within 0.3 DU
    assert np.max(np.abs(top.level - plane)[away & interior]) < 0.3
    # one level for the whole image would be off by up to the tilt (9 DU end to end)
    flat = estimate_top(height)
    assert np.max(np.abs(flat.level - plane)) > 3.0


def test_noise_raises_the_threshold() -> None:
    rng = np.random.default_rng(0)
    height, _ = _disk_map()
    noisy = height + rng.normal(0, 1.0, height.shape).astype(np.float32)
    top = estimate_top(noisy)
    assert top.delta > 3.0  # 4 x the pixel noise (about 0.8 after the 1-px residual)
    assert abs(float(top.level[0, 0]) - 160.0) < 0.2


@pytest.mark.parametrize(
    ("nm", "px", "model_px", "scale", "unit", "why"),
    [
        (0.5, 2.0, 2.0, 1.0, "nm", "0.5 nm per DU"),
        (0.5, 4.0, 2.0, 2.0, "nm", "0.5 nm per DU"),  # resampled to the model's scale
        (None, 2.0, 2.0, 1.0, "DU", "no nm per depth unit"),
        (0.5, None, 2.0, 1.0, "DU", "pixel size is unknown"),
        (0.5, 270.0, 2.0, 1.0, "DU", "135x the model's pixel size"),
    ],
)
def test_depth_unit(nm, px, model_px, scale, unit, why) -> None:
    factor, got, note = depth_unit(nm, px, model_px, scale)
    assert got == unit and why in note
    assert (factor is None) == (unit == "DU")


def test_values_and_sigma_in_nm() -> None:
    height, hole = _disk_map()
    dbt = depth_below_top(height, nm_per_du=0.5, pixel_size_nm=2.0, model_pixel_size_nm=2.0)
    assert dbt.unit == "nm"
    assert dbt.values[hole].max() == pytest.approx(40.0)
    assert dbt.sigma is None
    dbt.sigma_du = np.full(height.shape, 2.0, np.float32)
    np.testing.assert_allclose(dbt.sigma, 1.0)
