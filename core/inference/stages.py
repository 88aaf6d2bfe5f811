"""The steps of one prediction, cut where many images can share a forward pass.

:meth:`Predictor.predict <core.inference.predictor.Predictor.predict>` runs them one image
at a time: :func:`prepare` (read, the input checks, the scale policy, the second shot,
denoise first, resample, the mode) -> :func:`infer` (the mode's forward passes) ->
:func:`finish` (back to the image's grid, the per-hole table, the trust step). The
cross-file path (:mod:`core.inference.many`) runs :func:`prepare` and :func:`finish` per
image, but stacks the crop-mode images of many files into one forward pass in between;
the answers are the same, since every window's answer depends on that window alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.inference.denoising import denoiser_record, to_sem_range
from core.inference.inputs import as_sem, input_notes, load_second_shot
from core.inference.modes import ModeRun, choose_mode, hole_records, run_mode
from core.inference.resample import back_to_grid, rescale
from core.inference.result import HoleRecord, PredictionResult
from core.inference.scale import ScaleDecision, ScalePolicy, ScaleSkipped, scale_for_image
from core.inference.tta import resolve_tta, tta_choice
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.trust.assess import TrustInputs

if TYPE_CHECKING:
    from core.inference.holes import HoleCandidate
    from core.inference.predictor import Predictor
    from core.io import SemImage
    from core.models.noise2self import Noise2SelfDenoiser
    from core.trust.domain import FeatureFn


@dataclass
class Prepared:
    """One image ready for the forward passes: the SEM image, its 0..1 pixels on its own
    grid (``img01``, denoised when asked) and on the model's (``work``, ``work2`` for the
    second shot), the scale decision, the ``chosen`` mode and its ``holes``, the notes
    and settings so far, the denoised image in the SEM's range, ``tta``, and the
    stopwatch of its steps."""

    sem: SemImage
    img01: np.ndarray
    work: np.ndarray
    work2: np.ndarray | None
    decision: ScaleDecision
    chosen: str
    holes: list[HoleCandidate] | None
    notes: list[str]
    settings: dict[str, Any]
    denoised: np.ndarray | None
    tta: bool
    has_second: bool
    watch: Stopwatch

    @property
    def scale(self) -> float:
        return self.decision.factor

    @property
    def batchable(self) -> bool:
        """Crop mode: the whole image is one window, so it can share a forward pass with
        the windows of other images of the same shape."""
        return self.chosen == "crop"


def settings_record(
    predictor: Predictor,
    mode: str,
    tta: bool,
    second_path: Path | None,
    has_second: bool,
    scale: float,
    denoise: tuple[Noise2SelfDenoiser, Path | None] | None,
) -> dict[str, Any]:
    """What the result's ``settings`` (and the outputs' descriptions) record."""
    return {
        "tta": bool(tta),
        "tta_kind": predictor.tta_kind if tta else None,
        "second_shot": str(second_path) if second_path else None,
        "predictions_per_pixel": (predictor.n_tta if tta else 1) * (2 if has_second else 1),
        "resample_factor": round(scale, 6),
        "model_input_size": list(predictor.input_size),
        "model_pixel_size_nm": predictor.input_pixel_size_nm,
        "device": str(predictor.device),
        "requested_mode": mode,
        "denoised": denoise is not None,
        "denoiser": None if denoise is None else denoiser_record(denoise[0], denoise[1]),
    }


def _denoise_first(
    predictor: Predictor,
    den: Noise2SelfDenoiser,
    img01: np.ndarray,
    second01: np.ndarray | None,
    cancel: CancelToken | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The image (and the second shot) after the Noise2Self denoiser."""
    if cancel is not None:
        cancel.raise_if_cancelled()
    img01 = predictor._run_denoiser(den, img01)
    if second01 is not None:
        second01 = predictor._run_denoiser(den, second01)
    return img01, second01


