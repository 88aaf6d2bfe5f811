"""The licence table and THIRD_PARTY_LICENSES.md, read from the packages' metadata
(:mod:`app.licences`, which must not import Qt: the desktop build's spec runs it)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import PySide6
from packaging.requirements import Requirement

from app import licences
from core import __version__


def test_licence_rows_follow_the_dependency_metadata() -> None:
    names = {r.distribution for r in licences.licence_rows() if r.distribution}
    # semdepth's direct and indirect run-time dependencies, not itself nor dev tools
    for dist in ("torch", "numpy", "tifffile", "pyqtgraph", "shiboken6"):
        assert dist in names
    # every run-time requirement semdepth declares (read from its installed metadata)
    keys = {licences._key(n) for n in names}
    for req in metadata.requires("semdepth") or []:
        parsed = Requirement(req)
        if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
            assert licences._key(parsed.name) in keys, parsed.name
    assert "semdepth" not in names and "pytest" not in names
    rows = {r.distribution: r for r in licences.licence_rows() if r.distribution}
    assert rows["tifffile"].licence == "BSD-3-Clause"


def test_licence_of_prefers_spdx_then_short_field_then_classifiers() -> None:
    class Fake:
        """A distribution whose metadata has the given fields (lists for repeated ones)."""

        def __init__(self, **fields: Any) -> None:
            self.fields = fields

        @property
        def metadata(self) -> Any:
            fields = self.fields

            class M:
                def get_all(self, key: str) -> Any:
                    value = fields.get(key)
                    return value if value is None or isinstance(value, list) else [value]

            return M()

    assert licences.licence_of(Fake(**{"License-Expression": "MIT", "License": "BSD"})) == "MIT"  # type: ignore[arg-type]
    assert licences.licence_of(Fake(License="BSD-3-Clause")) == "BSD-3-Clause"  # type: ignore[arg-type]
    long_text = "Copyright (c) 2001\nAll rights reserved.\n" * 3
    classifiers = ["License :: OSI Approved :: BSD License", "Programming Language :: Python"]
    assert licences.licence_of(Fake(License=long_text, Classifier=classifiers)) == "BSD License"  # type: ignore[arg-type]
    assert licences.licence_of(Fake()) == "see the package's licence files"  # type: ignore[arg-type]


def test_third_party_file_holds_table_lgpl_text_and_licence_files(tmp_path: Path) -> None:
    path = licences.write_third_party_licenses(tmp_path / "THIRD_PARTY_LICENSES.md")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# Third-party licences of SEM Depth Studio {__version__}")
    assert f"| PySide6 (PySide6_Essentials) | {PySide6.__version__} | LGPL-3.0" in text
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text  # the LGPL text itself
    assert "GNU GENERAL PUBLIC LICENSE" in text
    # torch's own LICENSE file from its metadata
    assert "### torch " in text and "From PyTorch:" in text


def test_qt_row_version_comes_from_the_pyside6_metadata() -> None:
    rows = {r.name: r for r in licences.licence_rows()}
    assert rows["Qt (bundled in PySide6)"].version == PySide6.QtCore.qVersion()
    assert rows["Qt (bundled in PySide6)"].licence == "LGPL-3.0-only"
    row = licences.LicenceRow("PySide6", "6.8.0.2", "LGPL-3.0-only", "PySide6_Essentials")
    assert licences.qt_version_of([row]) == "6.8.0"  # a PySide-only patch release of Qt 6.8.0
    explicit = licences.licence_rows(qt_version="9.9.9")
    assert explicit[-1].version == "9.9.9"


def test_importing_licences_loads_no_qt() -> None:
    code = (
        "import sys, app.licences as m; m.licence_rows(); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in "
        "('PySide6', 'shiboken6', 'pyqtgraph')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_cli_prints_the_table(capsys: Any) -> None:
    assert licences.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# Third-party licences of SEM Depth Studio {__version__}")
    assert "| library | version | licence |" in out
    assert "GNU LESSER GENERAL PUBLIC LICENSE" not in out  # the texts only go in the file
