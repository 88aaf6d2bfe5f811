"""``calibrate(request)``: a depth model adapted to the user's SEM, checked against the
user's references by k-fold cross-validation, saved as an ordinary checkpoint.

Stages (the budget is shared between the fine-tuning runs):

1. **Images** (always): the network is fine-tuned on the user's images with masked
   reconstruction, anchored by labelled simulator crops, then AdaBN
   (:mod:`core.calibrate.adapt`). No reference is used, so this runs once, on every image.
2. **References** (when given): two ways to use them, each scored on references held out
   by k-fold cross-validation (folds of reference groups, :mod:`core.calibrate.agreement`):

   * *correction*: an output-level gain/offset fitted to the stage-1 model's predictions
     (the candidate chosen by an inner cross-validation inside each fold, so the held-out
     figures are honest);
   * *fine-tune*: the stage-1 model fine-tuned further with the references as loss terms
     (average depth, point depth), once per fold without that fold's references.

   Stage 2 starts from whichever agrees best with the references of stage 1's model, the
   source model with AdaBN only, and the source model as it is (none of them saw a
   reference). The way with the lower held-out error is used for the saved model (the
   correction folded into the output head, or one more fine-tuning run on every
   reference); when neither beats the start, none is applied.

"before" is the source model as it is; "after" the held-out prediction of the chosen way.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from core.calibrate import agreement as agr
from core.calibrate.adapt import AdaptConfig, Anchor, LossCallback, adapt, render_anchor
from core.calibrate.errors import CalibrationError
from core.calibrate.head import fold_affine, fold_refusal
from core.calibrate.inputs import Inputs, gather, local_top, observe, predict_maps
from core.calibrate.probe import DISK_PX, TOP_PERCENTILE, default_top_half
from core.calibrate.request import CalibrationRequest, CalibrationResult
from core.progress import CancelToken, Progress, ProgressCallback, report

ANCHOR_STRUCTURES = 1000  # 2,000 labelled simulator crops
ANCHOR_SEED = 90_210
IMAGES_SHARE = 0.4  # of the budget, for stage 1 when references are given
# The reference stage's keep term (``AdaptConfig.keep_weight``) when point references are
# given: without it, fine-tuning on 40 hole depths (charging held out, bench/calibration.py)
# improved the held-out points (14.5 -> 11.9 DU) while the maps of new images got 23 %
# worse (13.3 -> 16.3 DU pooled); with 5: 12.1 DU at the points, 13.0 DU on the maps.
# Weight 1 kept less (14.2 DU), 20 so much that the fine-tuning lost to the correction.
POINT_KEEP_WEIGHT = 5.0


@dataclass
class _Run:
    """One calibration's context; :meth:`adapt` runs one fine-tuning of it."""

    request: CalibrationRequest
    inputs: Inputs
    anchor: Anchor | None
    input_size: tuple[int, int]
    top_half: int
    progress: ProgressCallback | None
    cancel: CancelToken | None
    on_loss: LossCallback | None
    history: list[dict[str, float]] = field(default_factory=list)
    stage: str = ""
    steps: int = 0
    folds: np.ndarray | None = None

    def adapt(self, model: nn.Module, cfg: AdaptConfig, keep: np.ndarray | None) -> nn.Module:
        stage = self.stage

        def loss(losses: dict[str, float]) -> None:
            self.history.append(losses)
            if self.on_loss is not None:
                self.on_loss(losses)

        def prog(p: Progress) -> None:
            report(self.progress, p.done, p.total, f"{stage}: {p.message}")

        res = adapt(
            model, self.inputs.target(keep), cfg, input_size=self.input_size,
            top_half_px=self.top_half, anchor=self.anchor, progress=prog,
            cancel=self.cancel, on_loss=loss,
        )  # fmt: skip
        self.steps += res.steps
        return res.model


