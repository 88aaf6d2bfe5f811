"""Rendering with contrast families and wide randomisation (``--families``).

Per structure ``i`` (stream ``(WIDE_STREAM, i, 0)``): the top level, a hole from
:func:`core.synth.geometry.sample_wide_hole_params`, the top-surface roughness and the
texture pattern. Per image (structure ``i`` under ``Case_k``, stream
``(WIDE_STREAM, i, k, 0)``): the probe/detector/noise settings
(:func:`core.synth.detector.draw_common`), then the family's own knobs. Shot ``s`` draws
its noise from ``(WIDE_STREAM, i, k, 1 + s)``. So structure ``i`` is the same whatever
the chunking or the number of workers, and the same seed gives the same holes and the
same detector settings whichever families are chosen (only the family knobs differ):
use another seed for a held-out test set.

Which family an image gets: ``rotate`` (default) gives structure ``i`` under ``Case_k``
the family ``families[(i + k - 1) % len(families)]``, so every ``Case_k`` folder holds
all families in equal shares and one structure is seen under up to four physics;
``per-case`` gives ``Case_k`` the family ``families[(k - 1) % len(families)]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.synth import detector as det
from core.synth import geometry as geo
from core.synth import imaging as im
from core.synth.families import FAMILIES, Family, Scene, hole_scene
from core.synth.streams import CropBatch, rng_for

WIDE_STREAM = 2  # spawn_key prefix of family-mode crops
WIDE_FIELD_STREAM = 3  # spawn_key prefix of family-mode fields
ASSIGNMENTS = ("rotate", "per-case")


def family_for(index: int, case_number: int, families: list[str], assign: str = "rotate") -> str:
    """The family of structure ``index`` under ``Case_<case_number>`` (see the docstring)."""
    if assign not in ASSIGNMENTS:
        raise ValueError(f"unknown family assignment {assign!r}; choose from {ASSIGNMENTS}")
    k = case_number - 1
    return families[(k if assign == "per-case" else index + k) % len(families)]


def draw_surface(
    rng: np.random.Generator, shape: tuple[int, int]
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Top level (DU), roughness (nm), texture pattern (unit std) and its correlation (px)."""
    u = rng.random(4)
    top = geo.TOP_DU_RANGE[0] + (geo.TOP_DU_RANGE[1] - geo.TOP_DU_RANGE[0]) * float(u[0])
    surface = geo.surface_roughness(
        rng, shape, amplitude_nm=0.1 + 0.3 * float(u[1]), corr_px=1.2 + 2.8 * float(u[2])
    )
    lo, hi = det.common_range("grain_px")
    grain_px = float(lo + (hi - lo) * u[3])
    grain = det.smooth_field(rng, shape, grain_px)
    return top, surface.astype(np.float64), grain, grain_px


def structure_scene(
    seed: int,
    index: int,
    *,
    shape: tuple[int, int] = geo.CROP_SHAPE,
    pixel_size_nm: float = geo.PIXEL_SIZE_NM,
    with_los: bool = True,
) -> tuple[geo.HoleParams, float, np.ndarray, Scene, float]:
    """Structure ``index`` of ``seed`` in family mode: ``(hole, top_du, depth_du (float32,
    DU, clipped at 0), scene, grain_px)``."""
    rng = rng_for(seed, WIDE_STREAM, index, 0)
    top, surface, grain, grain_px = draw_surface(rng, shape)
    p = geo.sample_wide_hole_params(rng, shape, top_du=top, pixel_size_nm=pixel_size_nm)
    scene = hole_scene(p, shape, surface, pixel_size_nm=pixel_size_nm, with_los=with_los)
    scene.grain = grain
    du = top + (surface - scene.depth_nm) / geo.NM_PER_DU
    return p, top, np.clip(du, 0.0, None).astype(np.float32), scene, grain_px


def render_image(
    scene: Scene,
    family: Family,
    common: det.CommonParams,
    fparams: dict[str, float],
    shot_rngs: list[np.random.Generator],
) -> tuple[np.ndarray, np.ndarray]:
    """Shots ``(len(shot_rngs), rows, cols)`` and the noise-free image of one scene, 8-bit."""
    signal = family.signal(scene, common, fparams)
    top = (scene.depth_nm <= 0).astype(np.float64)
    mean = det.mean_signal(signal, common, scene.grain, top)
    return det.shots_and_clean(mean, common, shot_rngs)


def image_record(
    family: str, common: det.CommonParams, fparams: dict[str, float], grain_px: float
) -> dict[str, Any]:
    """The drawn parameters of one image (one row of ``synth_images.csv`` without paths)."""
    return {
        "family": family,
        "azimuth": "drawn",
        **common.to_dict(),
        "grain_px": grain_px,
        **fparams,
    }


def render_wide_crops(
    seed: int,
    indices: list[int],
    cases: list[str],
    families: list[str],
    *,
    assign: str = "rotate",
    shape: tuple[int, int] = geo.CROP_SHAPE,
    pixel_size_nm: float = geo.PIXEL_SIZE_NM,
) -> CropBatch:
    """Render structures ``indices`` under each case, each image with its family."""
    n = len(indices)
    case_numbers = {c: list(im.CASES).index(c) + 1 for c in cases}
    fam_of = {
        (i, c): family_for(i, case_numbers[c], families, assign) for i in indices for c in cases
    }
    params: list[geo.HoleParams] = []
    top = np.empty(n)
    depth_du = np.empty((n, *shape), np.float32)
    scenes: list[Scene] = []
    grain_px: list[float] = []
    for k, i in enumerate(indices):
        need_los = any(FAMILIES[fam_of[(i, c)]].needs_los for c in cases)
        p, t, depth_du[k], scene, gpx = structure_scene(
            seed, i, shape=shape, pixel_size_nm=pixel_size_nm, with_los=need_los
        )
        top[k] = t
        params.append(p)
        scenes.append(scene)
        grain_px.append(gpx)
    batch = CropBatch.of_structures(seed, indices, params, top, depth_du)
    for case in cases:
        c = case_numbers[case]
        shots = np.empty((n, 2, *shape), np.uint8)
        clean = np.empty((n, *shape), np.uint8)
        records: list[dict[str, Any]] = []
        for k, i in enumerate(indices):
            fam = FAMILIES[fam_of[(i, case)]]
            rng = rng_for(seed, WIDE_STREAM, i, c, 0)
            common = det.draw_common(rng)
            fparams = fam.draw(rng)
            shot_rngs = [rng_for(seed, WIDE_STREAM, i, c, 1 + s) for s in range(2)]
            shots[k], clean[k] = render_image(scenes[k], fam, common, fparams, shot_rngs)
            records.append(image_record(fam.name, common, fparams, grain_px[k]))
        batch.sem[case] = shots
        batch.clean[case] = clean
        batch.records[case] = records
    return batch
