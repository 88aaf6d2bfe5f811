"""Sample records shared by every data layout, and the data-set error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.conventions import IMAGE_SUFFIXES, is_image_name

#: Image file types the finders pick up (case-insensitive): the project's one list.
IMAGE_EXTS = frozenset(IMAGE_SUFFIXES)

#: How many offending paths a :class:`DatasetError` message lists before "... and N more".
MAX_LISTED = 20


class DatasetError(ValueError):
    """A data folder that cannot be used; the message lists what is missing or unpaired."""


@dataclass(frozen=True)
class SampleRecord:
    """One SEM image and, when labelled, its depth map.

    ``structure`` groups files that show the same physical structure (a DACON ``<name>``
    under every case and shot, or a real-data site id): splits never separate a group.
    ``average_depth`` (DU) is the per-site label of the real DACON ``train/`` folder.
    """

    sem_path: Path
    depth_path: Path | None
    structure: str
    case: str | None = None
    bucket: str | None = None
    shot: int | None = None
    average_depth: float | None = None

    @property
    def labelled(self) -> bool:
        return self.depth_path is not None


def format_paths(paths: list[Path] | list[str], limit: int = MAX_LISTED) -> str:
    """Up to ``limit`` paths, one per line, then how many were left out."""
    shown = [f"  {p}" for p in paths[:limit]]
    if len(paths) > limit:
        shown.append(f"  ... and {len(paths) - limit} more")
    return "\n".join(shown)


def is_image(path: Path) -> bool:
    return path.is_file() and is_image_name(path)


def list_images(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursive), sorted."""
    return sorted(p for p in folder.rglob("*") if is_image(p))
