"""Noise2Self denoisers: training (``training``: in memory; ``run``: the run folder of
``semdepth denoise-train``) and batch denoising of SEM files (``batch``, on core.batch's
generic loop). The network and the masking scheme are :mod:`core.models.noise2self`."""

from core.denoise.batch import (
    DENOISE_FORMATS,
    SUMMARY_COLUMNS,
    DenoiseItem,
    DenoiseSummary,
    check_denoise_formats,
    denoise_batch,
    planned_denoise_outputs,
)
from core.denoise.run import METRICS_NAME, WEIGHTS_NAME, train_denoiser
from core.denoise.training import (
    DenoiseError,
    DenoiseTrainConfig,
    DenoiseTrainResult,
    fit_denoiser,
    load_training_images,
    validation_loss,
)
from core.models.card import INTENSITY_UNIT

__all__ = [
    "DENOISE_FORMATS",
    "INTENSITY_UNIT",
    "METRICS_NAME",
    "SUMMARY_COLUMNS",
    "WEIGHTS_NAME",
    "DenoiseError",
    "DenoiseItem",
    "DenoiseSummary",
    "DenoiseTrainConfig",
    "DenoiseTrainResult",
    "check_denoise_formats",
    "denoise_batch",
    "fit_denoiser",
    "load_training_images",
    "planned_denoise_outputs",
    "train_denoiser",
    "validation_loss",
]
