"""The run folder of a training run, and the one object that writes into it.

Contents (only rank 0 writes; every file is replaced atomically)::

    config.toml                                  the effective configuration (--config input)
    metrics.csv                                  one row per epoch (METRIC_COLUMNS)
    curves.png                                   losses and RMSE per epoch
    best.safetensors + best.json                 the best generator so far and its card
    last.safetensors + last.json                 the latest generator and its card
    trainer_state.safetensors + .json            what --resume needs (core.train.state)
    baseline.json                                instead of the above: the intensity baseline

:class:`RunFolder` claims the folder once (refusing an earlier run unless resume or
overwrite) and makes every per-epoch write: :meth:`RunFolder.write_epoch` after each
epoch, :meth:`RunFolder.write_last` on a cancel or interrupt.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.io.atomic import atomic_write_bytes, atomic_write_text
from core.io.folders import RunFolderTakenError, check_folder_path, claim_run_folder
from core.train.callbacks import METRIC_COLUMNS, EpochMetrics
from core.train.config import TrainError, dumps_toml
from core.train.state import STATE_NAME, load_trainer_state, save_trainer_state

CONFIG_NAME = "config.toml"
METRICS_NAME = "metrics.csv"
CURVES_NAME = "curves.png"
BASELINE_NAME = "baseline.json"
#: the files whose presence means "this folder already holds a run"
RUN_FILES = (
    "best.safetensors",
    "best.json",
    "last.safetensors",
    "last.json",
    f"{STATE_NAME}.safetensors",
    f"{STATE_NAME}.json",
    METRICS_NAME,
    BASELINE_NAME,
)


def write_metrics_csv(path: Path, history: Sequence[EpochMetrics]) -> None:
    """``metrics.csv``: the header, then one row per epoch (floats to 6 digits)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), lineterminator="\n")
    w.writeheader()
    for m in history:
        row = m.to_row()
        row["best"] = int(row["best"])
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue(), overwrite=True)


def read_metrics_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a run's ``metrics.csv`` as numbers."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


class RunFolder:
    """Every file a training run writes, in one place (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------ once
    def prepare(self, *, resume: bool, overwrite: bool, writer: bool = True) -> None:
        """Check (and unless ``resume`` claim) the folder: :class:`TrainError` when a file
        stands in its place, or when it holds a run and neither ``resume`` nor ``overwrite``
        was asked. The ``writer`` (rank 0) creates it and, with ``overwrite``, removes the
        earlier run's files; other ranks only check."""
        try:
            if resume:
                check_folder_path(self.path)
                return
            claim_run_folder(
                self.path,
                RUN_FILES,
                overwrite=overwrite,
                clear=(*RUN_FILES, CURVES_NAME, CONFIG_NAME),
                create=writer,
            )
        except NotADirectoryError as exc:
            raise TrainError(str(exc)) from None
        except RunFolderTakenError as exc:
            names = ", ".join(p.name for p in exc.present[:3])
            raise TrainError(
                f"{self.path}: already holds a run ({names}...); use --resume to "
                "continue it, --overwrite to replace it, or another --out"
            ) from None

    def write_config(self, values: Mapping[str, Any], *, header: str = "") -> None:
        """``config.toml`` from ``values`` (plain JSON-like data), after ``header``."""
        text = header + dumps_toml(values) + "\n"
        atomic_write_text(self.file(CONFIG_NAME), text, overwrite=True)

    # ------------------------------------------------------------------ per epoch
    def save_model(self, name: str, model: nn.Module, card: dict[str, Any]) -> Path:
        """``<name>.safetensors`` + ``<name>.json`` (the model card)."""
        from core.models import save_checkpoint

        path = self.file(f"{name}.safetensors")
        save_checkpoint(path, model, card, overwrite=True)
        return path

    def save_state(self, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
        save_trainer_state(self.path, tensors, scalars)

    def load_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return load_trainer_state(self.path)

    def write_history(self, history: Sequence[EpochMetrics], *, curves: bool = True) -> None:
        """``metrics.csv`` and (with ``curves``) ``curves.png``."""
        from core.train.curves import plot_curves

        write_metrics_csv(self.file(METRICS_NAME), history)
        if curves:
            atomic_write_bytes(self.file(CURVES_NAME), plot_curves(history), overwrite=True)

    def write_epoch(
        self,
        model: nn.Module,
        card: dict[str, Any],
        *,
        best: bool,
        state: tuple[dict[str, torch.Tensor], dict[str, Any]],
        history: Sequence[EpochMetrics],
    ) -> None:
        """Everything after one epoch: ``best`` (when it is), ``last``, the trainer state,
        ``metrics.csv`` and ``curves.png``."""
        if best:
            self.save_model("best", model, card)
        self.write_last(model, card, state)
        self.write_history(history)

    def write_last(
        self,
        model: nn.Module,
        card: dict[str, Any],
        state: tuple[dict[str, torch.Tensor], dict[str, Any]],
    ) -> None:
        """``last`` and the trainer state (also what a cancel or Ctrl+C leaves)."""
        self.save_model("last", model, card)
        self.save_state(*state)
