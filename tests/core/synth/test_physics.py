"""Image-formation physics of the simulator, against hand-computed numbers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.synth import geometry as geo
from core.synth import imaging as im


def test_secant_law_hand_values() -> None:
    # 1/cos(theta) from tan(theta): flat 1, 45 deg sqrt(2), 60 deg 2, capped at SECANT_CAP
    got = im.secant_yield(np.array([0.0, 1.0, math.sqrt(3.0), 100.0]))
    np.testing.assert_allclose(got, [1.0, math.sqrt(2.0), 2.0, im.SECANT_CAP], rtol=1e-12)
    assert im.SECANT_CAP == 2.5
    assert float(im.secant_yield(0.75, cap=10.0)) == pytest.approx(1.25)  # 3-4-5 triangle


def test_escape_fraction_hand_values() -> None:
    # r^2 / (r^2 + d^2)
    assert float(im.escape_fraction(0.0, 30.0)) == 1.0
    assert float(im.escape_fraction(30.0, 30.0)) == pytest.approx(0.5)
    assert float(im.escape_fraction(60.0, 30.0)) == pytest.approx(0.2)
    assert float(im.escape_fraction(40.0, 30.0)) == pytest.approx(900.0 / 2500.0)
    assert float(im.escape_fraction(50.0, 0.0)) == 1.0  # no opening: not inside a hole
    d = np.linspace(0, 200, 21)
    assert np.all(np.diff(im.escape_fraction(d, 25.0)) < 0)


def test_gaussian_blur_matches_direct_convolution() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((40, 30))
    sigma = 1.3
    out = im.gaussian_blur(img, sigma)
    # direct separable convolution with a normalised kernel, compared away from the border
    r = np.arange(-8, 9)
    k = np.exp(-(r**2) / (2 * sigma**2))
    k /= k.sum()
    rows = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, img)
    ref = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, rows)
    np.testing.assert_allclose(out[10:-10, 10:-10], ref[10:-10, 10:-10], atol=2e-4)
    np.testing.assert_allclose(im.gaussian_blur(np.full((20, 20), 7.0), 2.0), 7.0, atol=1e-9)
    # one sigma per image in a batch
    batch = im.gaussian_blur(np.stack([img, img]), np.array([0.5, 2.0]))
    np.testing.assert_allclose(batch[1], im.gaussian_blur(img, 2.0), atol=1e-12)
    assert batch[0].std() > batch[1].std()


def _hole(depth_nm: float, **kw: float) -> geo.HoleParams:
    base: dict = dict(
        center_row=35.5,
        center_col=23.5,
        cd_nm=56.0,
        aspect=1.0,
        depth_nm=depth_nm,
        taper_deg=2.0,
        bow=0.0,
        round_frac=0.0,
        edge_amp=(0.0, 0.0, 0.0, 0.0),
        edge_phase=(0.0, 0.0, 0.0, 0.0),
    )
    base.update(kw)
    return geo.HoleParams(**base)


def test_sidewall_profile_and_render() -> None:
    p = _hole(40.0, bow=0.1, round_frac=0.5)
    z, r = geo.sidewall_profile(p)
    assert z[0] == 0 and z[-1] == pytest.approx(40.0)
    assert r[0] == pytest.approx(28.0) and np.all(np.diff(r) <= 0)  # visible radius shrinks
    h = geo.render_hole(_hole(40.0), pixel_size_nm=2.0)
    assert h.depth_nm.shape == geo.CROP_SHAPE and h.depth_nm.dtype == np.float32
    assert h.depth_nm[35:37, 23:25].max() == pytest.approx(40.0)  # flat bottom at the centre
    assert h.depth_nm[0, 0] == 0.0 and h.open_nm[0, 0] == 0.0  # top surface outside
    # a pixel 10 nm (5 px) off-centre is on the floor: bottom radius 28 - 40 tan(2 deg) = 26.6
    assert h.depth_nm[35, 23 + 5] == pytest.approx(40.0, abs=0.5)
    assert h.open_nm[35, 23] == pytest.approx(28.0)


def _clean_centre(depth_nm: float, case: str = "Case_1") -> tuple[np.ndarray, float]:
    h = geo.render_hole(_hole(depth_nm))
    c = im.CASES[case]
    s = im.se_signal(
        -h.depth_nm,
        h.depth_nm,
        h.edge_nm,
        h.open_nm,
        pixel_size_nm=geo.PIXEL_SIZE_NM,
        edge_gain=c.edge_gain,
        edge_length_nm=c.edge_length_nm,
        background=c.background,
        detector_tilt=c.detector_tilt,
        detector_angle_deg=c.detector_angle_deg,
    )
    draw = im.StructureImaging(
        gain=c.gain, offset=c.offset, blur_px=c.blur_px, drift_row=0.0, drift_col=0.0
    )
    _, clean = im.expected_signal(s, [draw], c.scan_lag)
    return clean[0], float(clean[0][33:39, 21:27].mean())


@pytest.mark.parametrize("case", ["Case_1", "Case_2", "Case_3", "Case_4"])
def test_deeper_holes_have_darker_bottoms(case: str) -> None:
    bottoms = [_clean_centre(d, case)[1] for d in (2.0, 10.0, 25.0, 45.0, 70.0)]
    assert all(a > b for a, b in itertools.pairwise(bottoms)), bottoms
    # escape fraction sets the scale: 70 nm under a 28 nm opening -> f = 0.138
    c = im.CASES[case]
    f = 28.0**2 / (28.0**2 + 70.0**2)
    expected = c.offset + c.gain * (f + c.background * (1 - f))
    assert bottoms[-1] == pytest.approx(expected, rel=0.05)


def test_rim_brighter_than_flat_top() -> None:
    clean, _ = _clean_centre(50.0)
    yy, xx = np.mgrid[0:72, 0:48]
    rho = np.hypot((yy - 35.5) * 2.0, (xx - 23.5) * 2.0)  # nm from the centre
    rim = clean[np.abs(rho - 28.0) < 2.5].mean()
    flat = np.median(clean[rho > 40.0])
    c = im.CASES["Case_1"]
    assert flat == pytest.approx(c.offset + c.gain, rel=0.02)  # flat top: yield 1
    assert rim > flat + 20.0


def test_shots_differ_only_in_noise() -> None:
    clean, _ = _clean_centre(50.0)
    c = im.CASES["Case_2"]
    draw = im.StructureImaging(c.gain, c.offset, c.blur_px, 0.0, 0.0)
    mean = (clean - c.offset) / c.gain
    a = im.noisy_shot(mean, draw, c, np.random.default_rng(1))
    b = im.noisy_shot(mean, draw, c, np.random.default_rng(2))
    assert a.dtype == np.uint8 and a.shape == clean.shape
    assert np.any(a != b)
    # both scatter around the same clean image; the noise has the Poisson scale
    diff = a.astype(float) - b.astype(float)
    assert abs(diff.mean()) < 1.5
    # flat top (yield 1): Poisson gain^2/dose + read noise^2, through the scan lag (an AR(1)
    # filter keeps (1-a)/(1+a) of white-noise variance), + row noise^2; twice (a - b)
    keep = (1 - c.scan_lag) / (1 + c.scan_lag)
    expected_std = math.sqrt(2 * (keep * (c.gain**2 / c.dose + c.read_noise**2) + c.row_noise**2))
    assert diff[:6, :].std() == pytest.approx(expected_std, rel=0.15)


def test_scan_lag_is_an_ar1_filter() -> None:
    x = np.array([[0.0, 10.0, 0.0, 0.0]])
    np.testing.assert_allclose(im.scan_lag(x, 0.5), [[0.0, 5.0, 2.5, 1.25]])
    assert im.scan_lag(x, 0.0) is x
    np.testing.assert_allclose(im.scan_lag(np.full((3, 9), 4.0), 0.3), 4.0)  # keeps the mean


def test_case_names_parsing() -> None:
    assert im.case_names(None) == ["Case_1", "Case_2", "Case_3", "Case_4"]
    assert im.case_names("1,3") == ["Case_1", "Case_3"]
    assert im.case_names([2, "Case_4", 2]) == ["Case_2", "Case_4"]
    with pytest.raises(ValueError, match="unknown imaging case '7'"):
        im.case_names("7")
