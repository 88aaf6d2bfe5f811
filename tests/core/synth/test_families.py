"""Physics of the contrast families and the shared detector chain, against hand-computed numbers."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from core.synth import detector as det
from core.synth import geometry as geo
from core.synth import lineofsight as los
from core.synth.families import FAMILIES, Scene, charge_factors, family_names, hole_scene

R_NM = 28.0  # hole radius of the hand-built holes (56 nm CD)


def _hole(depth_nm: float, **kw: object) -> geo.HoleParams:
    base: dict = dict(
        center_row=35.5,
        center_col=23.5,
        cd_nm=2 * R_NM,
        aspect=1.0,
        depth_nm=depth_nm,
        taper_deg=0.0,
        bow=0.0,
        round_frac=0.0,
        edge_amp=(0.0, 0.0, 0.0, 0.0),
        edge_phase=(0.0, 0.0, 0.0, 0.0),
    )
    base.update(kw)
    return geo.HoleParams(**base)


def _scene(depth_nm: float, **kw: object) -> Scene:
    return hole_scene(
        _hole(depth_nm, **kw), geo.CROP_SHAPE, np.zeros(geo.CROP_SHAPE), with_los=True
    )


COMMON = det.CommonParams(
    dose=50.0,
    psf_sigma_px=0.9,
    psf_tail_frac=0.0,
    psf_tail_px=5.0,
    offset_dn=30.0,
    gain_dn=100.0,
    gamma=1.0,
    saturation_dn=255.0,
    read_noise_dn=0.0,
    row_noise_dn=0.0,
    scan_lag=0.0,
    drift_row=0.0,
    drift_col=0.0,
    grain_amp=0.0,
)
SE = dict(
    edge_gain=0.8, edge_length_nm=3.0, background=0.0, detector_tilt=0.0, detector_angle_deg=0.0
)


# ------------------------------------------------------------------------ line of sight


def _cylinder(depth_nm: float, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    return np.linspace(0.0, depth_nm, n), np.full(n, R_NM)


@pytest.mark.parametrize("depth", [5.0, 28.0, 40.0, 90.0])
def test_los_on_axis_of_a_cylinder_is_the_cosine_cone(depth: float) -> None:
    # sin^2(atan(r/d)) = r^2 / (r^2 + d^2): 28 nm deep -> 0.5, 40 nm -> 784/2384
    zl, rl = _cylinder(depth)
    f = los.direct_escape(np.array([0.0]), np.array([depth]), np.array([0.0]), zl, rl)[0]
    assert f == pytest.approx(R_NM**2 / (R_NM**2 + depth**2), abs=1e-9)
    if depth == 28.0:
        assert f == pytest.approx(0.5, abs=1e-9)


def test_los_off_axis_is_the_disk_view_factor_and_lower() -> None:
    depth = 40.0
    zl, rl = _cylinder(depth)
    offsets = np.array([0.0, 7.0, 14.0, 21.0, 27.0])
    f = los.direct_escape(offsets, np.full(5, depth), np.zeros(5), zl, rl)
    # view factor of a parallel disk of radius r seen from a point a off its axis, at depth d
    for a, got in zip(offsets, f, strict=True):
        a2, d2, r2 = a * a, depth * depth, R_NM * R_NM
        ref = 0.5 * (1 - (a2 + d2 - r2) / math.sqrt((a2 + d2 + r2) ** 2 - 4 * a2 * r2))
        assert got == pytest.approx(ref, abs=1e-6)
    assert np.all(np.diff(f) < 0)  # off-axis points see less of the opening
    assert f[-1] < 0.7 * f[0]


def test_los_flat_surface_and_wall_at_the_top() -> None:
    zl, rl = _cylinder(40.0)
    # a flat point with nothing above it emits everything out
    assert los.direct_escape(np.array([0.0]), np.array([0.0]), np.array([0.0]), zl, rl)[0] == 1.0
    # a vertical wall at the very top sends half of its cosine lobe upwards (the azimuth
    # quadrature has a kink to integrate for tilted normals: 16 midpoints, 1e-3)
    f_top = los.direct_escape(np.array([R_NM]), np.array([0.0]), np.array([np.pi / 2]), zl, rl)
    assert f_top[0] == pytest.approx(0.5, abs=1e-3)
    # lower on the wall less escapes
    f_wall = los.direct_escape(
        np.full(3, R_NM - 0.05), np.array([10.0, 20.0, 40.0]), np.full(3, np.pi / 2), zl, rl
    )
    assert np.all(np.diff(f_wall) < 0) and f_wall[0] < 0.5
    # under an overhang: a 5 nm chimney over the top 20 nm, the point 23 nm off its edge
    # 10 nm below it. Reaching the chimney needs tan(theta) >= 2.3, staying inside it for
    # 20 nm needs tan(theta) <= 0.5: nothing escapes, whatever the normal
    chimney = np.where(zl < 20.0, 5.0, R_NM)
    p_z_a = (np.full(3, R_NM - 0.05), np.full(3, 30.0), np.array([0.0, np.pi / 2, 2.0]))
    assert np.all(los.direct_escape(*p_z_a, zl, chimney) == 0.0)


def test_los_escape_table_of_a_cylindrical_hole() -> None:
    depth = 40.0
    table = los.escape_table(_hole(depth))
    assert table.direct[0] == pytest.approx(R_NM**2 / (R_NM**2 + depth**2), abs=1e-6)
    floor = table.rho_nm < R_NM - 2.0
    # one bounce adds electrons (walls re-emit), never more than what hit them
    assert np.all(table.bounce[floor] > 0.0)
    assert np.all(table.bounce <= 1.0 - table.direct + 1e-12)
    # the line-of-sight image differs from r^2/(r^2+d^2) across the flat bottom: darker
    # towards the wall, where the analytic model is flat
    s = _scene(depth)
    bottom = s.depth_nm >= depth - 1e-6
    near_wall = bottom & (
        np.hypot(*np.mgrid[0:72, 0:48] - np.array([35.5, 23.5])[:, None, None]) > 11
    )
    centre = bottom & ~near_wall
    assert s.los_direct is not None
    assert s.los_direct[near_wall].mean() < s.los_direct[centre].mean() - 0.05


def test_los_depth_curve_differs_from_the_analytic_escape() -> None:
    los_fam, ana = FAMILIES["line-of-sight"], FAMILIES["analytic"]
    rel = []
    for depth in (8.0, 16.0, 32.0, 64.0, 80.0):
        s = _scene(depth, taper_deg=3.0)
        bottom = s.depth_nm >= depth - 1e-6
        a = ana.signal(s, COMMON, SE)[bottom].mean()
        b = los_fam.signal(s, COMMON, {**SE, "reemission": 0.5})[bottom].mean()
        rel.append(b / a - 1.0)
    # shallow bottoms darker (off-axis points see less), deep bottoms brighter (bounce)
    assert rel[0] < -0.1 and rel[-1] > 0.15, rel


# -------------------------------------------------------------------------- backscatter


def test_backscatter_bottom_is_attenuated_landing_material() -> None:
    fam = FAMILIES["backscatter"]
    depth = 60.0
    s = _scene(depth)
    fp = dict(
        bse_length_nm=120.0,
        z_contrast=1.4,
        slope_weight=0.0,
        edge_gain=0.0,
        edge_length_nm=3.0,
        detector_tilt=0.0,
        detector_angle_deg=0.0,
        shadow_strength=0.0,
        shadow_elevation_deg=45.0,
    )
    sig = fam.signal(s, COMMON, fp)
    assert sig[35, 23] == pytest.approx(1.4 * math.exp(-60.0 / 120.0), rel=1e-9)
    assert sig[2, 2] == pytest.approx(1.0)  # flat top
    # an under-etched hole did not reach the landing layer: no Z contrast at its bottom
    shallow = hole_scene(_hole(depth, kind="shallow"), geo.CROP_SHAPE, np.zeros(geo.CROP_SHAPE))
    assert fam.signal(shallow, COMMON, fp)[35, 23] == pytest.approx(math.exp(-0.5), rel=1e-9)
    # shadow: towards a detector at +cols, 45 deg up, the far (+cols) wall hides the
    # bottom next to it: 60 nm deep -> 30 px of travel, more than the 14 px radius
    fp_sh = {**fp, "shadow_strength": 0.5}
    shaded = fam.signal(s, COMMON, fp_sh)
    assert shaded[35, 23] == pytest.approx(0.5 * sig[35, 23], rel=1e-9)


def test_backscatter_edge_contrast_lower_than_analytic() -> None:
    s = _scene(50.0, taper_deg=4.0)
    yy, xx = np.mgrid[0:72, 0:48]
    rho = np.hypot((yy - 35.5) * 2.0, (xx - 23.5) * 2.0)
    rim = np.abs(rho - R_NM) < 2.5
    rng = np.random.default_rng(0)

    def rim_excess(name: str) -> list[float]:
        fam = FAMILIES[name]
        out = []
        for _ in range(30):
            sig = fam.signal(s, COMMON, fam.draw(rng))
            out.append(float(sig[rim].max() - np.median(sig[rho > 40])))
        return out

    assert max(rim_excess("backscatter")) < min(rim_excess("analytic"))


# ----------------------------------------------------------------------------- charging


def _charging_params(**kw: float) -> dict[str, float]:
    fam = FAMILIES["charging"]
    fp = {k: (lo + hi) / 2 for k, (lo, hi, _) in fam.params.items()}
    fp.update(SE)
    fp.update(kw)
    return fp


def test_charging_darkening_hand_value_and_growth_with_dose() -> None:
    fam = FAMILIES["charging"]
    depth = 60.0
    s = _scene(depth)
    fp = _charging_params(charge_rate=1.0, precharge=0.2)
    t = charge_factors(s, replace(COMMON, dose=100.0), fp)
    r, c = 35, 23
    q = 100.0 / 50.0
    expected = math.exp(-1.0 * q * (0.2 + s.order[r, c]) * depth / (depth + R_NM))
    assert t["darkening"][r, c] == pytest.approx(expected, rel=1e-12)
    assert 0.3 < s.order[r, c] < 0.7  # half-way through the hole in raster order
    bottom = s.depth_nm >= depth - 1e-6
    outside = (s.depth_nm == 0) & (s.edge_nm < 6.0)
    bottoms, halos = [], []
    for dose in (5.0, 20.0, 50.0, 100.0):
        sig = fam.signal(s, replace(COMMON, dose=dose), fp)
        bottoms.append(sig[bottom].mean())
        halos.append(sig[outside].mean())
    assert all(a > b for a, b in itertools.pairwise(bottoms)), bottoms
    assert all(a < b for a, b in itertools.pairwise(halos)), halos
    # deeper (higher aspect ratio) bottoms lose more: compare with the analytic base
    ana = FAMILIES["analytic"]
    ratio = []
    for d in (20.0, 80.0):
        sd = _scene(d)
        b = sd.depth_nm >= d - 1e-6
        c100 = replace(COMMON, dose=100.0)
        ratio.append(fam.signal(sd, c100, fp)[b].mean() / ana.signal(sd, c100, fp)[b].mean())
    assert ratio[1] < ratio[0] < 1.0


def test_charging_streak_trails_along_the_fast_axis() -> None:
    fam = FAMILIES["charging"]
    s = _scene(60.0)
    fp = _charging_params(streak_amp=-0.3, streak_length_px=10.0, halo_gain=0.0, frame_drift=0.0)
    sig = fam.signal(s, replace(COMMON, dose=100.0), fp)
    row = 35
    left, right = sig[row, 1:5].mean(), sig[row, 43:47].mean()
    assert right < left - 0.05  # the scan passes the hole left to right
    fp0 = {**fp, "streak_amp": 0.0}
    flat = fam.signal(s, replace(COMMON, dose=100.0), fp0)
    assert flat[row, 43:47].mean() == pytest.approx(flat[row, 1:5].mean(), abs=0.02)


# ----------------------------------------------------------------------- detector chain


def test_psf_tail_energy_fraction_matches_the_draw() -> None:
    c = replace(COMMON, psf_sigma_px=1.0, psf_tail_frac=0.25, psf_tail_px=4.0)
    n = 201
    delta = np.zeros((n, n))
    delta[100, 100] = 1.0
    out = det.psf_blur(delta, c.psf_sigma_px, c.psf_tail_frac, c.psf_tail_px)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    yy, xx = np.mgrid[0:n, 0:n]
    rad = np.hypot(yy - 100, xx - 100)
    for r in (6.0, 10.0, 16.0):
        outside = out[rad > r].sum()
        assert outside == pytest.approx(det.psf_energy_outside(r, c), rel=0.04)
    # beyond 6 sigma the Gaussian core is gone: what remains is the tail
    tail_share = out[rad > 6.0].sum() / ((1 + 6.0 / 4.0) * math.exp(-6.0 / 4.0))
    assert tail_share == pytest.approx(0.25, rel=0.04)
    no_tail = det.psf_blur(delta, 1.0, 0.0, 4.0)
    assert no_tail[rad > 6.0].sum() < 1e-6


def test_detector_gamma_saturation_and_poisson_noise() -> None:
    mean = np.ones((64, 48))
    mean[20:24, :] = 3.0  # a bright rim band
    c = replace(COMMON, gamma=0.8, gain_dn=90.0, offset_dn=20.0, saturation_dn=200.0)
    shots, clean = det.shots_and_clean(
        mean, c, [np.random.default_rng(1), np.random.default_rng(2)]
    )
    # flat: 20 + 90 * 1^0.8 = 110 DN; rim: 20 + 90 * 3^0.8 = 229.7 -> clipped at 200
    assert clean[0, 0] == 110 and np.all(clean[20:24] == 200)
    assert shots.max() == 200  # never above the clip ...
    assert np.mean(shots[:, 20:24] == 200) > 0.85  # ... and the rim mostly saturated
    assert np.any(shots[0] != shots[1])
    # Poisson at the dose: gamma 1, no read/row noise -> DN variance gain^2 / dose
    c1 = replace(COMMON, dose=20.0, gain_dn=60.0, saturation_dn=255.0)
    flat = np.ones((200, 200))
    s, _ = det.shots_and_clean(flat, c1, [np.random.default_rng(3)])
    assert s[0].astype(float).var() == pytest.approx(60.0**2 / 20.0 + 1 / 12, rel=0.05)


def test_common_draws_stay_in_their_ranges() -> None:
    rng = np.random.default_rng(0)
    draws = [det.draw_common(rng) for _ in range(600)]
    for key, spec in det.COMMON_RANGES.items():
        if key == "grain_px":  # drawn per structure (core.synth.wide.draw_surface)
            continue
        lo, hi = spec["range"]  # type: ignore[misc]
        vals = np.array([getattr(d, key) for d in draws])
        assert vals.min() >= lo and vals.max() <= hi, key
        assert vals.max() - vals.min() > 0.6 * (hi - lo), key  # they do spread
    doses = np.array([d.dose for d in draws])
    assert np.median(doses) == pytest.approx(math.sqrt(5.0 * 100.0), rel=0.15)  # log-uniform
    sat = np.array([d.saturation_dn for d in draws])
    assert 0.6 < np.mean(sat == 255.0) < 0.8


def test_family_names_parsing() -> None:
    assert family_names("all") == ["analytic", "line-of-sight", "backscatter", "charging"]
    assert family_names("charging, analytic,charging") == ["charging", "analytic"]
    assert family_names(None) == []
    with pytest.raises(ValueError, match="unknown contrast family 'x'"):
        family_names("analytic,x")
    with pytest.raises(ValueError, match="no contrast family"):
        family_names(",")
