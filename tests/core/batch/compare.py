"""Two output folders of the same inputs hold the same files and rows (timings aside)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.batch import read_summary
from core.io import read_depth_tiff

#: Columns that differ from run to run by nature.
TIMING_COLUMNS = ("seconds",)


def summary_rows(folder: Path) -> list[dict[str, str]]:
    rows = read_summary(folder / "summary.csv")
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


def manifest_items(folder: Path) -> list[dict[str, object]]:
    """The manifest's item events, without the seconds of their rows."""
    out = []
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "item":
            event.pop("row", None)
            out.append(event)
    return out


def assert_same_outputs(a: Path, b: Path, *, atol: float = 0.0) -> None:
    """The same file names, summary rows and manifest items; depth maps equal within
    ``atol`` DU (bit for bit, also the PNGs and CSVs, when 0)."""
    names_a = sorted(p.name for p in a.iterdir() if p.name != "semdepth.lock")
    names_b = sorted(p.name for p in b.iterdir() if p.name != "semdepth.lock")
    assert names_a == names_b
    rows_a, rows_b = summary_rows(a), summary_rows(b)
    if atol == 0.0:
        assert rows_a == rows_b
    else:
        assert [(r["file"], r["status"], r["error"]) for r in rows_a] == [
            (r["file"], r["status"], r["error"]) for r in rows_b
        ]
    assert sorted(map(json.dumps, manifest_items(a))) == sorted(map(json.dumps, manifest_items(b)))
    for name in names_a:
        pa, pb = a / name, b / name
        if name.endswith(".tif"):
            da, db = read_depth_tiff(pa)[0], read_depth_tiff(pb)[0]
            np.testing.assert_allclose(da, db, atol=atol, rtol=0, err_msg=name)
        elif atol == 0.0 and name.endswith((".png", ".csv")) and name != "summary.csv":
            assert pa.read_bytes() == pb.read_bytes(), name
