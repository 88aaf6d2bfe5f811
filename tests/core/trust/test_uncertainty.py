"""Calibrated uncertainty: the conformal quantile by hand, coverage on fresh data, the law
of total variance, inflation out of domain, the card section."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.trust.uncertainty import (
    Calibration,
    ConformalScale,
    combine_variants,
    conformal_quantile,
    coverage_of,
    fit_scale,
    has_variance_head,
    inflate,
)


def test_conformal_quantile_takes_the_finite_sample_rank() -> None:
    scores = np.arange(1, 20, dtype=float)  # n = 19: rank ceil(20 * 0.95) = 19 -> 19
    assert conformal_quantile(scores, 0.95) == 19.0
    assert conformal_quantile(np.arange(1, 40, dtype=float), 0.95) == 38.0  # ceil(38) = 38
    assert conformal_quantile(np.arange(1, 10, dtype=float), 0.95) == math.inf  # ceil(9.5)=10 > 9
    with pytest.raises(ValueError):
        conformal_quantile(np.array([]))


def test_combine_variants_is_the_law_of_total_variance() -> None:
    means = np.array([[1.0, 2.0], [3.0, 2.0]])[:, None]  # 2 variants, a 1 x 2 map
    mean, std = combine_variants(means)
    np.testing.assert_allclose(mean, [[2.0, 2.0]])
    np.testing.assert_allclose(std, [[1.0, 0.0]])
    log_vars = np.log(np.array([[4.0, 1.0], [2.0, 1.0]]))[:, None]
    _, std2 = combine_variants(means, log_vars)
    np.testing.assert_allclose(std2, np.sqrt([[1.0 + 3.0, 0.0 + 1.0]]), rtol=1e-6)
    _, one = combine_variants(means[:1])
    np.testing.assert_array_equal(one, 0.0)


def test_sigma_formula() -> None:
    s = ConformalScale(tau=3.0, q=2.0, n=10)
    np.testing.assert_allclose(s.sigma(np.array([4.0, 0.0])), [5.0, 3.0])  # (2/2) * sqrt(9+u^2)


def test_fit_scale_covers_95_percent_of_fresh_pixels() -> None:
    rng = np.random.default_rng(0)

    def images(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        errs, raws = [], []
        for _ in range(n):
            u = rng.uniform(0.1, 2.0, (20, 20))
            offset = rng.normal(0, 4.0)  # a per-image constant the spread cannot see
            errs.append(offset + rng.normal(0, 1.0, u.shape) * 1.5 * u)
            raws.append(u)
        return errs, raws

    errs, raws = images(400)
    scale = fit_scale(errs, raws, coverage=0.95, seed=1)
    assert scale.tau > 0  # the offset needs a floor
    test_e, test_u = images(400)
    cov = coverage_of(
        np.concatenate([e.ravel() for e in test_e]),
        scale.sigma(np.concatenate([u.ravel() for u in test_u])),
    )
    assert cov == pytest.approx(0.95, abs=0.02)


def test_fit_scale_without_any_spread_falls_back_to_a_floor() -> None:
    rng = np.random.default_rng(3)
    errs = [rng.normal(0, 2.0, (10, 10)) for _ in range(100)]
    raws = [np.zeros((10, 10)) for _ in range(100)]
    scale = fit_scale(errs, raws)
    assert scale.tau > 0
    assert 2 * scale.sigma(0.0) == pytest.approx(1.96 * 2.0, rel=0.1)
    with pytest.raises(ValueError):
        fit_scale(errs[:1], raws[:1])


def test_inflate_only_beyond_one() -> None:
    sigma = np.array([1.0, 2.0], dtype=np.float32)
    same, f = inflate(sigma, 0.7)
    assert f == 1.0 and same is sigma
    grown, f = inflate(sigma, 3.0)
    assert f == 3.0
    np.testing.assert_allclose(grown, [3.0, 6.0])
    assert inflate(sigma, None)[1] == 1.0
    assert np.all(np.isinf(inflate(sigma, math.inf)[0]))


def test_has_variance_head() -> None:
    assert has_variance_head({"output": {"variance_head": {"channel": 1, "unit": "DU"}}})
    assert not has_variance_head({"output": {"variance_head": {"channel": 2}}})
    assert not has_variance_head({"output": {"range": [0, 255]}})
    assert not has_variance_head({})


def test_calibration_from_card() -> None:
    card = {
        "uncertainty": {
            "method": "split-conformal",
            "tta": "shifts",
            "scales": {
                "depth": {"tau_du": 4.0, "q": 2.1, "n": 100},
                "hole": {"tau_du": 1.0, "q": 2.5, "n": 20},
            },
        }
    }
    cal = Calibration.from_card(card)
    assert cal is not None and cal.tta == "shifts"
    assert cal.scales["depth"].q == 2.1 and cal.info["method"] == "split-conformal"
    assert Calibration.from_card({}) is None
    assert (
        Calibration.from_card({"uncertainty": {"scales": {"hole": {"tau_du": 1, "q": 2}}}}) is None
    )
    assert (
        Calibration.from_card({"uncertainty": {"scales": {"depth": {"tau_du": -1, "q": 2}}}})
        is None
    )
    round_trip = ConformalScale.from_json(ConformalScale(1.5, 2.0, 7).to_json())
    assert round_trip == ConformalScale(1.5, 2.0, 7)
