"""Agreement with the references, k-fold cross-validation and the output-level
correction. Pure numpy.

Every reference is one observation in DU: an average compares the mean of the predicted
map(s) with the given average; a point compares the predicted depth below the local top
(:mod:`core.calibrate.probe`) with the given depth converted to DU (``nm / nm_per_du``).

**Correction** ``y' = pivot + gain (y - pivot) + offset`` on the depth map (DU), with
``pivot`` the mean predicted local top of the reference images (so a gain stretches depth
below the top surface and leaves the top where it was). A point reference sees only the
gain (``gain d``: the offset moves the top and the point alike); an average sees both
(``pivot + gain (m - pivot) + offset``). Candidates: :data:`CORRECTIONS`; each is fitted by
least squares with every kind of reference weighted equally; the one with the lowest
k-fold error is used, "none" when nothing beats it.

**Folds**: references that share an image (or a structure's shots) are one group; groups
are dealt to ``k`` folds in a seeded random order (:func:`assign_folds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: name -> (fits the gain, fits the offset)
CORRECTIONS: dict[str, tuple[bool, bool]] = {
    "none": (False, False),
    "offset": (False, True),
    "gain": (True, False),
    "gain+offset": (True, True),
}
GAIN_LIMITS = (0.25, 4.0)


@dataclass(frozen=True)
class Observations:
    """Predicted (``pred``) and reference (``ref``) values in DU, one per reference;
    ``is_point`` marks point references (depth below the top) against averages."""

    pred: np.ndarray
    ref: np.ndarray
    is_point: np.ndarray

    @staticmethod
    def of(pred: ArrayLike, ref: ArrayLike, is_point: ArrayLike) -> Observations:
        return Observations(
            np.asarray(pred, dtype=np.float64),
            np.asarray(ref, dtype=np.float64),
            np.asarray(is_point, dtype=bool),
        )

    def take(self, mask: np.ndarray) -> Observations:
        return Observations(self.pred[mask], self.ref[mask], self.is_point[mask])

    def __len__(self) -> int:
        return len(self.ref)


@dataclass(frozen=True)
class Correction:
    """``y' = pivot + gain (y - pivot) + offset`` (DU)."""

    name: str = "none"
    gain: float = 1.0
    offset: float = 0.0
    pivot: float = 0.0

    def apply(self, obs: Observations) -> np.ndarray:
        """Corrected predictions of ``obs``."""
        avg = self.pivot + self.gain * (obs.pred - self.pivot) + self.offset
        return np.where(obs.is_point, self.gain * obs.pred, avg)

    @property
    def as_affine(self) -> tuple[float, float]:
        """``(a, b)`` with ``y' = a y + b``."""
        return self.gain, self.pivot * (1.0 - self.gain) + self.offset


def fit_correction(name: str, obs: Observations, pivot: float) -> Correction:
    """Least-squares fit of correction ``name`` to ``obs`` (each kind weighted equally);
    the gain is clipped to :data:`GAIN_LIMITS`. A part that ``obs`` cannot determine (an
    offset without averages, a gain without spread) keeps its neutral value."""
    fit_gain, fit_offset = CORRECTIONS[name]
    avg = ~obs.is_point
    fit_offset = fit_offset and bool(avg.any())
    n_pts, n_avg = int(obs.is_point.sum()), int(avg.sum())
    w = np.where(obs.is_point, 1.0 / max(n_pts, 1), 1.0 / max(n_avg, 1))
    # residual = gain * u + offset * v + base - ref
    u = np.where(obs.is_point, obs.pred, obs.pred - pivot)
    v = avg.astype(np.float64)
    base = np.where(obs.is_point, 0.0, pivot)
    cols = ([u] if fit_gain else []) + ([v] if fit_offset else [])
    gain, offset = 1.0, 0.0
    if cols:
        a = np.stack(cols, axis=1) * np.sqrt(w)[:, None]
        target = obs.ref - base - (0.0 if fit_gain else u)
        sol, *_ = np.linalg.lstsq(a, target * np.sqrt(w), rcond=None)
        if fit_gain:
            gain = float(np.clip(sol[0], *GAIN_LIMITS))
        if fit_offset:
            offset = float(sol[-1])
            if fit_gain and gain != sol[0]:  # refit the offset for the clipped gain
                offset = float(np.average((obs.ref - base - gain * u)[avg], weights=w[avg]))
    return Correction(name, gain, offset, pivot)


def assign_folds(groups: Sequence[int], k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) of each reference: the distinct groups in a random order
    (``numpy.random.default_rng(seed).permutation``), dealt round-robin."""
    g = np.asarray(groups)
    uniq = np.unique(g)
    if k < 2 or k > len(uniq):
        raise ValueError(f"{k} folds for {len(uniq)} groups")
    order = uniq[np.random.default_rng(seed).permutation(len(uniq))]
    fold_of = {int(grp): i % k for i, grp in enumerate(order)}
    return np.array([fold_of[int(x)] for x in g], dtype=np.int64)


def group_references(image_sets: Sequence[Sequence[int]]) -> list[int]:
    """Group id of each reference: references whose image sets overlap (directly or
    through others) share one (union-find)."""
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for imgs in image_sets:
        for other in imgs[1:]:
            parent[find(other)] = find(imgs[0])
    roots = [find(imgs[0]) for imgs in image_sets]
    ids: dict[int, int] = {}
    return [ids.setdefault(r, len(ids)) for r in roots]


def crossval_correction(
    name: str, obs: Observations, folds: np.ndarray, pivot: float
) -> np.ndarray:
    """Held-out corrected predictions: each fold's from the correction fitted on the
    other folds."""
    out = np.empty(len(obs))
    for f in np.unique(folds):
        test = folds == f
        corr = fit_correction(name, obs.take(~test), pivot)
        out[test] = corr.apply(obs.take(test))
    return out


def weighted_rmse(pred: np.ndarray, obs: Observations) -> float:
    """RMSE (DU) with each kind of reference weighted equally (the selection score)."""
    parts = [
        float(np.mean((pred[m] - obs.ref[m]) ** 2))
        for m in (obs.is_point, ~obs.is_point)
        if m.any()
    ]
    return math.sqrt(sum(parts) / len(parts))


def choose_correction(
    obs: Observations, folds: np.ndarray, pivot: float
) -> tuple[str, dict[str, float]]:
    """The candidate with the lowest k-fold :func:`weighted_rmse` (ties: the simpler,
    "none" first) and every candidate's score."""
    scores = {
        name: weighted_rmse(crossval_correction(name, obs, folds, pivot), obs)
        for name in CORRECTIONS
        if not (CORRECTIONS[name][1] and not (~obs.is_point).any())
    }
    best = min(scores, key=lambda n: (round(scores[n], 9), list(CORRECTIONS).index(n)))
    return best, scores


def agreement(pred: np.ndarray, ref: np.ndarray) -> dict[str, float | int | None]:
    """``n``, ``rmse``, ``bias`` (mean of pred - ref) and ``slope`` (least-squares slope
    of pred against ref; None without spread in ref) of paired values."""
    p = np.asarray(pred, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    n = len(r)
    if n == 0:
        return {"n": 0, "rmse": None, "bias": None, "slope": None}
    d = p - r
    var = float(np.var(r))
    slope = float(np.mean((p - p.mean()) * (r - r.mean())) / var) if var > 1e-12 else None
    return {
        "n": n,
        "rmse": float(np.sqrt(np.mean(d * d))),
        "bias": float(d.mean()),
        "slope": slope,
    }
