"""File > Properties: what the shown image's file says (size, pixel size and where it came
from, beam voltage, magnification, detector, working distance, data bar, vendor, bit depth,
pages) beside what the loaded model expects, with the differences highlighted, and the raw
vendor metadata below."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.io.acquisition import acquisition_settings

from ..units import format_length

PIXEL_SIZE_TOLERANCE = 0.05  # relative: a 5 % different pixel size is a difference
DIFFERENT = QColor(255, 193, 7, 90)
RAW_METADATA_CHARS = 60_000
SETTING_LABELS = {
    "beam_voltage": "Beam voltage",
    "magnification": "Magnification",
    "detector": "Detector",
    "working_distance": "Working distance",
}


@dataclass(frozen=True)
class PropertyRow:
    label: str
    file: str
    model: str = ""
    differs: bool = False
    why: str = ""  # the tooltip of a highlighted row


def _card(card: Mapping[str, Any] | None, *keys: str) -> Any:
    cur: Any = card or {}
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur


def _pixel_size_row(sem: Any, card: Mapping[str, Any] | None) -> PropertyRow:
    ps = getattr(sem, "pixel_size_nm", None)
    source = getattr(sem, "pixel_size_source", "none")
    file_text = f"{format_length(ps)} ({source})" if ps else "unknown (the file states none)"
    want = _card(card, "input", "pixel_size_nm")
    model_text = format_length(float(want)) if want else "not stated by the model card"
    differs, why = False, ""
    if want and ps and abs(ps / float(want) - 1.0) > PIXEL_SIZE_TOLERANCE:
        differs = True
        why = f"the image is at {ps / float(want):.2f} x the model's pixel size"
    elif want and not ps:
        differs, why = True, "the model expects a pixel size the file does not state"
    return PropertyRow("Pixel size", file_text, model_text, differs, why)


def property_rows(data: Any, card: Mapping[str, Any] | None) -> list[PropertyRow]:
    """The rows of the dialog for a :class:`~app.state.DisplayData` (its ``sem_image``
    holds what the reader found) and the loaded model's card."""
    sem = getattr(data, "sem_image", None)
    rows, cols = data.shape
    size = _card(card, "input", "size")
    size_text = f"{size[0]} x {size[1]} px (rows x cols)" if size else "not stated"
    md: Mapping[str, Any] = getattr(sem, "metadata", None) or {}
    original = md.get("original_shape")
    out = [
        PropertyRow("File", data.source.name if data.source else "(array)"),
        PropertyRow("Vendor", str(getattr(sem, "vendor", None) or "none recognised")),
        PropertyRow("Format", str(getattr(sem, "format", "") or "unknown")),
        PropertyRow(
            "Image size",
            f"{rows} x {cols} px (rows x cols)",
            size_text,
            bool(size) and (rows, cols) != (size[0], size[1]),
            "predicted in tiles or resampled to the model's input" if size else "",
        ),
        _pixel_size_row(sem, card),
        PropertyRow(
            "Bit depth",
            f"{getattr(sem, 'bit_depth', '?')}-bit ({getattr(sem, 'dtype', '?')})",
            f"normalization {_card(card, 'input', 'normalization') or 'not stated'}",
        ),
        PropertyRow("Pages", str(getattr(sem, "page_count", 1))),
    ]
    bar = int(getattr(sem, "databar_height", 0) or 0)
    bar_source = md.get("databar_source") or ""
    if bar:
        bar_text = f"{bar} rows cut off the bottom ({bar_source})" if bar_source else f"{bar} rows"
        if original:
            bar_text += f"; the file is {original[0]} x {original[1]} px"
    else:
        bar_text = "none cut"
    out.append(PropertyRow("Data bar", bar_text))
    found = acquisition_settings(md)
    for key, label in SETTING_LABELS.items():
        text, where = found.get(key, ("not stated", ""))
        out.append(PropertyRow(label, f"{text} ({where})" if where else text))
    nm_du = _card(card, "output", "nm_per_depth_unit")
    out.append(
        PropertyRow(
            "Depth scale",
            "",
            f"{nm_du:g} nm per DU" if nm_du else "not stated (depths in DU only)",
        )
    )
    out.append(PropertyRow("Prediction", f"{data.mode} mode", str(data.model_id or "")))
    return out


def raw_metadata_text(data: Any) -> str:
    md = getattr(getattr(data, "sem_image", None), "metadata", None) or {}
    text = json.dumps(md, indent=1, default=str, ensure_ascii=False)
    if len(text) > RAW_METADATA_CHARS:
        text = text[:RAW_METADATA_CHARS] + "\n... (cut)"
    return text


class PropertiesDialog(QDialog):
    """The table of :func:`property_rows`; rows that differ are highlighted."""

    def __init__(
        self, data: Any, card: Mapping[str, Any] | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        name = data.source.name if data.source else "image"
        self.setWindowTitle(f"Properties - {name}")
        self.rows = property_rows(data, card)
        self.table = QTableWidget(len(self.rows), 3)
        self.table.setHorizontalHeaderLabels(["", "This file", "The model expects"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for r, row in enumerate(self.rows):
            for c, text in enumerate((row.label, row.file, row.model)):
                item = QTableWidgetItem(text)
                item.setToolTip(row.why or text)
                if row.differs:
                    item.setBackground(QBrush(DIFFERENT))
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        n = sum(r.differs for r in self.rows)
        self.note = QLabel(
            f"{n} difference(s) from what the model expects are highlighted."
            if n
            else "Nothing differs from what the model expects."
        )
        self.raw = QPlainTextEdit(raw_metadata_text(data))
        self.raw.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.note)
        layout.addWidget(QLabel("Metadata read from the file:"))
        layout.addWidget(self.raw, 2)
        layout.addWidget(buttons)
        self.resize(760, 620)

    def differing(self) -> list[str]:
        return [r.label for r in self.rows if r.differs]
