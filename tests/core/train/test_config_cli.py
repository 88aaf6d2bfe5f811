"""TOML configs, flag overrides, CLI resume, schedules and the curve plot."""

from __future__ import annotations

import io
import math
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from core.cli import main
from core.train import (
    EarlyStopping,
    EpochMetrics,
    TrainError,
    config_from_mapping,
    dumps_toml,
    load_config_toml,
    lr_factor,
    plot_curves,
    read_metrics_csv,
)


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
    with pytest.raises(TrainError, match="unknown setting 'epoch'"):
        config_from_mapping({"preset": "x", "data": "d", "out": "o", "epoch": 1})
    with pytest.raises(TrainError, match="'data' is required"):
        config_from_mapping({"preset": "x", "out": "o"})
    with pytest.raises(TrainError, match="amp must be one of"):
        config_from_mapping({"preset": "x", "data": "d", "out": "o", "amp": "fp8"})
    argv = ["train", "--preset", "nope", "--data", str(tiny_dacon), "--out", str(tmp_path / "r")]
    assert main([*argv, "--no-progress"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["train", "--list-presets"]) == 0
    assert "pix2pix-3level" in capsys.readouterr().out


def test_lr_schedules() -> None:
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("cosine", 0.05, warmup=0.05) == pytest.approx(1.0)
    assert lr_factor("cosine", 0.525, warmup=0.05) == pytest.approx(0.5)
    assert lr_factor("cosine", 1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("onecycle", 0.0) == pytest.approx(1 / 25)
    assert lr_factor("onecycle", 0.3) == pytest.approx(1.0)
    assert lr_factor("onecycle", 1.0) == pytest.approx(1 / 25 / 1e4)


def test_early_stopping_counts_epochs_without_improvement() -> None:
    es = EarlyStopping(patience=2, min_delta=0.1)
    assert not es.update(5.0)
    assert not es.update(4.95)  # not better by more than min_delta
    assert es.update(5.0)
    es2 = EarlyStopping(patience=2)
    assert [es2.update(v) for v in (3.0, 2.0, 2.5, 1.0, 1.0, 1.0)] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]


def _m(epoch: int, val: float, loss_d: float = math.nan) -> EpochMetrics:
    return EpochMetrics(
        epoch,
        epoch * 10,
        1.0 * epoch,
        1e-3,
        1.0 / epoch,
        0.1,
        0.0,
        0.0,
        loss_d,
        val + 0.5,
        val,
        val * 1.01,
        val * 0.8,
        True,
        100.0,
    )


def test_plot_curves_draws_a_png() -> None:
    for history in ([_m(1, 3.0)], [_m(1, 3.0, 0.7), _m(2, 2.5, 0.6), _m(3, 2.2, 0.65)], []):
        png = plot_curves(history)
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.size == (960, 380)
            if history:  # the curves put colour on the white canvas
                assert len(im.getcolors(100000) or []) > 3


def test_portable_path_is_relative_inside_the_working_folder(tmp_path, monkeypatch) -> None:
    from core.train import portable_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "sim").mkdir(parents=True)
    assert portable_path(tmp_path / "data" / "sim") == "data/sim"
    outside = tmp_path.parent
    assert portable_path(outside) == str(outside.resolve())
