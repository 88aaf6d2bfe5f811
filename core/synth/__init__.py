"""Simulated SEM images of etched holes with their depth maps (the product's teacher).

geometry (hole parameters -> visible depth) -> imaging (secant-law yield, bright rims,
escape through the opening, blur, detector, noise) -> writers (DACON layout, fields).
Contrast families (``families``: analytic, line-of-sight, backscatter, charging) with
wide per-image randomisation (``detector``, ``wide``) are chosen with ``families=``;
every image's family and parameters go to ``synth_images.csv`` (``records``).
See ``docs/simulator.md``.
"""

from __future__ import annotations

from core.synth.dacon import BUCKET_RULE, META_NAME, simulator_description, write_dacon
from core.synth.detector import COMMON_RANGES, CommonParams
from core.synth.families import FAMILIES, Family, family_names
from core.synth.field import Field, render_field, write_fields
from core.synth.geometry import (
    CROP_SHAPE,
    NM_PER_DU,
    PIXEL_SIZE_NM,
    TOP_DU_RANGE,
    HoleParams,
    render_hole,
    sample_hole_params,
)
from core.synth.imaging import CASES, ImagingCase, escape_fraction, gaussian_blur, secant_yield
from core.synth.records import IMAGES_CSV, read_synth_images
from core.synth.render import render_crops
from core.synth.streams import CropBatch, bucket_for, structure_name

__all__ = [
    "BUCKET_RULE",
    "CASES",
    "COMMON_RANGES",
    "CROP_SHAPE",
    "FAMILIES",
    "IMAGES_CSV",
    "META_NAME",
    "NM_PER_DU",
    "PIXEL_SIZE_NM",
    "TOP_DU_RANGE",
    "CommonParams",
    "CropBatch",
    "Family",
    "Field",
    "HoleParams",
    "ImagingCase",
    "bucket_for",
    "escape_fraction",
    "family_names",
    "gaussian_blur",
    "read_synth_images",
    "render_crops",
    "render_field",
    "render_hole",
    "sample_hole_params",
    "secant_yield",
    "simulator_description",
    "structure_name",
    "write_dacon",
    "write_fields",
]
