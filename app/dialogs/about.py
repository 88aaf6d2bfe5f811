"""About dialog: version, the loaded model's card, the licences of the bundled libraries.

The licence table is read at run time from the installed packages' metadata
(``importlib.metadata``): from source, the packages ``semdepth`` depends on (transitively);
in the frozen desktop build, every package whose metadata the build bundled (the spec
copies it). :func:`third_party_markdown` renders the same table plus the licence files into
``THIRD_PARTY_LICENSES.md``, written into the desktop build folder by ``build_app.spec``
(``python -m app.dialogs.about --write PATH`` does the same by hand).

PySide6 and Qt are LGPL-3.0: the one-folder build keeps their libraries as separate,
replaceable files (see :data:`LGPL_NOTE`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPixmap
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

from core import __version__

ROOT_DISTRIBUTION = "semdepth"
#: Read when ``semdepth``'s own metadata is not installed (running from a bare checkout).
FALLBACK_DISTRIBUTIONS = (
    "PySide6_Essentials",
    "shiboken6",
    "pyqtgraph",
    "superqt",
    "torch",
    "numpy",
    "scipy",
    "scikit-image",
    "tifffile",
    "imagecodecs",
    "pillow",
    "safetensors",
    "platformdirs",
    "tqdm",
)
LGPL_NAMES = {"pyside6", "pyside6-essentials", "pyside6-addons", "shiboken6"}
LGPL_URL = "https://www.gnu.org/licenses/lgpl-3.0.html"
QT_SOURCE_URL = "https://download.qt.io/official_releases/QtForPython/"
LICENCE_FILE_RE = re.compile(r"(licen[cs]e|copying|notice|authors)", re.IGNORECASE)

LGPL_NOTE = (
    "PySide6, shiboken6 and Qt are used under the GNU Lesser General Public License "
    "version 3 (LGPL-3.0; full text in THIRD_PARTY_LICENSES.md beside the program and at "
    f"{LGPL_URL}). SEM Depth Studio loads them as separate shared libraries and is "
    "distributed as a one-folder build, so you can replace them with your own (for example "
    "modified) builds of the same major version: the Qt libraries are the files under "
    "_internal/PySide6/Qt/lib (Linux: libQt6*.so.6; macOS: Qt*.framework) or "
    "_internal/PySide6 (Windows: Qt6*.dll), the Python bindings are "
    "_internal/PySide6/*.abi3.so or *.pyd and _internal/shiboken6. The sources of Qt and "
    f"PySide6 are at {QT_SOURCE_URL} and https://code.qt.io."
)


@dataclass(frozen=True)
class LicenceRow:
    """One bundled library: display name, version, licence (SPDX when the package says)."""

    name: str
    version: str
    licence: str
    distribution: str  # the distribution name, "" for rows that are not one (Qt)


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    """The names of ``dist``'s run-time requirements that apply here (no extras)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for text in dist.requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        names.append(req.name)
    return names


def dependency_closure(root: str = ROOT_DISTRIBUTION) -> list[metadata.Distribution]:
    """``root``'s installed run-time dependencies, transitively (``root`` left out)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if _key(name) in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[_key(name)] = dist
        todo.extend(_requirement_names(dist))
    seen.pop(_key(root), None)
    return list(seen.values())


def bundled_distributions() -> list[metadata.Distribution]:
    """The packages shipped with the program, sorted by name (one per distribution).

    Frozen: every distribution whose metadata the build bundled. From source: the
    run-time dependencies of ``semdepth`` (or :data:`FALLBACK_DISTRIBUTIONS` when
    ``semdepth`` itself is not installed).
    """
    if getattr(sys, "frozen", False):
        dists: Iterable[metadata.Distribution] = metadata.distributions()
    else:
        try:
            metadata.distribution(ROOT_DISTRIBUTION)
        except metadata.PackageNotFoundError:
            found = []
            for name in FALLBACK_DISTRIBUTIONS:
                try:
                    found.append(metadata.distribution(name))
                except metadata.PackageNotFoundError:
                    continue
            dists = found
        else:
            dists = dependency_closure()
    unique: dict[str, metadata.Distribution] = {}
    for d in dists:
        name = d.metadata["Name"] or ""
        if name and _key(name) != ROOT_DISTRIBUTION and _key(name) not in unique:
            unique[_key(name)] = d
    return [unique[k] for k in sorted(unique)]


def licence_of(dist: metadata.Distribution) -> str:
    """The package's licence: its SPDX ``License-Expression``, a short ``License`` field,
    else its trove classifiers; ``"see the package's licence files"`` when none says."""
    meta = dist.metadata
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    field = _field(meta, "License")
    if field and "\n" not in field and len(field) <= 80:
        return field
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    if field:
        return field.splitlines()[0].strip()[:80]
    return "see the package's licence files"


def _field(meta: Any, key: str) -> str:
    values = meta.get_all(key) or [""]
    return str(values[0] or "").strip()


def _display_name(dist: metadata.Distribution) -> str:
    name = dist.metadata["Name"] or "?"
    if _key(name) == "pyside6-essentials":
        return "PySide6 (PySide6_Essentials)"
    return name


def qt_version() -> str:
    from PySide6.QtCore import qVersion

    return str(qVersion())


def licence_rows(
    distributions: Sequence[metadata.Distribution] | None = None,
) -> list[LicenceRow]:
    """The licence table: every bundled package (default :func:`bundled_distributions`),
    plus Qt itself (inside PySide6)."""
    dists = bundled_distributions() if distributions is None else distributions
    rows = [
        LicenceRow(_display_name(d), d.version, licence_of(d), d.metadata["Name"] or "")
        for d in sorted(dists, key=lambda d: _key(d.metadata["Name"] or ""))
    ]
    if any(_key(r.distribution) in LGPL_NAMES for r in rows):
        rows.append(
            LicenceRow("Qt (bundled in PySide6)", qt_version(), "LGPL-3.0-only", distribution="")
        )
    return rows


def licence_files(dist: metadata.Distribution) -> list[tuple[str, str]]:
    """``(relative path, text)`` of the licence/notice files in the package's metadata."""
    out = []
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if not parts or not parts[0].endswith((".dist-info", ".egg-info")):
            continue
        if not LICENCE_FILE_RE.search(str(f)) or str(f).endswith("RECORD"):
            continue
        try:
            text = Path(str(dist.locate_file(f))).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        out.append((str(Path(*parts[1:])), text))
    return out


