"""The domain check: is this image like the images the model was calibrated on?

One verdict per image (:class:`DomainVerdict`): ``in_domain``, ``score`` and ``reasons``.

Cheap checks, with or without a fitted card:

- **blank**: an intensity range (2nd to 98th percentile of the 0..1 image) under
  :data:`~core.trust.stats.BLANK_CONTRAST`: blank, constant or nearly so;
- **saturated**: more of the pixels at the ends of the range than the calibration images
  had (the card's ``domain.max_saturated``: their 99.5th percentile, at least
  :data:`MAX_SATURATED`; :data:`MAX_SATURATED` without a fitted card);
- **pixel size**: predicted at a pixel size other than the model's (no resampling, or
  beyond its limits), or resampled by more than :data:`MAX_RESCALE` either way (blur and
  noise then differ from anything the model saw). An unknown pixel size is not a flag
  (DACON crops carry none) but the check says it could not be made;
- **holes** (field mode): the detected holes' median diameter at the model's scale outside
  the range the model knows (the card's ``domain.hole_diameter_px``, else
  :data:`DEFAULT_HOLE_FRACTION` of the model window's shorter side), or under
  :data:`MIN_HOLE_PX` px in the image itself (grain and noise, not holes).

Fitted checks (the card's ``domain`` section, written by ``semdepth fit-trust``):

- **image statistics** (:mod:`core.trust.stats`) and **network features**
  (:mod:`core.trust.features`) of model-input-sized windows: the Mahalanobis distance to
  the calibration images' distribution (:class:`~core.trust.reference.GaussianReference`),
  the median over the image's windows;
- **answer spread**: the image's mean raw uncertainty (test-time-augmentation spread and
  variance head) against the calibration images' (only when predicted with the TTA the
  card was fitted with).

``score`` is the largest ratio of a fitted signal to its threshold: thresholds are chosen
on held-out in-family images so that 2.5 % of them (the card's ``flag_rate_target``) score
above 1. Below 1 the image is like the calibration data on every fitted signal; 2 means
twice the distance that flags 2.5 % of in-family images. ``None`` when nothing fitted was
computed (no ``domain`` section, or a blank image).
``in_domain`` is False when the score exceeds 1 or any cheap check fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.trust.reference import GaussianReference
from core.trust.stats import (
    BLANK_CONTRAST,
    STAT_NAMES,
    sample_windows,
    saturated_fraction,
    stats_matrix,
)

MAX_SATURATED = 0.05
MAX_RESCALE = 2.0
SAME_SCALE = 0.05
MIN_HOLE_PX = 6.0
DEFAULT_HOLE_FRACTION = (0.35, 0.8)
#: The fitted signals, in the order the verdict lists them.
SIGNALS = ("image_stats", "features", "spread")
_SIGNAL_TEXT = {
    "image_stats": "image statistics unlike the calibration images",
    "features": "network features unlike the calibration images",
    "spread": "the model's answers spread more than on calibration images",
}

FeatureFn = Callable[[np.ndarray], "np.ndarray | None"]


@dataclass
class DomainInputs:
    """What the check looks at, from one prediction.

    ``image01``: the 0..1 image on its own grid; ``work01``: on the model's grid (after
    resampling by ``scale``); ``holes``: field mode's holes as (row, col, diameter px) on
    the model's grid; ``mean_raw_uncertainty``: the image's mean raw uncertainty (DU) and
    ``tta``: the TTA it came from (``None``: no TTA)."""

    image01: np.ndarray
    work01: np.ndarray
    input_size: tuple[int, int]
    pixel_size_nm: float | None
    model_pixel_size_nm: float | None
    scale: float = 1.0
    mode: str = "crop"
    holes: list[tuple[float, float, float]] | None = None
    mean_raw_uncertainty: float | None = None
    tta: str | None = None


@dataclass
class DomainVerdict:
    """The domain check's answer for one image (see the module docstring)."""

    in_domain: bool
    score: float | None
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    fitted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_domain": self.in_domain,
            "domain_score": None if self.score is None else round(self.score, 4),
            "domain_reasons": list(self.reasons),
            "fitted": self.fitted,
            "checks": self.checks,
        }

    def summary(self) -> str:
        """One line: ``in domain (score 0.42)`` or ``OUT OF DOMAIN (score 3.1): reasons``."""
        score = "not fitted" if self.score is None else f"score {self.score:.2f}"
        if self.in_domain:
            return f"in domain ({score})"
        return f"OUT OF DOMAIN ({score}): " + "; ".join(self.reasons)


