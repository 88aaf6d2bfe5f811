"""Tiles, windows and their blending: hand-computed weights, exact reproduction of
constants and linear ramps, raised-cosine flanks that sum to 1."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.inference.stitch import (
    Accumulator,
    border_ring,
    fill_levels,
    ramp,
    tile_starts,
    tile_weight,
    window_weight,
)


def test_tile_starts_by_hand() -> None:
    assert tile_starts(100, 40, 10) == [0, 30, 60]
    assert tile_starts(101, 40, 10) == [0, 20, 41, 61]  # linspace(0, 61, 4), rounded
    assert tile_starts(40, 40, 10) == [0]
    assert tile_starts(25, 40, 10) == [0]


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(300, 96, 18), (1000, 288, 36), (97, 50, 49)]
)
def test_tile_starts_cover_with_at_least_the_overlap(length: int, tile: int, overlap: int) -> None:
    s = tile_starts(length, tile, overlap)
    assert s[0] == 0 and s[-1] == length - tile
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(s))


def test_ramp_and_tile_weight_by_hand() -> None:
    np.testing.assert_allclose(ramp(6, 2), [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3], rtol=1e-6)
    assert ramp(5, 0).tolist() == [1.0] * 5
    w = tile_weight((6, 4), (2, 1))
    np.testing.assert_allclose(w, np.outer(ramp(6, 2), ramp(4, 1)), rtol=1e-7)
    assert w.dtype == np.float32 and float(w.min()) > 0.0


def test_window_weight_by_hand() -> None:
    w = window_weight((8, 8))
    lo = 0.5 - 0.5 * math.cos(math.pi / 4)  # d = 1/16 from the edge
    hi = 0.5 - 0.5 * math.cos(3 * math.pi / 4)  # d = 3/16
    row = [lo, hi, 1, 1, 1, 1, hi, lo]
    np.testing.assert_allclose(w, np.outer(row, row), rtol=1e-6)
    assert w.dtype == np.float32


def test_window_flanks_at_three_quarter_pitch_sum_to_one() -> None:
    """Windows of 16 px every 12 px: the weights of any covered pixel sum to exactly 1."""
    n, pitch = 16, 12
    one = window_weight((1, n))[0].astype(np.float64)
    total = np.zeros(pitch * 5 + n)
    for k in range(6):
        total[k * pitch : k * pitch + n] += one
    inner = total[n // 4 : -(n // 4)]  # beyond the outer flanks of the first and last
    np.testing.assert_allclose(inner, 1.0, atol=1e-6)


def _tiles(f: np.ndarray, tile: tuple[int, int], overlap: tuple[int, int]) -> Accumulator:
    """Blend exact tiles of ``f`` (each tile returns ``f`` itself) as tiled mode does."""
    acc = Accumulator(f.shape)
    weight = tile_weight(tile, overlap)
    for r in tile_starts(f.shape[0], tile[0], overlap[0]):
        for c in tile_starts(f.shape[1], tile[1], overlap[1]):
            patch = f[r : r + tile[0], c : c + tile[1]]
            acc.add(r, c, patch, 0.5 * patch, weight)
    return acc


def test_blending_constant_tiles_gives_the_constant() -> None:
    f = np.full((130, 90), 42.5, np.float32)
    depth, unc = _tiles(f, (48, 40), (12, 10)).normalized()
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, 42.5, rtol=1e-6)
    np.testing.assert_allclose(unc, 21.25, rtol=1e-6)


def test_blending_reproduces_a_linear_ramp_exactly() -> None:
    yy, xx = np.mgrid[0:130, 0:90].astype(np.float32)
    f = 3.0 * yy - 2.0 * xx + 7.0
    depth, _ = _tiles(f, (48, 40), (12, 10)).normalized()
    np.testing.assert_allclose(depth, f, atol=1e-3)


def test_accumulator_clips_overhanging_patches_and_leaves_gaps_at_zero() -> None:
    acc = Accumulator((4, 5))
    patch = np.arange(9, dtype=np.float32).reshape(3, 3)
    acc.add(-1, 3, patch, patch, np.ones((3, 3), np.float32))  # rows -1..1, cols 3..5
    acc.add(10, 10, patch, patch, np.ones((3, 3), np.float32))  # wholly outside: ignored
    depth, _ = acc.normalized()
    expected = np.zeros((4, 5), np.float32)
    expected[0:2, 3:5] = patch[1:3, 0:2]
    assert np.array_equal(depth, expected)


def test_with_background_fills_where_the_weight_is_below_one() -> None:
    acc = Accumulator((1, 3))
    acc.add(
        0,
        0,
        np.array([[10.0, 10.0, 10.0]]),
        np.array([[1.0, 1.0, 1.0]]),
        np.array([[0.25, 1.0, 2.0]]),
    )
    depth, unc = acc.with_background(np.full((1, 3), 2.0), np.full((1, 3), 0.2))
    # weight 0.25: (0.25 * 10 + 0.75 * 2) / 1 = 4; weights >= 1: the windows alone
    np.testing.assert_allclose(depth, [[4.0, 10.0, 10.0]], rtol=1e-6)
    np.testing.assert_allclose(unc, [[0.25 + 0.75 * 0.2, 1.0, 1.0]], rtol=1e-6)


def test_border_ring_takes_the_outer_pixels() -> None:
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    ring = border_ring(a, width=3)
    assert ring.size == 100 - 16
    assert set(ring.tolist()) == set(range(100)) - {
        r * 10 + c for r in range(3, 7) for c in range(3, 7)
    }
    assert border_ring(np.ones((4, 4)), width=3).size == 16  # narrower than the ring: all


def test_fill_levels_is_a_nearest_centre_fill() -> None:
    filled = fill_levels((5, 10), [(2, 1), (2, 8)], [1.0, 5.0], sigma=0.0)
    assert filled.dtype == np.float32
    assert np.all(filled[:, :4] == 1.0) and np.all(filled[:, 6:] == 5.0)
    clamped = fill_levels((3, 3), [(-5, 99)], [7.0], sigma=0.0)  # centre outside: clamped
    assert np.all(clamped == 7.0)
    assert np.all(fill_levels((3, 3), [], [], sigma=2.0) == 0.0)
    smooth = fill_levels((5, 10), [(2, 1), (2, 8)], [1.0, 5.0], sigma=1.5)
    assert float(smooth.min()) >= 1.0 and float(smooth.max()) <= 5.0
    assert np.all(np.diff(smooth[2]) >= -1e-6)  # smoothed, still monotone across the cells
