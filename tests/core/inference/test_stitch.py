"""Tiles, windows and their blending: hand-computed layouts and weights, exact
reproduction of constants and linear ramps, edge bias kept out of the blend, the seam
metric, raised-cosine flanks that sum to 1."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.inference.stitch import (
    Accumulator,
    TileLayout,
    axis_tiles,
    border_ring,
    fill_levels,
    seam_steps,
    taper,
    tile_layout,
    window_weight,
)


def test_axis_tiles_by_hand() -> None:
    assert axis_tiles(300, 512, 96) == (300, [0])  # fits: one tile, no overlap
    # 2048 px, tiles <= 512, overlap >= 96: 5 tiles of ceil((2048 + 4 * 96) / 5) = 487 -> 488
    assert axis_tiles(2048, 512, 96) == (488, [0, 390, 780, 1170, 1560])
    assert axis_tiles(600, 512, 96, multiple=8) == (352, [0, 248])


@pytest.mark.parametrize(
    ("length", "max_tile", "overlap"),
    [(1000, 512, 96), (4096, 512, 96), (513, 512, 96), (700, 300, 40), (97, 50, 30)],
)
def test_axis_tiles_cover_with_at_least_the_overlap(
    length: int, max_tile: int, overlap: int
) -> None:
    size, starts = axis_tiles(length, max_tile, overlap)
    assert starts[0] == 0 and starts[-1] == length - size
    assert size <= max(max_tile, 8 * math.ceil(max_tile / 8)) and size <= length
    assert all(b - a <= size - overlap for a, b in itertools.pairwise(starts))
    # the fewest tiles: one tile fewer could not keep the overlap
    n = len(starts)
    assert n == 1 or (n - 1) * max_tile - (n - 2) * overlap < length


def test_taper_by_hand() -> None:
    assert taper(6, 2, 2, lead=False, trail=False).tolist() == [1.0] * 6
    w = taper(10, 2, 2, lead=True, trail=False)
    np.testing.assert_allclose(
        w,
        [0, 0, math.sin(math.pi / 8) ** 2, math.sin(3 * math.pi / 8) ** 2, 1, 1, 1, 1, 1, 1],
        atol=1e-7,
    )
    both = taper(10, 2, 2, lead=True, trail=True)
    np.testing.assert_allclose(both, both[::-1], atol=1e-7)
    assert both[0] == both[1] == 0.0


def test_neighbours_at_the_least_overlap_sum_to_one() -> None:
    margin, fade, n = 3, 5, 40
    overlap = 2 * margin + fade
    a = taper(n, margin, fade, lead=False, trail=True).astype(np.float64)
    b = taper(n, margin, fade, lead=True, trail=False).astype(np.float64)
    total = np.zeros(2 * n - overlap)
    total[:n] += a
    total[n - overlap :] += b
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_layout_weights_drop_inner_edges_only() -> None:
    lay = tile_layout((200, 300), (120, 120), 8, 8)
    assert lay.overlap == 24 and lay.positions()[0] == (0, 0)
    w = lay.weight(0, 0)
    assert w[0, 0] == 1.0  # the image corner keeps full weight
    assert w[-1, 0] == 0.0 and w[0, -1] == 0.0  # inner edges are dropped
    assert lay.borders(1) == [(lay.cols[1], lay.tile[1]), (lay.cols[2], lay.cols[1] + lay.tile[1])]


def _blend(f: np.ndarray, lay: TileLayout, distort: float = 0.0) -> np.ndarray:
    """Blend tiles of ``f`` as tiled mode does; ``distort`` adds a bias near every tile
    edge, like a network's zero padding."""
    acc = Accumulator(f.shape)
    th, tw = lay.tile
    d = np.minimum.outer(
        np.minimum(np.arange(th), np.arange(th)[::-1]),
        np.minimum(np.arange(tw), np.arange(tw)[::-1]),
    )
    bias = distort * np.exp(-d / 2.0)  # 0.02 x ``distort`` at 8 px
    for r, c in lay.positions():
        patch = f[r : r + th, c : c + tw] + bias
        acc.add(r, c, patch, 0.5 * patch, lay.weight(r, c))
    return acc.normalized()[0]


def test_edge_bias_inside_the_margin_never_reaches_the_blend() -> None:
    yy, xx = np.mgrid[0:260, 0:330].astype(np.float32)
    f = 0.3 * yy - 0.2 * xx
    lay = tile_layout(f.shape, (128, 128), 16, 16)
    depth = _blend(f, lay, distort=50.0)
    inner = (slice(16, -16), slice(16, -16))  # the image's own border keeps its bias
    np.testing.assert_allclose(depth[inner], f[inner], atol=0.05)
    steps = seam_steps(depth[inner], lay)
    assert steps["zones_ratio"] == pytest.approx(1.0, abs=0.05)


def test_seam_steps_sees_a_step_at_the_tile_borders() -> None:
    lay = tile_layout((200, 200), (100, 100), 4, 4)
    flat = np.zeros((200, 200))
    flat[:, : lay.cols[1] + 6] = 0.0
    flat[:, lay.cols[1] :] += 10.0  # a step at the start of the second tile column
    noisy = flat + np.random.default_rng(0).normal(0, 0.1, flat.shape)
    s = seam_steps(noisy, lay)
    assert s["edges_ratio"] > 10 and s["zones_ratio"] > 1.5
    quiet = seam_steps(np.random.default_rng(1).normal(0, 1, (200, 200)), lay)
    assert quiet["edges_ratio"] == pytest.approx(1.0, abs=0.15)


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


def test_blending_constant_tiles_gives_the_constant() -> None:
    f = np.full((130, 90), 42.5, np.float32)
    lay = tile_layout(f.shape, (48, 40), 4, 4)
    acc = Accumulator(f.shape)
    for r, c in lay.positions():
        patch = f[r : r + lay.tile[0], c : c + lay.tile[1]]
        acc.add(r, c, patch, 0.5 * patch, lay.weight(r, c))
    depth, unc = acc.normalized()
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, 42.5, rtol=1e-6)
    np.testing.assert_allclose(unc, 21.25, rtol=1e-6)


def test_blending_reproduces_a_linear_ramp_exactly() -> None:
    yy, xx = np.mgrid[0:130, 0:90].astype(np.float32)
    f = 3.0 * yy - 2.0 * xx + 7.0
    depth = _blend(f, tile_layout(f.shape, (48, 40), 4, 4))
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
