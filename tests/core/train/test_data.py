"""The labelled data of a run and the card's ``training.data`` (core/train/data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data import dataset_hash, find_records, read_synth_meta
from core.train import TrainError
from core.train.data import TrainingData

from .conftest import tiny_config


def test_portable_path_is_relative_inside_the_working_folder(tmp_path, monkeypatch) -> None:
    from core.train import portable_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "sim").mkdir(parents=True)
    assert portable_path(tmp_path / "data" / "sim") == "data/sim"
    outside = tmp_path.parent
    assert portable_path(outside) == str(outside.resolve())


def test_training_data_splits_by_structure_and_describes_the_split(
    tiny_dacon: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(tiny_dacon, tmp_path / "run", seed=4)  # val_fraction 0.25
    data = TrainingData.load(cfg)
    records = find_records(tiny_dacon)
    assert len(data.records) == 16 and data.hash == dataset_hash(records)
    split = data.split
    assert len(split.train) + len(split.val) + len(split.test) == 16
    # the two shots of a structure stay on one side of the split
    train_structures = {r.structure for r in split.train}
    assert not train_structures & {r.structure for r in split.val}
    assert len(split.val) == 4  # 2 of the 8 structures, 2 shots each
    assert data.synth_meta == read_synth_meta(tiny_dacon)
    section = data.card_section(synth_seed=9)
    assert section == {
        "root": str(tiny_dacon.resolve()),  # outside the working folder: absolute
        "hash": data.hash,
        "n_train": 12,
        "n_val": 4,
        "n_test": 0,
        "seed": 4,
        "val_fraction": 0.25,
        "test_fraction": 0.0,
        "synth_seed": 9,
    }


def test_training_data_without_labels_says_what_it_wanted(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "imgs" / "a.png")
    cfg = tiny_config(tmp_path / "imgs", tmp_path / "run")
    with pytest.raises(TrainError, match=r"no labelled images .* to fit on"):
        TrainingData.load(cfg, purpose="fit on")
