"""``semdepth denoise-train``'s run folder: :func:`train_denoiser` loads the images,
trains (:func:`~core.denoise.training.fit_denoiser`) and writes::

    OUT/denoiser.safetensors + OUT/denoiser.json   (model card, "task": "denoise")
    OUT/metrics.csv                                 (step, seconds, train and val loss)
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.denoise.training import (
    DenoiseError,
    DenoiseTrainConfig,
    DenoiseTrainResult,
    fit_denoiser,
    load_training_images,
)
from core.io.atomic import atomic_write_text
from core.io.folders import RunFolderTakenError, claim_run_folder
from core.models.card import denoiser_training_section, input_section
from core.models.noise2self import METHOD
from core.progress import CancelToken, ProgressCallback

WEIGHTS_NAME = "denoiser"
METRICS_NAME = "metrics.csv"
RUN_FILES = (f"{WEIGHTS_NAME}.safetensors", f"{WEIGHTS_NAME}.json", METRICS_NAME)


def _claim(out: Path, overwrite: bool) -> None:
    try:
        claim_run_folder(out, RUN_FILES, overwrite=overwrite)
    except NotADirectoryError as exc:
        raise DenoiseError(str(exc)) from None
    except RunFolderTakenError as exc:
        raise DenoiseError(
            f"{exc.present[0]}: exists (pass overwrite to replace the run)"
        ) from None


def metrics_csv(history: Sequence[dict[str, float]]) -> str:
    """``metrics.csv`` text: step, seconds, train_loss, val_loss (empty when not measured)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "seconds", "train_loss", "val_loss"])
    for row in history:
        w.writerow(
            [
                int(row["step"]),
                f"{row['seconds']:.3f}",
                f"{row['train_loss']:.8g}",
                "" if math.isnan(row["val_loss"]) else f"{row['val_loss']:.8g}",
            ]
        )
    return buf.getvalue()


def train_denoiser(
    config: DenoiseTrainConfig,
    *,
    images: Sequence[np.ndarray] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DenoiseTrainResult:
    """Load ``config.data`` (or use ``images``), train, and write the run folder
    ``config.out`` (see the module docstring). A cancelled run still saves its best
    weights, with ``"interrupted": true`` in the card."""
    config.validate()
    if config.out is None:
        raise DenoiseError("denoiser training: no output folder")
    out = Path(config.out)
    _claim(out, config.overwrite)
    if images is None:
        if config.data is None:
            raise DenoiseError("denoiser training: no data folder")
        images = load_training_images(
            config.data, max_images=config.max_images, seed=config.seed, cancel=cancel
        )
    if cancel is not None:
        cancel.raise_if_cancelled()
    result = fit_denoiser(images, config, progress=progress, cancel=cancel)
    shapes = sorted({tuple(int(s) for s in np.shape(a)) for a in images})
    card = {
        "input": input_section(size=list(shapes[0]) if len(shapes) == 1 else None),
        "training": denoiser_training_section(
            method=METHOD,
            command=config.command,
            data_root=None if config.data is None else str(Path(config.data).resolve()),
            n_images=len(images),
            config=config.to_dict(),
            steps=result.steps,
            seconds=result.seconds,
            stopped=result.stopped,
        ),
        "metrics": {"val_masked_mse": result.best_val_loss},
    }
    result.weights_path = result.denoiser.save(
        out / WEIGHTS_NAME, card=card, overwrite=config.overwrite
    )
    atomic_write_text(out / METRICS_NAME, metrics_csv(result.history), overwrite=True)
    return result
