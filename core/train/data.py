"""The labelled data of a training run: records, their split by structure, the data-set
hash and the simulator's metadata; and the card's ``training.data`` section that says how
to rebuild the split (``semdepth evaluate --split``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.models.card import data_section
from core.train.config import TrainConfig, TrainError

if TYPE_CHECKING:
    from core.data import SampleRecord, Split


def portable_path(path: Path) -> str:
    """``path`` relative to the working folder when inside it (POSIX form), else absolute.

    Model cards travel with the model to other machines: a path relative to where
    training ran says where the data was without naming this machine's folders.
    """
    p = Path(path).resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(p)


@dataclass
class TrainingData:
    """The labelled records under ``config.data`` and their train/val/test split."""

    config: TrainConfig
    records: list[SampleRecord]
    split: Split
    hash: str
    synth_meta: dict[str, Any]

    @classmethod
    def load(cls, config: TrainConfig, *, purpose: str = "train on") -> TrainingData:
        """Find the labelled pairs (:class:`TrainError` when there are none: "no labelled
        images ... to <purpose>"), keep those of ``config.families`` when set, hash them
        and split them by structure."""
        from core.data import (
            DatasetError,
            dataset_hash,
            find_records,
            read_synth_meta,
            select_families,
            split_by_structure,
        )

        records = [r for r in find_records(config.data) if r.depth_path is not None]
        if not records:
            raise TrainError(
                f"{config.data}: no labelled images (SEM + depth map pairs) to {purpose}"
            )
        if config.families is not None:
            try:
                records = select_families(records, config.data, config.families)
            except DatasetError as exc:
                raise TrainError(str(exc)) from None
        split = split_by_structure(
            records,
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
            seed=config.seed,
        )
        meta = read_synth_meta(config.data) or {}
        return cls(config, records, split, dataset_hash(records), meta)

    def card_section(self, **extra: Any) -> dict[str, Any]:
        """The card's ``training.data``: root, hash, split sizes, seed and fractions."""
        cfg = self.config
        return data_section(
            root=portable_path(cfg.data),
            hash=self.hash,
            n_train=len(self.split.train),
            n_val=len(self.split.val),
            n_test=len(self.split.test),
            seed=cfg.seed,
            val_fraction=cfg.val_fraction,
            test_fraction=cfg.test_fraction,
            **({"families": list(cfg.families)} if cfg.families is not None else {}),
            **extra,
        )
