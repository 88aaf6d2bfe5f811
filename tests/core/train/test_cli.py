"""``semdepth train``: presets, TOML config then flags, resume from the run folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from core.cli import main
from core.data import dataset_hash, find_records, read_synth_meta, split_by_structure
from core.evaluate import evaluate_model
from core.models import CARD_FORMAT, PRESETS, load_checkpoint
from core.train import METRIC_COLUMNS, load_config_toml, read_metrics_csv


@pytest.mark.parametrize("preset", [*PRESETS, "intensity-baseline"])
def test_cli_trains_every_preset_for_one_epoch(
    preset: str, tiny_dacon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--preset", preset, "--data", str(tiny_dacon), "--out", str(out)]
    argv += ["--epochs", "1", "--batch-size", "16", "--device", "cpu", "--amp", "off"]
    argv += ["--val-fraction", "0.25", "--no-progress"]
    if preset != "intensity-baseline":
        argv += ["--set", "generator.base_width=4"]
        if PRESETS[preset].discriminator is not None:
            argv += ["--set", "discriminator.ndf=4"]
    assert main(argv) == 0
    assert "validation RMSE per image" in capsys.readouterr().out

    rows = read_metrics_csv(out / "metrics.csv")
    with (out / "metrics.csv").open() as fh:
        assert next(csv.reader(fh)) == list(METRIC_COLUMNS)
    assert len(rows) == 1 and rows[0]["epoch"] == 1
    val = rows[0]["val_rmse_per_image"]
    assert 0 < val < 255 and 0 < rows[0]["val_rmse_pooled"] < 255

    records = find_records(tiny_dacon)
    split = split_by_structure(records, val_fraction=0.25, seed=0)
    if preset == "intensity-baseline":
        card = json.loads((out / "baseline.json").read_text())
        assert card["format"] == "semdepth-baseline/1"
        assert card["training"]["data"]["hash"] == dataset_hash(records)
        assert card["metrics"]["val_rmse_per_image"] == pytest.approx(val, rel=1e-5)
        return

    for name in ("best", "last"):
        assert (out / f"{name}.safetensors").is_file() and (out / f"{name}.json").is_file()
    assert (out / "trainer_state.safetensors").is_file()
    with Image.open(out / "curves.png") as im:
        assert im.size[0] > 400 and im.size[1] > 200
    model, card = load_checkpoint(out / "best.safetensors")
    meta = read_synth_meta(tiny_dacon)
    assert meta is not None
    assert card["format"] == CARD_FORMAT
    assert card["architecture"]["name"] == "unet"
    assert card["architecture"]["config"]["base_width"] == 4
    assert card["architecture"]["config"]["levels"] == PRESETS[preset].generator["levels"]
    assert card["input"] == {
        "normalization": "dtype-range-0-1",
        "size": [72, 48],
        "pixel_size_nm": meta["pixel_size_nm"],
    }
    assert card["output"]["nm_per_depth_unit"] == meta["nm_per_depth_unit"]
    assert card["output"]["range"] == [0, 255] and card["output"]["unit"] == "DU"
    tr = card["training"]
    assert tr["preset"] == preset
    assert f"--preset {preset}" in tr["command"] and tr["command"].startswith("semdepth train")
    assert tr["data"]["hash"] == dataset_hash(records)
    assert tr["data"]["n_train"] == len(split.train) and tr["data"]["n_val"] == len(split.val)
    assert tr["data"]["seed"] == 0 and tr["data"]["root"] == str(tiny_dacon.resolve())
    assert tr["epochs"] == 1 and tr["seconds"] > 0
    assert card["product_version"] == "0.1.0"
    assert card["inference"]["fast_path"] == "auto"  # chosen at inference by measurement
    assert card["metrics"]["val_rmse_per_image"] == pytest.approx(val, rel=1e-5)
    # the recorded validation RMSE is what evaluating the saved model on that split gives
    rep = evaluate_model(model, split.val)
    assert rep.rmse_per_image == pytest.approx(card["metrics"]["val_rmse_per_image"], rel=1e-5)
    assert rep.rmse_pooled == pytest.approx(card["metrics"]["val_rmse_pooled"], rel=1e-5)


def test_config_file_then_flags_then_resume_from_the_run_folder(
    tiny_dacon: Path, tmp_path: Path
) -> None:
    cfg_file = tmp_path / "cfg" / "train.toml"
    cfg_file.parent.mkdir()
    cfg_file.write_text(
        f'preset = "unet-2level"\ndata = "{tiny_dacon.as_posix()}"\nout = "../run"\n'
        'epochs = 5\nbatch-size = 16\ndevice = "cpu"\namp = "off"\nval_fraction = 0.25\n'
        "[generator]\nbase_width = 4\n"
    )
    out = tmp_path / "run"  # relative paths in the file are relative to the file
    assert main(["train", "--config", str(cfg_file), "--epochs", "1", "--no-progress"]) == 0
    assert len(read_metrics_csv(out / "metrics.csv")) == 1
    recorded = load_config_toml(out / "config.toml")
    assert recorded["epochs"] == 1 and recorded["generator"] == {"base_width": 4}
    assert recorded["batch_size"] == 16
    assert "--epochs 1" in recorded["command"]
    # resume needs only the run folder; --epochs extends the run
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--no-progress"]) == 0
    rows = read_metrics_csv(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2]


def test_bad_settings_are_reported(
    tiny_dacon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--preset", "nope", "--data", str(tiny_dacon), "--out", str(tmp_path / "r")]
    assert main([*argv, "--no-progress"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["train", "--list-presets"]) == 0
    assert "pix2pix-3level" in capsys.readouterr().out
