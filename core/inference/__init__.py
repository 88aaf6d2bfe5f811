"""Depth prediction: :class:`Predictor` (device, fast path, crop/field/tiled modes, TTA).

See ``docs/inference.md``. Public API::

    from core.inference import Predictor, PredictionResult, HoleRecord
    pred = Predictor.from_checkpoint("model.safetensors")      # device/fast path: auto
    result = pred.predict("image.tif")                         # mode auto, TTA on
"""

from core.device import cpu_has_native_bf16
from core.inference.denoising import denoiser_record, load_denoiser, to_sem_range
from core.inference.fastpath import FAST_PATHS, normalize_fast_path
from core.inference.holes import HoleCandidate, detect_holes, plausible_field
from core.inference.predictor import (
    MODES,
    NoHolesFoundError,
    Predictor,
    find_second_shot,
)
from core.inference.result import HoleRecord, PredictionResult

__all__ = [
    "FAST_PATHS",
    "MODES",
    "HoleCandidate",
    "HoleRecord",
    "NoHolesFoundError",
    "PredictionResult",
    "Predictor",
    "cpu_has_native_bf16",
    "denoiser_record",
    "detect_holes",
    "find_second_shot",
    "load_denoiser",
    "normalize_fast_path",
    "plausible_field",
    "to_sem_range",
]
