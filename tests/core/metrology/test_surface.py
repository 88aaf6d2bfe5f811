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


def test_the_square_dilation_is_scipys() -> None:
    from scipy import ndimage as ndi

    from core.metrology.surface import dilate_square

    rng = np.random.default_rng(5)
    for shape, radius in (((40, 33), 2), ((7, 9), 1), ((25, 25), 3)):
        mask = rng.random(shape) < 0.08
        want = ndi.binary_dilation(mask, structure=np.ones((2 * radius + 1,) * 2, bool))
        assert np.array_equal(dilate_square(mask, radius), want)


def test_the_coarse_top_level_follows_the_full_resolution_one() -> None:
    """A 48 px surface on a tilted, bowed field of holes: the level on the grid of blocks
    is within 0.1 DU of the full-resolution blur's a sigma from the edges (0.25 DU at
    them, where the tilt meets the different extension), and the top pixels are the same."""
    import core.metrology.surface as surface

    rows, cols = 600, 520
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    top = 160.0 + 0.01 * xx + 4e-5 * (yy - 300) ** 2
    depth = top.copy()
    for r in range(30, rows, 60):
        for c in range(30, cols, 60):
            depth[np.hypot(yy - r, xx - c) < 12] -= 80.0
    depth += np.random.default_rng(6).normal(0, 0.3, depth.shape)
    coarse = surface.estimate_top(depth, smooth_px=48.0)
    assert surface._coarse_factor(depth.shape, 48.0) == 12
    original = surface.COARSE_SIGMA_PX
    try:
        surface.COARSE_SIGMA_PX = 1e9  # every blur at full resolution
        exact = surface.estimate_top(depth, smooth_px=48.0)
    finally:
        surface.COARSE_SIGMA_PX = original
    diff = np.abs(coarse.level - exact.level)
    assert diff[48:-48, 48:-48].max() < 0.1  # a sigma from the edges
    assert diff.max() < 0.25  # the edge: its block extended rather than its row
    assert np.array_equal(coarse.mask, exact.mask)
    inner = (slice(60, -60), slice(60, -60))  # away from the edges the level is the top
    assert np.abs(coarse.level[inner] - top[inner]).max() < 1.0
