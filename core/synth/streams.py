"""What every renderer shares: the seeded random streams, structure names, depth buckets
and the rendered batch type. Every random draw comes from a generator seeded by
``SeedSequence(seed, spawn_key=(stream, index, ...))``, so structure ``i`` is the same
whatever the number of structures, the chunking or the number of worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.synth import geometry as geo

__all__ = ["CROP_STREAM", "FIELD_STREAM", "CropBatch", "bucket_for", "rng_for", "structure_name"]

CROP_STREAM = 0  # spawn_key prefix of DACON crops
FIELD_STREAM = 1  # spawn_key prefix of full-field images


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """The generator of one (seed, key) stream: independent of chunking and workers."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(key)))


def structure_name(seed: int, index: int) -> str:
    return f"syn{int(seed)}_{int(index):06d}"


def bucket_for(hole_depth_du: float, width_du: int = 10) -> str:
    """Depth bucket: the ``width_du``-wide range of the hole depth (top minus bottom, DU),
    named by its lower bound, zero-padded to 3 digits ("090" holds 90 <= depth < 100 DU)."""
    lower = int(np.floor(max(hole_depth_du, 0.0) / width_du)) * width_du
    return f"{lower:03d}"


@dataclass
class CropBatch:
    """Rendered crops of structures ``indices`` (arrays stacked along axis 0)."""

    indices: list[int]
    names: list[str]
    params: list[geo.HoleParams]
    top_du: np.ndarray  # (n,) top surface level (DU)
    depth_du: np.ndarray  # (n, rows, cols) float32 depth map (DU)
    hole_depth_du: np.ndarray  # (n,) top minus deepest point (DU)
    buckets: list[str]
    sem: dict[str, np.ndarray] = field(default_factory=dict)  # case -> (n, 2, rows, cols) uint8
    clean: dict[str, np.ndarray] = field(default_factory=dict)  # case -> (n, rows, cols) uint8
    # case -> one dict per structure: the image's family and drawn parameters
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of_structures(
        cls,
        seed: int,
        indices: list[int],
        params: list[geo.HoleParams],
        top_du: np.ndarray,
        depth_du: np.ndarray,
    ) -> CropBatch:
        """A batch of structures ``indices`` with their depth maps; the hole depths, names
        and buckets derived from them (the SEM images are added per case)."""
        hole_depth = top_du - depth_du.reshape(len(indices), -1).min(axis=1)
        return cls(
            indices=list(indices),
            names=[structure_name(seed, i) for i in indices],
            params=params,
            top_du=top_du,
            depth_du=depth_du,
            hole_depth_du=hole_depth,
            buckets=[bucket_for(float(h)) for h in hole_depth],
        )
