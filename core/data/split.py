"""Group-aware train/validation/test splits, data-set fingerprints and simulator metadata."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.records import DatasetError, SampleRecord


@dataclass
class Split:
    """Records of each part; no structure appears in two parts."""

    train: list[SampleRecord] = field(default_factory=list)
    val: list[SampleRecord] = field(default_factory=list)
    test: list[SampleRecord] = field(default_factory=list)

    def structures(self, part: str) -> set[str]:
        return {r.structure for r in getattr(self, part)}


def split_by_structure(
    records: Sequence[SampleRecord],
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> Split:
    """Split by structure so that a structure's files (every case, every shot) stay together.

    Structures are shuffled with ``seed`` (the result depends only on the set of records, not
    on their order) and assigned in turn to test, validation, then train, so that each part's
    share of *files* is within one structure of its fraction. A part with a positive fraction
    gets at least one structure when there are enough. Records keep their input order inside
    each part.
    """
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1 (got {val_fraction} + {test_fraction})"
        )
    if not records:
        raise DatasetError("cannot split an empty list of records")
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.structure, []).append(i)
    names = sorted(groups)
    needed = 1 + (val_fraction > 0) + (test_fraction > 0)
    if len(names) < needed:
        raise DatasetError(
            f"cannot split {len(names)} structure(s) into {needed} parts "
            f"(val_fraction={val_fraction}, test_fraction={test_fraction}); "
            "splits are by structure, so more distinct structures are needed"
        )
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    total = len(records)
    t_target = test_fraction * total
    v_target = val_fraction * total
    part_of: dict[str, str] = {}
    cum = 0.0
    for name in order:
        n = len(groups[name])
        mid = cum + n / 2.0
        part_of[name] = (
            "test" if mid < t_target else "val" if mid < t_target + v_target else "train"
        )
        cum += n
    # Rounding can leave a part empty (a fraction below half the first structure, or train
    # squeezed out): move one structure, keeping each part within one structure of its share.
    if "train" not in part_of.values():
        part_of[order[-1]] = "train"
    for part, frac in (("test", test_fraction), ("val", val_fraction)):
        if frac > 0 and part not in part_of.values():
            counts = {
                p: sum(1 for v in part_of.values() if v == p) for p in ("train", "val", "test")
            }
            donor_part = max(counts, key=lambda p: counts[p])
            donor = next(n for n in order if part_of[n] == donor_part)
            part_of[donor] = part
    split = Split()
    for r in records:
        getattr(split, part_of[r.structure]).append(r)
    return split


def _file_digest(path: Path, cache: dict[Path, str]) -> str:
    digest = cache.get(path)
    if digest is None:
        h = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read for the data-set hash ({exc})") from None
        digest = cache[path] = h.hexdigest()
    return digest


def dataset_hash(records: Sequence[SampleRecord]) -> str:
    """SHA-256 (hex) over every record's SEM and depth paths, relative to the records'
    common folder, and the files' contents; independent of record order and of where the
    data lives."""
    if not records:
        raise DatasetError("cannot hash an empty list of records")
    paths = [str(Path(r.sem_path).resolve()) for r in records]
    paths += [str(Path(r.depth_path).resolve()) for r in records if r.depth_path is not None]
    common = Path(os.path.commonpath(paths))
    if str(common) in set(paths):
        common = common.parent
    cache: dict[Path, str] = {}
    lines = []
    for r in records:
        sem = Path(r.sem_path).resolve()
        entry = [sem.relative_to(common).as_posix(), _file_digest(sem, cache)]
        if r.depth_path is not None:
            depth = Path(r.depth_path).resolve()
            entry += [depth.relative_to(common).as_posix(), _file_digest(depth, cache)]
        lines.append("\t".join(entry))
    h = hashlib.sha256()
    for line in sorted(lines):
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


SYNTH_META_NAME = "synth_meta.json"


def read_synth_meta(root: str | Path) -> dict[str, Any] | None:
    """The simulator's ``synth_meta.json`` at the data root (or beside ``simulation_data``
    when ``root`` is that folder); None when there is none."""
    root = Path(root)
    base = root if root.is_dir() else root.parent
    for cand in (base / SYNTH_META_NAME, base.parent / SYNTH_META_NAME):
        if cand == base.parent / SYNTH_META_NAME and base.name.lower() != "simulation_data":
            continue
        if cand.is_file():
            try:
                meta = json.loads(cand.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DatasetError(f"{cand}: unreadable simulator metadata ({exc})") from None
            if not isinstance(meta, dict):
                raise DatasetError(f"{cand}: simulator metadata is not a JSON object")
            return meta
    return None
