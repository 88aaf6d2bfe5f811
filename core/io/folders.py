"""Output folders a job owns: the one convention for claiming a run folder.

A trainer (depth model, denoiser) or a writer of generated data owns a few named files in
its output folder. :func:`claim_run_folder` checks the folder before any work starts:
a file where the folder should be is refused, files of an earlier run are refused unless
``overwrite`` (then the named ones are removed), and the folder is created. Other files in
the folder are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.io.atomic import OutputExistsError

__all__ = ["RunFolderTakenError", "check_folder_path", "claim_run_folder"]


class RunFolderTakenError(OutputExistsError):
    """The folder already holds files of an earlier run; ``present`` lists them (paths, in
    the order the owner named them)."""

    def __init__(self, folder: Path, present: list[Path]) -> None:
        names = ", ".join(p.name for p in present)
        super().__init__(folder, f"already holds {names} (pass overwrite to replace them)")
        self.present = present


def check_folder_path(folder: Path) -> None:
    """``NotADirectoryError`` (``"<folder>: exists and is not a folder"``) when a file, not
    a folder, stands at ``folder``; a missing folder is fine."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: exists and is not a folder")


def claim_run_folder(
    folder: Path,
    owned: Iterable[str],
    *,
    overwrite: bool,
    clear: Iterable[str] = (),
    create: bool = True,
) -> None:
    """Make ``folder`` ready for a new run that writes the files named in ``owned``.

    Raises ``NotADirectoryError`` (see :func:`check_folder_path`) and, when any ``owned``
    file exists and ``overwrite`` is off, :class:`RunFolderTakenError` listing them. With
    ``create`` the folder is created and, with ``overwrite``, the files named in ``clear``
    (the run's outputs, so no stale one survives a shorter new run) are removed.
    ``create=False`` only checks (e.g. the non-writing ranks of a data-parallel run).
    """
    check_folder_path(folder)
    present = [folder / name for name in owned if (folder / name).exists()]
    if present and not overwrite:
        raise RunFolderTakenError(folder, present)
    if not create:
        return
    folder.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in clear:
            (folder / name).unlink(missing_ok=True)
