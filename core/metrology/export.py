"""The per-hole table as CSV: units in every column name, one row per hole.

Columns (``<u>`` is ``nm`` or ``du``, the depth unit of the table): ``id``,
``row_px``, ``col_px`` (centre), ``depth_below_top_<u>``, ``u_k2_<u>`` (the calibrated
interval half-width, k = 2; empty when not calibrated), ``top_cd_nm``, ``bottom_cd_nm``
(empty without a pixel size), ``top_cd_px``, ``bottom_cd_px``, ``ellipticity_major_minor``,
``flags`` (``;``-separated: out_of_domain, touching_border, merged, closed,
under_etched). Definitions in ``docs/metrology.md``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.metrology.holes import HOLE_TABLE_COLUMNS, HoleTable


def csv_columns(table: HoleTable) -> list[str]:
    """The CSV header of ``table`` (row keys renamed to say their units)."""
    u = table.depth_unit.lower()
    names = {
        "depth": f"depth_below_top_{u}",
        "depth_u_k2": f"u_k2_{u}",
        "ellipticity": "ellipticity_major_minor",
    }
    return [names.get(c, c) for c in HOLE_TABLE_COLUMNS]


def write_holes_table(path: str | Path, table: HoleTable, *, overwrite: bool = False) -> Path:
    """Write ``table`` atomically (refusing an existing file unless ``overwrite``)."""
    from core.io.atomic import atomic_write

    path = Path(path)
    header = csv_columns(table)
    with (
        atomic_write(path, overwrite=overwrite) as tmp,
        open(tmp, "w", newline="", encoding="utf-8") as fh,
    ):
        w = csv.writer(fh)
        w.writerow(header)
        for h in table.holes:
            row = h.as_row()
            w.writerow([row[c] for c in HOLE_TABLE_COLUMNS])
    return path
