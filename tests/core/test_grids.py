"""Linear interpolation between grids: the weights of scipy's order-1 zoom (grid mode,
clamped ends), by matrix products."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from core.grids import interpolation_matrix, upsample_linear


@pytest.mark.parametrize(
    ("coarse", "fine"),
    [((64, 64), (256, 256)), ((100, 37), (400, 148)), ((25, 34), (100, 137)), ((1, 4), (3, 16))],
)
def test_matches_scipy_zoom_to_the_same_shape(
    coarse: tuple[int, int], fine: tuple[int, int]
) -> None:
    a = np.random.default_rng(0).random(coarse)
    zoom = (fine[0] / coarse[0], fine[1] / coarse[1])
    expected = ndi.zoom(a, zoom, order=1, mode="nearest", grid_mode=True)
    assert expected.shape == fine
    np.testing.assert_allclose(upsample_linear(a, fine), expected, rtol=0, atol=1e-12)


def test_an_integer_factor_to_a_shorter_shape_is_the_top_left_of_the_zoom() -> None:
    a = np.random.default_rng(1).random((9, 12))
    full = ndi.zoom(a, (4, 4), order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(upsample_linear(a, (34, 45), (4, 4)), full[:34, :45], atol=1e-12)


def test_weights_by_hand() -> None:
    # two coarse cells 2 px wide: centres at fine 0.5 and 2.5; fine 0 and 3 clamp to the ends
    m = interpolation_matrix(4, 2, 2.0)
    np.testing.assert_allclose(m, [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    assert not m.flags.writeable
    np.testing.assert_allclose(upsample_linear(np.array([[0.0, 8.0]]), (1, 4)), [[0, 2, 6, 8]])
