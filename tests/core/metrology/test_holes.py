"""Per-hole metrology against holes of known geometry (core.synth's renderer) and the
bundled simulated field's truth."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from core.metrology.holes import HOLE_TABLE_COLUMNS, MetrologySettings, measure_holes
from core.metrology.surface import depth_below_top
from core.synth.geometry import HoleParams, render_hole, sidewall_profile
from core.trust.uncertainty import ConformalScale

SAMPLES = Path(__file__).resolve().parents[3] / "resources" / "samples"


def _params(**kw: float) -> HoleParams:
    base = dict(
        center_row=35.5,
        center_col=23.5,
        cd_nm=56.0,
        aspect=1.0,
        depth_nm=40.0,
        taper_deg=1.0,
        bow=0.0,
        round_frac=0.1,
        edge_amp=(0.0, 0.0, 0.0, 0.0),
        edge_phase=(0.0, 0.0, 0.0, 0.0),
    )
    base.update(kw)
    return HoleParams(**base)  # type: ignore[arg-type]


def _height(p: HoleParams, shape=(72, 48), top: float = 160.0) -> np.ndarray:
    return (top - render_hole(p, shape).depth_nm / 0.5).astype(np.float32)


def _measure(height: np.ndarray, **kw: object):
    dbt = depth_below_top(height, nm_per_du=0.5, pixel_size_nm=2.0, model_pixel_size_nm=2.0)
    return measure_holes(dbt, window=(72, 48), pixel_size_nm=2.0, **kw)  # type: ignore[arg-type]


def test_round_hole_cd_depth_and_outline() -> None:
    p = _params()
    table = _measure(_height(p))
    assert len(table.holes) == 1
    h = table.holes[0]
    assert h.flags == []
    assert h.depth == pytest.approx(40.0, abs=0.5)  # nm
    assert h.top_cd_px == pytest.approx(28.0, abs=0.6)
    assert h.top_cd_nm == pytest.approx(2.0 * h.top_cd_px)
    z, r = sidewall_profile(p)
    r_bottom = float(np.interp(0.9 * 40.0, z, r))  # nm, radius at 90 % of the depth
    assert h.bottom_cd_px == pytest.approx(2 * r_bottom / 2.0, abs=0.8)
    assert h.ellipticity == pytest.approx(1.0, abs=0.05)
    assert (h.row, h.col) == pytest.approx((35.5, 23.5), abs=0.3)
    # the top outline is a closed polygon around the centre, radius about 14 px
    pts = np.array(h.outline_top)
    radii = np.hypot(pts[:, 0] - 35.5, pts[:, 1] - 23.5)
    assert radii.mean() == pytest.approx(14.0, abs=0.6)
    assert table.units()["depth"] == "nm" and table.depth_unit == "nm"


def test_elliptical_hole() -> None:
    table = _measure(_height(_params(cd_nm=44.0, aspect=1.4)))
    assert table.holes[0].ellipticity == pytest.approx(1.4, abs=0.06)


def test_closed_hole_has_no_cd() -> None:
    table = _measure(_height(_params(depth_nm=0.8)))  # 1.6 DU below the top
    h = table.holes[0]
    assert "closed" in h.flags
    assert h.top_cd_px is None and h.top_cd_nm is None and h.ellipticity is None
    assert table.stats["top_cd"].count == 0


def test_a_hole_cut_by_the_image_border() -> None:
    table = _measure(_height(_params(center_row=2.0)))
    assert "touching_border" in table.holes[0].flags
    assert table.holes[0].top_cd_px is None
    assert table.stats["depth"].count == 0  # cut holes stay out of the statistics


def test_under_etched_against_the_median_and_against_a_target() -> None:
    depths = [40.0, 40.0, 40.0, 10.0]
    height = np.concatenate([_height(_params(depth_nm=d)) for d in depths], axis=1)
    table = _measure(height)
    flags = {round(h.depth): h.flags for h in table.holes}
    assert flags == {40: [], 10: ["under_etched"]}
    strict = _measure(height, settings=MetrologySettings(target_depth_du=200.0))
    assert all("under_etched" in h.flags for h in strict.holes)  # 40 nm < 0.5 x 100 nm


def test_depth_u_is_the_calibrated_hole_interval_times_the_inflation() -> None:
    height = _height(_params())
    raw = np.full(height.shape, 3.0, np.float32)
    scale = ConformalScale(tau=4.0, q=2.4, n=50)  # k sigma = 2.4 * sqrt(16 + 9) = 12 DU
    table = _measure(height, raw_uncertainty=raw, hole_sigma=scale, inflation=1.5)
    assert table.calibrated
    assert table.holes[0].depth_u == pytest.approx(12.0 * 1.5 * 0.5)  # nm
    uncal = _measure(height, raw_uncertainty=raw)
    assert uncal.holes[0].depth_u is None and not uncal.calibrated


def test_out_of_domain_flags_every_hole_and_rows_have_every_column() -> None:
    table = _measure(_height(_params()), out_of_domain=True)
    row = table.holes[0].as_row()
    assert list(row) == list(HOLE_TABLE_COLUMNS)
    assert row["flags"] == "out_of_domain"
    assert row["depth_u_k2"] == ""


def test_sample_field_against_its_truth() -> None:
    from core.io import read_depth

    with open(SAMPLES / "field_512_holes.csv", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    height = read_depth(SAMPLES / "field_512_depth.tif")
    dbt = depth_below_top(
        height, smooth_px=48.0, nm_per_du=0.5, pixel_size_nm=2.0, model_pixel_size_nm=2.0
    )
    table = measure_holes(dbt, window=(72, 48), pixel_size_nm=2.0)
    visible = [t for t in truth if float(t["depth_du"]) >= 4.0]  # closed holes are flat
    assert len(table.holes) == len(visible)
    cd_err, depth_err = [], []
    for t in visible:
        r, c = float(t["row"]), float(t["col"])
        h = min(table.holes, key=lambda m: math.hypot(m.row - r, m.col - c))
        assert math.hypot(h.row - r, h.col - c) < 2.0
        cd_err.append(h.top_cd_px - float(t["diameter_px"]))
        depth_err.append(h.depth / 0.5 - float(t["depth_du"]))
    assert abs(np.mean(cd_err)) < 0.5 and np.sqrt(np.mean(np.square(cd_err))) < 1.0
    assert abs(np.mean(depth_err)) < 0.6 and np.max(np.abs(depth_err)) < 1.5
    s = table.stats["depth"]
    depths = [h.depth for h in table.holes]
    assert s.count == len(depths) and s.mean == pytest.approx(np.mean(depths))
    assert sum(table.histograms["depth"].counts) == s.count
