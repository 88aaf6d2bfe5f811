"""Training depth models: presets of the report's variants, callbacks, checkpoints, resume.

:func:`train` takes a typed :class:`TrainConfig` and writes a *run folder* (see
:mod:`core.train.run_folder` for its files; every write goes through its
:class:`~core.train.run_folder.RunFolder`). The GUI drives training through plain
:class:`Callback` objects and a :class:`~core.progress.CancelToken`; the CLI adds
:class:`TqdmCallback`. Under ``torchrun`` the trainer runs data-parallel
(DistributedDataParallel: gloo on CPU, nccl on CUDA); only rank 0 writes files.

Modules: ``config`` (TrainConfig, TOML, presets), ``callbacks`` (what the trainer reports),
``schedule`` (learning rate, early stopping), ``data`` (records and split), ``run_folder``
(every file), ``curves`` (curves.png), ``state`` (trainer state, RNG), ``distributed``
(DDP), ``speed`` (bf16 / channels-last), ``networks`` (the networks and one step),
``trainer`` (the loop), ``baseline`` (the intensity baseline as a "preset").
"""

from core.train.callbacks import (
    METRIC_COLUMNS,
    Callback,
    EpochMetrics,
    FunctionCallback,
    ProgressAdapter,
    StepInfo,
    TqdmCallback,
    TrainResult,
)
from core.train.config import (
    AMP_CHOICES,
    BASELINE_PRESET,
    CHANNELS_LAST_CHOICES,
    SCHEDULES,
    TrainConfig,
    TrainError,
    config_from_mapping,
    dumps_toml,
    load_config_toml,
)
from core.train.curves import plot_curves
from core.train.data import portable_path
from core.train.run_folder import (
    CONFIG_NAME,
    CURVES_NAME,
    METRICS_NAME,
    RUN_FILES,
    RunFolder,
    read_metrics_csv,
    write_metrics_csv,
)
from core.train.schedule import EarlyStopping, lr_factor
from core.train.state import STATE_NAME, load_trainer_state, save_trainer_state
from core.train.trainer import train

__all__ = [
    "AMP_CHOICES",
    "BASELINE_PRESET",
    "CHANNELS_LAST_CHOICES",
    "CONFIG_NAME",
    "CURVES_NAME",
    "METRICS_NAME",
    "METRIC_COLUMNS",
    "RUN_FILES",
    "SCHEDULES",
    "STATE_NAME",
    "Callback",
    "EarlyStopping",
    "EpochMetrics",
    "FunctionCallback",
    "ProgressAdapter",
    "RunFolder",
    "StepInfo",
    "TqdmCallback",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "config_from_mapping",
    "dumps_toml",
    "load_config_toml",
    "load_trainer_state",
    "lr_factor",
    "plot_curves",
    "portable_path",
    "read_metrics_csv",
    "save_trainer_state",
    "train",
    "write_metrics_csv",
]
