"""Rebuilding the trainer's split from the model card (core/evaluate/split.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data import find_records, split_by_structure
from core.evaluate import select_split


def test_select_split_auto_uses_the_trainers_held_out_part(eval_dacon: Path) -> None:
    from core.data import dataset_hash

    records = find_records(eval_dacon)
    card = {
        "training": {
            "data": {
                "seed": 1,
                "val_fraction": 0.2,
                "test_fraction": 0.2,
                "hash": dataset_hash(records),
            }
        }
    }
    chosen, split = select_split(records, card, "auto")
    expected = split_by_structure(records, val_fraction=0.2, test_fraction=0.2, seed=1).test
    assert split == "test" and chosen == expected
    other = {"training": {"data": {**card["training"]["data"], "hash": "different"}}}
    assert select_split(records, other, "auto") == (records, "all")
    with pytest.raises(ValueError, match="does not record how its data were split"):
        select_split(records, {}, "val")


def test_select_split_named_parts_and_errors(eval_dacon: Path) -> None:
    records = find_records(eval_dacon)
    card = {"training": {"data": {"seed": 0, "val_fraction": 0.34}}}  # no test part
    parts = split_by_structure(records, val_fraction=0.34, seed=0)
    assert select_split(records, card, "val") == (parts.val, "val")
    assert select_split(records, card, "train") == (parts.train, "train")
    assert select_split(records, {}, "all") == (list(records), "all")
    with pytest.raises(ValueError, match="the 'test' split is empty"):
        select_split(records, card, "test")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        select_split(records, card, "dev")
    # auto without a hash to compare: all records
    assert select_split(records, card, "auto") == (list(records), "all")
