"""The project's file conventions, in one place.

- Image files: :data:`IMAGE_SUFFIXES` (case-insensitive), hidden files never count.
- Shots: two SEM shots of one structure are ``<name>_itr0`` and ``<name>_itr1``
  (:func:`split_shot`, :func:`shot_stem`, :func:`base_stems`).
- SEM/Depth pairing (the DACON layout): ``.../SEM/<sub-folders>/<name>_itrN.png`` pairs
  with ``.../Depth/<sub-folders>/<name>.png`` (:data:`SEM_DIR`, :data:`DEPTH_DIR`,
  :func:`depth_folder_for`).
- Output names: every output of one input shares a stem; the per-kind suffixes are
  :data:`OUTPUT_SUFFIXES`; :class:`StemNamer` makes collision-free stems for a batch.

Pure Python: no numpy, no torch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Image file types read as SEM images or depth maps (lower case, with the dot).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

#: Suffixes tried for a depth map (ground truth) after the SEM file's own.
DEPTH_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff")

#: The shot suffix: ``<name>_itr<N>``.
SHOT_SUFFIX = "_itr"
_SHOT_RE = re.compile(r"^(?P<name>.+)_itr(?P<shot>\d+)$")

#: Folder names of the DACON layout (matched case-insensitively).
SEM_DIR = "SEM"
DEPTH_DIR = "Depth"
#: Folders a batch never reads as SEM input: ground truth and noise-free renderings.
NON_INPUT_DIRS = frozenset({"depth", "sem_clean"})

#: Output kind -> the suffix appended to the input's stem.
OUTPUT_SUFFIXES: dict[str, str] = {
    "depth_tiff": "_depth.tif",
    "uncertainty_tiff": "_uncertainty.tif",
    "depth_csv": "_depth.csv",
    "depth_png": "_depth.png",
    "depth8_png": "_depth8.png",
    "holes_csv": "_holes.csv",
    "depth_below_top_tiff": "_depth_below_top.tif",
    "depth_below_top_csv": "_depth_below_top.csv",
    "sigma_tiff": "_sigma.tif",
    "report_html": "_report.html",
}
#: The batch's own report, beside summary.csv.
BATCH_REPORT_NAME = "report.html"
#: Stems ending like these are ground truth or our own outputs, never SEM input.
NON_INPUT_STEM_SUFFIXES: tuple[str, ...] = (
    "_depth",
    "_depth8",
    "_uncertainty",
    "_depth_below_top",
    "_sigma",
)


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``'s name is an image file name (by suffix; not hidden)."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def split_shot(stem: str) -> tuple[str, int | None]:
    """``"abc_itr1"`` -> ``("abc", 1)``; a stem without the suffix -> ``(stem, None)``."""
    m = _SHOT_RE.match(stem)
    if m is None:
        return stem, None
    return m.group("name"), int(m.group("shot"))


def shot_stem(name: str, shot: int) -> str:
    """``("abc", 1)`` -> ``"abc_itr1"``."""
    return f"{name}{SHOT_SUFFIX}{int(shot)}"


def base_stems(stem: str) -> list[str]:
    """The stems a depth map of ``stem`` may have: ``x_itr0`` -> ``[x_itr0, x]``;
    ``x`` -> ``[x]``."""
    name, shot = split_shot(stem)
    return [stem] if shot is None else [stem, name]


def depth_folder_for(sem_path: Path, depth_name: str = DEPTH_DIR) -> Path | None:
    """The DACON depth folder of a SEM file: the last ``SEM`` folder in its path replaced
    by ``depth_name`` (``.../SEM/Case_1/80/x_itr0.png`` -> ``.../Depth/Case_1/80``), or
    None when no folder of the path is named ``SEM``."""
    parts = sem_path.parts
    idx = [i for i, part in enumerate(parts[:-1]) if part.lower() == SEM_DIR.lower()]
    if not idx:
        return None
    i = idx[-1]
    return Path(*parts[:i], depth_name, *parts[i + 1 : -1])


def is_output_stem(stem: str) -> bool:
    """Whether a file stem looks like ground truth or one of our own outputs."""
    low = stem.lower()
    return low.endswith(NON_INPUT_STEM_SUFFIXES)


def output_name(stem: str, kind: str) -> str:
    """The file name of output ``kind`` (a key of :data:`OUTPUT_SUFFIXES`) for ``stem``."""
    try:
        return stem + OUTPUT_SUFFIXES[kind]
    except KeyError:
        raise ValueError(
            f"unknown output kind {kind!r} (known: {sorted(OUTPUT_SUFFIXES)})"
        ) from None


def safe_piece(piece: str) -> str:
    """A path piece with the characters no file system accepts replaced by ``_``."""
    bad = '<>:"/\\|?*'
    return "".join("_" if (c in bad or ord(c) < 32) else c for c in piece)


class StemNamer:
    """Collision-free output stems for a batch of inputs.

    Each input's path relative to the deepest folder common to all inputs, sub-folders
    joined with ``__`` and the suffix dropped (``a/x.png``, ``b/x.png`` -> ``a__x``,
    ``b__x``); a remaining clash (``x.png`` beside ``x.tif``) appends the extension
    (``x_tif``), then a counter (``x_2``). Case-insensitive, so outputs never collide on
    Windows or macOS. ``fixed`` (absolute source path -> stem) keeps the stems an earlier
    run gave (a resumed batch writes the same files); new inputs avoid them.
    """

    def __init__(self, paths: Sequence[Path], fixed: Mapping[str, str] | None = None) -> None:
        self.root: Path | None = None
        if paths:
            try:
                self.root = Path(os.path.commonpath([str(p.absolute().parent) for p in paths]))
            except ValueError:  # different drives
                self.root = None
        self._fixed = dict(fixed or {})
        self._used: set[str] = {s.lower() for s in self._fixed.values()}

    def __call__(self, path: Path) -> str:
        known = self._fixed.get(os.path.normcase(os.path.abspath(path)))
        if known is not None:
            return known
        rel: Path
        try:
            rel = path.absolute().relative_to(self.root) if self.root else Path(path.name)
        except ValueError:
            rel = Path(path.name)
        pieces = [*rel.parent.parts, rel.stem]
        stem = "__".join(safe_piece(p) for p in pieces if p not in ("", ".")) or "image"
        candidate = stem
        if candidate.lower() in self._used and path.suffix:
            candidate = f"{stem}_{safe_piece(path.suffix.lstrip('.').lower())}"
        k = 2
        base = candidate
        while candidate.lower() in self._used:
            candidate = f"{base}_{k}"
            k += 1
        self._used.add(candidate.lower())
        return candidate