def _licence_texts_dir() -> Path:
    from core import resources

    return resources.resources_dir() / "licenses"


def third_party_markdown(
    distributions: Sequence[metadata.Distribution] | None = None, *, include_texts: bool = True
) -> str:
    """``THIRD_PARTY_LICENSES.md``: the table, the LGPL note, then every licence text of
    ``distributions`` (default :func:`bundled_distributions`)."""
    dists = bundled_distributions() if distributions is None else list(distributions)
    rows = licence_rows(dists)
    lines = [
        f"# Third-party licences of SEM Depth Studio {__version__}",
        "",
        "SEM Depth Studio is MIT-licensed. The desktop build bundles the libraries below, "
        "each under its own licence (read from the packages' metadata at build time).",
        "",
        "| library | version | licence |",
        "|---|---|---|",
    ]
    lines += [f"| {r.name} | {r.version} | {r.licence} |" for r in rows]
    lines += ["", "## PySide6 and Qt (LGPL-3.0)", "", LGPL_NOTE, ""]
    if not include_texts:
        return "\n".join(lines)
    folder = _licence_texts_dir()
    for name in ("LGPL-3.0.txt", "GPL-3.0.txt"):
        p = folder / name
        if p.is_file():
            title = name.removesuffix(".txt")
            text = p.read_text(encoding="utf-8")
            lines += [
                f"### {title} (applies to PySide6, shiboken6, Qt)",
                "",
                "```",
                text,
                "```",
                "",
            ]
    lines += ["## Licence files of the bundled packages", ""]
    for d in sorted(dists, key=lambda d: _key(d.metadata["Name"] or "")):
        lines += [f"### {_display_name(d)} {d.version}", ""]
        files = licence_files(d)
        if not files:
            lines += [f"Licence: {licence_of(d)} (the package ships no licence file).", ""]
        for rel, text in files:
            lines += [f"`{rel}`", "", "```", text.rstrip("\n"), "```", ""]
    return "\n".join(lines)


def write_third_party_licenses(
    path: str | os.PathLike[str], distributions: Sequence[metadata.Distribution] | None = None
) -> Path:
    """Write :func:`third_party_markdown` to ``path`` atomically (replacing it)."""
    from core.io.atomic import atomic_write

    out = Path(path)
    with atomic_write(out, overwrite=True) as tmp:
        Path(tmp).write_text(third_party_markdown(distributions), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- dialog
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
        self.rows = licence_rows()

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
        import platform

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
    import html

    escaped = html.escape(text)
    return re.sub(r"(https?://[^\s)]+?)([.,]?(\s|$))", r'<a href="\1">\1</a>\2', escaped)


def _app_pixmap() -> QPixmap:
    from core import resources

    path = resources.icon_path()
    return QPixmap(str(path)) if path.is_file() else QPixmap()


# --------------------------------------------------------------------------- self-test
def qt_self_check() -> str:
    """The GUI part of ``semdepth-gui --self-test``: Qt starts (offscreen when there is no
    display), the app icon loads, the About dialog and a pyqtgraph plot render, and the
    licence metadata is bundled (PySide6 listed as LGPL). Returns a one-line summary."""
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "semdepth-gui"])
    icon = QIcon(str(_icon_file()))
    if icon.isNull():
        raise RuntimeError(f"{_icon_file()}: the app icon does not load")
    dialog = AboutDialog({"id": "self-test"})
    try:
        rows = dialog.table_rows()
        pyside = [r for r in rows if r[0].startswith("PySide6")]
        if not pyside or "LGPL" not in pyside[0][2]:
            raise RuntimeError("the licence table lacks PySide6 (LGPL): package metadata missing")
        if dialog.grab().isNull():
            raise RuntimeError("the About dialog does not render")
        plot = pg.PlotWidget()
        plot.plot([0.0, 1.0, 4.0])
        if plot.grab().isNull():
            raise RuntimeError("a pyqtgraph plot does not render")
        plot.close()
    finally:
        dialog.close()
    platform_name = app.platformName() if hasattr(app, "platformName") else "?"
    return (
        f"Qt {qt_version()} (platform {platform_name}), pyqtgraph {pg.__version__}, "
        f"{len(rows)} licences listed, icon loads"
    )


def _icon_file() -> Path:
    from core import resources

    return resources.icon_path()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.dialogs.about",
        description="Print or write the third-party licence list of SEM Depth Studio.",
    )
    parser.add_argument("--write", type=Path, help="write THIRD_PARTY_LICENSES.md here")
    args = parser.parse_args(argv)
    if args.write:
        path = write_third_party_licenses(args.write)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    else:
        print(third_party_markdown(include_texts=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
