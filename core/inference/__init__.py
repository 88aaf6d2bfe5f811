"""Depth prediction: :class:`Predictor` (device, fast path, crop/field/tiled modes, TTA).

See ``docs/inference.md``. Public API::

    from core.inference import Predictor, PredictionResult, HoleRecord
    pred = Predictor.from_checkpoint("model.safetensors")      # device/fast path: auto
    result = pred.predict("image.tif")                         # mode auto, TTA on

Modules: :mod:`~core.inference.predictor` (the :class:`Predictor`: orchestration),
:mod:`~core.inference.inputs` (the image and its second shot),
:mod:`~core.inference.denoising` (the optional Noise2Self step),
:mod:`~core.inference.scale` (the scale policy: resample, native or skip),
:mod:`~core.inference.resample` (to the model's pixel size and back), :mod:`~core.inference.modes`
(crop/field/tiled: choice and runners), :mod:`~core.inference.holes` (hole detection),
:mod:`~core.inference.stitch` (windows, tiles and their blending),
:mod:`~core.inference.tta` (test-time augmentation), :mod:`~core.inference.fastpath`
(how a batch goes through the network), :mod:`~core.inference.result` (what comes back).
"""

from core.device import cpu_has_native_bf16
from core.inference.denoising import denoiser_record, load_denoiser, to_sem_range
from core.inference.fastpath import FAST_PATHS, normalize_fast_path
from core.inference.holes import HoleCandidate, detect_holes, plausible_field
from core.inference.inputs import find_second_shot
from core.inference.modes import MODES, NoHolesFoundError
from core.inference.predictor import Predictor
from core.inference.result import HoleRecord, PredictionResult
from core.inference.scale import SCALE_POLICIES, ScaleDecision, ScalePolicy, ScaleSkipped
from core.inference.tta import tta_kind_for

__all__ = [
    "FAST_PATHS",
    "MODES",
    "SCALE_POLICIES",
    "HoleCandidate",
    "HoleRecord",
    "NoHolesFoundError",
    "PredictionResult",
    "Predictor",
    "ScaleDecision",
    "ScalePolicy",
    "ScaleSkipped",
    "cpu_has_native_bf16",
    "denoiser_record",
    "detect_holes",
    "find_second_shot",
    "load_denoiser",
    "normalize_fast_path",
    "plausible_field",
    "to_sem_range",
    "tta_kind_for",
]
