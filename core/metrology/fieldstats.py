"""Field statistics and histograms of one per-hole quantity (plain numbers the GUI plots)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

MIN_BINS = 5
MAX_BINS = 20


@dataclass(frozen=True)
class FieldStats:
    """``count`` finite values, their ``mean``, sample standard deviation ``sigma``
    (ddof = 1; None for fewer than 2), ``three_sigma`` = 3 x sigma, ``min`` and ``max``."""

    count: int
    mean: float | None
    sigma: float | None
    three_sigma: float | None
    min: float | None
    max: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Histogram:
    """``counts[i]`` values in ``[edges[i], edges[i + 1])`` (the last bin closed)."""

    edges: list[float]
    counts: list[int]

    def as_dict(self) -> dict[str, list[float] | list[int]]:
        return {"edges": list(self.edges), "counts": list(self.counts)}


def _finite(values: Sequence[float | None]) -> np.ndarray:
    arr = np.array([v for v in values if v is not None], dtype=np.float64)
    return arr[np.isfinite(arr)]


def field_stats(values: Sequence[float | None]) -> FieldStats:
    """The :class:`FieldStats` of the finite, non-None ``values``."""
    v = _finite(values)
    if v.size == 0:
        return FieldStats(0, None, None, None, None, None)
    sigma = float(v.std(ddof=1)) if v.size >= 2 else None
    return FieldStats(
        count=int(v.size),
        mean=float(v.mean()),
        sigma=sigma,
        three_sigma=None if sigma is None else 3.0 * sigma,
        min=float(v.min()),
        max=float(v.max()),
    )


def histogram(values: Sequence[float | None]) -> Histogram:
    """Counts per bin of the finite ``values``: ``ceil(sqrt(n))`` bins clamped to
    :data:`MIN_BINS`-:data:`MAX_BINS` over their range (one unit-wide bin for a single
    value); empty for none."""
    v = _finite(values)
    if v.size == 0:
        return Histogram([], [])
    bins = min(MAX_BINS, max(MIN_BINS, math.ceil(math.sqrt(v.size))))
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return Histogram([float(e) for e in edges], [int(c) for c in counts])
