"""Image statistics of the domain check, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.trust.stats import STAT_NAMES, feature_size_px, sample_windows, stats_matrix, window_stats


def _stat(vec: np.ndarray, name: str) -> float:
    return float(vec[STAT_NAMES.index(name)])


def test_percentiles_contrast_and_saturation_of_a_ramp() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 101), (20, 1))  # every column one value
    v = window_stats(ramp)
    assert _stat(v, "p02") == pytest.approx(0.02)
    assert _stat(v, "p50") == pytest.approx(0.5)
    assert _stat(v, "p98") == pytest.approx(0.98)
    assert _stat(v, "log_contrast") == pytest.approx(math.log(0.96 + 1e-3))
    # columns 0 and 100 are exactly 0 and 1: 2 of 101 columns saturated
    assert _stat(v, "saturated") == pytest.approx(2 / 101)
    assert _stat(v, "skew") == pytest.approx(0.0, abs=1e-9)


def test_noise_of_a_checkerboard_is_half_its_step() -> None:
    # horizontal neighbours differ by exactly 0.2 everywhere: RMS 0.2, / sqrt(2)
    board = (np.indices((16, 16)).sum(axis=0) % 2) * 0.2 + 0.4
    assert math.exp(_stat(window_stats(board), "log_noise")) - 1e-4 == pytest.approx(
        0.2 / math.sqrt(2)
    )


def test_feature_size_of_a_gaussian_blob() -> None:
    # the autocorrelation of a Gaussian of sigma s is a Gaussian of sigma s*sqrt(2):
    # half maximum at s * sqrt(2) * sqrt(2 ln 2) = 2 s sqrt(ln 2)
    s = 3.0
    yy, xx = np.mgrid[0:128, 0:128] - 63.5
    blob = np.exp(-(yy**2 + xx**2) / (2 * s * s))
    assert feature_size_px(blob) == pytest.approx(2 * s * math.sqrt(math.log(2)), rel=0.08)


def test_feature_size_of_white_noise_is_under_a_pixel_and_constant_is_zero() -> None:
    rng = np.random.default_rng(0)
    assert feature_size_px(rng.random((72, 48))) < 1.0
    assert feature_size_px(np.full((8, 8), 0.3)) == 0.0


def test_scan_lag_shows_in_the_row_correlation_only() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0.5, 0.05, (72, 48))
    lagged = noise.copy()
    for j in range(1, 48):  # y[j] = 0.5 x[j] + 0.5 y[j-1] along rows
        lagged[:, j] = 0.5 * noise[:, j] + 0.5 * lagged[:, j - 1]
    v0, v1 = window_stats(noise), window_stats(lagged)
    assert _stat(v1, "corr_x") > _stat(v0, "corr_x") + 0.3
    rise_y = abs(_stat(v1, "corr_y") - _stat(v0, "corr_y"))
    assert _stat(v1, "corr_x") - _stat(v0, "corr_x") > 3 * rise_y


def test_stats_matrix_stacks_one_row_per_window() -> None:
    rng = np.random.default_rng(2)
    wins = rng.random((3, 10, 12))
    m = stats_matrix(wins)
    assert m.shape == (3, len(STAT_NAMES))
    np.testing.assert_array_equal(m[1], window_stats(wins[1]))


def test_sample_windows_crop_grid_and_centres() -> None:
    img = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    crop = sample_windows(img[:72, :48], (72, 48))
    assert crop.shape == (1, 72, 48)
    grid = sample_windows(img, (72, 48))
    assert grid.shape == (2 * 6, 72, 48)
    assert grid[0, 0, 0] == img[0, 0] and grid[-1, -1, -1] == img[-1, -1]
    # a centre near the corner: the window is shifted inside the image
    at = sample_windows(img, (72, 48), centres=[(5.0, 5.0), (100.0, 150.0)])
    assert at.shape == (2, 72, 48)
    assert at[0, 0, 0] == img[0, 0]
    assert at[1, 0, 0] == img[100 - 36, 150 - 24]
    many = sample_windows(img, (72, 48), centres=[(100.0, 150.0)] * 100, max_windows=7)
    assert len(many) <= 7
