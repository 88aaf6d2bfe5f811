"""What an evaluation reads: the model (:func:`load_model_any`: a checkpoint, a run
folder or an intensity-baseline JSON) and the labelled images (:func:`load_items`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.data import SampleRecord


def load_model_any(path: str | Path, *, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """A model and its card from a checkpoint (``.safetensors`` or its ``.json`` card), a run
    folder (its ``best`` checkpoint) or an intensity-baseline JSON."""
    from core.baseline import IntensityBaseline, is_baseline_file

    path = Path(path)
    if path.is_dir():
        cand = path / "best.safetensors"
        if not cand.is_file():
            raise FileNotFoundError(f"{path}: a folder without best.safetensors (not a run?)")
        path = cand
    if is_baseline_file(path):
        base = IntensityBaseline.load(path)
        return base, base.to_dict()
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found")
    from core.models import load_checkpoint

    if path.suffix.lower() == ".json":
        path = path.with_suffix(".safetensors")
    model, card = load_checkpoint(path, device=device)
    return model, card


def load_items(records: Sequence[SampleRecord]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The 0..1 SEM images and DU depth maps of labelled ``records`` (``ValueError`` naming
    the first unlabeled one)."""
    from core.data import DepthDataset

    unlabeled = [r for r in records if r.depth_path is None]
    if unlabeled:
        raise ValueError(
            f"{unlabeled[0].sem_path}: no depth map for this SEM image "
            f"({len(unlabeled)} unlabeled of {len(records)}); evaluation needs labelled data"
        )
    ds = DepthDataset(list(records), augment=False, preload=False)
    sems, depths = [], []
    for i in range(len(ds)):
        item = ds[i]
        sems.append(item["sem"][0].numpy())
        depths.append(item["depth"][0].numpy())
    return sems, depths
