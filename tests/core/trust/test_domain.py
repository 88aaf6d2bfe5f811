"""The domain verdict: cheap checks by hand, fitted signals from a known reference, card
sections good and bad."""

from __future__ import annotations

import numpy as np
import pytest

from core.trust.domain import DomainInputs, DomainModel, Signal
from core.trust.reference import GaussianReference
from core.trust.stats import STAT_NAMES


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.8, (72, 48)).astype(np.float32)


def _inputs(img: np.ndarray, **kw: object) -> DomainInputs:
    base: dict[str, object] = dict(
        image01=img, work01=img, input_size=(72, 48), pixel_size_nm=None, model_pixel_size_nm=2.0
    )
    base.update(kw)
    return DomainInputs(**base)  # type: ignore[arg-type]


def test_unfitted_card_runs_the_cheap_checks_and_says_the_rest_is_not_fitted() -> None:
    model = DomainModel.from_card({})
    v = model.check(_inputs(_image()))
    assert v.in_domain and v.score is None and not v.fitted
    assert "not fitted" in v.checks["fitted"]["note"]
    assert v.checks["pixel_size"]["ok"] is None  # the image gives no pixel size
    assert v.summary() == "in domain (not fitted)"


def test_blank_and_saturated_images_are_flagged() -> None:
    model = DomainModel.from_card({})
    blank = model.check(_inputs(np.full((72, 48), 0.5, np.float32)))
    assert not blank.in_domain and "blank" in blank.reasons[0]
    sat = _image()
    sat[:, :6] = 1.0  # 12.5 % of the pixels at the top of the range
    v = model.check(_inputs(sat))
    assert not v.in_domain
    assert v.checks["saturated"]["value"] == pytest.approx(6 / 48)
    assert "12 % of pixels saturated" in v.reasons[0]


def test_the_cards_saturation_limit_replaces_the_default() -> None:
    """A detector that clips its blacks in the training physics: the calibration images'
    saturation is in the domain (the card's max_saturated), more than that is not."""
    sat = _image()
    sat[:, :12] = 0.0  # 25 % of the pixels at the bottom of the range
    fitted = DomainModel.from_card({"domain": {"signals": {}, "max_saturated": 0.3}})
    assert fitted.max_saturated == 0.3
    v = fitted.check(_inputs(sat))
    assert v.in_domain and v.checks["saturated"] == {"ok": True, "value": 0.25, "threshold": 0.3}
    sat[:, :18] = 0.0  # 37.5 %
    v = fitted.check(_inputs(sat))
    assert not v.in_domain and "38 % of pixels saturated (at most 30 %)" in v.reasons[0]
    # a limit below the default, or not a share, makes the section unusable: cheap checks
    for bad in (0.01, 1.5, "x"):
        broken = DomainModel.from_card({"domain": {"signals": {}, "max_saturated": bad}})
        assert broken.max_saturated == 0.05 and "unusable" in (broken.note or "")


@pytest.mark.parametrize(
    ("px", "scale", "ok", "words"),
    [
        (2.0, 1.0, True, None),
        (3.0, 1.5, True, None),  # resampled 1.5x: within 2x
        (6.0, 3.0, False, "resampled 3x"),
        (270.0, 1.0, False, "135x the model's 2 nm (not resampled)"),
    ],
)
def test_pixel_size(px: float, scale: float, ok: bool, words: str | None) -> None:
    v = DomainModel.from_card({}).check(_inputs(_image(), pixel_size_nm=px, scale=scale))
    assert v.checks["pixel_size"]["ok"] is ok
    assert v.in_domain is ok
    if words:
        assert words in v.reasons[0]


def test_implausible_holes_flag_a_field() -> None:
    model = DomainModel.from_card({})
    img = _image()
    good = [(20.0, 20.0, 28.0), (50.0, 20.0, 30.0), (20.0, 40.0, 26.0)]
    assert model.check(_inputs(img, mode="field", holes=good)).in_domain
    # 10 px at the model's scale = 3.4 px in an image enlarged 2.9x: grain, not holes
    tiny = [(20.0, 20.0, 10.0)] * 5
    v = model.check(_inputs(img, mode="field", holes=tiny, scale=2.9))
    assert not v.in_domain and "too small to be holes" in v.reasons[-1]
    big = [(20.0, 20.0, 45.0)] * 3  # the default range: 0.35-0.8 x 48 = 16.8-38.4 px
    v = model.check(_inputs(img, mode="field", holes=big))
    assert not v.in_domain and "the model knows 17-38 px" in v.reasons[0]
    fitted = DomainModel(hole_diameter_px=(40.0, 50.0))
    assert fitted.check(_inputs(img, mode="field", holes=big)).in_domain


def _stats_reference(threshold: float) -> DomainModel:
    d = len(STAT_NAMES)
    ref = GaussianReference(
        mean=np.zeros(d),
        scale=np.ones(d),
        axes=np.eye(d),
        variances=np.ones(d),
        rest_variance=0.0,
        n=10,
    )
    return DomainModel(signals={"image_stats": Signal(ref, threshold)})


def test_fitted_signal_score_is_distance_over_threshold() -> None:
    from core.trust.stats import window_stats

    img = _image(3)
    dist = float(np.linalg.norm(window_stats(img)))  # identity reference: the norm
    v = _stats_reference(threshold=2 * dist).check(_inputs(img))
    assert v.fitted and v.in_domain
    assert v.score == pytest.approx(0.5)
    v = _stats_reference(threshold=dist / 3).check(_inputs(img))
    assert not v.in_domain and v.score == pytest.approx(3.0)
    assert "image statistics unlike the calibration images (3.0x the threshold)" in v.reasons
    assert v.checks["image_stats"]["threshold"] == pytest.approx(dist / 3, abs=1e-4)


def test_blank_image_with_a_fitted_card_is_flagged_without_a_score() -> None:
    v = _stats_reference(1.0).check(_inputs(np.zeros((72, 48), np.float32)))
    assert v.score is None and not v.in_domain
    assert v.checks["image_stats"]["ok"] is None


def test_spread_signal_needs_the_fitted_tta_and_features_need_an_encoder() -> None:
    model = DomainModel(
        signals={"spread": Signal(None, 2.0), "features": Signal(None, 1.0)}, spread_tta="flips"
    )
    img = _image()
    v = model.check(_inputs(img, mean_raw_uncertainty=5.0, tta="flips"), features=lambda w: None)
    assert v.score == pytest.approx(2.5) and not v.in_domain
    assert "not computed" in v.checks["features"]["note"]
    v = model.check(_inputs(img, mean_raw_uncertainty=5.0, tta="shifts"))
    assert v.checks["spread"]["ok"] is None and v.score is None and v.in_domain


def test_a_malformed_domain_section_keeps_the_cheap_checks() -> None:
    model = DomainModel.from_card({"domain": {"signals": {"image_stats": {"threshold": -1}}}})
    assert not model.fitted and "unusable" in (model.note or "")
    v = model.check(_inputs(np.zeros((72, 48), np.float32)))
    assert not v.in_domain
    assert "unusable" in v.checks["fitted"]["note"]


def test_verdict_dict_and_summary() -> None:
    v = DomainModel.from_card({}).check(_inputs(_image(), pixel_size_nm=270.0))
    d = v.as_dict()
    assert d["in_domain"] is False and d["domain_score"] is None
    assert d["domain_reasons"] == v.reasons
    assert v.summary().startswith("OUT OF DOMAIN (not fitted): pixel size 270 nm")
