"""TrainConfig, its TOML file and the preset it resolves (core/train/config.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.models import PRESETS
from core.train import TrainConfig, TrainError, config_from_mapping, dumps_toml, load_config_toml
from core.train.config import fingerprint, jsonable, resolve_preset


def test_toml_writer_round_trips() -> None:
    data = {
        "preset": "unet-2level",
        "epochs": 3,
        "lr": 0.001,
        "resume": False,
        "note": 'quote " and \\ backslash',
        "missing": None,
        "generator": {"base_width": 4, "out_range": [0.0, 255.0]},
        "resolved": {"speed": {}, "inner": {"x": 1.5}},
    }
    back = tomllib.loads(dumps_toml(data))
    expected = {k: v for k, v in data.items() if v is not None}
    assert back == expected


def test_bad_settings_are_reported() -> None:
    with pytest.raises(TrainError, match="unknown setting 'epoch'"):
        config_from_mapping({"preset": "x", "data": "d", "out": "o", "epoch": 1})
    with pytest.raises(TrainError, match="'data' is required"):
        config_from_mapping({"preset": "x", "out": "o"})
    with pytest.raises(TrainError, match="amp must be one of"):
        config_from_mapping({"preset": "x", "data": "d", "out": "o", "amp": "fp8"})


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"epochs": 0}, "epochs must be >= 1, got 0"),
        ({"val_fraction": 0.0}, "val_fraction must be > 0"),
        ({"val_fraction": 0.6, "test_fraction": 0.4}, "val_fraction \\+ test_fraction"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"ema": 1.0}, "ema must be in \\(0, 1\\)"),
        ({"schedule": "linear"}, "schedule must be one of constant, cosine, onecycle"),
    ],
)
def test_config_validation_names_the_setting(setting: dict, message: str) -> None:
    with pytest.raises(TrainError, match=f"^training config: {message}"):
        TrainConfig(preset="unet-2level", data=Path("d"), out=Path("o"), **setting)


def test_mapping_keys_with_dashes_and_the_time_budget_alias() -> None:
    cfg = config_from_mapping(
        {"preset": "p", "data": "d", "out": "o", "batch-size": 8, "time_budget": 30}
    )
    assert cfg.batch_size == 8 and cfg.time_budget_s == 30 and cfg.data == Path("d")


def test_load_config_toml_reads_a_train_table_relative_to_the_file(tmp_path: Path) -> None:
    f = tmp_path / "cfg" / "a.toml"
    f.parent.mkdir()
    f.write_text(
        '[train]\npreset = "unet-2level"\ndata = "data"\nout = "/abs/run"\nepochs = 2\n'
        'product_version = "0.0.1"\n[train.resolved]\nlr = 1.0\n'
    )
    values = load_config_toml(f)
    # relative paths become relative to the file; what the trainer wrote for information goes
    assert values == {
        "preset": "unet-2level",
        "data": str(f.parent / "data"),
        "out": "/abs/run",
        "epochs": 2,
    }
    with pytest.raises(TrainError, match="config file not found"):
        load_config_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("preset = \n")
    with pytest.raises(TrainError, match=r"bad\.toml: not valid TOML"):
        load_config_toml(bad)


def test_resolve_preset_applies_the_overrides() -> None:
    cfg = TrainConfig(
        preset="pix2pix-2level",
        data=Path("d"),
        out=Path("o"),
        generator={"base_width": 4},
        discriminator={"ndf": 8},
        lr=0.5,
        batch_size=3,
        d_every=2,
        lambda_l1=7.0,
    )
    p = resolve_preset(cfg)
    base = PRESETS["pix2pix-2level"]
    assert p.generator == {**base.generator, "base_width": 4}
    assert p.discriminator == {**base.discriminator, "ndf": 8}  # type: ignore[dict-item]
    assert (p.lr, p.batch_size, p.d_every, p.lambda_l1) == (0.5, 3, 2, 7.0)
    assert p.rmse_mode == base.rmse_mode  # not overridden: the preset's
    with pytest.raises(TrainError, match="unknown preset 'nope'"):
        resolve_preset(TrainConfig(preset="nope", data=Path("d"), out=Path("o")))
    no_d = TrainConfig(preset="unet-2level", data=Path("d"), out=Path("o"), discriminator={"x": 1})
    with pytest.raises(TrainError, match="has no discriminator to configure"):
        resolve_preset(no_d)


def test_fingerprint_holds_what_a_resume_must_share() -> None:
    cfg = TrainConfig(preset="unet-2level", data=Path("d"), out=Path("o"), seed=3, beta1=0.8)
    fp = jsonable(fingerprint(cfg, resolve_preset(cfg)))
    assert fp["seed"] == 3 and fp["preset"] == "unet-2level"
    assert fp["betas"] == [0.8, PRESETS["unet-2level"].betas[1]]  # beta1 overrides the first
    # the epochs and the time budget may change on resume
    assert "epochs" not in fp and "time_budget_s" not in fp
    assert jsonable({"p": Path("a/b")}) == {"p": "a/b"}