@dataclass
class Signal:
    """One fitted signal: a reference distribution and its threshold (distance units)."""

    reference: GaussianReference | None
    threshold: float


@dataclass
class DomainModel:
    """The domain reference of one model (the card's ``domain`` section), or the cheap
    checks alone (``signals`` empty) when the card has none."""

    signals: dict[str, Signal] = field(default_factory=dict)
    spread_tta: str | None = None
    hole_diameter_px: tuple[float, float] | None = None
    note: str | None = None
    max_saturated: float = MAX_SATURATED

    @property
    def fitted(self) -> bool:
        return bool(self.signals)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> DomainModel:
        """The ``domain`` section of ``card``; a missing section gives the cheap checks only,
        a malformed one too, with a note saying why (prediction never fails over it)."""
        section = card.get("domain")
        if not isinstance(section, Mapping):
            return cls(note="domain reference not fitted (run semdepth fit-trust)")
        try:
            signals: dict[str, Signal] = {}
            for name, sig in (section.get("signals") or {}).items():
                if name not in SIGNALS:
                    continue
                ref = sig.get("reference")
                threshold = float(sig["threshold"])
                if not (math.isfinite(threshold) and threshold > 0):
                    raise ValueError(f"{name}: threshold must be > 0")
                signals[name] = Signal(
                    GaussianReference.from_json(ref) if ref is not None else None, threshold
                )
            holes = section.get("hole_diameter_px")
            hole_range = (float(holes[0]), float(holes[1])) if holes else None
            max_sat = float(section.get("max_saturated", MAX_SATURATED))
            if not MAX_SATURATED <= max_sat <= 1.0:
                raise ValueError(f"max_saturated must be {MAX_SATURATED}..1, got {max_sat}")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return cls(note=f"domain section of the model card unusable ({exc}); cheap checks only")
        spread = (section.get("signals") or {}).get("spread") or {}
        return cls(signals, spread.get("tta"), hole_range, max_saturated=max_sat)

    # ------------------------------------------------------------------ the checks
    def check(self, inputs: DomainInputs, features: FeatureFn | None = None) -> DomainVerdict:
        """The verdict for one prediction; ``features`` maps a window stack to the
        network's pooled features (None: the feature signal is skipped)."""
        reasons: list[str] = []
        checks: dict[str, dict[str, Any]] = {}
        blank = _check_blank(inputs.image01, self.max_saturated, reasons, checks)
        _check_pixel_size(inputs, reasons, checks)
        _check_holes(inputs, self.hole_diameter_px, reasons, checks)
        ratios: list[float] = []
        if blank:
            for name in self.signals:
                checks[name] = {"ok": None, "note": "not computed (blank image)"}
        else:
            ratios = self._fitted_checks(inputs, features, reasons, checks)
        if not self.signals:
            checks["fitted"] = {"ok": None, "note": self.note or "domain reference not fitted"}
        score = max(ratios) if ratios else None
        return DomainVerdict(
            in_domain=not reasons, score=score, reasons=reasons, checks=checks, fitted=self.fitted
        )

    def _fitted_checks(
        self,
        inputs: DomainInputs,
        features: FeatureFn | None,
        reasons: list[str],
        checks: dict[str, dict[str, Any]],
    ) -> list[float]:
        ratios: list[float] = []
        if not self.signals:
            return ratios
        centres = [(r, c) for r, c, _ in inputs.holes] if inputs.holes else None
        windows = sample_windows(inputs.work01, inputs.input_size, centres=centres)
        values: dict[str, float | None] = {}
        if "image_stats" in self.signals:
            values["image_stats"] = _median_distance(
                self.signals["image_stats"], stats_matrix(windows)
            )
        if "features" in self.signals:
            feats = features(windows) if features is not None else None
            values["features"] = (
                None if feats is None else _median_distance(self.signals["features"], feats)
            )
        if "spread" in self.signals:
            spread = inputs.mean_raw_uncertainty
            same_tta = inputs.tta is not None and inputs.tta == self.spread_tta
            values["spread"] = spread if same_tta else None
        for name, value in values.items():
            threshold = self.signals[name].threshold
            if value is None:
                checks[name] = {"ok": None, "note": _skipped(name)}
                continue
            ratio = value / threshold
            ratios.append(ratio)
            ok = ratio <= 1.0
            checks[name] = {"ok": ok, "value": round(value, 4), "threshold": round(threshold, 4)}
            if not ok:
                reasons.append(f"{_SIGNAL_TEXT[name]} ({ratio:.1f}x the threshold)")
        return ratios


