"""The user's reference numbers: the two CSV files and how their rows find the images.

**Averages** (``--averages``): the mean of the depth map of an image or of a site, in DU
(0-255, deeper = smaller, the model's own scale). Columns ``image,average_depth_du``
(extra columns ignored); ``image`` names an image, a structure or a site in any of the
ways :func:`core.calibrate.images.image_keys` lists (file name or stem: shots
``<stem>_itrN`` share their structure's value, and images with that stem in several
sub-folders share it too; a folder: every image in it). The DACON ``average_depth.csv``
(two columns, pandas' header ``0,1`` or none, site keys ``depth_110_site_00000``) is read
as well.

**Points** (``--references``): the depth of single holes or points, e.g. from
cross-sections, columns ``image,x_px,y_px,depth_nm`` (extra columns ignored): the depth
below the local top surface in nm, positive down, at column ``x_px`` and row ``y_px`` of
the image file (origin at the centre of the top-left pixel). ``image`` names one image or
the shots of one structure. How a point is read from a depth map: :mod:`core.calibrate.probe`.

Every problem is a :class:`CalibrationError` of one line naming the file (and the line).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.calibrate.errors import CalibrationError
from core.calibrate.images import CalibrationImage, image_keys, point_keys

AVERAGE_COLUMNS = ("image", "average_depth_du")
POINT_COLUMNS = ("image", "x_px", "y_px", "depth_nm")
MAX_SHOWN = 5  # unmatched keys named in one message


@dataclass(frozen=True)
class AverageRow:
    """One average: ``key`` (as written), ``value_du``, its line in ``source``."""

    source: Path
    line: int
    key: str
    value_du: float


@dataclass(frozen=True)
class PointRow:
    """One point reference: depth below the local top (nm, positive down) at column ``x``,
    row ``y`` (px) of the image(s) ``key`` names."""

    source: Path
    line: int
    key: str
    x: float
    y: float
    depth_nm: float


@dataclass(frozen=True)
class Reference:
    """A reference matched to its images (indices into the image list). ``kind``:
    ``"average"`` (``value`` in DU) or ``"point"`` (``value`` in nm, ``x``/``y`` in px)."""

    kind: str
    images: tuple[int, ...]
    value: float
    line: int
    key: str
    x: float = math.nan
    y: float = math.nan

    @property
    def label(self) -> str:
        return f"line {self.line} ({self.key!r})"


# --------------------------------------------------------------------------- reading
def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank, non-comment rows with their line numbers."""
    if not path.is_file():
        raise CalibrationError(f"{path}: file not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                cells = [c.strip() for c in row]
                if not any(cells) or cells[0].startswith("#"):
                    continue
                yield lineno, cells
    except UnicodeDecodeError as exc:
        raise CalibrationError(f"{path}: not a text CSV ({exc.reason})") from None
    except csv.Error as exc:
        raise CalibrationError(f"{path}: not a CSV ({exc})") from None
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CalibrationError(f"{path}: line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CalibrationError(f"{path}: line {line}: {column} {text!r} is not a finite number")
    return value


def _columns(path: Path, line: int, header: list[str], required: Sequence[str]) -> dict[str, int]:
    names = [h.lower() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise CalibrationError(
            f"{path}: line {line}: no {', '.join(repr(m) for m in missing)} column (expected "
            f"the header {','.join(required)}; got {','.join(header)})"
        )
    return {c: names.index(c) for c in required}


def _cells(path: Path, line: int, row: list[str], index: dict[str, int]) -> dict[str, str]:
    need = max(index.values()) + 1
    if len(row) < need:
        raise CalibrationError(
            f"{path}: line {line}: expected {len(index)} columns ({','.join(index)}), "
            f"got {len(row)}"
        )
    cells = {name: row[i] for name, i in index.items()}
    if not cells["image"]:
        raise CalibrationError(f"{path}: line {line}: empty image name")
    return cells


def _check_unique(path: Path, seen: dict[object, int], key: object, line: int, what: str) -> None:
    if key in seen:
        raise CalibrationError(
            f"{path}: line {line}: {what} listed twice (first on line {seen[key]})"
        )
    seen[key] = line


def read_averages(path: str | Path) -> list[AverageRow]:
    """The rows of an averages CSV (see the module docstring); refuses an empty file,
    missing columns, short rows, empty names, non-numeric or non-finite values and a key
    listed twice (case-insensitive)."""
    path = Path(path)
    rows = list(_rows(path))
    if not rows:
        raise CalibrationError(f"{path}: no rows (expected {','.join(AVERAGE_COLUMNS)})")
    first_line, first = rows[0]
    index = {"image": 0, "average_depth_du": 1}
    body = rows
    if len(first) >= 2 and not _is_number(first[1]):  # a header with names
        index = _columns(path, first_line, first, AVERAGE_COLUMNS)
        body = rows[1:]
    elif len(first) >= 2 and first[0].isdigit():  # pandas' header "0,1" (the DACON file)
        body = rows[1:]
    out: list[AverageRow] = []
    seen: dict[object, int] = {}
    for line, row in body:
        cells = _cells(path, line, row, index)
        value = _number(path, line, "average_depth_du", cells["average_depth_du"])
        _check_unique(path, seen, cells["image"].lower(), line, repr(cells["image"]))
        out.append(AverageRow(path, line, cells["image"], value))
    if not out:
        raise CalibrationError(f"{path}: no rows below the header")
    return out


def read_points(path: str | Path) -> list[PointRow]:
    """The rows of a point-reference CSV (header ``image,x_px,y_px,depth_nm`` required);
    refuses missing columns, short rows, empty names, non-numeric or non-finite numbers,
    negative coordinates or depths, and one point listed twice."""
    path = Path(path)
    rows = list(_rows(path))
    if not rows:
        raise CalibrationError(f"{path}: no rows (expected {','.join(POINT_COLUMNS)})")
    header_line, header = rows[0]
    index = _columns(path, header_line, header, POINT_COLUMNS)
    out: list[PointRow] = []
    seen: dict[object, int] = {}
    for line, row in rows[1:]:
        cells = _cells(path, line, row, index)
        x, y, depth = (_number(path, line, c, cells[c]) for c in POINT_COLUMNS[1:])
        for name, value in (("x_px", x), ("y_px", y), ("depth_nm", depth)):
            if value < 0:
                what = "depth below the top" if name == "depth_nm" else "pixel coordinate"
                raise CalibrationError(
                    f"{path}: line {line}: {name} {value:g} is negative (a {what} is >= 0)"
                )
        _check_unique(path, seen, (cells["image"].lower(), x, y), line, "this point")
        out.append(PointRow(path, line, cells["image"], x, y, depth))
    if not out:
        raise CalibrationError(f"{path}: no rows below the header")
    return out


# --------------------------------------------------------------------------- matching
def _index(
    images: Sequence[CalibrationImage], keys: Callable[[CalibrationImage], set[str]]
) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, im in enumerate(images):
        for k in keys(im):
            index.setdefault(k, []).append(i)
    return index


def _refuse_unmatched(source: Path, unmatched: list[tuple[int, str]], n: int, root: str) -> None:
    if not unmatched:
        return
    shown = ", ".join(f"{key!r} (line {line})" for line, key in unmatched[:MAX_SHOWN])
    more = f" and {len(unmatched) - MAX_SHOWN} more" if len(unmatched) > MAX_SHOWN else ""
    raise CalibrationError(
        f"{source}: {len(unmatched)} of {n} image names match no image under {root}: {shown}{more}"
    )


def match_averages(
    rows: Sequence[AverageRow],
    images: Sequence[CalibrationImage],
    root: str,
    value_range: tuple[float, float],
) -> list[Reference]:
    """One reference per row, with every image its key names; refuses keys that name no
    image (all of them named, up to :data:`MAX_SHOWN`), an image named by two rows, and
    values outside ``value_range`` (the model's output range, DU)."""
    if not rows:
        return []
    source = rows[0].source
    lo, hi = value_range
    index = _index(images, image_keys)
    unmatched = [(r.line, r.key) for r in rows if r.key.lower() not in index]
    _refuse_unmatched(source, unmatched, len(rows), root)
    owner: dict[int, AverageRow] = {}
    out = []
    for r in rows:
        if not lo <= r.value_du <= hi:
            raise CalibrationError(
                f"{source}: line {r.line}: average depth {r.value_du:g} DU is outside the "
                f"model's output range {lo:g}..{hi:g} DU"
            )
        hit = tuple(index[r.key.lower()])
        for i in hit:
            if i in owner:
                raise CalibrationError(
                    f"{source}: line {r.line}: image {images[i].rel} is already given an "
                    f"average by line {owner[i].line} ({owner[i].key!r}); keep one of them"
                )
            owner[i] = r
        out.append(Reference("average", hit, r.value_du, r.line, r.key))
    return out


def match_points(
    rows: Sequence[PointRow], images: Sequence[CalibrationImage], root: str
) -> list[Reference]:
    """One reference per row, on the image (or the shots of the one structure) its key
    names; refuses keys that name no image and keys that name images of several
    structures (give the relative path then)."""
    if not rows:
        return []
    source = rows[0].source
    index = _index(images, point_keys)
    unmatched = [(r.line, r.key) for r in rows if r.key.lower() not in index]
    _refuse_unmatched(source, unmatched, len(rows), root)
    out = []
    for r in rows:
        hit = tuple(index[r.key.lower()])
        structures = sorted({images[i].structure for i in hit})
        if len(structures) > 1:
            shown = ", ".join(structures[:MAX_SHOWN])
            raise CalibrationError(
                f"{source}: line {r.line}: {r.key!r} names images of {len(structures)} "
                f"structures ({shown}); give the image's path below {root}"
            )
        out.append(Reference("point", hit, r.depth_nm, r.line, r.key, r.x, r.y))
    return out
