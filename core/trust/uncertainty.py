"""Calibrated uncertainty: the network's raw spread turned into a sigma that means what it
says, by split-conformal calibration on held-out data.

**Raw uncertainty** ``u`` (DU, per pixel): the standard deviation of the model's answers
over test-time augmentations and shots, combined with the model's own variance head when
it has one (output channel 1 = sigma in DU, used as its log variance): by the law of
total variance
``u^2 = var over variants of the means + mean over variants of exp(log variance)``
(:func:`combine_variants`).

**Calibrated sigma** (:class:`ConformalScale`): ``sigma = (q / k) * sqrt(tau^2 + u^2)``
with ``k = 2``. ``tau`` (DU) is an error floor the spread cannot see (for absolute depth:
the top-surface level no top-down image reveals); ``q`` is the split-conformal quantile of
the normalised errors ``|error| / sqrt(tau^2 + u^2)`` on calibration pixels at level
``ceil((n + 1) * coverage) / n`` (the finite-sample correction). Then ``+-k sigma =
+-q sqrt(tau^2 + u^2)`` covers ``coverage`` (95 %) of the pixels of exchangeable images:
marginally over pixels and images, not per image. ``tau`` is chosen on one half of the
calibration images (the narrowest mean interval at the target coverage over a grid),
``q`` on the other half (:func:`fit_scale`); the grid holds multiples of the median raw
uncertainty and of the mean absolute error.

One scale per quantity: absolute depth (the DACON height map), depth below the local top
surface (the offset cancels: much narrower) and per-hole depth (one number per hole).

Out of domain the calibration does not hold: :func:`inflate` multiplies sigma by the
domain score when it exceeds 1, and the statement says it is not calibrated there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

K_FACTOR = 2.0
COVERAGE = 0.95
#: Multiples of the median raw uncertainty tried as the floor ``tau``, and of the mean
#: absolute error (for a spread far below the error).
TAU_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
TAU_ERROR_GRID = (0.125, 0.25, 0.5, 1.0, 2.0)
#: At most this many calibration pixels per fit (a random, seeded subset).
MAX_PIXELS = 400_000


def has_variance_head(card: Mapping[str, Any]) -> bool:
    """Whether the model has a variance head: the card's ``output.variance_head`` (output
    channel 1 is a predicted sigma in DU, :func:`core.models.card.variance_head_section`)."""
    out = card.get("output")
    head = out.get("variance_head") if isinstance(out, Mapping) else None
    return isinstance(head, Mapping) and head.get("channel") == 1


def combine_variants(
    means: np.ndarray, log_vars: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and raw std (float32) over the variants on axis 0 of ``means`` (V, ...), with the
    per-variant log variances ``log_vars`` (same shape) of a variance head when given:
    ``std^2 = var(means) + mean(exp(log_vars))`` (law of total variance)."""
    m = np.asarray(means, dtype=np.float64)
    mean = m.mean(axis=0)
    var = m.var(axis=0) if m.shape[0] > 1 else np.zeros_like(mean)
    if log_vars is not None:
        lv = np.clip(np.asarray(log_vars, dtype=np.float64), -30.0, 30.0)
        var = var + np.exp(lv).mean(axis=0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def conformal_quantile(scores: np.ndarray, coverage: float = COVERAGE) -> float:
    """The split-conformal quantile of ``scores``: the ``ceil((n + 1) coverage)``-th
    smallest (infinite when that exceeds n)."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = s.size
    if n == 0:
        raise ValueError("no calibration scores")
    rank = math.ceil((n + 1) * coverage)
    return float(s[rank - 1]) if rank <= n else math.inf


@dataclass(frozen=True)
class ConformalScale:
    """``sigma = (q / k) sqrt(tau^2 + u^2)``; ``n``: calibration values (pixels or holes)."""

    tau: float
    q: float
    n: int
    coverage: float = COVERAGE
    k: float = K_FACTOR

    def sigma(self, raw: np.ndarray | float) -> np.ndarray:
        u = np.asarray(raw, dtype=np.float64)
        return ((self.q / self.k) * np.sqrt(self.tau**2 + u * u)).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "tau_du": round(self.tau, 6),
            "q": round(self.q, 6),
            "n": self.n,
            "coverage": self.coverage,
            "k": self.k,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ConformalScale:
        tau, q = float(obj["tau_du"]), float(obj["q"])
        coverage, k = float(obj.get("coverage", COVERAGE)), float(obj.get("k", K_FACTOR))
        if not (tau >= 0 and math.isfinite(q) and q > 0 and 0 < coverage < 1 and k > 0):
            raise ValueError("tau_du >= 0, q > 0, 0 < coverage < 1 and k > 0 are required")
        return cls(tau, q, int(obj.get("n", 0)), coverage, k)


def _subsample(
    errors: Sequence[np.ndarray], raws: Sequence[np.ndarray], limit: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    e = np.concatenate([np.abs(np.asarray(a, dtype=np.float64)).ravel() for a in errors])
    u = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in raws])
    if e.shape != u.shape:
        raise ValueError("errors and raw uncertainties differ in size")
    if e.size > limit:
        pick = np.random.default_rng(seed).choice(e.size, limit, replace=False)
        e, u = e[pick], u[pick]
    return e, u


def fit_scale(
    errors: Sequence[np.ndarray],
    raws: Sequence[np.ndarray],
    *,
    coverage: float = COVERAGE,
    seed: int = 0,
) -> ConformalScale:
    """Fit ``tau`` on the first half of the calibration images and ``q`` on the second
    (split conformal). ``errors``/``raws``: per image, the prediction minus the truth and
    the raw uncertainty (arrays of one shape per image; scalars for per-hole values)."""
    n_img = len(errors)
    if n_img < 2 or len(raws) != n_img:
        raise ValueError("need errors and raw uncertainties of at least 2 images")
    half = n_img // 2
    e_a, u_a = _subsample(errors[:half], raws[:half], MAX_PIXELS, seed)
    e_b, u_b = _subsample(errors[half:], raws[half:], MAX_PIXELS, seed + 1)
    med = float(np.median(u_a)) if np.median(u_a) > 0 else max(float(np.mean(e_a)), 1e-3)
    best_tau, best_width = 0.0, math.inf
    mean_err = float(np.mean(e_a))
    for tau in [m * med for m in TAU_GRID] + [m * mean_err for m in TAU_ERROR_GRID]:
        norm = np.sqrt(tau * tau + u_a * u_a)
        if np.any(norm <= 0):
            continue
        q = conformal_quantile(e_a / norm, coverage)
        width = q * float(np.mean(norm))
        if width < best_width:
            best_tau, best_width = tau, width
    norm_b = np.sqrt(best_tau**2 + u_b * u_b)
    if np.any(norm_b <= 0):  # no spread and no floor: fall back to a pure floor
        best_tau = max(float(np.mean(e_a)), 1e-3)
        norm_b = np.sqrt(best_tau**2 + u_b * u_b)
    q = conformal_quantile(e_b / norm_b, coverage)
    return ConformalScale(best_tau, q, int(e_b.size), coverage)


def coverage_of(error: np.ndarray, sigma: np.ndarray, k: float = K_FACTOR) -> float:
    """Share of pixels with ``|error| <= k sigma`` (NaN for none)."""
    e = np.abs(np.asarray(error, dtype=np.float64))
    if e.size == 0:
        return math.nan
    return float(np.mean(e <= k * np.asarray(sigma, dtype=np.float64)))


def inflate(sigma: np.ndarray, domain_score: float | None) -> tuple[np.ndarray, float]:
    """``sigma`` times the domain score when the score exceeds 1 (an infinite score gives
    an infinite sigma: no number is promised); returns the sigma and the factor."""
    if domain_score is None or not domain_score > 1.0:
        return sigma, 1.0
    factor = float(domain_score)
    return (np.asarray(sigma, dtype=np.float32) * np.float32(factor)), factor


@dataclass(frozen=True)
class Calibration:
    """The card's ``uncertainty`` section: one :class:`ConformalScale` per quantity
    (``depth``, ``below_top``, ``hole``) and what they were fitted on."""

    scales: dict[str, ConformalScale]
    tta: str | None
    info: dict[str, Any]

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> Calibration | None:
        """The calibration in ``card``, or None (missing or unusable section)."""
        section = card.get("uncertainty")
        if not isinstance(section, Mapping):
            return None
        try:
            scales = {
                name: ConformalScale.from_json(obj)
                for name, obj in (section.get("scales") or {}).items()
            }
        except (KeyError, TypeError, ValueError):
            return None
        if "depth" not in scales:
            return None
        info = {k: v for k, v in section.items() if k != "scales"}
        return cls(scales, section.get("tta"), info)
