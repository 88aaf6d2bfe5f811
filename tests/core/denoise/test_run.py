"""The run folder of ``semdepth denoise-train`` (core/denoise/run.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.denoise import DenoiseError, DenoiseTrainConfig, train_denoiser
from core.denoise.run import metrics_csv

from .helpers import noisy_set


def test_metrics_csv_leaves_unmeasured_validation_empty() -> None:
    text = metrics_csv(
        [
            {"step": 10.0, "seconds": 1.23456, "train_loss": 0.5, "val_loss": math.nan},
            {"step": 20.0, "seconds": 2.0, "train_loss": 0.25, "val_loss": 1 / 3},
        ]
    )
    assert text == ("step,seconds,train_loss,val_loss\n10,1.235,0.5,\n20,2.000,0.25,0.33333333\n")


def test_train_denoiser_writes_the_run_folder_once(tmp_path: Path) -> None:
    _, noisy = noisy_set(4, seed=1, size=24)
    out = tmp_path / "run"
    cfg = DenoiseTrainConfig(
        out=out, steps=3, batch_size=2, patch=16, base_width=4, validate_every=2, device="cpu"
    )
    res = train_denoiser(cfg, images=noisy)
    assert res.weights_path == out / "denoiser.safetensors"
    card = json.loads((out / "denoiser.json").read_text())
    assert card["task"] == "denoise" and card["input"]["size"] == [24, 24]
    assert card["training"]["data"] == {"root": None, "n_images": 4}
    assert card["training"]["steps"] == 3 and card["training"]["interrupted"] is False
    assert card["training"]["config"]["steps"] == 3
    assert card["metrics"] == {"val_masked_mse": res.best_val_loss}
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["step", "2", "3"]
    with pytest.raises(DenoiseError, match=r"denoiser\.safetensors: exists \(pass overwrite"):
        train_denoiser(cfg, images=noisy)
    cfg.overwrite = True
    assert train_denoiser(cfg, images=noisy).steps == 3
    (tmp_path / "file").write_text("x")
    cfg.out = tmp_path / "file"
    with pytest.raises(DenoiseError, match="file: exists and is not a folder"):
        train_denoiser(cfg, images=noisy)
    with pytest.raises(DenoiseError, match="no data folder"):
        train_denoiser(DenoiseTrainConfig(out=tmp_path / "x"))
