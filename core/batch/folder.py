"""The output folder of a prediction batch, checked and locked before any work.

:func:`open_output_folder` refuses, with one line naming the folder and the flag to use
(:class:`OutputFolderError`): a path that is a file, a folder that cannot be created or
written (found by writing a probe file, so it also holds for root and read-only mounts), a
disk without room for the first input's outputs, a folder another run holds
(:class:`~core.batch.lock.FolderBusyError`, naming its pid, host and start time), a folder
holding an earlier run (``manifest.jsonl``) unless ``--resume`` (same settings) or
``--overwrite``, and files a new run would replace unless ``--overwrite``.

With the lock held it removes the temporary files a killed run of ours left behind
(``.<output name>.<8 hex>.tmp`` for this batch's own output names, summary and manifest).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.batch.lock import FolderLock
from core.batch.manifest import (
    MANIFEST_NAME,
    ItemRecordEntry,
    ManifestState,
    read_manifest,
    settings_difference,
    source_key,
)
from core.batch.outputs import planned_outputs
from core.conventions import BATCH_REPORT_NAME, StemNamer

SUMMARY_NAME = "summary.csv"
#: Estimated bytes per pixel of each output format (depth maps: float32 TIFF x 2, a CSV
#: of 9 significant digits, colour and 8-bit PNGs), for the free-space check.
BYTES_PER_PIXEL = {"tiff": 8.2, "csv": 11.0, "png": 2.5, "dacon": 1.0}
_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$")


class OutputFolderError(ValueError):
    """The output folder cannot take this batch; the message names it and the flag."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write (then remove) a probe file in it;
    :class:`OutputFolderError` when it is a file or cannot be created or written."""
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"--out {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(
            f"--out {folder}: cannot create the folder ({_reason(exc)})"
        ) from exc
    probe = folder / f".semdepth-probe-{secrets.token_hex(4)}.tmp"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"semdepth")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputFolderError(
            f"--out {folder}: cannot write into the folder ({_reason(exc)})"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def estimate_bytes(
    paths: Sequence[Path], formats: Sequence[str], sample: int = 64
) -> tuple[int, int]:
    """(bytes for the largest of the first ``sample`` inputs' outputs, bytes for all of
    them, extrapolated from those), from the image headers alone."""
    from core.io import peek_shape

    per_px = sum(BYTES_PER_PIXEL.get(f, 8.0) for f in formats)
    sizes = [s for s in (peek_shape(p) for p in paths[:sample]) if s is not None]
    if not sizes:
        return 0, 0
    pixels = [r * c for r, c in sizes]
    largest = int(max(pixels) * per_px) + 64_000
    total = int(sum(pixels) / len(pixels) * len(paths) * per_px) + 64_000 * len(paths)
    return largest, total


@dataclass
class OutputFolder:
    """A checked output folder whose lock this process holds (:func:`open_output_folder`).

    ``previous``: the earlier run's manifest when resuming; ``complete``: the inputs
    (absolute path key) whose outputs are all there; ``namer``: output stems for this
    batch (an earlier run's stems kept); ``fresh``: a new manifest is started;
    ``warnings``: lines for the user (e.g. little free space).
    """

    path: Path
    settings: dict[str, Any]
    lock: FolderLock
    namer: StemNamer
    resume: bool = False
    overwrite: bool = False
    previous: ManifestState | None = None
    complete: dict[str, ItemRecordEntry] = field(default_factory=dict)
    fresh: bool = True
    warnings: list[str] = field(default_factory=list)
    removed_temps: list[Path] = field(default_factory=list)

    def close(self) -> None:
        self.lock.release()

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _previous_run(
    folder: Path, settings: Mapping[str, Any], *, resume: bool, overwrite: bool
) -> ManifestState | None:
    """The earlier run's manifest when this run may continue it, None when starting
    afresh; :class:`OutputFolderError` when neither is allowed."""
    try:
        state = read_manifest(folder / MANIFEST_NAME)
    except ValueError as exc:
        if overwrite:
            return None
        raise OutputFolderError(f"--out {folder}: {exc}; pass --overwrite to replace it") from exc
    except OSError as exc:
        raise OutputFolderError(
            f"--out {folder}: cannot read {MANIFEST_NAME} ({_reason(exc)})"
        ) from exc
    if state is None or overwrite:
        return None
    done = sum(1 for e in state.items.values() if e.status == "done")
    if not resume:
        raise OutputFolderError(
            f"--out {folder}: holds the outputs of an earlier run ({MANIFEST_NAME}: {done} "
            "file(s) done); pass --resume to finish it, or --overwrite to replace it"
        )
    assert state.settings is not None
    diff = settings_difference(state.settings, settings)
    if diff:
        raise OutputFolderError(
            f"--out {folder}: the earlier run used other settings ({'; '.join(diff)}); "
            "pass --overwrite to replace its outputs, or choose another --out"
        )
    return state


def _own_names(
    namer: StemNamer, paths: Sequence[Path], formats: Sequence[str], folder: Path
) -> set[str]:
    names = {SUMMARY_NAME, MANIFEST_NAME, BATCH_REPORT_NAME}
    for p in paths:  # every file a result may have (holes, trust, a calibrated sigma)
        plan = planned_outputs(folder, namer(p), formats, holes=True, trust=True, sigma=True)
        names.update(q.name for q in plan.values())
    return names


def open_output_folder(
    folder: str | os.PathLike[str],
    settings: Mapping[str, Any],
    paths: Sequence[Path],
    formats: Sequence[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    command: str | None = None,
) -> OutputFolder:
    """Check and lock ``folder`` for a batch of ``paths`` (see the module docstring).
    The caller closes it (``with``) when the batch ends."""
    out = Path(folder)
    check_writable(out)
    lock = FolderLock(out, command).acquire()
    try:
        previous = _previous_run(out, settings, resume=resume, overwrite=overwrite)
        fixed = previous.stems() if previous is not None else {}
        names = _own_names(StemNamer(paths, fixed), paths, formats, out)
        present = set(os.listdir(out))
        if previous is None and not overwrite:
            clash = sorted((present & names) - {MANIFEST_NAME})
            if clash:
                raise OutputFolderError(
                    f"--out {out}: already holds {len(clash)} file(s) this batch would "
                    f"replace (e.g. {out / clash[0]}); pass --overwrite to replace them"
                )
        result = OutputFolder(
            out,
            dict(settings),
            lock,
            StemNamer(paths, fixed),
            resume=resume,
            overwrite=overwrite,
            previous=previous,
            complete=previous.complete(out) if previous is not None else {},
            fresh=previous is None,
        )
        for name in sorted(present):
            m = _TEMP.match(name)
            if m and (m.group("name") in names or name.startswith(".semdepth-probe-")):
                with contextlib.suppress(OSError):
                    (out / name).unlink()
                    result.removed_temps.append(out / name)
        _check_space(out, paths, formats, result)
        return result
    except BaseException:
        lock.release()
        raise


def _check_space(
    out: Path, paths: Sequence[Path], formats: Sequence[str], folder: OutputFolder
) -> None:
    """Refuse when the disk cannot take even the largest input's outputs; warn when it
    looks short for the whole batch."""
    todo = [p for p in paths if source_key(p) not in folder.complete]
    largest, total = estimate_bytes(todo, formats)
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        return
    mb = 1e6
    if largest and free < largest:
        raise OutputFolderError(
            f"--out {out}: {os.strerror(errno.ENOSPC)}: {free / mb:.1f} MB free, the "
            f"outputs of one input need about {largest / mb:.1f} MB"
        )
    if total and free < total:
        folder.warnings.append(
            f"{out}: {free / mb:.1f} MB free, the outputs of {len(todo)} input(s) need about "
            f"{total / mb:.1f} MB: inputs that do not fit fail, each on its own row"
        )


__all__ = [
    "SUMMARY_NAME",
    "OutputFolder",
    "OutputFolderError",
    "check_writable",
    "estimate_bytes",
    "open_output_folder",
]
