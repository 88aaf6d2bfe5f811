"""Which records to evaluate: the trainer's split, rebuilt from the model card."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.data import SampleRecord

SPLITS = ("auto", "test", "val", "train", "all")


def select_split(
    records: Sequence[SampleRecord], card: Mapping[str, Any], split: str
) -> tuple[list[SampleRecord], str]:
    """The records of ``split`` as the model's trainer made it (from the card's data seed and
    fractions); ``"auto"``: the trainer's test part (else validation part) when the data set
    is the one it was trained on, else all records. Returns the records and the split used."""
    from core.data import dataset_hash, split_by_structure

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "all":
        return list(records), "all"
    data = dict(card.get("training", {}).get("data", {}) or {})
    fractions_known = "seed" in data and "val_fraction" in data
    if split == "auto":
        same = fractions_known and data.get("hash") == dataset_hash(records)
        if not same:
            return list(records), "all"
        split = "test" if float(data.get("test_fraction", 0.0)) > 0 else "val"
    if not fractions_known:
        raise ValueError(
            f"the model card does not record how its data were split (training.data.seed / "
            f"val_fraction); cannot select the {split!r} split: use --split all"
        )
    parts = split_by_structure(
        records,
        val_fraction=float(data["val_fraction"]),
        test_fraction=float(data.get("test_fraction", 0.0)),
        seed=int(data["seed"]),
    )
    chosen = list(getattr(parts, split))
    if not chosen:
        raise ValueError(f"the {split!r} split is empty for this data set")
    return chosen, split
