"""A fitted reference distribution and a distance to it: :class:`GaussianReference`.

The domain check compares a vector (image statistics, network features) with the same
vectors of held-out in-family images. The reference is a Gaussian in standardised
coordinates (each component minus its mean, over its standard deviation), described by
its principal axes:

- the ``k`` leading eigenvalues ``lambda_i`` of the standardised covariance are shrunk
  towards their mean (``lambda_i <- (1 - s) lambda_i + s mean(lambda)``, ``s`` =
  ``shrinkage``): a few hundred images cannot pin down every direction, and a direction
  of tiny variance would otherwise make any small change look huge;
- the remaining directions share one variance (their mean eigenvalue, probabilistic PCA),
  so the card stores ``k`` axes instead of a full matrix.

The distance is the Mahalanobis distance under that Gaussian:
``d^2 = sum_i c_i^2 / lambda_i + |r|^2 / lambda_rest`` with ``c`` the coordinates on the
axes and ``r`` the rest. The fit is robust: it is refitted once without the 2.5 % of
vectors farthest from the first fit (outliers of the calibration set do not widen it).
Pure numpy; JSON round trip through :meth:`to_json` / :meth:`from_json`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Share of the calibration vectors left out of the second (robust) fit.
TRIM = 0.025


@dataclass
class GaussianReference:
    """A Gaussian reference in standardised coordinates (see the module docstring)."""

    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,) standard deviations
    axes: np.ndarray  # (k, d) orthonormal principal axes
    variances: np.ndarray  # (k,) shrunk eigenvalues
    rest_variance: float  # variance of every other direction (0 when k = d)
    n: int  # vectors fitted

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(
        cls, vectors: np.ndarray, *, max_axes: int = 24, shrinkage: float = 0.3
    ) -> GaussianReference:
        """Fit to ``vectors`` (n, d), n >= 3; see the module docstring."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 3:
            raise ValueError(f"need at least 3 vectors (n, d) to fit a reference, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("reference vectors must be finite")
        first = cls._fit_once(x, max_axes, shrinkage)
        d = first.distance(x)
        keep = d <= np.quantile(d, 1.0 - TRIM)
        if keep.sum() >= 3:
            return cls._fit_once(x[keep], max_axes, shrinkage)
        return first

    @classmethod
    def _fit_once(cls, x: np.ndarray, max_axes: int, shrinkage: float) -> GaussianReference:
        n, d = x.shape
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        z = (x - mean) / scale
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        eig = np.zeros(d)
        eig[: s.size] = s**2 / max(n - 1, 1)
        avg = float(eig.mean()) if eig.mean() > 0 else 1.0
        shrunk = (1.0 - shrinkage) * eig + shrinkage * avg
        shrunk = np.maximum(shrunk, 1e-6 * avg)
        k = min(max_axes, d, vt.shape[0])
        rest = float(shrunk[k:].mean()) if k < d else 0.0
        return cls(mean, scale, vt[:k].copy(), shrunk[:k].copy(), rest, int(n))

    def distance(self, vectors: np.ndarray) -> np.ndarray:
        """Mahalanobis distance (n,) of each row of ``vectors`` (n, d) (or one vector)."""
        x = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        if x.shape[1] != self.dim:
            raise ValueError(f"expected vectors of {self.dim} values, got {x.shape[1]}")
        z = (x - self.mean) / self.scale
        c = z @ self.axes.T
        d2 = np.sum(c * c / self.variances, axis=1)
        if self.rest_variance > 0:
            r = z - c @ self.axes
            d2 = d2 + np.sum(r * r, axis=1) / self.rest_variance
        return np.sqrt(d2)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (numbers rounded to 6 significant digits)."""

        def r(a: np.ndarray) -> list[Any]:
            return np.vectorize(lambda v: float(f"{v:.6g}"))(np.asarray(a)).tolist()

        return {
            "kind": "gaussian-pca",
            "n": self.n,
            "mean": r(self.mean),
            "scale": r(self.scale),
            "axes": r(self.axes),
            "variances": r(self.variances),
            "rest_variance": float(f"{self.rest_variance:.6g}"),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> GaussianReference:
        """The reference stored by :meth:`to_json`; ``ValueError`` for a malformed one."""
        try:
            mean = np.asarray(obj["mean"], dtype=np.float64)
            scale = np.asarray(obj["scale"], dtype=np.float64)
            axes = np.asarray(obj["axes"], dtype=np.float64)
            variances = np.asarray(obj["variances"], dtype=np.float64)
            rest = float(obj["rest_variance"])
            n = int(obj["n"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed reference ({exc})") from None
        d = mean.shape[0] if mean.ndim == 1 else -1
        ok = (
            d > 0
            and scale.shape == (d,)
            and axes.ndim == 2
            and axes.shape[1] == d
            and variances.shape == (axes.shape[0],)
            and bool(np.all(scale > 0))
            and bool(np.all(variances > 0))
            and math.isfinite(rest)
            and rest >= 0
            and (rest > 0 or axes.shape[0] == d)
        )
        if not ok:
            raise ValueError("malformed reference (inconsistent shapes or non-positive scales)")
        return cls(mean, scale, axes, variances, rest, n)
