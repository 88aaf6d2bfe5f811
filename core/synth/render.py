"""Render simulated structures: depth map (DU) plus SEM shots per imaging case.

Every random draw comes from a generator seeded by ``SeedSequence(seed,
spawn_key=(stream, index, ...))``, so structure ``i`` is the same whatever the
number of structures, the chunking or the number of worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.synth import geometry as geo
from core.synth import imaging as im
from core.synth.streams import (
    CROP_STREAM,
    CropBatch,
    rng_for,
)
from core.synth.wide import render_wide_crops


def legacy_record(case: im.ImagingCase, draw: im.StructureImaging) -> dict[str, Any]:
    """The parameters of a legacy (fixed-case) image in the terms of ``synth_images.csv``."""
    return {
        "family": "analytic",
        "azimuth": "case",
        "dose": case.dose,
        "psf_sigma_px": draw.blur_px,
        "psf_tail_frac": 0.0,
        "psf_tail_px": None,
        "offset_dn": draw.offset,
        "gain_dn": draw.gain,
        "gamma": 1.0,
        "saturation_dn": 255.0,
        "read_noise_dn": case.read_noise,
        "row_noise_dn": case.row_noise,
        "scan_lag": case.scan_lag,
        "drift_row": draw.drift_row,
        "drift_col": draw.drift_col,
        "grain_amp": 0.0,
        "grain_px": None,
        "edge_gain": case.edge_gain,
        "edge_length_nm": case.edge_length_nm,
        "background": case.background,
        "detector_tilt": case.detector_tilt,
        "detector_angle_deg": case.detector_angle_deg,
    }


def render_crops(
    seed: int,
    indices: list[int],
    cases: list[str],
    *,
    shape: tuple[int, int] = geo.CROP_SHAPE,
    pixel_size_nm: float = geo.PIXEL_SIZE_NM,
    families: Sequence[str] | None = None,
    assign: str = "rotate",
) -> CropBatch:
    """Render structures ``indices`` of ``seed`` under each case in ``cases`` (2 shots each).

    Without ``families``: the legacy simulator (today's geometry and the four fixed
    imaging cases of :data:`core.synth.imaging.CASES`, bit-identical to earlier versions).
    With ``families``: wide randomisation and one contrast family per image
    (:func:`core.synth.wide.render_wide_crops`; ``assign`` "rotate" or "per-case").
    """
    if families:
        return render_wide_crops(
            seed,
            indices,
            cases,
            list(families),
            assign=assign,
            shape=shape,
            pixel_size_nm=pixel_size_nm,
        )
    n = len(indices)
    depth_nm = np.empty((n, *shape), np.float32)
    edge_nm = np.empty_like(depth_nm)
    open_nm = np.empty_like(depth_nm)
    surface = np.empty_like(depth_nm)
    params: list[geo.HoleParams] = []
    top = np.empty(n)
    for k, i in enumerate(indices):
        rng = rng_for(seed, CROP_STREAM, i, 0)
        p = geo.sample_hole_params(rng, shape, pixel_size_nm=pixel_size_nm)
        u = rng.random(3)
        top[k] = geo.TOP_DU_RANGE[0] + (geo.TOP_DU_RANGE[1] - geo.TOP_DU_RANGE[0]) * u[0]
        surface[k] = geo.surface_roughness(
            rng, shape, amplitude_nm=0.1 + 0.3 * u[1], corr_px=1.5 + 2.0 * u[2]
        )
        r = geo.render_hole(p, shape, pixel_size_nm=pixel_size_nm)
        depth_nm[k], edge_nm[k], open_nm[k] = r.depth_nm, r.edge_nm, r.open_nm
        params.append(p)
    depth_du = (top[:, None, None] + (surface - depth_nm) / geo.NM_PER_DU).astype(np.float32)
    batch = CropBatch.of_structures(seed, indices, params, top, depth_du)
    height = surface - depth_nm
    for case_name in cases:
        case = im.CASES[case_name]
        c = list(im.CASES).index(case_name) + 1  # stable key: Case_k -> k
        draws = [
            im.draw_structure_imaging(rng_for(seed, CROP_STREAM, i, c, 0), case) for i in indices
        ]
        signal = im.se_signal(
            height,
            depth_nm,
            edge_nm,
            open_nm,
            pixel_size_nm=pixel_size_nm,
            edge_gain=case.edge_gain,
            edge_length_nm=case.edge_length_nm,
            background=case.background,
            detector_tilt=case.detector_tilt,
            detector_angle_deg=case.detector_angle_deg,
        )
        mean, clean_dn = im.expected_signal(signal, draws, case.scan_lag)
        shots = np.empty((n, 2, *shape), np.uint8)
        for k, i in enumerate(indices):
            for s in range(2):
                shots[k, s] = im.noisy_shot(
                    mean[k], draws[k], case, rng_for(seed, CROP_STREAM, i, c, 1 + s)
                )
        batch.sem[case_name] = shots
        batch.clean[case_name] = im.to_uint8(clean_dn)
        batch.records[case_name] = [legacy_record(case, d) for d in draws]
    return batch
