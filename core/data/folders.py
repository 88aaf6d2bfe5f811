"""Plain folder layouts: paired ``SEM/`` + ``Depth/`` folders, unlabeled folders, and
automatic layout detection."""

from __future__ import annotations

from pathlib import Path

from core.conventions import split_shot
from core.data.dacon import (
    _child,
    find_dacon_pairs,
    find_dacon_train,
    pair_folders,
    simulation_dir,
    train_dir,
)
from core.data.records import DatasetError, SampleRecord, is_image, list_images


def find_paired_folder(root: str | Path) -> list[SampleRecord]:
    """``root/SEM`` and ``root/Depth`` with the same relative stems (a SEM stem may add
    ``_itrN``); the structure is the depth map's relative stem."""
    root = Path(root)
    sem = _child(root, "SEM")
    if sem is None:
        raise DatasetError(f"{root}: no SEM/ folder (paired layout needs SEM/ and Depth/)")
    depth = _child(root, "Depth")
    if depth is None:
        raise DatasetError(f"{root}: no Depth/ folder beside SEM/ (paired layout)")
    return pair_folders(sem, depth, dacon=False, what="paired folders")


def find_unlabeled(root: str | Path) -> list[SampleRecord]:
    """Every image under ``root`` (recursive; or ``root`` itself if it is an image file),
    without labels. Shots ``<name>_itrN`` of one structure share the structure."""
    root = Path(root)
    if root.is_file():
        if not is_image(root):
            raise DatasetError(f"{root}: not an image file")
        name, shot = split_shot(root.stem)
        return [SampleRecord(sem_path=root, depth_path=None, structure=name, shot=shot)]
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or folder")
    records = []
    for p in list_images(root):
        rel = p.relative_to(root)
        name, shot = split_shot(p.stem)
        records.append(
            SampleRecord(
                sem_path=p, depth_path=None, structure=(rel.parent / name).as_posix(), shot=shot
            )
        )
    if not records:
        raise DatasetError(f"{root}: no images found (looked for .png .tif .tiff .jpg .bmp)")
    return records


def detect_layout(root: str | Path) -> str:
    """``"dacon"``, ``"paired"``, ``"dacon-train"``, ``"unlabeled"`` (what
    :func:`find_records` would read)."""
    root = Path(root)
    if root.is_file():
        return "unlabeled"
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or folder")
    if simulation_dir(root) is not None:
        return "dacon"
    if _child(root, "SEM") is not None and _child(root, "Depth") is not None:
        return "paired"
    if train_dir(root) is not None:
        return "dacon-train"
    return "unlabeled"


def find_records(root: str | Path) -> list[SampleRecord]:
    """Read ``root`` in whichever layout it has: DACON simulation pairs (preferred when a
    full DACON download also holds ``train/`` and ``test/``), paired ``SEM/`` + ``Depth/``
    folders, DACON real training images (average depth only), else unlabeled images
    (``root/SEM`` if present, else everything under ``root``)."""
    root = Path(root)
    layout = detect_layout(root)
    if layout == "dacon":
        return find_dacon_pairs(root)
    if layout == "paired":
        return find_paired_folder(root)
    if layout == "dacon-train":
        return find_dacon_train(root)
    sem = _child(root, "SEM") if root.is_dir() else None
    return find_unlabeled(sem if sem is not None else root)