def _skipped(name: str) -> str:
    if name == "features":
        return "not computed (the model has no encoder features)"
    return "not computed (predicted without the TTA the card was fitted with)"


def _median_distance(signal: Signal, vectors: np.ndarray) -> float:
    assert signal.reference is not None
    return float(np.median(signal.reference.distance(vectors)))


def _check_blank(
    image01: np.ndarray,
    max_saturated: float,
    reasons: list[str],
    checks: dict[str, dict[str, Any]],
) -> bool:
    img = np.asarray(image01, dtype=np.float64)
    lo, hi = (float(v) for v in np.percentile(img, (2, 98)))
    rng = hi - lo
    blank = rng < BLANK_CONTRAST or float(img.std()) < 1e-4
    checks["blank"] = {"ok": not blank, "value": round(rng, 6), "threshold": BLANK_CONTRAST}
    if blank:
        reasons.append(f"blank or constant image (intensity range {rng:.4f} of 1)")
    sat = saturated_fraction(img)
    ok = sat <= max_saturated or blank
    checks["saturated"] = {"ok": ok, "value": round(sat, 4), "threshold": max_saturated}
    if not ok:
        reasons.append(
            f"{100 * sat:.0f} % of pixels saturated (at most {100 * max_saturated:.0f} %)"
        )
    return blank


def _check_pixel_size(
    inputs: DomainInputs, reasons: list[str], checks: dict[str, dict[str, Any]]
) -> None:
    px, model_px = inputs.pixel_size_nm, inputs.model_pixel_size_nm
    if not px or not model_px:
        missing = "the image" if not px else "the model card"
        checks["pixel_size"] = {"ok": None, "note": f"not checked: {missing} gives no pixel size"}
        return
    ratio = px / model_px
    after = ratio / inputs.scale  # how far off the model's scale the model saw it
    record: dict[str, Any] = {
        "value": round(px, 6),
        "model": model_px,
        "resampled": round(inputs.scale, 6),
    }
    if abs(after - 1.0) > SAME_SCALE:
        record["ok"] = False
        reasons.append(
            f"pixel size {px:.4g} nm predicted at {after:.3g}x the model's {model_px:g} nm "
            "(not resampled)"
        )
    elif max(inputs.scale, 1.0 / inputs.scale) > MAX_RESCALE:
        record["ok"] = False
        reasons.append(
            f"pixel size {px:.4g} nm resampled {inputs.scale:.3g}x to the model's {model_px:g} nm "
            f"(more than {MAX_RESCALE:g}x: blur and noise unlike training)"
        )
    else:
        record["ok"] = True
    checks["pixel_size"] = record


def _check_holes(
    inputs: DomainInputs,
    fitted: tuple[float, float] | None,
    reasons: list[str],
    checks: dict[str, dict[str, Any]],
) -> None:
    if inputs.mode != "field" or not inputs.holes:
        return
    med = float(np.median([d for _, _, d in inputs.holes]))
    short = float(min(inputs.input_size))
    lo, hi = fitted or (DEFAULT_HOLE_FRACTION[0] * short, DEFAULT_HOLE_FRACTION[1] * short)
    in_image = med / inputs.scale
    ok = lo <= med <= hi and in_image >= MIN_HOLE_PX
    checks["holes"] = {
        "ok": ok,
        "value": round(med, 3),
        "expected": [round(lo, 3), round(hi, 3)],
        "in_image_px": round(in_image, 3),
        "n": len(inputs.holes),
    }
    if ok:
        return
    if in_image < MIN_HOLE_PX:
        reasons.append(
            f"{len(inputs.holes)} 'holes' of {in_image:.1f} px median in the image: "
            f"too small to be holes (at least {MIN_HOLE_PX:g} px)"
        )
    else:
        reasons.append(
            f"holes of {med:.1f} px median at the model's scale; the model knows "
            f"{lo:.0f}-{hi:.0f} px"
        )


__all__ = [
    "MAX_RESCALE",
    "MAX_SATURATED",
    "SIGNALS",
    "STAT_NAMES",
    "DomainInputs",
    "DomainModel",
    "DomainVerdict",
    "Signal",
]
