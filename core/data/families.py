"""Contrast families of simulated records: which physics rendered each SEM image.

A simulated data set records every SEM image's family in ``synth_images.csv``
(:func:`core.synth.read_synth_images`); training on some families and testing on the
others starts from :func:`record_families` and :func:`select_families`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from core.data.records import DatasetError, SampleRecord


def _relative(path: Path, root: Path) -> str | None:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def record_families(records: Sequence[SampleRecord], root: str | Path) -> list[str]:
    """The contrast family of each record (SEM files under the simulated data set
    ``root``); :class:`DatasetError` when ``root`` has no ``synth_images.csv`` or a record
    is not listed in it."""
    from core.synth import read_synth_images

    base = Path(root).resolve()
    try:
        rows = read_synth_images(base)
    except FileNotFoundError as exc:
        raise DatasetError(f"{exc}; families can only be chosen in a simulated data set") from None
    out: list[str] = []
    for r in records:
        rel = _relative(Path(r.sem_path), base)
        row = rows.get(rel) if rel is not None else None
        if row is None:
            raise DatasetError(f"{r.sem_path}: not listed in {base}/synth_images.csv")
        out.append(str(row["family"]))
    return out


def select_families(
    records: Sequence[SampleRecord], root: str | Path, families: Iterable[str]
) -> list[SampleRecord]:
    """The records of ``root`` rendered by one of ``families`` (order kept);
    :class:`DatasetError` naming the families present when none matches."""
    wanted = {str(f) for f in families}
    fams = record_families(records, root)
    chosen = [r for r, f in zip(records, fams, strict=True) if f in wanted]
    if not chosen:
        present = ", ".join(sorted(set(fams))) or "none"
        raise DatasetError(
            f"{root}: no images of the families {', '.join(sorted(wanted))} "
            f"(the data set holds: {present})"
        )
    return chosen


def record_flippable(records: Sequence[SampleRecord], root: str | Path) -> list[bool]:
    """Whether a mirrored copy of each record is an image its simulator could have drawn:
    False where ``synth_images.csv`` says the side detector's azimuth is fixed by the
    imaging case (``azimuth`` = ``case``; in a data set written before that column, every
    image of a data set whose ``synth_meta.json`` says ``"randomisation": "cases"``), True
    otherwise, and True for every record of a folder that is not a simulated data set
    (nothing says its detector is fixed)."""
    from core.data.split import read_synth_meta
    from core.synth import read_synth_images
    from core.synth.records import default_azimuth

    base = Path(root).resolve()
    try:
        rows = read_synth_images(base)
    except FileNotFoundError:
        return [True] * len(records)
    fallback = default_azimuth(read_synth_meta(base) or {})
    out: list[bool] = []
    for r in records:
        rel = _relative(Path(r.sem_path), base)
        row = rows.get(rel) if rel is not None else None
        azimuth = (row or {}).get("azimuth") or fallback
        out.append(azimuth != "case")
    return out
