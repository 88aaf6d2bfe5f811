"""The model card's one owner: builders, derived cards and validation of hostile cards
(core/models/card.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from core.models import CardError, CheckpointError, UNet, load_checkpoint, save_checkpoint
from core.models.card import (
    CARD_FORMAT,
    MAX_CARD_BYTES,
    base_card,
    data_section,
    denoiser_card,
    depth_card,
    depth_output_section,
    derived_card,
    input_section,
    merge_sections,
    read_card_file,
    validate_card,
)


def _good() -> dict[str, Any]:
    torch.manual_seed(0)
    net = UNet(levels=2, base_width=4)
    return depth_card(
        net,
        input=input_section(size=[72, 48], pixel_size_nm=2.0),
        output=depth_output_section(nm_per_depth_unit=0.5),
        training={"preset": "unet-2level"},
        metrics={"val_rmse_per_image": 3.0, "path": Path("a/b")},
    )


def test_depth_card_has_every_section_in_order() -> None:
    card = _good()
    assert list(card) == [
        "format",
        "created",
        "product_version",
        "architecture",
        "input",
        "output",
        "training",
        "metrics",
        "inference",
    ]
    assert card["format"] == CARD_FORMAT
    assert card["architecture"] == {"name": "unet", "config": UNet(levels=2, base_width=4).config}
    assert card["input"] == {
        "normalization": "dtype-range-0-1",
        "size": [72, 48],
        "pixel_size_nm": 2.0,
    }
    assert card["output"] == {
        "range": [0, 255],
        "unit": "DU",
        "convention": "deeper = smaller",
        "nm_per_depth_unit": 0.5,
    }
    assert card["metrics"] == {"val_rmse_per_image": 3.0, "path": "a/b"}  # plain JSON
    assert card["inference"] == {"fast_path": "auto"}
    assert validate_card(card, "x.json") is card


def test_data_section_and_merges() -> None:
    d = data_section(
        root="r", hash="h", n_train=3, n_val=1, n_test=0, seed=2, val_fraction=0.2,
        test_fraction=0.0, synth_seed=7,
    )  # fmt: skip
    assert list(d) == [
        "root", "hash", "n_train", "n_val", "n_test", "seed", "val_fraction", "test_fraction",
        "synth_seed",
    ]  # fmt: skip
    base = {"id": "unet-1", "training": {"preset": "p", "epochs": 2}, "metrics": {"a": 1}}
    merged = merge_sections(base, {"training": {"epochs": 3}, "metrics": None, "new": 1})
    assert merged == {
        "id": "unet-1",
        "training": {"preset": "p", "epochs": 3},
        "metrics": None,
        "new": 1,
    }
    assert base["training"] == {"preset": "p", "epochs": 2}  # not mutated
    derived = derived_card(base, training={"transfer": {"objective": "masked"}})
    assert "id" not in derived  # new weights get a new id
    assert derived["training"] == {"preset": "p", "epochs": 2, "transfer": {"objective": "masked"}}


def test_denoiser_card_keeps_its_identity_over_extras() -> None:
    card = denoiser_card(
        "noise2self",
        {"width": 3},
        {"task": "depth", "denoiser": {"method": "x", "note": 1}, "input": {"size": [8, 8]}},
    )
    assert card["task"] == "denoise"
    assert card["denoiser"] == {"method": "noise2self", "masker": {"width": 3}, "note": 1}
    assert card["input"] == {"normalization": "dtype-range-0-1", "size": [8, 8]}
    assert card["output"] == {"range": [0.0, 1.0], "unit": "normalized intensity (0..1)"}


def _with(path: str, value: Any) -> dict[str, Any]:
    card = json.loads(json.dumps(_good()))
    keys = path.split(".")
    target = card
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return card


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("input", None, "model card input must be an object, got None"),
        ("input", [72, 48], "model card input must be an object"),
        ("training", "fast", "model card training must be an object"),
        ("id", 12, "model card id must be a string, got 12"),
        ("architecture", None, r"model card has no architecture \{name, config\}"),
        ("architecture.config.base_width", 1_000_000, r"base_width must be an integer 1\.\.4096"),
        ("architecture.config.levels", True, r"levels must be an integer 1\.\.8, got True"),
        ("architecture.config.levels", 2.0, r"levels must be an integer"),
        ("architecture.config.base_width", 2048, "asks for 8192 channels in one layer"),
        ("architecture.config.norm", 3, "architecture.config.norm must be a string"),
        ("architecture.config.out_range", [255, 0], r"out_range must be \[low, high\]"),
        ("input.size", [72, 0], r"no valid input\.size"),
        ("input.size", [72, 10**6], r"no valid input\.size"),
        ("input.size", "72x48", r"no valid input\.size"),
        ("input.pixel_size_nm", -2.0, r"input\.pixel_size_nm must be a number > 0 or null"),
        ("output.range", [0], r"output\.range must be \[low, high\]"),
        ("output.nm_per_depth_unit", "half", r"nm_per_depth_unit must be a number > 0"),
        ("inference.fast_path", ["bf16"], r"inference\.fast_path must be a string"),
        ("metrics.val_rmse_per_image", float("inf"), r"non-finite number at metrics\."),
        ("training.nested", [[[{"x": float("nan")}]]], r"non-finite number at training\.nested"),
        ("denoiser", {"masker": {"width": 1}}, r"denoiser\.masker\.width must be an integer 2"),
        ("denoiser", {"masker": "grid"}, r"denoiser\.masker must be an object"),
    ],
)
def test_validation_refuses_with_one_line_naming_the_file(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(CardError, match=message) as err:
        validate_card(_with(path, value), "dir/m.json")
    text = str(err.value)
    assert text.startswith("dir/m.json: ") and "\n" not in text and len(text) < 200
    assert isinstance(err.value, CheckpointError)  # callers catching CheckpointError see it


def test_the_widest_layer_is_bounded() -> None:
    card = _with("architecture.config.base_width", 512)
    card["architecture"]["config"]["levels"] = 3  # 512 x 2**3 = 4096 channels: allowed
    assert validate_card(card, "m.json") is card
    card["architecture"]["config"]["levels"] = 4  # 8192 channels
    with pytest.raises(CardError, match="asks for 8192 channels in one layer"):
        validate_card(card, "m.json")


def test_validation_refuses_deep_nesting_and_foreign_objects() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(CardError, match="nests deeper than 32 levels"):
        validate_card(_with("training.deep", deep), "m.json")
    with pytest.raises(CardError, match=r"holds a bytes at metrics\.raw"):
        validate_card(_with("metrics.raw", b"\x00"), "m.json")
    with pytest.raises(CardError, match="not a JSON object"):
        validate_card([1, 2], "m.json")


def test_read_card_file_refuses_nan_huge_and_deep_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    text = json.dumps(_good())
    path.write_text(text.replace('"val_rmse_per_image": 3.0', '"val_rmse_per_image": NaN'))
    with pytest.raises(CardError, match=r"m\.json: model card is not valid JSON .*non-finite"):
        read_card_file(path)
    path.write_text(text.replace('"val_rmse_per_image": 3.0', '"val_rmse_per_image": 1e999'))
    with pytest.raises(CardError, match=r"non-finite number at metrics\.val_rmse_per_image"):
        read_card_file(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CardError, match=r"m\.json: model card is not valid JSON"):
        read_card_file(path)
    path.write_text(" " * (MAX_CARD_BYTES + 1))
    with pytest.raises(CardError, match=f"model card is {MAX_CARD_BYTES + 1} bytes"):
        read_card_file(path)
    path.write_text(text)
    assert read_card_file(path) == json.loads(text)


def test_a_hostile_card_is_refused_before_the_network_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.models.checkpoints as ckpt

    weights = save_checkpoint(tmp_path / "m", UNet(levels=2, base_width=4), {})
    card_path = tmp_path / "m.json"
    card = json.loads(card_path.read_text())
    card["architecture"]["config"]["base_width"] = 4096
    card_path.write_text(json.dumps(card))
    built: list[str] = []
    monkeypatch.setattr(ckpt, "create_model", lambda name, **cfg: built.append(name))
    with pytest.raises(CardError, match=r"m\.json: model card architecture\.config asks for"):
        load_checkpoint(weights)
    assert built == []  # nothing was allocated


def test_save_refuses_a_card_that_reading_would_refuse(tmp_path: Path) -> None:
    net = UNet(levels=1, base_width=4)
    with pytest.raises(CardError, match=r"m\.json: model card input\.pixel_size_nm"):
        save_checkpoint(tmp_path / "m", net, {"input": {"pixel_size_nm": 0}})
    assert list(tmp_path.iterdir()) == []
    assert base_card(net)["architecture"]["name"] == "unet"
