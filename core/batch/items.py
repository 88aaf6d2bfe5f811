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
    """One input's outcome. ``status``: ``done``, ``failed``, ``skipped`` (by the scale
    policy or the user; ``error`` says why) or ``cancelled``. ``resumed``: complete from
    an earlier run (``--resume``), not predicted again; ``stored_row``: its summary row."""

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
    resumed: bool = False
    stored_row: list[str] | None = None


@dataclass
class BatchSummary:
    """What a batch did. ``stopped``: why it stopped before the end when it could not
    go on (the summary or manifest could not be written), else None."""

    items: list[BatchItem]
    n_done: int
    n_failed: int
    cancelled: bool
    summary_csv: Path | None
    n_skipped: int = 0
    n_resumed: int = 0
    stopped: str | None = None
    warnings: list[str] = field(default_factory=list)
