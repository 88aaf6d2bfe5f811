"""Which files a batch reads: files as given, folders recursively, globs.

Folder expansion keeps image files only (:func:`~core.conventions.is_image_name`), sorted,
depth-first, and skips ground truth and our own outputs: ``Depth``/``depth``/``SEM_clean``
folders (:data:`~core.conventions.NON_INPUT_DIRS`) and files whose stem ends in ``_depth``,
``_depth8`` or ``_uncertainty`` (:func:`~core.conventions.is_output_stem`).

Symlinked folders are followed, each real folder once: a link that leads back into a
folder being scanned (a loop) and a folder that cannot be listed (no permission, I/O
error) are not skipped silently: :func:`scan_inputs` returns them with the problem, and
the batch reports each as a failed row.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.conventions import NON_INPUT_DIRS, is_image_name, is_output_stem


def is_image(p: Path) -> bool:
    """Whether a file met in a folder scan counts as an image: the convention's
    :func:`~core.conventions.is_image_name` (suffix, case-insensitive; hidden files such as
    macOS ``._x.png`` resource forks never count)."""
    return is_image_name(p)


@dataclass
class _Walk:
    """The state of one folder scan: real folders seen (followed once) and the chain of
    folders being scanned (a link back into it is a loop)."""

    exclude: Sequence[Path]
    seen: set[tuple[int, int]] = field(default_factory=set)
    chain: list[tuple[tuple[int, int], Path]] = field(default_factory=list)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _walk_folder(folder: Path, walk: _Walk) -> Iterator[tuple[Path, str | None]]:
    """``(file, None)`` for the image files under ``folder`` (sorted, depth-first) and
    ``(folder, problem)`` for a sub-folder that cannot be listed or closes a loop."""
    try:
        st = os.stat(folder)
    except OSError as exc:
        yield folder, f"{folder}: cannot open the folder ({_reason(exc)})"
        return
    key = (st.st_dev, st.st_ino)
    for k, ancestor in walk.chain:
        if k == key:
            yield folder, f"{folder}: symlink loop (leads back to {ancestor}); not followed"
            return
    if key in walk.seen:
        return  # a second link to a folder already scanned: followed once
    walk.seen.add(key)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield folder, f"{folder}: cannot list the folder ({_reason(exc)})"
        return
    subdirs: list[Path] = []
    for e in entries:
        p = folder / e.name
        try:
            is_dir = e.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            if e.name.lower() not in NON_INPUT_DIRS and not _is_excluded(p, walk.exclude):
                subdirs.append(p)
        elif is_image(p) and not is_output_stem(p.stem):
            yield p, None
    walk.chain.append((key, folder))
    try:
        for d in subdirs:
            yield from _walk_folder(d, walk)
    finally:
        walk.chain.pop()


def _is_excluded(p: Path, exclude: Sequence[Path]) -> bool:
    try:
        rp = p.resolve()
    except OSError:
        return False
    return any(rp == e or e in rp.parents for e in exclude)


def iter_entries(
    inputs: Iterable[str | Path], *, exclude: Sequence[str | Path] = ()
) -> Iterator[tuple[Path, str | None]]:
    """Lazily expand ``inputs`` into ``(path, problem)`` pairs (``problem`` None for an
    input file; see :func:`scan_inputs`), without de-duplication."""
    excl = [Path(e).resolve() for e in exclude]
    walk = _Walk(excl)
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            yield from _walk_folder(p, walk)
        elif p.exists() or not glob.has_magic(str(raw)):
            yield p, None  # an explicit file is kept as given: unreadable ones fail per file
        else:
            for m in sorted(glob.glob(str(raw), recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    yield from _walk_folder(mp, walk)
                elif is_image(mp) and not _is_excluded(mp, excl):
                    yield mp, None


def iter_inputs(
    inputs: Iterable[str | Path], *, exclude: Sequence[str | Path] = ()
) -> Iterator[Path]:
    """Lazily expand ``inputs`` (see :func:`expand_inputs`), without de-duplication."""
    for p, _problem in iter_entries(inputs, exclude=exclude):
        yield p


def scan_inputs(
    inputs: Sequence[str | Path], *, exclude: Sequence[str | Path] = ()
) -> tuple[list[Path], dict[Path, str]]:
    """The inputs (:func:`expand_inputs`) and the problems met on the way: a folder that
    cannot be listed or a symlink loop maps to a one-line reason naming it (the path is
    in the list too, so the batch gives it a failed row in its place)."""
    seen: set[str] = set()
    out: list[Path] = []
    problems: dict[Path, str] = {}
    for p, problem in iter_entries(inputs, exclude=exclude):
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
            if problem is not None:
                problems[p] = problem
    return out, problems


def expand_inputs(
    inputs: Sequence[str | Path], *, exclude: Sequence[str | Path] = ()
) -> list[Path]:
    """Files as given, folders recursively (image types only, sorted), globs (``*``, ``?``,
    ``[..]``, ``**``; image types only); duplicates removed, order kept.

    Folder expansion skips ``Depth``/``depth``/``SEM_clean`` folders and files whose stem
    ends in ``_depth``, ``_depth8`` or ``_uncertainty`` (ground truth and our own
    outputs), and anything under ``exclude`` (e.g. the output folder); symlinked folders
    are followed once. A path that does not exist and matches no glob is kept, so the
    batch reports it as a failed input; so is a folder that cannot be listed or closes a
    symlink loop (:func:`scan_inputs` says why).
    """
    return scan_inputs(inputs, exclude=exclude)[0]
