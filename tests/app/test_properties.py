"""File > Properties: what the file says beside what the model expects, differences
highlighted; opened with Ctrl+I."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.dialogs import properties
from app.dialogs.properties import PropertiesDialog, property_rows
from app.state import DisplayData
from core.io import read_sem

from .conftest import hole_image, open_and_wait

CARD = {
    "id": "m",
    "input": {"size": [72, 48], "pixel_size_nm": 5.0, "normalization": "dtype-range-0-1"},
    "output": {"nm_per_depth_unit": 1.5},
}


def _data(path: Path) -> DisplayData:
    sem = read_sem(path)
    d = np.zeros(sem.shape, np.float32)
    data = DisplayData(source=path, sem=sem.pixels, depth=d, uncertainty=None, sem_image=sem)
    data.model_id = "m"
    return data


def test_rows_compare_the_file_with_the_card(tmp_path: Path) -> None:
    sem, _ = hole_image(3)
    path = tmp_path / "cal.tif"
    tifffile.imwrite(path, sem, imagej=True, resolution=(1 / 2.5, 1 / 2.5), metadata={"unit": "nm"})
    rows = {r.label: r for r in property_rows(_data(path), CARD)}
    assert rows["Pixel size"].file == "2.5 nm (imagej XResolution)"
    assert rows["Pixel size"].model == "5 nm"
    assert rows["Pixel size"].differs and "0.50 x" in rows["Pixel size"].why
    assert rows["Image size"].file == "72 x 48 px (rows x cols)" and not rows["Image size"].differs
    assert rows["Bit depth"].file == "8-bit (uint8)"
    assert rows["Pages"].file == "1" and rows["Data bar"].file == "none cut"
    assert rows["Beam voltage"].file == "not stated"
    assert rows["Depth scale"].model == "1.5 nm per DU"
    same = dict(CARD, input=dict(CARD["input"], pixel_size_nm=2.5))
    assert not {r.label: r for r in property_rows(_data(path), same)}["Pixel size"].differs


def test_a_vendor_file_shows_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "v.png"
    from PIL import Image

    Image.fromarray(hole_image(4)[0]).save(path)
    data = _data(path)
    data.sem_image.vendor = "FEI/Thermo"
    data.sem_image.metadata["fei"] = {
        "Beam": {"HV": "2000"},
        "EBeam": {"WD": "0.005"},
        "Detectors": {"Name": "TLD"},
    }
    data.sem_image.databar_height = 40
    data.sem_image.metadata["databar_source"] = "fei_metadata Image.ResolutionY"
    rows = {r.label: r for r in property_rows(data, None)}
    assert rows["Vendor"].file == "FEI/Thermo"
    assert rows["Beam voltage"].file == "2 kV (fei_metadata Beam.HV)"
    assert rows["Working distance"].file.startswith("5 mm")
    assert rows["Detector"].file.startswith("TLD")
    assert rows["Data bar"].file.startswith("40 rows cut off the bottom (fei_metadata")
    assert rows["Pixel size"].model == "not stated by the model card"


def test_ctrl_i_opens_properties(
    qtbot: Any, window: Any, sem_folder: Path, monkeypatch: Any
) -> None:
    shown: list[PropertiesDialog] = []

    def fake_exec(self: PropertiesDialog) -> int:
        shown.append(self)
        return 0

    monkeypatch.setattr(properties.PropertiesDialog, "exec", fake_exec)
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert not shown and "Open an image" in window.statusBar().currentMessage()
    open_and_wait(qtbot, window, [sem_folder / "a.png"])
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert len(shown) == 1
    dlg = shown[0]
    assert dlg.windowTitle() == "Properties - a.png"
    labels = [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]
    assert labels[:5] == ["File", "Vendor", "Format", "Image size", "Pixel size"]
    # the tiny model's card states no pixel size: nothing to compare, nothing highlighted
    assert dlg.differing() == []
    assert "original_shape" in dlg.raw.toPlainText()
