"""Many images, shared forward passes: the cross-file path of
:meth:`Predictor.predict_many <core.inference.predictor.Predictor.predict_many>`.

A crop-sized image (the DACON crops: 72 x 48 px) is one window; predicted alone, its
forward pass holds only its test-time variants (4 flips or 5 shifts, twice with a second
shot), a batch too small to keep the CPU's vector units busy. Here each image is prepared
on its own (:func:`~core.inference.stages.prepare`), the crop-mode windows of every image
of one shape (and with or without a second shot) are stacked into one
:func:`~core.inference.tta.tta_mean_std` call, which the predictor splits into forward
passes of its ``batch_size``, and each image is finished on its own
(:func:`~core.inference.stages.finish`: the trust step and the result). Every window's
answer depends on that window alone, so the results are :meth:`predict`'s: bit for bit on
the bf16 path, within float rounding (1e-4 DU measured) on fp32 and channels-last, whose
kernels may change with the size of a pass. Field and tiled images run their own mode one
by one, as in :meth:`predict`.

A failure belongs to its image: :func:`predict_many` returns the exception in that
image's place (``Cancelled`` alone is raised, for all of them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.inference.modes import MODES
from core.inference.result import PredictionResult
from core.inference.scale import ScalePolicy
from core.inference.stages import Prepared, finish, infer, prepare
from core.inference.tta import tta_choice
from core.progress import Cancelled, CancelToken

if TYPE_CHECKING:
    from core.inference.predictor import Predictor
    from core.trust.domain import FeatureFn

#: One image's outcome: its result, or the exception predicting it raised.
Outcome = PredictionResult | Exception


def prepare_one(
    predictor: Predictor,
    image: Any,
    *,
    mode: str,
    tta: bool | str,
    policy: ScalePolicy,
    cancel: CancelToken | None,
) -> Prepared | Exception:
    """:func:`~core.inference.stages.prepare` of one image, or the exception it raised
    (``Cancelled`` and ``BaseException`` pass through)."""
    try:
        return prepare(
            predictor, image, mode=mode, tta=tta, second_shot="auto", policy=policy, cancel=cancel
        )
    except Cancelled:
        raise
    except Exception as exc:
        return exc


def _groups(preps: Sequence[Prepared | Exception]) -> dict[tuple[Any, ...], list[int]]:
    """The positions of the crop-mode images, by (shape, has a second shot, TTA)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for k, p in enumerate(preps):
        if isinstance(p, Prepared) and p.batchable:
            key = (
                p.work.shape,
                p.work2 is not None,
                p.work2.shape if p.work2 is not None else None,
                p.tta,
            )
            groups.setdefault(key, []).append(k)
    return groups


@dataclass(frozen=True)
class Inferred:
    """One prepared image after its forward passes: depth and uncertainty on the working
    grid, waiting for :func:`finish_one`."""

    prep: Prepared
    depth_w: np.ndarray
    unc_w: np.ndarray
    features: FeatureFn | None = None


def finish_one(predictor: Predictor, done: Inferred | Exception) -> PredictionResult:
    """The result of an inferred image (:func:`~core.inference.stages.finish`), or raise
    the exception that stands in its place."""
    if isinstance(done, Exception):
        raise done
    return finish(predictor, done.prep, done.depth_w, done.unc_w, done.features)


def shared_features(predictor: Predictor, items: Sequence[Prepared]) -> list[FeatureFn | None]:
    """The domain check's encoder features of many crop-mode images in one pass: for each
    image, a feature function that answers its own windows (those the check samples,
    :func:`~core.trust.stats.sample_windows`) from that pass and anything else as
    ``predictor.features`` would. All None when the card's domain check reads no features.
    Pooled per window, so the same values as one image at a time (float rounding aside:
    2e-7 seen)."""
    from core.trust.stats import sample_windows

    if "features" not in getattr(predictor.trust.domain, "signals", {}):
        return [None] * len(items)
    windows = [sample_windows(p.work, predictor.input_size) for p in items]
    out: list[FeatureFn | None] = [None] * len(items)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for k, w in enumerate(windows):
        by_shape.setdefault(w.shape[1:], []).append(k)
    for members in by_shape.values():
        stack = np.concatenate([windows[k] for k in members])
        feats = predictor.features(stack)
        if feats is None:
            continue
        start = 0
        for k in members:
            n = len(windows[k])
            out[k] = _known(predictor, windows[k], feats[start : start + n])
            start += n
    return out


def _known(predictor: Predictor, windows: np.ndarray, feats: np.ndarray) -> FeatureFn:
    def features(asked: np.ndarray) -> np.ndarray | None:
        if asked.shape == windows.shape and np.array_equal(asked, windows):
            return feats
        return predictor.features(asked)

    return features


def infer_prepared(
    predictor: Predictor,
    preps: Sequence[Prepared | Exception],
    cancel: CancelToken | None = None,
) -> list[Inferred | Exception]:
    """The forward passes of each prepared image (an exception stays in its place): the
    crop-mode ones stacked into shared passes, the others through their own mode."""
    out: list[Inferred | Exception | None] = [
        p if isinstance(p, Exception) else None for p in preps
    ]
    for members in _groups(preps).values():
        items = [p for p in (preps[k] for k in members) if isinstance(p, Prepared)]
        windows = np.stack([p.work for p in items])
        second = [p.work2 for p in items if p.work2 is not None]
        seconds = np.stack(second) if len(second) == len(items) else None
        t0 = time.perf_counter()
        try:
            mean, std = predictor._predict_stack(windows, seconds, items[0].tta, cancel)
        except Cancelled:
            raise
        except Exception as exc:  # the model itself failed: every image of the group
            for k in members:
                out[k] = exc
            continue
        feats = shared_features(predictor, items)
        share = (time.perf_counter() - t0) / len(items)
        for j, (k, prep) in enumerate(zip(members, items, strict=True)):
            prep.watch.timings["inference"] = share
            out[k] = Inferred(prep, mean[j], std[j], feats[j])
    for k, p in enumerate(preps):
        if out[k] is None:
            assert isinstance(p, Prepared)
            try:
                out[k] = Inferred(p, *infer(predictor, p, None, cancel))
            except Cancelled:
                raise
            except Exception as exc:
                out[k] = exc
    done = [o for o in out if o is not None]
    assert len(done) == len(preps)
    return done


def _outcome(predictor: Predictor, done: Inferred | Exception) -> Outcome:
    try:
        return finish_one(predictor, done)
    except Cancelled:
        raise
    except Exception as exc:
        return exc


def predict_many(
    predictor: Predictor,
    images: Sequence[Any],
    *,
    mode: str = "auto",
    tta: bool | str = "auto",
    scale_policy: str | ScalePolicy | None = None,
    cancel: CancelToken | None = None,
) -> list[Outcome]:
    """See :meth:`Predictor.predict_many <core.inference.predictor.Predictor.predict_many>`."""
    tta_choice(tta)  # an unknown setting is refused before any work
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    policy = ScalePolicy.named(scale_policy or predictor.scale_policy)
    preps = [
        prepare_one(predictor, image, mode=mode, tta=tta, policy=policy, cancel=cancel)
        for image in images
    ]
    return [_outcome(predictor, done) for done in infer_prepared(predictor, preps, cancel)]


__all__ = ["Inferred", "Outcome", "finish_one", "infer_prepared", "predict_many", "prepare_one"]
