"""Depth-map error metrics: the one home of RMSE and MAE, per image and pooled.

Every figure is in depth units (DU, the 0-255 scale) and says how it was averaged:
``mean_rmse_per_image`` is the RMSE of each image, then the mean over images (the DACON
metric); ``pooled_rmse`` is one RMSE over every pixel of every image. "Offset-free" removes
each image's mean error first (depth relative to the image's own level): the absolute
top-surface level is not observable from a top-down image, the shape below it is.
Pure numpy; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from target shape {t.shape}")
    if p.size == 0:
        raise ValueError("cannot compute a metric over zero pixels")
    return p, t


def _as_images(arrays: Any) -> list[np.ndarray]:
    """A ``(n, rows, cols)`` array or a sequence of 2-D arrays -> list of 2-D float64 arrays."""
    if isinstance(arrays, np.ndarray):
        if arrays.ndim == 2:
            return [arrays.astype(np.float64)]
        if arrays.ndim != 3:
            raise ValueError(f"expected (n, rows, cols) images, got shape {arrays.shape}")
        return [a.astype(np.float64) for a in arrays]
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def image_rmse(pred: Any, target: Any) -> float:
    """RMSE (DU) of one depth map: sqrt(mean((pred - target)^2)) over its pixels."""
    p, t = _pair(pred, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def image_mae(pred: Any, target: Any) -> float:
    """Mean absolute error (DU) of one depth map."""
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def rmse_per_image(preds: Any, targets: Any) -> np.ndarray:
    """The RMSE (DU) of each image, float64 array of length n."""
    ps, ts = _as_images(preds), _as_images(targets)
    if len(ps) != len(ts):
        raise ValueError(f"{len(ps)} predictions for {len(ts)} targets")
    return np.array([image_rmse(p, t) for p, t in zip(ps, ts, strict=True)])


def mean_rmse_per_image(preds: Any, targets: Any) -> float:
    """Per-image RMSE averaged over images (DU): the DACON metric."""
    per = rmse_per_image(preds, targets)
    if per.size == 0:
        raise ValueError("cannot compute a metric over zero images")
    return float(per.mean())


def _pooled_sum(preds: Any, targets: Any, per_pixel: Any) -> tuple[float, int]:
    """Sum of ``per_pixel(pred - target)`` over every pixel of every image, and the count."""
    ps, ts = _as_images(preds), _as_images(targets)
    if len(ps) != len(ts):
        raise ValueError(f"{len(ps)} predictions for {len(ts)} targets")
    total = 0.0
    n = 0
    for p, t in zip(ps, ts, strict=True):
        p, t = _pair(p, t)
        total += float(np.sum(per_pixel(p - t)))
        n += p.size
    if n == 0:
        raise ValueError("cannot compute a metric over zero images")
    return total, n


def pooled_rmse(preds: Any, targets: Any) -> float:
    """One RMSE (DU) over every pixel of every image (larger images weigh more)."""
    sq, n = _pooled_sum(preds, targets, np.square)
    return math.sqrt(sq / n)


def pooled_mae(preds: Any, targets: Any) -> float:
    """Mean absolute error (DU) over every pixel of every image."""
    ab, n = _pooled_sum(preds, targets, np.abs)
    return ab / n


@dataclass
class ImageResult:
    """The errors of one image (all in DU)."""

    index: int
    sem_path: str
    structure: str
    case: str | None
    bucket: str | None
    shot: int | None
    rmse: float
    mae: float
    n_pixels: int
    sum_sq: float
    sum_abs: float
    rmse_offset_free: float = math.nan  # after removing the image's mean error


@dataclass
class GroupMetrics:
    """Metrics of a group of images (DU): per-image-averaged RMSE, pooled RMSE, pooled MAE,
    and the per-image-averaged offset-free RMSE (each image's mean error removed)."""

    n_images: int
    rmse_per_image: float
    rmse_pooled: float
    mae: float
    rmse_offset_free_per_image: float = math.nan

    @classmethod
    def of(cls, images: Sequence[ImageResult]) -> GroupMetrics:
        if not images:
            raise ValueError("cannot summarise zero images")
        n_pix = sum(r.n_pixels for r in images)
        return cls(
            n_images=len(images),
            rmse_per_image=float(np.mean([r.rmse for r in images])),
            rmse_pooled=math.sqrt(sum(r.sum_sq for r in images) / n_pix),
            mae=sum(r.sum_abs for r in images) / n_pix,
            rmse_offset_free_per_image=float(np.mean([r.rmse_offset_free for r in images])),
        )


class MetricAccumulator:
    """Collects per-image errors batch by batch; :meth:`summary` gives :class:`GroupMetrics`."""

    def __init__(self) -> None:
        self.images: list[ImageResult] = []

    def __len__(self) -> int:
        return len(self.images)

    def add(
        self,
        pred: Any,
        target: Any,
        records: Sequence[Any] | None = None,
        *,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Add one image ``(rows, cols)`` or a batch ``(n, rows, cols)`` (or ``(n, 1, r, c)``)
        with, optionally, their :class:`~core.data.SampleRecord` s for the per-case tables."""
        p, t = _pair(pred, target)
        if p.ndim == 4 and p.shape[1] == 1:
            p, t = p[:, 0], t[:, 0]
        if p.ndim == 2:
            p, t = p[None], t[None]
        if p.ndim != 3:
            raise ValueError(f"expected (n, rows, cols) depth maps, got shape {p.shape}")
        if records is not None and len(records) != len(p):
            raise ValueError(f"{len(records)} records for {len(p)} images")
        diff = p - t
        sum_sq = np.sum(diff**2, axis=(1, 2))
        sum_abs = np.sum(np.abs(diff), axis=(1, 2))
        n_pix = diff.shape[1] * diff.shape[2]
        centred = diff - diff.mean(axis=(1, 2), keepdims=True)
        offset_free = np.sqrt(np.mean(centred**2, axis=(1, 2)))
        for i in range(len(p)):
            rec = records[i] if records is not None else None
            idx = indices[i] if indices is not None else len(self.images)
            self.images.append(
                ImageResult(
                    index=int(idx),
                    sem_path=str(rec.sem_path) if rec is not None else "",
                    structure=str(rec.structure) if rec is not None else str(idx),
                    case=getattr(rec, "case", None),
                    bucket=getattr(rec, "bucket", None),
                    shot=getattr(rec, "shot", None),
                    rmse=math.sqrt(float(sum_sq[i]) / n_pix),
                    mae=float(sum_abs[i]) / n_pix,
                    n_pixels=int(n_pix),
                    sum_sq=float(sum_sq[i]),
                    sum_abs=float(sum_abs[i]),
                    rmse_offset_free=float(offset_free[i]),
                )
            )

    def summary(self) -> GroupMetrics:
        return GroupMetrics.of(self.images)

    def by(self, key: str) -> dict[str, GroupMetrics]:
        """Metrics per value of ``key`` (``"case"`` or ``"bucket"``), sorted by that value."""
        groups: dict[str, list[ImageResult]] = {}
        for r in self.images:
            value = getattr(r, key)
            groups.setdefault("-" if value is None else str(value), []).append(r)
        return {k: GroupMetrics.of(v) for k, v in sorted(groups.items())}

    def worst(self, n: int = 10) -> list[ImageResult]:
        return sorted(self.images, key=lambda r: r.rmse, reverse=True)[:n]


def image_rmse_offset_free(pred: Any, target: Any) -> float:
    """RMSE (DU) of one depth map after removing its mean error (its constant offset)."""
    p, t = _pair(pred, target)
    d = p - t
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


def rmse(diff: Any) -> float:
    """sqrt(mean(diff^2)) of an error array (DU); NaN for an empty array."""
    d = np.asarray(diff, dtype=np.float64)
    if d.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(d * d)))
