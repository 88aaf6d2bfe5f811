"""What an evaluation reads (core/evaluate/loader.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.baseline import IntensityBaseline
from core.data import find_records
from core.evaluate import load_items, load_model_any
from core.models import UNet, save_checkpoint


def test_load_model_any_takes_checkpoints_cards_run_folders_and_baselines(
    tmp_path: Path,
) -> None:
    net = UNet(levels=1, base_width=4)
    save_checkpoint(tmp_path / "run" / "best", net, {"training": {"preset": "p"}})
    for source in (
        tmp_path / "run",
        tmp_path / "run" / "best.safetensors",
        tmp_path / "run" / "best.json",
    ):
        model, card = load_model_any(source)
        assert isinstance(model, UNet) and card["training"]["preset"] == "p"
    base = IntensityBaseline()
    base.coef = np.arange(len(base.config.feature_names()), dtype=np.float64)
    path = base.save(tmp_path / "baseline.json")
    loaded, card = load_model_any(path)
    assert isinstance(loaded, IntensityBaseline) and np.array_equal(loaded.coef, base.coef)
    assert card["format"] == "semdepth-baseline/1"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"a folder without best\.safetensors"):
        load_model_any(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_model_any(tmp_path / "nope.safetensors")


def test_load_items_reads_0_1_sem_and_du_depth(eval_dacon: Path) -> None:
    records = find_records(eval_dacon)[:2]
    sems, depths = load_items(records)
    assert len(sems) == len(depths) == 2
    with Image.open(records[0].depth_path) as im:  # type: ignore[arg-type]
        assert np.array_equal(depths[0], np.asarray(im, dtype=np.float32))
    with Image.open(records[0].sem_path) as im:
        assert np.allclose(sems[0], np.asarray(im, dtype=np.float32) / 255.0)
    unlabeled = [dataclasses.replace(r, depth_path=None) for r in records]
    with pytest.raises(ValueError, match=r"no depth map for this SEM image \(2 unlabeled of 2\)"):
        load_items(unlabeled)
