"""The card's calibration section: built, validated, refused when broken
(core/models/card.py, core/models/calibration_fields.py, core/calibrate/section.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from core.calibrate.request import ReferenceResult
from core.calibrate.section import agreement_section, method_text
from core.models import read_card, save_checkpoint
from core.models.card import CardError, calibration_section

from .conftest import tiny_model

FIG = {"n": 2, "rmse": 1.5, "bias": -0.5, "slope": 0.9}


def section(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "method": "images: masked reconstruction + AdaBN",
        "source_model": {"id": "unet-abc", "file": "/m.safetensors"},
        "budget_s": 60.0,
        "seconds": 61.2,
        "steps": 40,
        "images": {"folder": "/imgs", "count": 6, "sha256": "ab" * 32},
        "averages": {"file": "/a.csv", "sha256": "cd" * 32, "count": 4, "images": 6},
        "references": None,
        "crossval": {"folds": 2, "groups": 4, "seed": 0},
        "correction": {"name": "offset", "gain": 1.0, "offset_du": -2.5, "pivot_du": 160.0},
        "agreement": {"averages": {"unit": "DU", "before": FIG, "after": FIG}},
    }
    fields.update(over)
    return fields


def test_a_calibrated_card_is_written_and_read_back(tmp_path: Path) -> None:
    sec = calibration_section(**section())
    out = save_checkpoint(tmp_path / "cal", tiny_model(), {"calibration": sec})
    assert read_card(out)["calibration"] == sec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"images": {"count": 0, "sha256": "ab" * 32}}, "images.count must be an integer >= 1"),
        ({"images": {"count": 3, "sha256": "xyz"}}, "images.sha256 must be 64 hex digits"),
        ({"budget_s": 0}, "budget_s must be a number > 0"),
        ({"method": 3}, "method must be a string"),
        ({"crossval": {"folds": 1}}, "crossval.folds must be an integer >= 2"),
        ({"averages": {"count": True}}, "averages.count must be an integer >= 1"),
        ({"correction": {"name": "gain", "gain": 9.0, "offset_du": 0, "pivot_du": 0}},
         "correction.gain must be a number 0.25..4"),
        ({"correction": None}, "correction must be an object"),
        ({"agreement": {"points": []}}, "agreement.points must be an object"),
        ({"agreement": {"points": {"unit": "nm", "before": FIG}}},
         "agreement.points.after must be an object"),
        ({"agreement": {"points": {"unit": "nm", "before": FIG, "after": {**FIG, "rmse": -1}}}},
         "agreement.points.after.rmse must be a number >= 0 or null"),
        ({"agreement": {"points": {"unit": "nm", "before": {**FIG, "n": 1.5}, "after": FIG}}},
         "agreement.points.before.n must be an integer >= 0"),
    ],
)  # fmt: skip
def test_a_broken_section_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    message = "calibration." + message
    with pytest.raises(CardError, match=message):
        calibration_section(**section(**change))
    # the same section in a card on disk: refused when read, with the file named
    good = save_checkpoint(
        tmp_path / "cal", tiny_model(), {"calibration": calibration_section(**section())}
    )
    card_path = good.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["calibration"] = {**card["calibration"], **copy.deepcopy(change)}
    card_path.write_text(json.dumps(card))
    with pytest.raises(CardError, match=f"{card_path.name}: model card {message}"):
        read_card(good)


def test_agreement_section_by_kind() -> None:
    rows = [
        ReferenceResult("average", "a", 2, 150.0, 140.0, 149.0, 0),
        ReferenceResult("average", "b", 3, 140.0, 131.0, 141.0, 1),
        ReferenceResult("point", "c", 2, 30.0, 20.0, 31.0, 0),
    ]
    got = agreement_section(rows)
    assert got["averages"]["unit"] == "DU" and got["points"]["unit"] == "nm"
    assert got["averages"]["before"] == {
        "n": 2,
        "rmse": pytest.approx(9.5131),  # sqrt((10^2 + 9^2) / 2)
        "bias": -9.5,
        "slope": 0.9,
    }
    assert got["averages"]["after"]["bias"] == 0.0
    assert got["points"]["after"] == {"n": 1, "rmse": 1.0, "bias": 1.0, "slope": None}
    assert agreement_section([]) == {}


def test_method_text_says_what_was_done() -> None:
    assert method_text("none", {"way": "none"}) == (
        "images: masked reconstruction + no simulator anchor + AdaBN"
    )
    text = method_text(["charging"], {"way": "correction", "correction": {"name": "offset"}})
    assert "simulator anchor (charging)" in text and "output correction (offset)" in text
    assert "legacy" in method_text(None, {"way": "fine-tune"})
    assert method_text("none", {"way": "none", "base": "source"}).startswith("images: not used")
    assert method_text("none", {"way": "none", "base": "AdaBN only"}).startswith(
        "images: AdaBN only"
    )
