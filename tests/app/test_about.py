"""The About dialog: version, model card, licences of the bundled libraries (offscreen)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from core import __version__

pytest.importorskip("PySide6")

import PySide6

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
