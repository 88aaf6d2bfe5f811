"""The model card's trust sections, written by ``semdepth fit-trust`` (:mod:`core.trust.fit`)
and read by :mod:`core.trust`:

``domain``
    ``{method, stat_names, signals: {image_stats|features: {threshold, reference},
    spread: {threshold (DU), tta}}, flag_rate_target, flag_rate_on_calibration,
    quantile, hole_diameter_px: [lo, hi] | null, max_saturated (share of pixels),
    data: {root, hash, n_images}}``
``uncertainty``
    ``{method, coverage, k, tta, shots, n_images, n_holes, scales: {depth|below_top|hole:
    {tau_du, q, n, coverage, k}}, data}``

:func:`trust_problem` is the validation :func:`core.models.card.validate_card` applies:
thresholds and scales are positive numbers (the readers check the references' shapes and
fall back to the cheap checks when one is unusable).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

DOMAIN_METHOD = (
    "Mahalanobis distance of image statistics and pooled encoder features to held-out "
    "in-family images (Gaussian, shrunk principal axes), mean answer spread; thresholds "
    "at one common quantile of held-out images"
)
UNCERTAINTY_METHOD = (
    "split conformal: sigma = (q / k) sqrt(tau^2 + u^2), u the raw spread of the model's "
    "answers (TTA, variance head), tau fitted on one half of the images, q on the other"
)


def _plain(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def domain_section(
    *,
    references: Mapping[str, Any],
    thresholds: Mapping[str, float],
    spread_tta: str | None,
    stat_names: list[str],
    flag_rate_target: float,
    flag_rate_on_calibration: float,
    quantile: float,
    hole_diameter_px: list[float] | None,
    data: Mapping[str, Any],
    max_saturated: float | None = None,
) -> dict[str, Any]:
    """The ``domain`` section: per signal its threshold and fitted reference (the spread
    has none: its threshold is in DU); what it was fitted on."""
    signals: dict[str, Any] = {}
    for name, threshold in thresholds.items():
        sig: dict[str, Any] = {"threshold": round(float(threshold), 6)}
        if name in references:
            sig["reference"] = references[name]
        if name == "spread":
            sig["tta"] = spread_tta
            sig["unit"] = "DU (mean raw uncertainty of the image)"
        signals[name] = sig
    return {
        "method": DOMAIN_METHOD,
        "stat_names": list(stat_names),
        "signals": signals,
        "flag_rate_target": flag_rate_target,
        "flag_rate_on_calibration": round(flag_rate_on_calibration, 6),
        "quantile": round(quantile, 6),
        "hole_diameter_px": hole_diameter_px,
        **({} if max_saturated is None else {"max_saturated": max_saturated}),
        "data": _plain(dict(data)),
    }


def uncertainty_section(
    *,
    scales: Mapping[str, Any],
    tta: str | None,
    coverage: float,
    n_images: int,
    n_holes: int,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``uncertainty`` section: one conformal scale per quantity (``depth``,
    ``below_top``, ``hole``) and what they were fitted on (one shot per image)."""
    return {
        "method": UNCERTAINTY_METHOD,
        "coverage": coverage,
        "k": 2,
        "tta": tta,
        "shots": 1,
        "n_images": n_images,
        "n_holes": n_holes,
        "scales": _plain(dict(scales)),
        "data": _plain(dict(data)),
    }


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def trust_problem(card: Mapping[str, Any]) -> str | None:
    """What is wrong with ``card``'s trust sections (None: nothing), as the end of a
    sentence starting "model card ..."."""
    domain = card.get("domain", {})
    signals = domain.get("signals", {}) if isinstance(domain, Mapping) else {}
    if not isinstance(signals, Mapping):
        return f"domain.signals must be an object, got {type(signals).__name__}"
    for name, sig in signals.items():
        t = sig.get("threshold") if isinstance(sig, Mapping) else None
        if not (_number(t) and t is not None and t > 0):
            return f"domain.signals.{name}.threshold must be a number > 0, got {t!r}"
    unc = card.get("uncertainty", {})
    scales = unc.get("scales", {}) if isinstance(unc, Mapping) else {}
    if not isinstance(scales, Mapping):
        return f"uncertainty.scales must be an object, got {type(scales).__name__}"
    for name, sc in scales.items():
        q = sc.get("q") if isinstance(sc, Mapping) else None
        tau = sc.get("tau_du") if isinstance(sc, Mapping) else None
        if not (_number(q) and q is not None and q > 0):
            return f"uncertainty.scales.{name}.q must be a number > 0, got {q!r}"
        if not (_number(tau) and tau is not None and tau >= 0):
            return f"uncertainty.scales.{name}.tau_du must be a number >= 0, got {tau!r}"
    return None
