"""The trust step inside Predictor.predict: sigma from the card's calibration (by hand),
inflation out of domain, a variance head's variance, the unfitted card's statement and a
JSON-clean description."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from core.trust.stats import STAT_NAMES, window_stats
from tests.core.inference.helpers import ShiftRight, Times255, predictor_for

SCALES = {
    "depth": {"tau_du": 3.0, "q": 2.5, "n": 100},
    "below_top": {"tau_du": 1.0, "q": 2.0, "n": 100},
    "hole": {"tau_du": 2.0, "q": 3.0, "n": 40},
}


def _uncertainty(tta: str | None = "flips") -> dict[str, Any]:
    return {"method": "split-conformal", "coverage": 0.95, "k": 2, "tta": tta,
            "n_images": 10, "scales": SCALES}  # fmt: skip


def _identity_domain(threshold: float) -> dict[str, Any]:
    d = len(STAT_NAMES)
    ref = {"kind": "gaussian-pca", "n": 10, "mean": [0.0] * d, "scale": [1.0] * d,
           "axes": np.eye(d).tolist(), "variances": [1.0] * d, "rest_variance": 0.0}  # fmt: skip
    return {"signals": {"image_stats": {"threshold": threshold, "reference": ref}}}


def _crop(seed: int = 0) -> np.ndarray:
    from tests.core.inference.helpers import hole_field

    img, _ = hole_field((72, 48), pitch=(72, 48), radius=10.0, seed=seed)
    return img


def test_sigma_is_the_calibrated_formula_of_the_raw_spread() -> None:
    p = predictor_for(ShiftRight(), uncertainty=_uncertainty())
    r = p.predict(_crop(), mode="crop")
    u = r.uncertainty.astype(np.float64)
    assert u.max() > 0  # flips disagree for this model
    np.testing.assert_allclose(r.sigma, 1.25 * np.sqrt(9.0 + u * u), rtol=1e-5)
    np.testing.assert_allclose(r.trust.below_top.sigma_du, 1.0 * np.sqrt(1.0 + u * u), rtol=1e-5)
    assert r.trust.inflation == 1.0 and r.trust.calibrated
    assert "covers 95 % of the pixels" in r.trust.statement
    h = r.trust.holes.holes[0]
    u_b = u[round(h.bottom_row), round(h.bottom_col)]
    assert h.depth_u == pytest.approx(3.0 * math.sqrt(4.0 + u_b * u_b), rel=1e-5)  # k sigma
    assert r.depth_below_top_unit == "DU"


def test_out_of_domain_inflates_sigma_by_the_score() -> None:
    img = _crop(1)
    dist = float(np.linalg.norm(window_stats(img.astype(np.float32) / 255.0)))
    card = {"uncertainty": _uncertainty(), "domain": _identity_domain(dist / 3.0)}
    r = predictor_for(ShiftRight(), **card).predict(img, mode="crop")
    assert r.in_domain is False and r.domain_score == pytest.approx(3.0, rel=1e-4)
    u = r.uncertainty.astype(np.float64)
    np.testing.assert_allclose(r.sigma, 3.0 * 1.25 * np.sqrt(9.0 + u * u), rtol=1e-4)
    assert r.trust.inflation == pytest.approx(3.0, rel=1e-4)
    assert "OUT OF DOMAIN" in r.trust.statement and "3.0x larger" in r.trust.statement
    assert all(h.flags[0] == "out_of_domain" for h in r.trust.holes.holes)


class ConstantVariance(nn.Module):
    """Depth = input * 255 (pointwise: no spread over flips) and sigma 2 DU (variance 4)."""

    has_variance_head = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x * 255.0, torch.full_like(x, 2.0)], dim=1)


def test_a_variance_head_adds_its_variance_to_the_spread() -> None:
    card = {
        "output": {"range": [0, 255], "variance_head": {"channel": 1}},
        "uncertainty": _uncertainty(),
    }
    p = predictor_for(ConstantVariance(), **card)
    assert p.variance_head
    r = p.predict(_crop(), mode="crop")
    np.testing.assert_allclose(r.uncertainty, 2.0, rtol=1e-5)  # sqrt(0 + 4)
    np.testing.assert_allclose(r.sigma, 1.25 * math.sqrt(9.0 + 4.0), rtol=1e-5)
    np.testing.assert_allclose(r.depth, _crop().astype(np.float32), atol=1e-3)
    no_tta = p.predict(_crop(), mode="crop", tta=False)  # the head alone still gives 2
    np.testing.assert_allclose(no_tta.uncertainty, 2.0, rtol=1e-5)
    assert not any("not estimated" in n for n in no_tta.notes)
    assert any("calibrated with TTA flips, predicted with off" in n for n in no_tta.trust.notes)


def test_an_unfitted_card_says_so_and_gives_no_sigma() -> None:
    r = predictor_for(Times255()).predict(_crop(), mode="crop")
    assert r.sigma is None and r.in_domain is True and r.domain_score is None
    assert r.trust.statement.startswith("Uncertainty not calibrated")
    assert r.trust.holes is not None and len(r.trust.holes.holes) == 1
    assert r.trust.holes.holes[0].depth_u is None


def test_description_is_plain_json() -> None:
    card = {"uncertainty": _uncertainty(), "domain": _identity_domain(1e-3)}
    r = predictor_for(ShiftRight(), **card).predict(np.zeros((72, 48), np.uint8), mode="crop")
    assert r.in_domain is False  # blank
    text = json.dumps(r.description(), allow_nan=False)
    back = json.loads(text)["trust"]
    assert back["in_domain"] is False and back["domain_reasons"][0].startswith("blank")
    assert back["depth_below_top_unit"] == "DU"


def test_readout_and_roi_stats_for_the_gui() -> None:
    r = predictor_for(ShiftRight(), uncertainty=_uncertainty()).predict(_crop(), mode="crop")
    t = r.trust
    bt = t.below_top.values
    sig = t.below_top.sigma
    ro = t.readout(30, 20)
    assert ro["depth_below_top"] == pytest.approx(float(bt[30, 20]))
    assert ro["plus_minus_2sigma"] == pytest.approx(2 * float(sig[30, 20]))
    assert ro["unit"] == "DU" and ro["in_domain"] is True
    mask = np.zeros(bt.shape, bool)
    mask[20:50, 10:40] = True
    st = t.roi_stats(mask)
    assert st["count"] == 30 * 30
    assert st["max"] == pytest.approx(float(bt[20:50, 10:40].max()))  # the deepest point
    assert st["min"] == pytest.approx(float(bt[20:50, 10:40].min()))
    assert st["mean"] == pytest.approx(float(bt[20:50, 10:40].mean()), rel=1e-5)
    rr, cc = st["deepest_at"]
    assert bt[rr, cc] == st["max"]
    assert st["max_plus_minus_2sigma"] == pytest.approx(2 * float(sig[rr, cc]))
    assert t.roi_stats(np.zeros(bt.shape, bool)) == {"count": 0, "unit": "DU"}
    with pytest.raises(ValueError, match="mask shape"):
        t.roi_stats(np.ones((3, 3), bool))
