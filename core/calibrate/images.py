"""The calibration images: which files under the user's folder, the names a CSV row may
use for each, their hash, and their pixels.

The folder is expanded like ``semdepth predict`` expands one (image types only, sorted;
``Depth/`` and ``SEM_clean/`` folders and our own ``*_depth`` outputs skipped). Every image
answers to several keys (case-insensitive), so a CSV row may name it the way its author
thinks of it (:func:`image_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.calibrate.errors import CalibrationError
from core.conventions import split_shot
from core.data import site_key


@dataclass(frozen=True)
class CalibrationImage:
    """One SEM image of the user's tool. ``rel``: its path below the images folder (posix);
    ``structure``: ``rel`` without the suffix and the shot (``a/x_itr0.png`` -> ``a/x``):
    shots ``<stem>_itrN`` of one structure share it."""

    path: Path
    rel: str
    structure: str
    shot: int | None


def find_images(root: str | Path) -> list[CalibrationImage]:
    """Every SEM image under ``root`` (or ``root`` itself if it is a file), sorted;
    :class:`CalibrationError` naming the folder when there is none."""
    from core.batch.inputs import expand_inputs

    root = Path(root)
    if not root.exists():
        raise CalibrationError(f"{root}: no such file or folder (the calibration images)")
    paths = expand_inputs([root])
    base = root.parent if root.is_file() else root
    out = []
    for p in paths:
        rel = p.relative_to(base).as_posix()
        name, shot = split_shot(p.stem)
        parent = Path(rel).parent.as_posix()
        structure = name if parent == "." else f"{parent}/{name}"
        out.append(CalibrationImage(path=p, rel=rel, structure=structure, shot=shot))
    if not out:
        raise CalibrationError(
            f"{root}: no images found (looked for .png .tif .tiff .jpg .jpeg .bmp, skipping "
            "Depth/ folders and *_depth files)"
        )
    return out


def point_keys(image: CalibrationImage) -> set[str]:
    """The keys naming this image or its structure: relative path, file name, either
    without the suffix, and the structure (relative or bare), lower case."""
    rel = Path(image.rel)
    no_suffix = rel.with_suffix("").as_posix()
    bare_structure = image.structure.rsplit("/", 1)[-1]
    keys = {image.rel, rel.name, no_suffix, rel.stem, image.structure, bare_structure}
    return {k.lower() for k in keys}


def image_keys(image: CalibrationImage) -> set[str]:
    """:func:`point_keys` plus the folders holding the image (a site: every image in it),
    by relative path and by name, and the DACON site key (``depth_110_site_00000`` for
    ``Depth_110/site_00000/x.png``)."""
    keys = point_keys(image)
    parents = Path(image.rel).parents
    folders = [p for p in parents if p.as_posix() != "."]
    for folder in folders:
        keys.add(folder.as_posix().lower())
    if folders:
        keys.add(folders[0].name.lower())
    if len(folders) >= 2:
        keys.add(site_key(folders[1].name, folders[0].name))
    return keys


def images_hash(images: Sequence[CalibrationImage]) -> str:
    """SHA-256 over every image's relative path and content (independent of order and of
    where the folder lives): the card records which images calibrated the model."""
    from core.data import SampleRecord, dataset_hash

    return dataset_hash(
        [SampleRecord(sem_path=im.path, depth_path=None, structure=im.structure) for im in images]
    )


def read_image01(image: CalibrationImage, model_pixel_nm: float | None) -> tuple[np.ndarray, float]:
    """The image as float32 0..1 at the model's pixel size, and the scale applied (> 1:
    enlarged), read and resampled the way ``semdepth predict`` does it (a vendor data bar
    below the image cut off); :class:`CalibrationError` naming the file."""
    from core.inference.resample import rescale
    from core.inference.scale import ScalePolicy
    from core.io import SemReadError, read_sem

    try:
        sem = read_sem(image.path)
    except SemReadError as exc:
        raise CalibrationError(str(exc)) from None
    img01 = np.asarray(sem.normalized(), dtype=np.float32)
    scale = 1.0  # no pixel size (here or in the card): taken at the model's scale
    if sem.pixel_size_nm and model_pixel_nm:
        scale = float(sem.pixel_size_nm) / float(model_pixel_nm)
        policy = ScalePolicy()  # the range semdepth predict resamples within (auto)
        if not policy.min_factor <= scale <= policy.max_factor:
            raise CalibrationError(
                f"{image.path}: pixel size {sem.pixel_size_nm:g} nm is {scale:.3g}x the "
                f"model's {model_pixel_nm:g} nm, outside the {policy.min_factor:g}-"
                f"{policy.max_factor:g}x a calibration can resample"
            )
    return rescale(img01, scale), scale