def _config(request: CalibrationRequest, budget: float, references: bool) -> AdaptConfig:
    """Stage 1 (``references=False``): masked reconstruction + anchor; stage 2: the
    reference terms + anchor, and with point references the keep term
    (:data:`POINT_KEEP_WEIGHT`)."""
    points = references and request.references_csv is not None
    return AdaptConfig(
        budget_s=budget,
        seed=request.seed,
        masked_weight=0.0 if references else 1.0,
        average_weight=1.0 if references else 0.0,
        point_weight=1.0 if references else 0.0,
        keep_weight=POINT_KEEP_WEIGHT if points else 0.0,
    )


def _load(request: CalibrationRequest) -> tuple[nn.Module, dict[str, Any]]:
    from core.models import load_checkpoint

    try:
        model, card = load_checkpoint(request.model, device="cpu")
    except ValueError as exc:  # CheckpointError
        raise CalibrationError(str(exc)) from None
    if card.get("task", "depth") != "depth":
        raise CalibrationError(f"{request.model}: a {card.get('task')!r} model, not a depth model")
    return model, card


def _input_size(card: dict[str, Any]) -> tuple[int, int]:
    size = (card.get("input") or {}).get("size") or [72, 48]
    return int(size[0]), int(size[1])


def nested_correction(obs: agr.Observations, folds: np.ndarray, pivot: float) -> np.ndarray:
    """Held-out corrected predictions, the candidate of each fold chosen by a
    cross-validation on the other folds only ("none" when they are fewer than two)."""
    out = np.empty(len(obs))
    for f in np.unique(folds):
        test = folds == f
        train = obs.take(~test)
        inner = folds[~test]
        name = agr.choose_correction(train, inner, pivot)[0] if len(set(inner)) >= 2 else "none"
        out[test] = agr.fit_correction(name, train, pivot).apply(obs.take(test))
    return out


def _finetune_heldout(run: _Run, model: nn.Module, folds: np.ndarray, budget: float) -> np.ndarray:
    """Held-out predictions of the reference fine-tuning: one run per fold."""
    out = np.full(len(folds), math.nan)
    for f in np.unique(folds):
        run.stage = f"references, fold {int(f) + 1} of {len(np.unique(folds))}"
        m = run.adapt(model, _config(run.request, budget, True), folds != f)
        obs = observe(m, run.inputs, folds == f, cancel=run.cancel)
        out[folds == f] = obs.pred[folds == f]
    return out


BASES = ("adapted", "AdaBN only", "source")


def _choose_base(
    run: _Run, source: nn.Module, adapted: nn.Module, before: agr.Observations
) -> tuple[str, nn.Module, dict[str, float]]:
    """The model the reference stage starts from: stage 1's, the source with AdaBN only,
    or the source as it is, whichever agrees best with the references (none of them was
    trained on a reference, so each one's agreement is its own held-out figure)."""
    run.stage = "batch-norm statistics"
    adabn = run.adapt(source, AdaptConfig(budget_s=1.0, max_steps=0), None)
    models = dict(zip(BASES, (adapted, adabn, source), strict=True))
    preds = {"source": before.pred}
    for name in BASES[:2]:
        preds[name] = observe(models[name], run.inputs, cancel=run.cancel).pred
    scores = {name: agr.weighted_rmse(preds[name], before) for name in BASES}
    best = min(BASES, key=lambda n: (round(scores[n], 9), BASES.index(n)))
    return best, models[best], {n: round(v, 4) for n, v in scores.items()}


