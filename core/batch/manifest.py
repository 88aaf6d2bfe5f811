"""``manifest.jsonl``: what a prediction batch wrote into its output folder, so a killed
run can be finished (``--resume``) and a different one refused.

JSON lines, appended and flushed to disk one event at a time (a crash loses at most the
line being written; a torn last line is ignored):

- ``{"event": "run", ...}`` at the start of every run: the format, the settings that decide
  the outputs (:func:`batch_settings`: model hash, denoiser, formats, mode, TTA, scale
  policy, fast path), the product version, pid, host, time, the inputs and whether it
  resumed;
- ``{"event": "item", ...}`` after every input: its source, output stem, status, the output
  files (kind -> name) and its ``summary.csv`` row.

A later run with ``--resume`` reads it (:func:`read_manifest`): an input whose last event
says ``done`` and whose files are all present is complete and not predicted again.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.io.atomic import OutputWriteError, atomic_write_text, os_reason

MANIFEST_NAME = "manifest.jsonl"
MANIFEST_FORMAT = "semdepth-manifest/1"


def file_sha256(*paths: str | os.PathLike[str]) -> str:
    """SHA-256 over the bytes of ``paths`` in order (a model: weights then card)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def batch_settings(
    *,
    model_sha256: str,
    formats: Sequence[str],
    mode: str,
    tta: bool | str,
    scale_policy: Mapping[str, Any],
    fast_path: str,
    denoiser_sha256: str | None = None,
) -> dict[str, Any]:
    """The settings that decide a batch's output files; two runs may share an output
    folder only when these are equal."""
    from core.inference.tta import tta_choice

    return {
        "model_sha256": model_sha256,
        "denoiser_sha256": denoiser_sha256,
        "formats": sorted(formats),
        "mode": mode,
        "tta": tta_choice(tta),
        "scale_policy": dict(scale_policy),
        "fast_path": fast_path,
    }


def settings_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``"key: old -> new"`` for each setting that differs (hashes shortened)."""

    def show(v: Any) -> str:
        if isinstance(v, str) and len(v) == 64:
            return v[:12]
        return json.dumps(v, sort_keys=True) if not isinstance(v, str) else v

    keys = sorted(set(old) | set(new))
    return [
        f"{k}: {show(old.get(k))} -> {show(new.get(k))}" for k in keys if old.get(k) != new.get(k)
    ]


@dataclass
class ItemRecordEntry:
    """The last word of the manifest on one input."""

    source: str
    stem: str
    status: str
    outputs: dict[str, str]
    row: list[str]


@dataclass
class ManifestState:
    """What :func:`read_manifest` found: the first run's settings, the runs, the last
    event per input (by absolute source path), and how many lines were unreadable."""

    settings: dict[str, Any] | None
    runs: int = 0
    items: dict[str, ItemRecordEntry] = field(default_factory=dict)
    bad_lines: int = 0

    def complete(self, folder: Path) -> dict[str, ItemRecordEntry]:
        """The inputs whose outputs are all there (last status ``done``)."""
        return {
            k: e
            for k, e in self.items.items()
            if e.status == "done" and all((folder / n).is_file() for n in e.outputs.values())
        }

    def stems(self) -> dict[str, str]:
        """Output stem per absolute source path (kept when a run resumes)."""
        return {k: e.stem for k, e in self.items.items()}


def source_key(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.abspath(path))


def read_manifest(path: Path) -> ManifestState | None:
    """The manifest at ``path``, or None when there is none; ``ValueError`` when it is not
    a manifest of this format (then only ``--overwrite`` may replace it)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    state = ManifestState(settings=None)
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            state.bad_lines += 1
            continue
        if not isinstance(event, dict):
            state.bad_lines += 1
        elif event.get("event") == "run":
            if event.get("format") != MANIFEST_FORMAT or not isinstance(
                event.get("settings"), dict
            ):
                raise ValueError(f"{path}: not a {MANIFEST_FORMAT} manifest")
            if state.settings is None:
                state.settings = event["settings"]
            state.runs += 1
        elif event.get("event") == "item" and isinstance(event.get("source"), str):
            raw_outputs, raw_row = event.get("outputs"), event.get("row")
            outputs = raw_outputs if isinstance(raw_outputs, dict) else {}
            row = raw_row if isinstance(raw_row, list) else []
            state.items[source_key(event["source"])] = ItemRecordEntry(
                event["source"],
                str(event.get("stem", "")),
                str(event.get("status", "")),
                {str(k): str(v) for k, v in outputs.items()},
                [str(v) for v in row],
            )
        else:
            state.bad_lines += 1
    if state.settings is None:
        raise ValueError(f"{path}: not a {MANIFEST_FORMAT} manifest (no run line)")
    return state


class ManifestWriter:
    """Appends events to ``manifest.jsonl`` (each line written whole and flushed to disk)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST_NAME

    def start(
        self,
        settings: Mapping[str, Any],
        inputs: Sequence[Path],
        *,
        fresh: bool,
        resumed: bool,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the run line: a new file when ``fresh`` (replacing any), else appended."""
        from core import __version__

        event = {
            "event": "run",
            "format": MANIFEST_FORMAT,
            "product_version": __version__,
            "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "resumed": resumed,
            "settings": dict(settings),
            **dict(info or {}),
            "inputs": [str(p) for p in inputs],
        }
        line = json.dumps(event, default=str) + "\n"
        if fresh:
            atomic_write_text(self.path, line, overwrite=True)
        else:
            self._append(line)

    def item(
        self, source: Path, stem: str, status: str, outputs: Mapping[str, Path], row: Sequence[str]
    ) -> None:
        event = {
            "event": "item",
            "source": str(Path(source).absolute()),
            "stem": stem,
            "status": status,
            "outputs": {k: Path(p).name for k, p in outputs.items()},
            "row": list(row),
        }
        self._append(json.dumps(event, default=str) + "\n")

    def _append(self, line: str) -> None:
        """Append one line whole: a line torn by an earlier crash is ended first, and a
        failed write is cut back off, so every other line stays readable."""
        data = line.encode("utf-8")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                os.lseek(fd, max(0, size - 1), os.SEEK_SET)
                if size and os.read(fd, 1) != b"\n":
                    data = b"\n" + data
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            code, reason = os_reason(exc, self.path.parent)
            raise OutputWriteError(self.path, reason, code) from exc
