"""The typed settings keys: each reads back what was written (through the INI file), falls
back to its default, and converts what INI files give back (strings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from app import settings as keys
from app.settings import MAX_RECENT, add_recent_file, make_settings, recent_files

APP_DIR = Path(__file__).resolve().parents[2] / "app"


def reopened(s: QSettings) -> QSettings:
    """The same store read back from its file (INI: every value comes back as text)."""
    s.sync()
    return make_settings()


def test_defaults_when_nothing_is_stored(temp_settings: Path) -> None:
    s = make_settings()
    assert keys.COLORMAP.read(s) == "viridis"
    assert keys.UNIT.read(s) == "DU"
    assert keys.DEVICE.read(s) == "auto"
    assert keys.SEM_DENOISED.read(s) is True
    assert keys.DENOISE_ENABLED.read(s) is False
    assert keys.DENOISE_PATH.read(s) == ""
    assert keys.LAST_FOLDER.read(s) == ""
    assert keys.RECENT_FILES.read(s) == ()
    assert keys.GEOMETRY.read(s) is None
    assert not keys.GEOMETRY.stored(s)
    assert keys.denoise_settings(s) == (False, "")


def test_values_read_back_through_the_ini_file(temp_settings: Path) -> None:
    s = make_settings()
    keys.COLORMAP.write(s, "magma")
    keys.UNIT.write(s, "nm")
    keys.SEM_DENOISED.write(s, False)
    keys.save_denoise_settings(s, True, Path("/models/den.safetensors"))
    keys.GEOMETRY.write(s, QByteArray(b"\x01\x02geometry"))
    keys.RECENT_FILES.write(s, ["/data/only.png"])  # a one-item list comes back as a string
    r = reopened(s)
    assert str(temp_settings) in r.fileName()
    assert keys.COLORMAP.read(r) == "magma"
    assert keys.UNIT.read(r) == "nm"
    assert keys.SEM_DENOISED.read(r) is False
    assert keys.show_denoised_setting(r) is False
    assert keys.denoise_settings(r) == (True, str(Path("/models/den.safetensors")))
    assert keys.GEOMETRY.read(r) == QByteArray(b"\x01\x02geometry")
    assert keys.GEOMETRY.stored(r)
    assert recent_files(r) == ["/data/only.png"]


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("false", False), ("1", True), ("off", False)]
)
def test_bool_keys_read_ini_text(temp_settings: Path, text: str, expected: bool) -> None:
    s = make_settings()
    s.setValue(keys.DENOISE_ENABLED.name, text)
    assert keys.DENOISE_ENABLED.read(reopened(s)) is expected


def test_recent_files(temp_settings: Path) -> None:
    s = make_settings()
    for i in range(MAX_RECENT + 3):
        add_recent_file(s, f"/data/f{i}.png")
    add_recent_file(s, "/data/f5.png")
    items = recent_files(s)
    assert len(items) == MAX_RECENT and items[0] == "/data/f5.png"
    assert items.count("/data/f5.png") == 1
    assert str(temp_settings) in s.fileName()
    keys.clear_recent_files(s)
    assert recent_files(reopened(s)) == []


def test_folders_remembered(temp_settings: Path, tmp_path: Path) -> None:
    s = make_settings()
    image = tmp_path / "imgs" / "a.png"
    image.parent.mkdir()
    image.write_bytes(b"")
    keys.remember_folder(s, image)
    assert keys.LAST_FOLDER.read(s) == str(image.parent)
    keys.remember_folder(s, tmp_path)
    assert keys.LAST_FOLDER.read(s) == str(tmp_path)
    # no export yet: the documents folder, never the input's folder
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert keys.export_folder(s) == docs and docs != str(tmp_path)
    keys.EXPORT_FOLDER.write(s, "/out")
    assert keys.export_folder(reopened(s)) == "/out"


def test_key_names_are_unique_and_only_named_in_settings() -> None:
    names = [k.name for k in keys.ALL_KEYS]
    assert len(names) == len(set(names))
    raw = re.compile(r"""(?:\.value|\.setValue|\.contains)\(\s*["']""")
    offenders = [
        f"{p.relative_to(APP_DIR)}:{i}"
        for p in sorted(APP_DIR.rglob("*.py"))
        if p.name != "settings.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if raw.search(line)
    ]
    assert offenders == [], f"raw settings keys outside app/settings.py: {offenders}"
