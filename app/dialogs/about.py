"""Help > About: version, the loaded model's card, the licences of the bundled libraries
(the table comes from :mod:`app.licences`)."""

from __future__ import annotations

import html
import json
import os
import platform
import re
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import __version__, resources

from ..licences import LGPL_NOTE, licence_rows


def qt_version() -> str:
    """The version of the Qt libraries PySide6 runs on."""
    return str(qVersion())


def _add_card_items(parent: QTreeWidgetItem | QTreeWidget, value: Any) -> None:
    items: Iterable[tuple[str, Any]]
    if isinstance(value, Mapping):
        items = ((str(k), v) for k, v in value.items())
    else:
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    for key, v in items:
        nested = isinstance(v, Mapping) or (
            isinstance(v, list | tuple) and any(isinstance(x, Mapping | list) for x in v)
        )
        text = "" if nested else (json.dumps(v) if not isinstance(v, str) else v)
        item = QTreeWidgetItem([key, text])
        item.setToolTip(1, text)
        if isinstance(parent, QTreeWidget):
            parent.addTopLevelItem(item)
        else:
            parent.addChild(item)
        if nested:
            _add_card_items(item, v)


class AboutDialog(QDialog):
    """Help > About: version and versions of the main libraries, the model card of the
    loaded model (``card``; ``None`` when no model is loaded) and the licence table."""

    def __init__(
        self,
        card: Mapping[str, Any] | None,
        parent: QWidget | None = None,
        *,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("About SEM Depth Studio")
        self.resize(720, 560)
        self.rows = licence_rows(qt_version=qt_version())

        header = QHBoxLayout()
        icon_label = QLabel()
        pixmap = _app_pixmap()
        if not pixmap.isNull():
            icon_label.setPixmap(
                pixmap.scaled(
                    64,
                    64,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        header.addWidget(icon_label, 0, Qt.AlignmentFlag.AlignTop)
        self.version_label = QLabel(self._header_html())
        self.version_label.setTextFormat(Qt.TextFormat.RichText)
        self.version_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.version_label.setWordWrap(True)
        header.addWidget(self.version_label, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._model_tab(card, model_path), "Model")
        self.tabs.addTab(self._licence_tab(), "Licences")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    def _header_html(self) -> str:
        versions = {r.distribution.lower(): r.version for r in self.rows if r.distribution}
        libs = [f"Python {platform.python_version()}", f"Qt {qt_version()}"]
        for dist, label in (
            ("pyside6_essentials", "PySide6"),
            ("torch", "PyTorch"),
            ("numpy", "NumPy"),
        ):
            if dist in versions:
                libs.append(f"{label} {versions[dist]}")
        return (
            f"<h2>SEM Depth Studio {__version__}</h2>"
            "<p>Per-pixel depth maps from single top-down SEM images of etched structures. "
            "Depth in depth units (DU, 0-255, deeper = smaller) and in nm where the model "
            "card gives the scale.</p>"
            f"<p>{', '.join(libs)}. SEM Depth Studio is MIT-licensed.</p>"
        )

    def _model_tab(
        self, card: Mapping[str, Any] | None, model_path: str | os.PathLike[str] | None
    ) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        if card is None:
            self.card_label = QLabel("No model is loaded.")
        else:
            where = f" from {model_path}" if model_path else ""
            self.card_label = QLabel(
                f"Model card of <b>{card.get('id', 'unnamed model')}</b>{where}"
            )
        self.card_label.setWordWrap(True)
        layout.addWidget(self.card_label)
        self.card_view = QTreeWidget()
        self.card_view.setHeaderLabels(["field", "value"])
        self.card_view.setColumnCount(2)
        if card is not None:
            _add_card_items(self.card_view, card)
            self.card_view.expandAll()
            self.card_view.resizeColumnToContents(0)
        self.card_view.setEnabled(card is not None)
        layout.addWidget(self.card_view, 1)
        return page

    def _licence_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.licence_table = QTableWidget(len(self.rows), 3)
        self.licence_table.setHorizontalHeaderLabels(["Library", "Version", "Licence"])
        self.licence_table.verticalHeader().setVisible(False)
        self.licence_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.licence_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for i, row in enumerate(self.rows):
            for j, text in enumerate((row.name, row.version, row.licence)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.licence_table.setItem(i, j, item)
        header = self.licence_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.licence_table, 1)
        self.lgpl_label = QLabel(_linkify(LGPL_NOTE))
        self.lgpl_label.setTextFormat(Qt.TextFormat.RichText)
        self.lgpl_label.setWordWrap(True)
        self.lgpl_label.setOpenExternalLinks(True)
        self.lgpl_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.lgpl_label)
        return page

    def table_rows(self) -> list[tuple[str, str, str]]:
        """The licence table as shown: (library, version, licence) per row."""
        t = self.licence_table
        rows = []
        for i in range(t.rowCount()):
            cells = [t.item(i, j) for j in range(3)]
            name, version, licence = (c.text() if c is not None else "" for c in cells)
            rows.append((name, version, licence))
        return rows


def _linkify(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"(https?://[^\s)]+?)([.,]?(\s|$))", r'<a href="\1">\1</a>\2', escaped)


def _app_pixmap() -> QPixmap:
    path = resources.icon_path()
    return QPixmap(str(path)) if path.is_file() else QPixmap()
