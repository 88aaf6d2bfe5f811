"""Finding the depth map (ground truth) that belongs to a SEM file, and comparing a
prediction with it (RMSE, DU)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.batch.inputs import is_image
from core.conventions import DEPTH_DIR, DEPTH_SUFFIXES, base_stems, depth_folder_for
from core.metrics import rmse


def _gt_exts(sem_path: Path) -> list[str]:
    exts = [sem_path.suffix] if sem_path.suffix else []
    for e in DEPTH_SUFFIXES:
        if e not in exts:
            exts.append(e)
    return exts


def _first_file(candidates: Iterable[Path], sem_path: Path) -> Path | None:
    try:
        own = sem_path.resolve()
    except OSError:
        own = sem_path
    for c in candidates:
        if c.is_file():
            try:
                if c.resolve() == own:
                    continue
            except OSError:
                continue
            return c
    return None


@lru_cache(maxsize=8)
def _gt_index(folder: str) -> dict[str, list[Path]]:
    """Image files under ``folder`` by lower-case stem (built once per folder per batch)."""
    index: dict[str, list[Path]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            if is_image(p):
                index.setdefault(p.stem.lower(), []).append(p)
    return index


def forget_ground_truth_folders() -> None:
    """Drop the cached listings of ``gt_dir`` folders (a new batch may see new files)."""
    _gt_index.cache_clear()


def _suffix_match(a: Path, b: Path) -> int:
    """How many trailing parent-folder names ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(reversed(a.parent.parts), reversed(b.parent.parts), strict=False):
        if x.lower() != y.lower():
            break
        n += 1
    return n


def find_ground_truth(sem_path: str | Path, gt_dir: str | Path | None = None) -> Path | None:
    """The depth map belonging to ``sem_path``, or None. Shot suffixes (``_itr0``) are
    dropped from the stem. Rules, first hit wins:

    1. ``gt_dir`` given: a file under it with the same stem; when several, the one whose
       folders match the SEM file's relative path best (``gt_dir/Case_1/80/x.png`` for
       ``SEM/Case_1/80/x_itr0.png``). With ``gt_dir`` the other rules are not used.
    2. DACON layout: the last ``SEM`` folder in the path replaced by ``Depth``
       (``.../SEM/Case_1/80/x_itr0.png`` -> ``.../Depth/Case_1/80/x.png``).
    3. A ``Depth/`` or ``depth/`` folder beside the file, or beside its folder.
    4. ``<stem>_depth.<ext>`` beside the file.
    Extensions tried: the SEM file's own, then ``.png``, ``.tif``, ``.tiff``.
    """
    sem_path = Path(sem_path)
    stems = base_stems(sem_path.stem)
    exts = _gt_exts(sem_path)
    if gt_dir is not None:
        gt = Path(gt_dir)
        if not gt.is_dir():
            return None
        index = _gt_index(str(gt.resolve()))
        for s in stems:
            found = [p for p in index.get(s.lower(), []) if p.resolve() != sem_path.resolve()]
            if found:
                return max(found, key=lambda p: _suffix_match(p, sem_path))
        return None
    for depth_name in (DEPTH_DIR, DEPTH_DIR.lower()):
        base = depth_folder_for(sem_path, depth_name)
        if base is not None:
            hit = _first_file((base / f"{s}{e}" for s in reversed(stems) for e in exts), sem_path)
            if hit:
                return hit
    names = (DEPTH_DIR, DEPTH_DIR.lower())
    folders = [sem_path.parent / n for n in names]
    folders += [sem_path.parent.parent / n for n in names]
    hit = _first_file(
        (f / f"{s}{e}" for f in folders for s in reversed(stems) for e in exts), sem_path
    )
    if hit:
        return hit
    return _first_file(
        (sem_path.parent / f"{s}_depth{e}" for s in reversed(stems) for e in exts), sem_path
    )


@dataclass
class GroundTruthMatch:
    """The ground truth of one prediction: its file (None when none was found), the depth
    map and the RMSE (DU) when it could be read and has the prediction's shape, and notes
    saying why not otherwise."""

    path: Path | None = None
    depth: np.ndarray | None = None
    rmse: float | None = None
    notes: list[str] = field(default_factory=list)


def match_ground_truth(
    sem_path: Path, depth: np.ndarray, gt_dir: str | Path | None = None
) -> GroundTruthMatch:
    """Find ``sem_path``'s ground truth (:func:`find_ground_truth`) and compare ``depth``
    with it. An unreadable or differently shaped truth is a note, not an error."""
    from core.io import SemReadError, read_depth

    match = GroundTruthMatch(path=find_ground_truth(sem_path, gt_dir))
    if match.path is None:
        return match
    try:
        gt = read_depth(match.path)
    except SemReadError as exc:
        match.notes.append(f"ground truth unreadable: {exc}")
        return match
    if gt.shape == depth.shape:
        match.depth = gt
        match.rmse = rmse(depth.astype(np.float64) - gt.astype(np.float64))
    else:
        match.notes.append(
            f"ground truth {match.path} has shape {gt.shape}, prediction {depth.shape}: no RMSE"
        )
    return match
