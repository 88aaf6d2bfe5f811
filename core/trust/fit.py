"""Post-hoc fitting of a model's trust sections on held-out labelled images:
``semdepth fit-trust --model M --data DIR --out NEW.safetensors``.

The calibration images (a labelled folder the model did not train on; when it is the
model's own training set, only the trainer's held-out part is used) are split by structure
into two halves:

- half A fits the references of the domain check (image statistics and network features,
  :class:`~core.trust.reference.GaussianReference`) and the floors ``tau`` of the
  conformal scales;
- half B picks the thresholds (one common quantile of B's distances, the smallest that
  flags at most ``flag_rate`` of B's images on any signal) and the conformal quantiles.

Every image goes through the model's own :class:`~core.inference.Predictor` (crop mode,
one shot, the card's TTA), so the fitted numbers describe exactly what ``predict`` does.
The sections are written into a NEW card beside a copy of the weights
(:func:`write_fitted`); the original files are never touched.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.metrology.holes import measure_holes
from core.metrology.surface import depth_below_top
from core.progress import CancelToken, ProgressCallback, report
from core.trust.domain import MAX_SATURATED
from core.trust.features import extract_features
from core.trust.reference import GaussianReference
from core.trust.stats import STAT_NAMES, sample_windows, saturated_fraction, stats_matrix
from core.trust.uncertainty import COVERAGE, fit_scale

if TYPE_CHECKING:
    from core.data import SampleRecord
    from core.inference import Predictor

FLAG_RATE = 0.025
STATS_SHRINKAGE = 0.6
FEATURE_SHRINKAGE = 0.3
FEATURE_AXES = 24


@dataclass
class _Collected:
    """Per calibration image: signal vectors and errors (DU)."""

    stats: list[np.ndarray] = field(default_factory=list)
    windows: list[np.ndarray] = field(default_factory=list)
    spread: list[float] = field(default_factory=list)
    depth_err: list[np.ndarray] = field(default_factory=list)
    below_err: list[np.ndarray] = field(default_factory=list)
    raw: list[np.ndarray] = field(default_factory=list)
    hole_err: list[float] = field(default_factory=list)
    hole_raw: list[float] = field(default_factory=list)
    hole_cd_px: list[float] = field(default_factory=list)
    saturated: list[float] = field(default_factory=list)


def _collect(
    predictor: Predictor,
    records: Sequence[SampleRecord],
    tta: bool,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> _Collected:
    from core.inference.resample import rescale
    from core.io import read_depth, read_sem

    out = _Collected()
    size = predictor.input_size
    for i, rec in enumerate(records):
        if cancel is not None:
            cancel.raise_if_cancelled()
        assert rec.depth_path is not None
        sem = read_sem(rec.sem_path)
        truth = read_depth(rec.depth_path).astype(np.float32)
        res = predictor.predict(sem, mode="crop", tta=tta, second_shot=None)
        if truth.shape != res.depth.shape:
            raise ValueError(
                f"{rec.depth_path}: depth map {truth.shape} differs from its SEM image "
                f"{res.depth.shape}"
            )
        img01 = np.asarray(sem.normalized(), dtype=np.float32)
        scale = float(res.settings.get("resample_factor", 1.0))  # the predictor's decision
        windows = sample_windows(rescale(img01, scale), size)
        out.windows.append(windows)
        out.stats.append(stats_matrix(windows))
        out.saturated.append(saturated_fraction(img01))
        out.spread.append(float(res.uncertainty.mean()))
        out.depth_err.append(res.depth - truth)
        out.raw.append(res.uncertainty)
        assert res.trust is not None
        pred_bt = res.trust.below_top
        true_bt = depth_below_top(truth)
        out.below_err.append(pred_bt.du - true_bt.du)
        window = (round(size[0] / scale), round(size[1] / scale))
        true_holes = measure_holes(true_bt, window=window).holes
        for h in res.trust.holes.holes if res.trust.holes else []:
            t = min(true_holes, key=lambda m: math.hypot(m.row - h.row, m.col - h.col))
            bad = {"touching_border", "merged"} & set(h.flags + t.flags)
            if bad or math.hypot(t.row - h.row, t.col - h.col) > 0.25 * min(window):
                continue
            out.hole_err.append(h.depth / pred_bt.factor - t.depth)
            out.hole_raw.append(float(res.uncertainty[round(h.bottom_row), round(h.bottom_col)]))
            if t.top_cd_px is not None:
                out.hole_cd_px.append(t.top_cd_px * scale)
        report(progress, i + 1, len(records), "calibrating")
    return out


def _thresholds(
    distances: dict[str, np.ndarray], target: float
) -> tuple[dict[str, float], float, float]:
    """One common quantile of every signal's B distances: the smallest that flags at most
    ``target`` of B's images on any signal. Returns thresholds, quantile and rate."""
    grid = np.linspace(1.0 - target, 1.0, 401)
    for q in grid:
        th = {k: float(np.quantile(v, q)) for k, v in distances.items()}
        flagged = np.zeros(len(next(iter(distances.values()))), dtype=bool)
        for k, v in distances.items():
            flagged |= v > th[k]
        if flagged.mean() <= target:
            break
    th = {k: max(t, 1e-9) for k, t in th.items()}
    return th, float(q), float(flagged.mean())


