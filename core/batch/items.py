"""What a prediction batch returns: one :class:`BatchItem` per input and the
:class:`BatchSummary` of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.inference import PredictionResult


@dataclass
class BatchItem:
    """One input's outcome. ``status``: ``done``, ``failed`` or ``cancelled``."""

    index: int
    source: Path
    status: str
    error: str | None
    result: PredictionResult | None
    ground_truth: np.ndarray | None
    rmse: float | None
    outputs: dict[str, Path]
    seconds: float
    ground_truth_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchSummary:
    items: list[BatchItem]
    n_done: int
    n_failed: int
    cancelled: bool
    summary_csv: Path | None
