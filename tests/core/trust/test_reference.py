"""The Gaussian reference of the domain check: distances by hand, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from core.trust.reference import GaussianReference


def test_full_rank_without_shrinkage_is_the_standardised_mahalanobis_distance() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 1.2], [1.2, 1.0]])
    x = rng.multivariate_normal([3.0, -1.0], cov, size=4000)
    ref = GaussianReference._fit_once(x, max_axes=2, shrinkage=0.0)
    mean, sd = x.mean(0), x.std(0)
    z = (x - mean) / sd
    prec = np.linalg.inv(np.cov(z.T))
    probe = np.array([[5.0, 0.5], [3.0, -1.0]])
    zp = (probe - mean) / sd
    expected = np.sqrt(np.einsum("ij,jk,ik->i", zp, prec, zp))
    np.testing.assert_allclose(ref.distance(probe), expected, rtol=1e-9)
    assert ref.rest_variance == 0.0


def test_fewer_axes_put_the_rest_in_one_shared_variance() -> None:
    # three independent standardised components with variances 1:1:1 after scaling;
    # with one axis kept, the two others share the mean of their eigenvalues
    x = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
    ref = GaussianReference._fit_once(x, max_axes=1, shrinkage=0.0)
    assert ref.axes.shape == (1, 3)
    # standardised: each component has std sqrt(1/3); eigenvalues all (6 * 3/6... ) equal
    eig = (x / x.std(0)).T @ (x / x.std(0)) / 5.0
    lam = np.linalg.eigvalsh(eig)
    assert ref.variances[0] == pytest.approx(lam.max())
    assert ref.rest_variance == pytest.approx(lam[:2].mean())
    p = np.array([[0.5, 0.5, 0.5]]) / x.std(0)
    d2 = float((p @ p.T)[0, 0]) / lam.max()  # all variances equal: |z|^2 / lambda
    assert ref.distance(np.array([0.5, 0.5, 0.5]))[0] ** 2 == pytest.approx(d2)


def test_shrinkage_pulls_eigenvalues_towards_their_mean() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4)) * np.array([1.0, 1.0, 1.0, 1.0])
    x[:, 1] = x[:, 0] + 1e-3 * rng.normal(size=500)  # a near-degenerate direction
    plain = GaussianReference._fit_once(x, max_axes=4, shrinkage=0.0)
    shrunk = GaussianReference._fit_once(x, max_axes=4, shrinkage=0.5)
    assert shrunk.variances.min() > 100 * plain.variances.min()
    assert shrunk.variances.sum() == pytest.approx(plain.variances.sum(), rel=1e-6)


def test_robust_fit_ignores_a_far_outlier() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 2))
    with_outlier = np.vstack([x, [[1e4, -1e4]]])
    ref = GaussianReference.fit(with_outlier, max_axes=2, shrinkage=0.0)
    assert np.all(np.abs(ref.mean) < 0.2)
    assert np.all(ref.scale < 1.3)


def test_json_round_trip_and_refusals() -> None:
    rng = np.random.default_rng(3)
    ref = GaussianReference.fit(rng.normal(size=(50, 5)), max_axes=3)
    back = GaussianReference.from_json(ref.to_json())
    probe = rng.normal(size=(4, 5))
    np.testing.assert_allclose(back.distance(probe), ref.distance(probe), rtol=1e-4)
    bad = ref.to_json()
    bad["scale"] = [0.0] * 5
    with pytest.raises(ValueError, match="malformed"):
        GaussianReference.from_json(bad)
    with pytest.raises(ValueError, match="malformed"):
        GaussianReference.from_json({"mean": [1.0]})
    with pytest.raises(ValueError, match="5 values"):
        ref.distance(np.zeros(4))
    with pytest.raises(ValueError, match="at least 3"):
        GaussianReference.fit(np.zeros((2, 3)))
