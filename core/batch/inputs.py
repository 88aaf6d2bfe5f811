"""Which files a batch reads: files as given, folders recursively, globs.

Folder expansion keeps image files only (:data:`~core.conventions.IMAGE_SUFFIXES`), sorted,
depth-first, and skips ground truth and our own outputs: ``Depth``/``depth``/``SEM_clean``
folders (:data:`~core.conventions.NON_INPUT_DIRS`) and files whose stem ends in ``_depth``,
``_depth8`` or ``_uncertainty`` (:func:`~core.conventions.is_output_stem`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from core.conventions import IMAGE_SUFFIXES, NON_INPUT_DIRS, is_output_stem


def is_image(p: Path) -> bool:
    """Whether ``p`` has an image file suffix (case-insensitive)."""
    return p.suffix.lower() in IMAGE_SUFFIXES


def _walk_folder(folder: Path, exclude: Sequence[Path]) -> Iterator[Path]:
    """Image files under ``folder``, sorted, depth-first; skips ``Depth/``-like folders,
    ground-truth/output-like files and anything under ``exclude``."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d.lower() not in NON_INPUT_DIRS and not _is_excluded(here / d, exclude)
        )
        for name in sorted(filenames):
            p = here / name
            if is_image(p) and not is_output_stem(p.stem):
                yield p


def _is_excluded(p: Path, exclude: Sequence[Path]) -> bool:
    try:
        rp = p.resolve()
    except OSError:
        return False
    return any(rp == e or e in rp.parents for e in exclude)


def iter_inputs(
    inputs: Iterable[str | Path], *, exclude: Sequence[str | Path] = ()
) -> Iterator[Path]:
    """Lazily expand ``inputs`` (see :func:`expand_inputs`), without de-duplication."""
    excl = [Path(e).resolve() for e in exclude]
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            yield from _walk_folder(p, excl)
        elif p.exists() or not glob.has_magic(str(raw)):
            yield p  # an explicit file is kept as given: unreadable ones fail per file
        else:
            for m in sorted(glob.glob(str(raw), recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    yield from _walk_folder(mp, excl)
                elif is_image(mp) and not _is_excluded(mp, excl):
                    yield mp


def expand_inputs(
    inputs: Sequence[str | Path], *, exclude: Sequence[str | Path] = ()
) -> list[Path]:
    """Files as given, folders recursively (image types only, sorted), globs (``*``, ``?``,
    ``[..]``, ``**``; image types only); duplicates removed, order kept.

    Folder expansion skips ``Depth``/``depth``/``SEM_clean`` folders and files whose stem
    ends in ``_depth``, ``_depth8`` or ``_uncertainty`` (ground truth and our own
    outputs), and anything under ``exclude`` (e.g. the output folder). A path that does
    not exist and matches no glob is kept, so the batch reports it as a failed input.
    """
    seen: set[str] = set()
    out: list[Path] = []
    for p in iter_inputs(inputs, exclude=exclude):
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
