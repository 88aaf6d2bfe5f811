"""What the accuracy benches share: recipes read from ``configs/*.toml``, test images held
in memory, a model's predictions, and errors absolute and offset-free.

The top surface of every simulated structure is drawn at 150-170 DU and a top-down image
does not show it, so each image's mean error (its offset) is mostly that unobservable
level: every summary gives the RMSE as measured and after removing each image's mean error
("offset-free"), and the offset's share of the squared error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.data import SampleRecord
from core.evaluate import load_items, predict_fn
from core.train import load_config_toml

#: Settings a bench chooses itself, whatever the recipe file says.
BENCH_KEYS = ("data", "out", "epochs", "time_budget_s", "time_budget", "command", "overwrite")


def recipe_settings(path: Path) -> dict[str, Any]:
    """The training settings of a recipe TOML (``configs/default_model.toml`` and the
    like) without the keys a bench sets (data, run folder, epochs, budget, command)."""
    values = load_config_toml(path)
    return {k: v for k, v in values.items() if k.replace("-", "_") not in BENCH_KEYS}


def load_arrays(records: Sequence[SampleRecord]) -> tuple[np.ndarray, np.ndarray]:
    """``(sem, depth)``: the records' 0..1 SEM images and DU depth maps, ``(n, rows, cols)``
    float32 each (one image size)."""
    sems, depths = load_items(list(records))
    return np.stack(sems).astype(np.float32), np.stack(depths).astype(np.float32)


def predict(model: Any, sem: np.ndarray, batch: int = 256) -> np.ndarray:
    """Depth (DU) of a stack of 0..1 images: a torch model's channel 0 in eval mode (as
    ``semdepth evaluate``), or an intensity baseline's."""
    fn = predict_fn(model, device="cpu")
    return np.concatenate([fn(sem[i : i + batch]) for i in range(0, len(sem), batch)])


def image_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: ``mse`` (DU^2), ``mse0`` (after removing the image's mean error) and
    ``offset`` (the mean error, DU)."""
    err = pred.astype(np.float64) - gt.astype(np.float64)
    offset = err.mean(axis=(1, 2))
    mse = (err**2).mean(axis=(1, 2))
    return {"mse": mse, "mse0": np.maximum(mse - offset**2, 0.0), "offset": offset}


def summarize(errors: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, Any]:
    """RMSE per image (mean over images), pooled, and both offset-free; the offset's share
    of the squared error; ``n`` images. Images of ``mask`` only when given."""
    mse, mse0 = errors["mse"], errors["mse0"]
    if mask is not None:
        mse, mse0 = mse[mask], mse0[mask]
    if mse.size == 0:
        return {"n": 0}
    return {
        "n": int(mse.size),
        "rmse_per_image": float(np.sqrt(mse).mean()),
        "rmse_pooled": float(np.sqrt(mse.mean())),
        "offset_free_per_image": float(np.sqrt(mse0).mean()),
        "offset_free_pooled": float(np.sqrt(mse0.mean())),
        "offset_share": float(1.0 - mse0.mean() / mse.mean()) if mse.mean() > 0 else 0.0,
    }


def loadavg() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def mean_samples_per_s(history: Sequence[Any]) -> float | None:
    """Training throughput over a run's epochs (samples/s), None without epochs."""
    rates = [h.samples_per_s for h in history if h.samples_per_s == h.samples_per_s]
    return round(float(np.mean(rates)), 1) if rates else None
