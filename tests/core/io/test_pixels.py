"""Gray conversion: BT.601 luma by hand, equal channels kept, palettes."""

from __future__ import annotations

import numpy as np
import pytest

from core.io.pixels import LUMA_601, palette_to_gray, rgb_to_gray


def test_rgb_to_gray_is_bt601_luma() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    gray, how = rgb_to_gray(rgb)
    expected = [255 * 0.299, 255 * 0.587, 255 * 0.114, 10 * 0.299 + 20 * 0.587 + 30 * 0.114]
    np.testing.assert_allclose(gray[0], expected, rtol=1e-6)
    assert gray.dtype == np.float32 and "BT.601" in how
    assert sum(LUMA_601) == pytest.approx(1.0)


def test_equal_channels_keep_their_values_and_alpha_is_ignored() -> None:
    v = np.array([[0, 17, 65535]], np.uint16)
    rgba = np.stack([v, v, v, np.zeros_like(v)], axis=-1)
    gray, how = rgb_to_gray(rgba)
    assert gray.tolist() == [[0.0, 17.0, 65535.0]] and "equal channels" in how


def test_a_gray_ramp_palette_gives_the_indices() -> None:
    ramp = np.linspace(0, 65535, 256)
    colormap = np.stack([ramp, ramp, ramp])
    idx = np.array([[0, 5, 255]], np.uint8)
    gray, how = palette_to_gray(idx, colormap, 8)
    assert gray.tolist() == [[0.0, 5.0, 255.0]] and "indices" in how


def test_a_colour_palette_gives_its_luminance_in_the_index_range() -> None:
    colormap = np.zeros((3, 4))
    colormap[:, 1] = [65535, 0, 0]  # red
    colormap[:, 2] = [0, 65535, 0]  # green
    colormap[:, 3] = [65535, 65535, 65535]  # white
    gray, how = palette_to_gray(np.array([[0, 1, 2, 3, 9]]), colormap, 2)
    # 2-bit indices: luminance scaled to 0..3; out-of-range indices clip to the last entry
    np.testing.assert_allclose(gray[0], [0.0, 3 * 0.299, 3 * 0.587, 3.0, 3.0], rtol=1e-6)
    assert "luminance" in how
