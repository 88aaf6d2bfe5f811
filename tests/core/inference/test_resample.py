"""Resampling to the model's pixel size and back (the decision itself: test_scale.py)."""

from __future__ import annotations

import numpy as np
import pytest

from core.inference.resample import back_to_grid, rescale, resize_to
from core.io import SemImage
from tests.core.inference.helpers import Times255, predictor_for


def _rand_u8(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_rescale_and_resize_keep_smooth_images() -> None:
    ramp = np.add.outer(np.arange(40.0), np.arange(30.0)).astype(np.float32)
    assert rescale(ramp, 1.0) is ramp
    up = rescale(ramp, 1.5)
    assert up.shape == (60, 45) and up.dtype == np.float32
    np.testing.assert_allclose(rescale(np.full((20, 20), 3.0, np.float32), 0.5), 3.0, rtol=1e-6)
    back = resize_to(up, ramp.shape, down=True)
    assert back.shape == ramp.shape
    np.testing.assert_allclose(back[3:-3, 3:-3], ramp[3:-3, 3:-3], atol=0.5)


def test_back_to_grid() -> None:
    d = np.full((30, 20), 7.0, np.float32)
    u = np.full((30, 20), 0.5, np.float32)
    same = back_to_grid(d, u, (30, 20), 1.0)
    assert same[0] is d and same[1] is u
    depth, unc = back_to_grid(d, u, (20, 13), 1.5)
    assert depth.shape == unc.shape == (20, 13)
    np.testing.assert_allclose(depth, 7.0, rtol=1e-6)
    np.testing.assert_allclose(unc, 0.5, rtol=1e-6)


# ----------------------------------------------------------------------------- through Predictor
def test_pixel_size_resampling_restores_the_shape() -> None:
    pred = predictor_for(Times255(), **{"input": {"size": [72, 48], "pixel_size_nm": 2.0}})
    smooth = np.add.outer(np.linspace(0, 100, 150), np.linspace(0, 100, 110)).astype(np.uint8)
    sem = SemImage.from_array(smooth, pixel_size_nm=3.0)
    res = pred.predict(sem, mode="tiled", tta=False)
    assert res.settings["resample_factor"] == pytest.approx(1.5)
    assert res.depth.shape == (150, 110)
    inner = (slice(5, -5), slice(5, -5))
    np.testing.assert_allclose(res.depth[inner], smooth[inner].astype(np.float32), atol=1.5)
    same = pred.predict(SemImage.from_array(smooth, pixel_size_nm=2.05), mode="tiled")
    assert same.settings["resample_factor"] == 1.0  # within 5 %: no resampling


def test_resampling_beyond_the_range_is_native_with_a_note() -> None:
    pred = predictor_for(Times255(), **{"input": {"size": [72, 48], "pixel_size_nm": 1.0}})
    res = pred.predict(SemImage.from_array(_rand_u8((100, 100)), pixel_size_nm=500.0))
    assert res.settings["resample_factor"] == 1.0
    assert res.settings["scale"]["action"] == "native"
    assert any("outside the supported 0.25-4x" in n for n in res.notes)


def test_no_resampling_when_asked_not_to() -> None:
    pred = predictor_for(Times255(), **{"input": {"size": [72, 48], "pixel_size_nm": 2.0}})
    res = pred.predict(SemImage.from_array(_rand_u8((72, 48)), pixel_size_nm=4.0), resample=False)
    assert res.settings["resample_factor"] == 1.0 and res.mode == "crop"
    assert res.settings["scale_policy"] == "native"
    assert any("the scale policy is 'native'" in n for n in res.notes)
