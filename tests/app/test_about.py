"""The About dialog: version, model card, licences of the bundled libraries (offscreen)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from core import __version__

pytest.importorskip("PySide6")

import PySide6

from app.dialogs import about
from app.dialogs.about import AboutDialog

CARD = {
    "id": "unet-3level-sim",
    "input": {"normalization": "dtype-range-0-1", "size": [72, 48]},
    "output": {"range": [0, 255], "unit": "DU", "nm_per_depth_unit": 2.5},
    "metrics": {"val_rmse_per_image": 3.25},
}


def _tree_texts(tree: Any) -> dict[str, str]:
    """Every card field as 'parent/child' -> value text."""
    out: dict[str, str] = {}

    def walk(item: Any, prefix: str) -> None:
        key = f"{prefix}{item.text(0)}"
        out[key] = item.text(1)
        for i in range(item.childCount()):
            walk(item.child(i), key + "/")

    for i in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(i), "")
    return out


def test_lists_pyside6_as_lgpl_with_its_version(qtbot: Any) -> None:
    dialog = AboutDialog(CARD)
    qtbot.addWidget(dialog)
    rows = {name: (version, licence) for name, version, licence in dialog.table_rows()}
    version, licence = rows["PySide6 (PySide6_Essentials)"]
    assert version == PySide6.__version__
    assert "LGPL-3.0" in licence
    qt_version, qt_licence = rows["Qt (bundled in PySide6)"]
    assert qt_version == PySide6.QtCore.qVersion() and qt_licence == "LGPL-3.0-only"
    assert rows["torch"][0] == metadata.version("torch")
    assert rows["numpy"][0] == metadata.version("numpy")
    # the replaceable-libraries note is shown under the table
    assert "one-folder build" in dialog.lgpl_label.text()
    assert "_internal/PySide6/Qt/lib" in dialog.lgpl_label.text()


def test_shows_the_version_and_the_model_card(qtbot: Any) -> None:
    dialog = AboutDialog(CARD, model_path=Path("models") / "default.safetensors")
    qtbot.addWidget(dialog)
    assert f"SEM Depth Studio {__version__}" in dialog.version_label.text()
    assert "unet-3level-sim" in dialog.card_label.text()
    fields = _tree_texts(dialog.card_view)
    assert fields["id"] == "unet-3level-sim"
    assert fields["output/nm_per_depth_unit"] == "2.5"
    assert fields["metrics/val_rmse_per_image"] == "3.25"
    assert fields["input/size"] == "[72, 48]"


def test_without_a_model(qtbot: Any) -> None:
    dialog = AboutDialog(None)
    qtbot.addWidget(dialog)
    assert dialog.card_label.text() == "No model is loaded."
    assert dialog.card_view.topLevelItemCount() == 0


def test_licence_rows_follow_the_dependency_metadata() -> None:
    names = {r.distribution for r in about.licence_rows() if r.distribution}
    # semdepth's direct and indirect run-time dependencies, not itself nor dev tools
    for dist in ("torch", "numpy", "tifffile", "pyqtgraph", "superqt", "shiboken6"):
        assert dist in names
    assert "semdepth" not in names and "pytest" not in names
    rows = {r.distribution: r for r in about.licence_rows() if r.distribution}
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

    assert about.licence_of(Fake(**{"License-Expression": "MIT", "License": "BSD"})) == "MIT"  # type: ignore[arg-type]
    assert about.licence_of(Fake(License="BSD-3-Clause")) == "BSD-3-Clause"  # type: ignore[arg-type]
    long_text = "Copyright (c) 2001\nAll rights reserved.\n" * 3
    classifiers = ["License :: OSI Approved :: BSD License", "Programming Language :: Python"]
    assert about.licence_of(Fake(License=long_text, Classifier=classifiers)) == "BSD License"  # type: ignore[arg-type]
    assert about.licence_of(Fake()) == "see the package's licence files"  # type: ignore[arg-type]


def test_third_party_file_holds_table_lgpl_text_and_licence_files(tmp_path: Path) -> None:
    path = about.write_third_party_licenses(tmp_path / "THIRD_PARTY_LICENSES.md")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# Third-party licences of SEM Depth Studio {__version__}")
    assert f"| PySide6 (PySide6_Essentials) | {PySide6.__version__} | LGPL-3.0" in text
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text  # the LGPL text itself
    assert "GNU GENERAL PUBLIC LICENSE" in text
    # torch's own LICENSE file from its metadata
    assert "### torch " in text and "From PyTorch:" in text


def test_qt_self_check_renders_and_reports(qtbot: Any) -> None:
    line = about.qt_self_check()
    assert f"Qt {PySide6.QtCore.qVersion()}" in line
    assert "licences listed" in line