def prepare(
    predictor: Predictor,
    image: Any,
    *,
    mode: str,
    tta: bool | str,
    second_shot: Any,
    policy: ScalePolicy,
    cancel: CancelToken | None,
) -> Prepared:
    """Everything before the forward passes (see the module docstring). Raises what
    :meth:`~core.inference.predictor.Predictor.predict` raises before inference
    (``SemReadError``, :class:`~core.inference.scale.ScaleSkipped`, ``NoHolesFoundError``)."""
    watch = Stopwatch()
    notes: list[str] = [predictor.fallback_note] if predictor.fallback_note else []
    denoise = predictor._denoise  # read once: set_denoiser may run in another thread
    with watch.step("read"):
        sem = as_sem(image)
    notes.extend(input_notes(sem))
    img01 = np.asarray(sem.normalized(), dtype=np.float32)
    with watch.step("scale"):
        decision, native_holes = scale_for_image(
            sem.pixel_size_nm,
            predictor.input_pixel_size_nm,
            img01,
            policy,
            predictor.input_size,
        )
    if decision.action == "skip":
        where = f"{sem.path}: " if sem.path is not None else ""
        raise ScaleSkipped(f"{where}{decision.reason}", decision)
    if decision.noteworthy:
        notes.append(decision.reason)
    use_tta, tta_note = resolve_tta(tta, decision)
    if tta_note:
        notes.append(tta_note)
    scale = decision.factor
    second01, second_path = load_second_shot(sem, second_shot, notes)
    denoised: np.ndarray | None = None
    if denoise is not None:  # on the image's own grid
        with watch.step("denoise"):
            img01, second01 = _denoise_first(predictor, denoise[0], img01, second01, cancel)
            denoised = to_sem_range(sem, img01)
            native_holes = None  # found on the raw image
    with watch.step("resample"):
        work = rescale(img01, scale)
        work2 = rescale(second01, scale) if second01 is not None else None
    with watch.step("detect"):
        known = native_holes if scale == 1.0 else None
        chosen, holes = choose_mode(mode, work, predictor.input_size, sem.path, holes=known)
    settings = settings_record(
        predictor, mode, use_tta, second_path, second01 is not None, scale, denoise
    )
    settings["tta_setting"] = tta_choice(tta)
    settings["scale_policy"] = policy.name
    settings["scale"] = decision.record()
    return Prepared(
        sem, img01, work, work2, decision, chosen, holes, notes, settings, denoised, use_tta,
        second01 is not None, watch,
    )  # fmt: skip


def infer(
    predictor: Predictor,
    prep: Prepared,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth and uncertainty on the working grid by the prepared image's own mode (its
    geometry goes into ``prep.settings``)."""
    with prep.watch.step("inference"):
        run = ModeRun(
            lambda windows, second: predictor._predict_stack(windows, second, prep.tta, cancel),
            predictor.input_size,
            predictor.batch_size,
            n_var=prep.settings["predictions_per_pixel"],
            progress=progress,
            cancel=cancel,
            border=predictor.tile_border,
            multiple=predictor.stride,
        )
        depth_w, unc_w, geometry = run_mode(prep.chosen, prep.work, prep.work2, prep.holes, run)
        prep.settings.update(geometry)
    return depth_w, unc_w


def finish(
    predictor: Predictor,
    prep: Prepared,
    depth_w: np.ndarray,
    unc_w: np.ndarray,
    features: FeatureFn | None = None,
) -> PredictionResult:
    """Everything after the forward passes: the image's own grid, the per-hole table
    (field mode), the finiteness check, the trust step, the result. ``features``: the
    domain check's encoder features (default: ``predictor.features``; the cross-file path
    gives features computed for many files at once)."""
    sem, watch, notes, scale = prep.sem, prep.watch, prep.notes, prep.scale
    with watch.step("stitch"):
        records: list[HoleRecord] | None = None
        if prep.chosen == "field":
            assert prep.holes is not None
            records = hole_records(prep.holes, depth_w, unc_w, scale, sem.pixel_size_nm)
        depth, unc = back_to_grid(depth_w, unc_w, prep.img01.shape, scale)
        if not (np.isfinite(depth).all() and np.isfinite(unc).all()):
            raise ValueError(
                f"{sem.path or 'image'}: the model {predictor.model_id} gave non-finite depth "
                "values; its card or weights are unusable"
            )
        if not prep.tta and not prep.has_second and not predictor.variance_head:
            notes.append("uncertainty not estimated (no test-time augmentation, no second shot)")
    with watch.step("trust"):
        trust = predictor.trust.assess(
            TrustInputs(
                depth=depth,
                raw_uncertainty=unc,
                image01=prep.img01,
                work01=prep.work,
                input_size=predictor.input_size,
                pixel_size_nm=sem.pixel_size_nm,
                model_pixel_size_nm=predictor.input_pixel_size_nm,
                scale=scale,
                mode=prep.chosen,
                holes=[(h.row, h.col, h.diameter_px) for h in prep.holes or []]
                if prep.chosen == "field"
                else None,
                tta=predictor.tta_kind if prep.tta else None,
                nm_per_du=predictor.nm_per_depth_unit,
            ),
            features or predictor.features,
        )
    return PredictionResult(
        depth=np.ascontiguousarray(depth, dtype=np.float32),
        uncertainty=np.ascontiguousarray(unc, dtype=np.float32),
        sem=sem,
        mode=prep.chosen,
        holes=records,
        timings=watch.stop(),
        model_id=predictor.model_id,
        nm_per_depth_unit=predictor.nm_per_depth_unit,
        fast_path=predictor.fast_path,
        settings=prep.settings,
        notes=notes,
        denoised=None if prep.denoised is None else np.ascontiguousarray(prep.denoised),
        trust=trust,
    )


__all__ = ["Prepared", "finish", "infer", "prepare", "settings_record"]
