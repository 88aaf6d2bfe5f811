"""``tta=auto|on|off``: the flips run on every image except one out of the model's domain by
its known pixel size, which gets one pass and a note saying why."""

from __future__ import annotations

import numpy as np
import pytest

from core.inference import ScalePolicy
from core.inference.scale import ScaleDecision, decide_scale
from core.inference.tta import TTA_CHOICES, resolve_tta, tta_choice
from core.io import SemImage
from tests.core.inference.helpers import ShiftRight, predictor_for

AUTO = ScalePolicy.named("auto")


def _decision(px: float | None, shape: tuple[int, int] = (300, 400)) -> ScaleDecision:
    return decide_scale(px, 2.0, shape, AUTO, input_size=(72, 48), hole_diameters=lambda: [])


def test_choices_by_name_and_bool() -> None:
    assert TTA_CHOICES == ("auto", "on", "off")
    assert [tta_choice(x) for x in (True, False, "AUTO", " on ", "off")] == [
        "on",
        "off",
        "auto",
        "on",
        "off",
    ]
    with pytest.raises(ValueError, match="unknown TTA setting 'flips'; choose one of auto, on"):
        tta_choice("flips")


def test_auto_leaves_the_flips_out_only_when_the_known_scale_is_out_of_range() -> None:
    far = _decision(80.0)  # 40x the model's pixel size: native, out of the domain
    assert (far.action, far.in_domain) == ("native", False)
    use, note = resolve_tta("auto", far)
    assert use is False
    assert note is not None and "out of the model's domain by its scale" in note
    assert "--tta on" in note
    # explicit settings are obeyed whatever the scale
    assert resolve_tta("on", far) == (True, None)
    assert resolve_tta(True, far) == (True, None)
    assert resolve_tta("off", _decision(2.0)) == (False, None)
    # in range (resampled), at the model's scale, or scale unknown: the flips run
    for px in (5.0, 2.0, None):
        d = _decision(px)
        assert resolve_tta("auto", d) == (True, None), d.reason


def _spread_image(px: float) -> SemImage:
    img = np.random.default_rng(0).integers(0, 256, (120, 100), dtype=np.uint8)
    return SemImage.from_array(img, pixel_size_nm=px)


def _pred():  # type: ignore[no-untyped-def]
    return predictor_for(ShiftRight(), **{"input": {"size": [72, 48], "pixel_size_nm": 2.0}})


def test_predict_auto_skips_the_flips_of_a_frame_out_of_the_domain_by_scale() -> None:
    pred = _pred()
    auto = pred.predict(_spread_image(80.0))  # the default is auto
    on = pred.predict(_spread_image(80.0), tta="on")
    assert auto.settings["tta"] is False and auto.settings["tta_setting"] == "auto"
    assert auto.settings["predictions_per_pixel"] == 1
    assert any("one pass without test-time flips" in n for n in auto.notes)
    # ShiftRight is not flip-equivariant: the flips' spread is not zero, one pass's is
    assert float(np.abs(auto.uncertainty).max()) == 0.0
    assert on.settings["tta"] is True and float(on.uncertainty.max()) > 1.0
    assert not any("one pass without" in n for n in on.notes)


def test_predict_auto_keeps_the_flips_at_the_model_scale() -> None:
    res = _pred().predict(_spread_image(2.0))
    assert res.settings["tta"] is True and res.settings["predictions_per_pixel"] == 4
    assert float(res.uncertainty.max()) > 1.0


def test_an_unknown_setting_is_refused_before_any_work() -> None:
    pred = _pred()
    calls: list[int] = []
    pred._runner = lambda batch: calls.append(1)  # type: ignore[assignment]
    with pytest.raises(ValueError, match="unknown TTA setting"):
        pred.predict(_spread_image(2.0), tta="sometimes")
    with pytest.raises(ValueError, match="unknown TTA setting"):
        pred.predict_many([_spread_image(2.0)], tta="sometimes")
    assert calls == []
