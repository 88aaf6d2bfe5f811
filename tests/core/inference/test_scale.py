"""The scale policy: resample, native with a note, or skip; the true reason in each case."""

from __future__ import annotations

import numpy as np
import pytest

from core.inference import ScalePolicy, ScaleSkipped
from core.inference.scale import HOLE_FRACTION, decide_scale, scale_for_image
from core.io import SemImage
from tests.core.inference.helpers import Times255, hole_field, predictor_for

INPUT = (72, 48)
AUTO = ScalePolicy.named("auto")


def _decide(px: float | None, shape: tuple[int, int], policy: str = "auto", **kw):  # type: ignore[no-untyped-def]
    return decide_scale(px, 2.0, shape, ScalePolicy.named(policy), input_size=INPUT, **kw)


def _no_holes_wanted() -> list[float]:
    raise AssertionError("the holes must not be searched when the pixel size is known")


def test_policies_by_name() -> None:
    assert ScalePolicy.named("AUTO") == AUTO
    assert ScalePolicy.named("model").max_pixels == 64_000_000
    assert ScalePolicy.named("model").max_factor == 8.0
    with pytest.raises(ValueError, match="unknown scale policy 'x'; choose one of auto, model"):
        ScalePolicy.named("x")


def test_within_the_range_resamples_and_says_so() -> None:
    d = _decide(5.825, (350, 512), hole_diameters=_no_holes_wanted)
    assert (d.action, d.basis, d.in_domain) == ("model", "pixel size", True)
    assert d.factor == pytest.approx(2.9125)
    assert d.reason == (
        "pixel size 5.825 nm is 2.91x the model's 2 nm: resampled 2.91x to 1019 x 1491 px "
        "at the model's scale"
    )
    assert d.noteworthy


def test_same_pixel_size_is_native_without_a_note() -> None:
    d = _decide(2.05, (300, 300))
    assert (d.action, d.factor, d.in_domain, d.noteworthy) == ("native", 1.0, True, False)


def test_outside_the_range_is_native_out_of_domain() -> None:
    d = _decide(74.43, (690, 1024))
    assert (d.action, d.factor, d.in_domain) == ("native", 1.0, False)
    assert d.wanted == pytest.approx(37.215)
    assert "37.2x the model's 2 nm, outside the supported 0.25-4x (scale policy 'auto')" in d.reason
    assert d.reason.endswith(
        "predicted at native scale, out of the model's domain; depths are unreliable"
    )


def test_the_pixel_cap_is_named_as_the_reason() -> None:
    """The old note blamed the factor range for what was the pixel cap."""
    d = _decide(15.9673, (2048, 2048), "model")  # 7.98x: inside 1/8-8x, but 267 Mpx
    assert d.action == "native"
    assert "resampling would make 2048 x 2048 px into 16351 x 16351 px (267 Mpx), " in d.reason
    assert "above the 64 Mpx limit (scale policy 'model')" in d.reason
    assert "outside" not in d.reason
    small = _decide(3.9, (2100, 2100))  # 1.95x: within 0.25-4x, 16.8 Mpx > 16 Mpx
    assert "above the 16 Mpx limit (scale policy 'auto')" in small.reason


def test_never_upsamples_into_tens_of_megapixels_by_default() -> None:
    """The Zeiss file at 11.16 nm: 5.6x would make 1024 x 690 into 22 Mpx."""
    d = _decide(11.16, (690, 1024))
    assert d.action == "native" and d.factor == 1.0 and not d.in_domain
    forced = _decide(11.16, (690, 1024), "model")
    assert forced.action == "model" and forced.factor == pytest.approx(5.58)


def test_native_policy_never_resamples() -> None:
    d = _decide(3.0, (300, 300), "native")
    assert (d.action, d.factor, d.in_domain) == ("native", 1.0, False)
    assert "the scale policy is 'native'" in d.reason


def test_skip_policy_skips_what_auto_would_predict_out_of_domain() -> None:
    assert _decide(3.0, (300, 300), "skip").action == "model"
    d = _decide(74.43, (690, 1024), "skip")
    assert (d.action, d.in_domain) == ("skip", False)
    assert d.reason.startswith("skipped: pixel size 74.43 nm is 37.2x the model's 2 nm, outside")
    unknown = _decide(None, (500, 500), "skip", hole_diameters=lambda: [])
    assert unknown.action == "skip" and "the scale is unknown" in unknown.reason


def test_without_pixel_size_the_holes_decide() -> None:
    typical = HOLE_FRACTION * 48
    same = _decide(None, (500, 500), hole_diameters=lambda: [typical] * 5)
    assert (same.action, same.basis, same.in_domain) == ("native", "holes", True)
    assert "5 holes found have a median diameter of 26.9 px" in same.reason
    small = _decide(None, (500, 500), hole_diameters=lambda: [typical / 2] * 5)
    assert (small.action, small.basis) == ("model", "holes") and small.factor == pytest.approx(2.0)
    none = _decide(None, (500, 500), hole_diameters=lambda: [])
    assert (none.action, none.basis, none.in_domain) == ("native", "none", False)
    assert "the scale is unknown" in none.reason and "depths are unreliable" in none.reason


def test_a_crop_sized_image_without_pixel_size_is_taken_at_the_model_scale() -> None:
    d = _decide(None, (72, 48), hole_diameters=_no_holes_wanted)
    assert (d.action, d.basis, d.in_domain, d.noteworthy) == ("native", "input size", True, False)


def test_scale_for_image_finds_holes_once_for_the_mode() -> None:
    img, _ = hole_field()
    decision, holes = scale_for_image(None, 2.0, img.astype(np.float32) / 255, AUTO, INPUT)
    assert holes is not None and len(holes) >= 3 and decision.basis == "holes"
    known, none = scale_for_image(2.0, 2.0, img.astype(np.float32) / 255, AUTO, INPUT)
    assert none is None and known.basis == "pixel size"


# ----------------------------------------------------------------------------- through Predictor
def _pred():  # type: ignore[no-untyped-def]
    return predictor_for(Times255(), **{"input": {"size": [72, 48], "pixel_size_nm": 2.0}})


def test_the_decision_is_in_the_settings_and_the_notes() -> None:
    img = np.random.default_rng(0).integers(0, 256, (120, 100), dtype=np.uint8)
    res = _pred().predict(SemImage.from_array(img, pixel_size_nm=80.0), tta=False)
    scale = res.settings["scale"]
    assert scale["action"] == "native" and scale["factor"] == 1.0 and scale["wanted"] == 40.0
    assert res.settings["scale_policy"] == "auto"
    assert scale["reason"] in res.notes
    assert res.description()["settings"]["scale"]["reason"] == scale["reason"]


def test_skip_policy_raises_before_any_inference() -> None:
    pred = _pred()
    calls: list[int] = []
    pred._runner = lambda batch: calls.append(1)  # type: ignore[assignment]
    img = np.zeros((120, 100), np.uint8)
    with pytest.raises(ScaleSkipped, match=r"^skipped: pixel size 80 nm is 40x") as info:
        pred.predict(SemImage.from_array(img, pixel_size_nm=80.0), scale_policy="skip")
    assert info.value.decision.action == "skip" and calls == []


def test_the_predictor_default_policy_is_settable() -> None:
    pred = _pred()
    pred.scale_policy = "native"
    img = np.random.default_rng(0).integers(0, 256, (90, 60), dtype=np.uint8)
    res = pred.predict(SemImage.from_array(img, pixel_size_nm=3.0), tta=False)
    assert res.settings["scale_policy"] == "native" and res.settings["resample_factor"] == 1.0
