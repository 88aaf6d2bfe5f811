"""``--preset intensity-baseline``: the least-squares intensity-to-depth fit
(:class:`core.baseline.IntensityBaseline`) trained like a network: the same data split,
run folder (``baseline.json``, ``metrics.csv``, ``config.toml``) and callbacks."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import core
from core.progress import CancelToken
from core.train.callbacks import EpochMetrics, TrainResult, call_all, start_info
from core.train.config import BASELINE_PRESET, TrainConfig, default_command, jsonable
from core.train.data import TrainingData
from core.train.run_folder import BASELINE_NAME, RunFolder


def train_baseline(
    config: TrainConfig, callbacks: Sequence[Any], cancel: CancelToken | None
) -> TrainResult:
    """Fit the baseline on the training split, measure it on the validation split and write
    the run folder; one "epoch" for the callbacks."""
    from core.baseline import IntensityBaseline
    from core.evaluate import evaluate_model

    folder = RunFolder(config.out)
    folder.prepare(resume=config.resume, overwrite=config.overwrite)
    t0 = time.perf_counter()
    data = TrainingData.load(config, purpose="fit on")
    split = data.split
    info = start_info(
        epochs=1,
        steps_per_epoch=1,
        start_epoch=0,
        n_train=len(split.train),
        n_val=len(split.val),
        device="cpu",
        amp="off",
        channels_last=False,
        world_size=1,
    )
    call_all(callbacks, "on_train_start", info)
    if cancel is not None:
        cancel.raise_if_cancelled()
    base = IntensityBaseline().fit(split.train)
    rep = evaluate_model(base, split.val, cancel=cancel)
    seconds = time.perf_counter() - t0
    base.training.update(
        {
            "preset": BASELINE_PRESET,
            "command": config.command or default_command(),
            "data": data.card_section(),
            "seconds": round(seconds, 3),
            "product_version": core.__version__,
            "pixel_size_nm": data.synth_meta.get("pixel_size_nm"),
            "nm_per_depth_unit": data.synth_meta.get("nm_per_depth_unit"),
        }
    )
    base.metrics = {
        "val_rmse_per_image": rep.rmse_per_image,
        "val_rmse_pooled": rep.rmse_pooled,
        "val_mae": rep.mae,
        "n_val": rep.n_images,
    }
    path = base.save(folder.file(BASELINE_NAME), overwrite=True)
    no_training_losses = dict.fromkeys(
        ("loss_g", "loss_l1", "loss_gan", "loss_rmse", "loss_d", "train_rmse"), math.nan
    )
    m = EpochMetrics(
        epoch=1,
        global_step=1,
        seconds=seconds,
        lr=0.0,
        **no_training_losses,
        val_rmse_per_image=rep.rmse_per_image,
        val_rmse_pooled=rep.rmse_pooled,
        val_mae=rep.mae,
        best=True,
        samples_per_s=len(split.train) / max(seconds, 1e-9),
    )
    folder.write_history([m], curves=False)
    cfg = config.to_dict()
    cfg["command"] = base.training["command"]
    folder.write_config(jsonable(cfg))
    call_all(callbacks, "on_epoch_end", m)
    result = TrainResult(
        run_dir=config.out,
        best_path=path,
        last_path=path,
        epochs_completed=1,
        best_epoch=1,
        best_val_rmse_per_image=rep.rmse_per_image,
        best_val_rmse_pooled=rep.rmse_pooled,
        stopped="completed",
        seconds=seconds,
        history=[m],
    )
    call_all(callbacks, "on_train_end", result)
    return result
