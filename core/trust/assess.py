"""One prediction's trust step: the domain verdict, the calibrated sigma, the depth below
the local top surface and the per-hole metrology, from what the predictor computed.

:class:`TrustModel` is built once per model from its card (``domain`` and ``uncertainty``
sections, both optional); :meth:`TrustModel.assess` turns a prediction's maps into a
:class:`TrustResult`, which :class:`~core.inference.PredictionResult` carries as
``trust`` and every output (summary, TIFF description, report, GUI) reads as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.metrology.holes import HoleTable, MetrologySettings, measure_holes
from core.metrology.surface import DepthBelowTop, depth_below_top
from core.trust.domain import DomainInputs, DomainModel, DomainVerdict, FeatureFn
from core.trust.uncertainty import Calibration, inflate


@dataclass
class TrustInputs:
    """A prediction's maps on the image's own grid (``depth``, ``raw_uncertainty`` in DU,
    ``image01`` 0..1), the image on the model's grid (``work01``, resampled by ``scale``),
    the model window ``input_size``, pixel sizes, the ``mode``, field mode's holes on the
    model grid as (row, col, diameter px), the TTA kind used (None: none) and the card's
    ``nm_per_du``."""

    depth: np.ndarray
    raw_uncertainty: np.ndarray
    image01: np.ndarray
    work01: np.ndarray
    input_size: tuple[int, int]
    pixel_size_nm: float | None
    model_pixel_size_nm: float | None
    scale: float
    mode: str
    holes: Sequence[tuple[float, float, float]] | None
    tta: str | None
    nm_per_du: float | None


@dataclass
class TrustResult:
    """What a prediction can be trusted for.

    ``domain``: the :class:`~core.trust.domain.DomainVerdict`. ``sigma``: the calibrated
    per-pixel sigma (float32 DU) of the DACON height map, inflated by ``inflation`` out of
    domain; None when the card has no calibration. ``below_top``: depth below the local
    top surface (its own calibrated sigma, unit nm or DU). ``holes``: per-hole metrology.
    ``statement``: one paragraph saying what sigma and U mean for this image.
    ``calibration``: the card's calibration record (method, coverage, data), or None.
    ``model_card``: the card's essentials for reports (:func:`card_summary`).
    ``notes``: caveats (a TTA other than the calibration's, ...)."""

    domain: DomainVerdict
    sigma: np.ndarray | None
    below_top: DepthBelowTop
    holes: HoleTable | None
    inflation: float
    statement: str
    calibration: dict[str, Any] | None
    model_card: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def calibrated(self) -> bool:
        return self.sigma is not None

    def readout(self, row: int, col: int) -> dict[str, Any]:
        """What a cursor readout shows at pixel (row, col): depth below top and its
        +-2 sigma half-width in :attr:`unit` (None uncalibrated), the unit, whether the
        image is in domain."""
        bt = self.below_top
        sigma = bt.sigma
        return {
            "depth_below_top": float(bt.values[row, col]),
            "plus_minus_2sigma": None if sigma is None else 2.0 * float(sigma[row, col]),
            "unit": bt.unit,
            "in_domain": self.domain.in_domain,
        }

    def roi_stats(self, mask: np.ndarray) -> dict[str, Any]:
        """Depth below top over the pixels of ``mask`` (bool, the map's shape): count,
        mean, min and max (max = the deepest point) in :attr:`unit`, where the deepest
        point is and its +-2 sigma half-width (None uncalibrated)."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != self.below_top.du.shape:
            raise ValueError(f"mask shape {m.shape} differs from the map {self.below_top.du.shape}")
        if not m.any():
            return {"count": 0, "unit": self.below_top.unit}
        vals = self.below_top.values
        idx = np.flatnonzero(m.ravel())
        deepest = int(idx[np.argmax(vals.ravel()[idx])])
        r, c = divmod(deepest, vals.shape[1])
        sigma = self.below_top.sigma
        return {
            "count": int(idx.size),
            "mean": float(vals.ravel()[idx].mean()),
            "min": float(vals.ravel()[idx].min()),
            "max": float(vals[r, c]),
            "deepest_at": (r, c),
            "max_plus_minus_2sigma": None if sigma is None else 2.0 * float(sigma[r, c]),
            "unit": self.below_top.unit,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable record (the outputs' descriptions; no arrays)."""
        bt = self.below_top
        return {
            **self.domain.as_dict(),
            "uncertainty_calibrated": self.calibrated,
            "sigma_inflation": round(self.inflation, 4),
            "uncertainty_statement": self.statement,
            "calibration": self.calibration,
            "depth_below_top_unit": bt.unit,
            "depth_below_top_unit_note": bt.unit_note,
            "top_surface_du": _finite_or_none(float(np.median(bt.top.level))),
            "holes": None if self.holes is None else self.holes.as_dict(),
            "trust_notes": list(self.notes),
        }


def _finite_or_none(v: float) -> float | None:
    return round(v, 4) if math.isfinite(v) else None


@dataclass
class TrustModel:
    """The trust parts of one model card."""

    domain: DomainModel
    calibration: Calibration | None
    settings: MetrologySettings = field(default_factory=MetrologySettings)
    card: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> TrustModel:
        return cls(
            DomainModel.from_card(card), Calibration.from_card(card), card=card_summary(card)
        )

    def assess(self, p: TrustInputs, features: FeatureFn | None = None) -> TrustResult:
        """The trust step of one prediction (see the module docstring)."""
        raw = np.asarray(p.raw_uncertainty, dtype=np.float32)
        verdict = self.domain.check(
            DomainInputs(
                image01=p.image01,
                work01=p.work01,
                input_size=p.input_size,
                pixel_size_nm=p.pixel_size_nm,
                model_pixel_size_nm=p.model_pixel_size_nm,
                scale=p.scale,
                mode=p.mode,
                holes=list(p.holes) if p.holes else None,
                mean_raw_uncertainty=float(raw.mean()) if raw.size else None,
                tta=p.tta,
            ),
            features,
        )
        window = (
            max(4, round(p.input_size[0] / p.scale)),
            max(4, round(p.input_size[1] / p.scale)),
        )
        smooth = None if p.mode == "crop" else float(min(window))
        bt = depth_below_top(
            p.depth,
            smooth_px=smooth,
            nm_per_du=p.nm_per_du,
            pixel_size_nm=p.pixel_size_nm,
            model_pixel_size_nm=p.model_pixel_size_nm,
            scale=p.scale,
        )
        notes: list[str] = []
        sigma: np.ndarray | None = None
        factor = 1.0
        cal = self.calibration
        if cal is not None:
            if cal.tta != p.tta:
                notes.append(
                    f"uncertainty calibrated with TTA {cal.tta or 'off'}, predicted with "
                    f"{p.tta or 'off'}: sigma less reliable"
                )
            sigma, factor = inflate(cal.scales["depth"].sigma(raw), verdict.score)
            below = cal.scales.get("below_top")
            if below is not None:
                bt.sigma_du = inflate(below.sigma(raw), verdict.score)[0]
        centres = None
        if p.mode == "field" and p.holes:
            centres = [
                ((r + 0.5) / p.scale - 0.5, (c + 0.5) / p.scale - 0.5) for r, c, _ in p.holes
            ]
        holes = measure_holes(
            bt,
            window=window,
            centres=centres,
            raw_uncertainty=raw,
            hole_sigma=cal.scales.get("hole") if cal is not None else None,
            inflation=factor,
            out_of_domain=not verdict.in_domain,
            pixel_size_nm=p.pixel_size_nm,
            settings=self.settings,
        )
        return TrustResult(
            domain=verdict,
            sigma=sigma,
            below_top=bt,
            holes=holes,
            inflation=factor,
            statement=statement(verdict, cal, factor),
            calibration=None if cal is None else _calibration_record(cal),
            model_card=self.card,
            notes=notes,
        )


def card_summary(card: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a model card a report shows (plain JSON; the references' numbers
    left out)."""

    def section(name: str) -> dict[str, Any]:
        value = card.get(name)
        return dict(value) if isinstance(value, Mapping) else {}

    training = section("training")
    raw_data = training.get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
    domain = section("domain")
    sigs = domain.get("signals")
    signals: Mapping[str, Any] = sigs if isinstance(sigs, Mapping) else {}
    unc = section("uncertainty")
    return {
        "id": card.get("id"),
        "product_version": card.get("product_version"),
        "created": card.get("created"),
        "architecture": section("architecture"),
        "input": section("input"),
        "output": section("output"),
        "training": {
            k: training.get(k) for k in ("preset", "command", "epochs", "seconds", "augment")
        }
        | {"data": {k: data.get(k) for k in ("root", "hash", "n_train", "n_val", "synth_seed")}},
        "metrics": {k: v for k, v in section("metrics").items() if not isinstance(v, Mapping)},
        "domain": None
        if not domain
        else {
            "method": domain.get("method"),
            "thresholds": {
                k: v.get("threshold") for k, v in signals.items() if isinstance(v, Mapping)
            },
            "flag_rate_target": domain.get("flag_rate_target"),
            "data": domain.get("data"),
        },
        "uncertainty": None
        if not unc
        else {
            k: unc.get(k)
            for k in ("method", "coverage", "k", "tta", "n_images", "n_holes", "scales", "data")
        },
    }


def _calibration_record(cal: Calibration) -> dict[str, Any]:
    return {
        **{
            k: v
            for k, v in cal.info.items()
            if k in ("method", "coverage", "k", "n_images", "data")
        },
        "tta": cal.tta,
        "scales": {name: s.to_json() for name, s in cal.scales.items()},
    }


def statement(verdict: DomainVerdict, cal: Calibration | None, factor: float) -> str:
    """What sigma and U mean for this image, in one paragraph."""
    if cal is None:
        text = (
            "Uncertainty not calibrated: the model card has no uncertainty section (run "
            "semdepth fit-trust). The spread of the model's answers shown is a lower bound "
            "on the error, not an interval."
        )
    else:
        depth = cal.scales["depth"]
        n_images = cal.info.get("n_images")
        text = (
            f"+-{depth.k:g} sigma covers {100 * depth.coverage:.0f} % of the pixels of held-out "
            f"in-family simulated images (split-conformal calibration on "
            f"{n_images if n_images is not None else 'held-out'} images); per-hole depth "
            f"+-U (k = {depth.k:g}) covers {100 * depth.coverage:.0f} % of their holes. "
            "Coverage holds over many images, not for every pixel of every image."
        )
    if not verdict.in_domain:
        if cal is not None and factor > 1.0:
            text += (
                f" OUT OF DOMAIN: the calibration does not hold for this image; sigma and U "
                f"are shown {factor:.1f}x larger (the domain score) as a warning, not a "
                "guarantee."
            )
        else:
            text += " OUT OF DOMAIN: no uncertainty statement holds for this image."
    return text
