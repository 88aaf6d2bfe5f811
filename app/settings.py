"""The remembered choices of the window: one typed key per setting, named only here.

The store is a :class:`QSettings` in INI format (:func:`make_settings`); tests redirect it
with ``QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, tmp)``. INI files give
every value back as a string (a one-item list as a plain string), so each key converts what
it reads to its own type and falls back to its default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

ORGANIZATION = "SEMDepth"
APPLICATION = "SEM Depth Studio"
MAX_RECENT = 10

T = TypeVar("T")


def make_settings() -> QSettings:
    """The application's settings store (INI format, per user)."""
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


def as_bool(value: Any, default: bool = False) -> bool:
    """A stored value as a bool (INI files give back the strings "true"/"false")."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class Key(Generic[T]):
    """One setting: its name in the store, its default, how a stored value reads back."""

    name: str
    default: T

    def convert(self, raw: Any) -> T:
        raise NotImplementedError

    def read(self, settings: QSettings) -> T:
        return self.convert(settings.value(self.name))

    def write(self, settings: QSettings, value: T) -> None:
        settings.setValue(self.name, value)

    def stored(self, settings: QSettings) -> bool:
        return bool(settings.contains(self.name))


class StrKey(Key[str]):
    def convert(self, raw: Any) -> str:
        return self.default if raw is None else str(raw)


class BoolKey(Key[bool]):
    def convert(self, raw: Any) -> bool:
        return as_bool(raw, self.default)


class FloatKey(Key[float]):
    def convert(self, raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return self.default
        return value if value == value and abs(value) != float("inf") else self.default


class StrListKey(Key[tuple[str, ...]]):
    def convert(self, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return self.default
        if isinstance(raw, str):
            return (raw,) if raw else ()
        return tuple(str(v) for v in raw)

    def write(self, settings: QSettings, value: Sequence[str]) -> None:
        settings.setValue(self.name, list(value))


class BytesKey(Key[QByteArray | None]):
    """Window geometry and dock layout (``saveGeometry``/``saveState``); None when absent."""

    def convert(self, raw: Any) -> QByteArray | None:
        if isinstance(raw, QByteArray):
            return raw
        if isinstance(raw, bytes):
            return QByteArray(raw)
        return None


GEOMETRY = BytesKey("geometry", None)
WINDOW_STATE = BytesKey("window_state", None)
COLORMAP = StrKey("colormap", "viridis")
UNIT = StrKey("unit", "DU")  # "DU" or "nm"
DEVICE = StrKey("device", "auto")
SEM_DENOISED = BoolKey("sem_denoised", True)  # SEM panel shows the denoised image
LAST_FOLDER = StrKey("last_folder", "")
EXPORT_FOLDER = StrKey("export_folder", "")  # unset: the documents folder
RECENT_FILES = StrListKey("recent_files", ())
DENOISE_ENABLED = BoolKey("denoise/enabled", False)  # "Denoise first (Noise2Self)"
DENOISE_PATH = StrKey("denoise/path", "")
ARRANGEMENT = StrKey("view/arrangement", "auto")  # "auto", "1x4" or "2x2"
HIDDEN_PANELS = StrListKey("view/hidden_panels", ())
SURFACE_EXAGGERATION = FloatKey("view/surface_exaggeration", 1.0)
MODEL_PATH = StrKey("model/path", "")  # "Use this model" (calibration): loaded at start
SCALE_POLICY = StrKey("predict/scale_policy", "auto")  # core.inference.scale.SCALE_POLICIES
TTA = StrKey("predict/tta", "auto")  # core.inference.tta.TTA_CHOICES

ALL_KEYS: tuple[Key[Any], ...] = (
    GEOMETRY,
    WINDOW_STATE,
    COLORMAP,
    UNIT,
    DEVICE,
    SEM_DENOISED,
    LAST_FOLDER,
    EXPORT_FOLDER,
    RECENT_FILES,
    DENOISE_ENABLED,
    DENOISE_PATH,
    ARRANGEMENT,
    HIDDEN_PANELS,
    SURFACE_EXAGGERATION,
    MODEL_PATH,
    SCALE_POLICY,
    TTA,
)


def denoise_settings(settings: QSettings) -> tuple[bool, str]:
    """``(enabled, denoiser path)``: the remembered "Denoise first (Noise2Self)" choice."""
    return DENOISE_ENABLED.read(settings), DENOISE_PATH.read(settings)


def save_denoise_settings(settings: QSettings, enabled: bool, path: str | Path | None) -> None:
    DENOISE_ENABLED.write(settings, bool(enabled))
    DENOISE_PATH.write(settings, "" if path is None else str(path))


def show_denoised_setting(settings: QSettings) -> bool:
    """Whether the SEM panel shows the denoised image when a result has one (default on)."""
    return SEM_DENOISED.read(settings)


def recent_files(settings: QSettings) -> list[str]:
    return list(RECENT_FILES.read(settings))


def add_recent_file(settings: QSettings, path: str | Path) -> list[str]:
    """Put ``path`` first in the recent-files list (deduplicated, at most :data:`MAX_RECENT`)."""
    p = str(path)
    items = [p] + [r for r in recent_files(settings) if r != p]
    items = items[:MAX_RECENT]
    RECENT_FILES.write(settings, items)
    return items


def clear_recent_files(settings: QSettings) -> None:
    RECENT_FILES.write(settings, [])


def remember_folder(settings: QSettings, path: Path) -> None:
    """The folder of ``path`` (or ``path`` itself) becomes where file dialogs start."""
    LAST_FOLDER.write(settings, str(path if path.is_dir() else path.parent))


def export_folder(settings: QSettings) -> str:
    """Where the export dialog starts: the last export folder, else the user's documents
    folder (never the input's folder: for the bundled samples that is the installation)."""
    if EXPORT_FOLDER.stored(settings) and EXPORT_FOLDER.read(settings):
        return EXPORT_FOLDER.read(settings)
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return docs or str(Path.home())
