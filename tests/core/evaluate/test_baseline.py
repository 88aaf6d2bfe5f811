"""The intensity-to-depth baseline: exact recovery of known relations, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.baseline import BaselineConfig, BaselineError, IntensityBaseline, gaussian_smooth


def _images(n: int = 5, shape: tuple[int, int] = (12, 8)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random(shape) for _ in range(n)]


def test_fit_recovers_a_linear_intensity_to_depth_relation_exactly() -> None:
    sems = _images()
    depths = [40.0 + 120.0 * s for s in sems]  # depth (DU) = 40 + 120 * intensity
    base = IntensityBaseline(BaselineConfig(sigmas=(0.0,), degree=1, radial=False))
    base.fit_arrays(sems, depths)
    assert base.coef is not None
    np.testing.assert_allclose(base.coef, [40.0, 120.0], atol=1e-9)
    new = np.random.default_rng(1).random((12, 8))
    np.testing.assert_allclose(base.predict(new), 40.0 + 120.0 * new, atol=1e-4)


def test_fit_recovers_intensity_plus_radial_terms() -> None:
    sems = _images(shape=(9, 7))
    yy, xx = np.mgrid[0:9, 0:7]
    r = np.hypot(yy - 4.0, xx - 3.0) / 3.5
    depths = [100.0 + 50.0 * s - 20.0 * r**2 for s in sems]
    base = IntensityBaseline(BaselineConfig(sigmas=(0.0,), degree=2, radial=True, centre="image"))
    base.fit_arrays(sems, depths)
    names = base.config.feature_names()
    coef = dict(zip(names, base.coef, strict=True))  # type: ignore[arg-type]
    assert coef["1"] == pytest.approx(100.0, abs=1e-6)
    assert coef["I0^1"] == pytest.approx(50.0, abs=1e-6)
    assert coef["r^2"] == pytest.approx(-20.0, abs=1e-6)
    assert coef["I0^2"] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(base.predict(sems[0]), depths[0], atol=1e-3)


def test_predictions_are_clipped_float32_and_accept_stacks() -> None:
    base = IntensityBaseline(BaselineConfig(sigmas=(0.0,), degree=1, radial=False))
    base.fit_arrays([np.array([[0.0, 1.0]])], [np.array([[-100.0, 400.0]])])
    out = base.predict(np.array([[[0.0, 1.0]], [[0.5, 0.5]]]))
    assert out.dtype == np.float32 and out.shape == (2, 1, 2)
    np.testing.assert_allclose(out[0], [[0.0, 255.0]])
    np.testing.assert_allclose(out[1], [[150.0, 150.0]])


def test_gaussian_smooth_keeps_constants_and_mass() -> None:
    const = np.full((6, 5), 3.0)
    np.testing.assert_allclose(gaussian_smooth(const, 1.5), const)
    spike = np.zeros((21, 21))
    spike[10, 10] = 1.0
    sm = gaussian_smooth(spike, 1.0)
    assert sm.sum() == pytest.approx(1.0) and sm[10, 10] < 0.2


def test_json_round_trip_and_errors(tmp_path: Path) -> None:
    sems = _images()
    depths = [150.0 - 60.0 * gaussian_smooth(s, 1.0) for s in sems]
    base = IntensityBaseline().fit_arrays(sems, depths)
    path = base.save(tmp_path / "b.json")
    again = IntensityBaseline.load(path)
    np.testing.assert_array_equal(again.predict(sems[1]), base.predict(sems[1]))
    assert again.config == base.config
    with pytest.raises(FileExistsError):
        base.save(path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(BaselineError, match=r"bad\.json"):
        IntensityBaseline.load(bad)
    bad.write_text("{not json")
    with pytest.raises(BaselineError, match="not valid JSON"):
        IntensityBaseline.load(bad)
    with pytest.raises(RuntimeError, match="not fitted"):
        IntensityBaseline().predict(sems[0])