def fit_trust(
    predictor: Predictor,
    records: Sequence[SampleRecord],
    *,
    tta: bool = True,
    flag_rate: float = FLAG_RATE,
    coverage: float = COVERAGE,
    seed: int = 0,
    data_info: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, dict[str, Any]]:
    """The card's ``domain`` and ``uncertainty`` sections fitted on labelled ``records``
    (see the module docstring); ``data_info`` (root, hash) is recorded in both."""
    from core.data import split_by_structure
    from core.models.card_trust import domain_section, uncertainty_section

    labelled = [r for r in records if r.depth_path is not None]
    split = split_by_structure(labelled, val_fraction=0.5, seed=seed)
    part_a, part_b = split.train, split.val
    if len(part_a) < 10 or len(part_b) < 10:
        raise ValueError(
            f"fit-trust needs at least 20 labelled images of 4 structures or more "
            f"(got {len(part_a)} + {len(part_b)} after the split by structure)"
        )
    ordered = list(part_a) + list(part_b)
    c = _collect(predictor, ordered, tta, progress, cancel)
    n_a = len(part_a)
    feats = extract_features(
        predictor.model, np.concatenate(c.windows), device=predictor.device, lock=predictor._lock
    )
    per_image = [len(w) for w in c.windows]
    bounds = np.cumsum([0, *per_image])
    stats_all = np.concatenate(c.stats)
    refs: dict[str, GaussianReference] = {
        "image_stats": GaussianReference.fit(
            stats_all[: bounds[n_a]], max_axes=len(STAT_NAMES), shrinkage=STATS_SHRINKAGE
        )
    }
    vectors: dict[str, np.ndarray] = {"image_stats": stats_all}
    if feats is not None:
        refs["features"] = GaussianReference.fit(
            feats[: bounds[n_a]], max_axes=FEATURE_AXES, shrinkage=FEATURE_SHRINKAGE
        )
        vectors["features"] = feats

    def per_image_distance(name: str) -> np.ndarray:
        d = refs[name].distance(vectors[name])
        return np.array([np.median(d[a:b]) for a, b in itertools.pairwise(bounds)])

    dist_b = {name: per_image_distance(name)[n_a:] for name in refs}
    use_spread = tta and float(np.median(c.spread)) > 0
    if use_spread:
        dist_b["spread"] = np.asarray(c.spread[n_a:])
    thresholds, quantile, rate = _thresholds(dist_b, flag_rate)
    cds = np.asarray(c.hole_cd_px)
    hole_range = (
        [round(0.8 * float(cds.min()), 3), round(1.2 * float(cds.max()), 3)] if cds.size else None
    )
    info = dict(data_info or {})
    info["n_images"] = len(ordered)
    # the saturation the calibration images have is in the domain (a detector clipping
    # its blacks is part of the simulated physics); more than nearly all of them had is not
    max_saturated = min(1.0, max(MAX_SATURATED, float(np.quantile(c.saturated, 0.995))))
    domain = domain_section(
        references={k: v.to_json() for k, v in refs.items()},
        thresholds=thresholds,
        spread_tta=predictor.tta_kind if use_spread else None,
        stat_names=list(STAT_NAMES),
        flag_rate_target=flag_rate,
        flag_rate_on_calibration=rate,
        quantile=quantile,
        hole_diameter_px=hole_range,
        max_saturated=round(max_saturated, 4),
        data=info,
    )
    scales = {
        "depth": fit_scale(c.depth_err, c.raw, coverage=coverage, seed=seed),
        "below_top": fit_scale(c.below_err, c.raw, coverage=coverage, seed=seed),
    }
    if len(c.hole_err) >= 20:
        scales["hole"] = fit_scale(
            [np.array([e]) for e in c.hole_err],
            [np.array([u]) for u in c.hole_raw],
            coverage=coverage,
            seed=seed,
        )
    uncertainty = uncertainty_section(
        scales={k: v.to_json() for k, v in scales.items()},
        tta=predictor.tta_kind if tta else None,
        coverage=coverage,
        n_images=len(ordered),
        n_holes=len(c.hole_err),
        data=info,
    )
    return {"domain": domain, "uncertainty": uncertainty}


def write_fitted(
    source: str | Path,
    out: str | Path,
    sections: dict[str, dict[str, Any]],
    *,
    overwrite: bool = False,
) -> Path:
    """Write the weights of checkpoint ``source`` with its card extended by ``sections``
    to ``out`` (a new ``.safetensors`` + ``.json``); returns the weights path. The new
    card's id is the weights' id plus ``+trust-<6 hex of the sections>``."""
    import hashlib
    import json

    from core.models import load_checkpoint, save_checkpoint
    from core.models.card import derived_card

    model, card = load_checkpoint(source)
    base_id = str(card.get("id") or "model")
    base_id = base_id.split("+trust-")[0]
    new = derived_card(card)
    new.update(sections)  # replaces earlier trust sections whole
    digest = hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:6]
    new["id"] = f"{base_id}+trust-{digest}"
    return save_checkpoint(out, model, new, overwrite=overwrite)
