"""The licences of the bundled libraries, read from the installed packages' metadata
(``importlib.metadata``); no Qt import, so the desktop build's spec can use it too.

From source, the table lists the packages ``semdepth`` depends on (transitively); in the
frozen desktop build, every package whose metadata the build bundled (the spec copies
it). :func:`third_party_markdown` renders the same table plus the licence files into
``THIRD_PARTY_LICENSES.md``, written into the desktop build folder by ``build_app.spec``
(``python -m app.licences --write PATH`` does the same by hand). The About dialog
(:mod:`app.dialogs.about`) shows the table.

PySide6 and Qt are LGPL-3.0: the one-folder build keeps their libraries as separate,
replaceable files (see :data:`LGPL_NOTE`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from core import __version__

ROOT_DISTRIBUTION = "semdepth"
#: Read when ``semdepth``'s own metadata is not installed (running from a bare checkout).
FALLBACK_DISTRIBUTIONS = (
    "PySide6_Essentials",
    "shiboken6",
    "pyqtgraph",
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


def qt_version_of(rows: Sequence[LicenceRow]) -> str:
    """Qt's version from PySide6's (Qt for Python x.y.z[.n] bundles Qt x.y.z); read from
    the package metadata, so nothing here imports Qt."""
    for r in rows:
        if _key(r.distribution) in LGPL_NAMES and r.version:
            return ".".join(r.version.split(".")[:3])
    return "?"


def licence_rows(
    distributions: Sequence[metadata.Distribution] | None = None,
    *,
    qt_version: str | None = None,
) -> list[LicenceRow]:
    """The licence table: every bundled package (default :func:`bundled_distributions`),
    plus Qt itself (inside PySide6; ``qt_version`` default :func:`qt_version_of`)."""
    dists = bundled_distributions() if distributions is None else distributions
    rows = [
        LicenceRow(_display_name(d), d.version, licence_of(d), d.metadata["Name"] or "")
        for d in sorted(dists, key=lambda d: _key(d.metadata["Name"] or ""))
    ]
    if any(_key(r.distribution) in LGPL_NAMES for r in rows):
        version = qt_version or qt_version_of(rows)
        rows.append(LicenceRow("Qt (bundled in PySide6)", version, "LGPL-3.0-only", ""))
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.licences",
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