def _reference_stage(
    run: _Run, model_u: nn.Module, budget: float
) -> tuple[nn.Module, np.ndarray, dict[str, Any]]:
    """Stage 2: (the saved model, held-out predictions in DU, what was chosen)."""
    inputs, request = run.inputs, run.request
    k = min(request.folds, inputs.n_groups)
    folds = agr.assign_folds(inputs.groups, k, request.seed)
    run.folds = folds
    obs_u = observe(model_u, inputs, cancel=run.cancel)
    maps = predict_maps(model_u, inputs.arrays, [i for r in inputs.references for i in r.images])
    pivot = local_top(maps, inputs)
    refusal = fold_refusal(model_u)
    held = {"none": obs_u.pred.copy()}
    if refusal is None:
        held["correction"] = nested_correction(obs_u, folds, pivot)
    per_run = budget / (k + 1)
    held["fine-tune"] = _finetune_heldout(run, model_u, folds, per_run)
    scores = {name: agr.weighted_rmse(p, obs_u) for name, p in held.items()}
    way = min(scores, key=lambda n: (round(scores[n], 9), list(held).index(n)))
    chosen: dict[str, Any] = {
        "way": way,
        "heldout_rmse_du": {n: round(s, 4) for n, s in scores.items()},
        "folds": k,
        "groups": inputs.n_groups,
        "note": refusal,
        "keep_weight": _config(request, budget, True).keep_weight,
    }
    name, corr = "none", agr.Correction(pivot=pivot)
    final = model_u
    if way == "correction":
        name = agr.choose_correction(obs_u, folds, pivot)[0]
        corr = agr.fit_correction(name, obs_u, pivot)
        final = fold_affine(model_u, *corr.as_affine)
    elif way == "fine-tune":
        run.stage = "references, all folds"
        final = run.adapt(model_u, _config(request, per_run, True), np.ones(len(folds), bool))
    chosen["correction"] = {
        "name": name,
        "gain": round(corr.gain, 6),
        "offset_du": round(corr.offset, 4),
        "pivot_du": round(corr.pivot, 4),
    }
    return final, held[way], chosen


def calibrate(
    request: CalibrationRequest,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_loss: LossCallback | None = None,
) -> CalibrationResult:
    """Run the calibration ``request`` asks for (see the module docstring) and save the
    new checkpoint. Raises :class:`CalibrationError` for inputs that cannot support it
    (nothing written), ``core.progress.Cancelled`` when ``cancel`` is set (nothing
    written)."""
    t0 = time.perf_counter()
    request.check_paths()
    model, card = _load(request)
    input_size = _input_size(card)
    top_half = default_top_half(input_size)
    inputs = gather(
        request.images, request.averages_csv, request.references_csv, card,
        top_half_px=top_half, progress=progress, cancel=cancel,
    )  # fmt: skip
    families = request.anchor_families(card)
    anchor = None
    if families != "none":
        px = (card.get("input") or {}).get("pixel_size_nm") or 2.0
        report(progress, 0, 1, "rendering simulator anchor")
        anchor = render_anchor(
            ANCHOR_STRUCTURES, ANCHOR_SEED + request.seed,
            None if families is None else list(families), input_size, float(px), cancel,
        )  # fmt: skip
    run = _Run(request, inputs, anchor, input_size, top_half, progress, cancel, on_loss)
    refs = inputs.references
    before = observe(model, inputs, cancel=cancel) if refs else None
    share = IMAGES_SHARE if refs else 1.0
    run.stage = "images"
    model_u = run.adapt(model, _config(request, request.budget_s * share, False), None)
    chosen: dict[str, Any] = {"way": "none", "base": "adapted"}
    final, after = model_u, None
    if refs:
        assert before is not None
        base, base_model, base_scores = _choose_base(run, model, model_u, before)
        final, after, chosen = _reference_stage(run, base_model, request.budget_s * (1 - share))
        chosen.update(base=base, base_rmse_du=base_scores)
    from core.calibrate.section import build_section, reference_results, save_calibrated

    results = reference_results(inputs, before, after, run.folds)
    section = build_section(
        request, card, inputs, results, chosen,
        anchor=families, steps=run.steps, seconds=time.perf_counter() - t0,
        probe={"top_percentile": TOP_PERCENTILE, "top_half_px": top_half, "disk_px": DISK_PX},
    )  # fmt: skip
    out, new_card = save_calibrated(request, final, card, section)
    report(progress, 1, 1, "saved")
    return CalibrationResult(out, new_card, results, run.history)
