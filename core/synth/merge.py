"""One simulated data set made of several: ``semdepth synth --merge A B --out C``.

The files of every source set are hard-linked into ``C`` (copied where the file system
cannot link), under the same relative paths; a path that two sources share is refused
(two sets of one seed name their structures alike: simulate them with different seeds).
``synth_images.csv`` lists every image of every source, with its ``azimuth`` filled in
from its source's ``synth_meta.json`` when the source was written before that column
(``cases`` randomisation: the detector fixed by the imaging case); ``synth_structures.csv``
is concatenated when every source has one (the union of their columns); ``synth_meta.json``
names the sources (seed, structures, families, randomisation) and the counts.

This is how the default model's training set mixes the contrast families (wide
randomisation) with the legacy imaging cases: the trainer flips only the images whose
detector azimuth was drawn (:func:`core.data.record_flippable`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.synth._files import prepare_output, write_bytes, write_json
from core.synth.dacon import META_NAME, STRUCTURES_CSV, simulator_description
from core.synth.records import IMAGES_CSV, default_azimuth, images_csv_bytes, read_synth_images

_TOP_LEVEL = {META_NAME, IMAGES_CSV, STRUCTURES_CSV}


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not supported: a copy
        shutil.copy2(src, dst)


def _source_meta(root: Path) -> dict[str, Any]:
    path = root / META_NAME
    if not path.is_file():
        raise ValueError(f"{root}: not a simulated data set (no {META_NAME})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    if not (root / IMAGES_CSV).is_file():
        raise ValueError(f"{root}: no {IMAGES_CSV} (written by an older simulator)")
    return dict(meta)


def merge_datasets(
    out_dir: str | Path, sources: Sequence[str | Path], *, overwrite: bool = False
) -> dict[str, Any]:
    """Write the merged set of ``sources`` (at least two) into ``out_dir``; returns its
    meta. ``ValueError`` names a source that is not a simulated set, a source given twice,
    or a file path two sources share, before anything is written."""
    roots = [Path(s) for s in sources]
    if len(roots) < 2:
        raise ValueError("--merge needs at least two simulated data sets")
    if len({r.resolve() for r in roots}) != len(roots):
        raise ValueError("--merge: a data set is named twice")
    out = Path(out_dir)
    if any(out.resolve() == r.resolve() for r in roots):
        raise ValueError(f"{out}: the merged set cannot be written into one of its sources")
    metas = [_source_meta(r) for r in roots]
    plan: dict[Path, Path] = {}  # relative path -> source file
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root)
            if len(rel.parts) == 1 and rel.name in _TOP_LEVEL:
                continue
            if rel in plan:
                raise ValueError(
                    f"{rel.as_posix()}: in both {plan[rel].parent} and {root} (data sets "
                    "of one seed name their structures alike: simulate with other seeds)"
                )
            plan[rel] = path
    owned = sorted({rel.parts[0] for rel in plan} | _TOP_LEVEL)
    prepare_output(out, owned, overwrite=overwrite, what="a merged data set")
    images: list[dict[str, Any]] = []
    family_counts: dict[str, int] = {}
    described = []
    for root, meta in zip(roots, metas, strict=True):
        fallback = default_azimuth(meta)
        rows = read_synth_images(root)
        for row in rows.values():
            row["azimuth"] = row.get("azimuth") or fallback
            images.append(row)
            fam = "legacy cases" if row["azimuth"] == "case" else str(row.get("family") or "")
            family_counts[fam] = family_counts.get(fam, 0) + 1
        described.append(
            {
                "root": root.as_posix(),
                "seed": meta.get("seed"),
                "structures": meta.get("structures"),
                "families": meta.get("families"),
                "randomisation": meta.get("randomisation"),
                "images": len(rows),
            }
        )
    for rel, src in plan.items():
        _link(src, out / rel)
    write_bytes(out / IMAGES_CSV, images_csv_bytes(images))
    _merge_structures(out, roots)
    randomisation = sorted({str(m.get("randomisation")) for m in metas})
    merged: dict[str, Any] = {
        **simulator_description(),
        "kind": "merged",
        "sources": described,
        "structures": sum(int(m.get("structures") or 0) for m in metas),
        "families": sorted({f for m in metas for f in (m.get("families") or [])}),
        "randomisation": randomisation[0] if len(randomisation) == 1 else "mixed",
        "family_counts": dict(sorted(family_counts.items())),
        "images_csv": IMAGES_CSV,
    }
    write_json(out / META_NAME, merged)
    return merged


def _merge_structures(out: Path, roots: Sequence[Path]) -> None:
    """``synth_structures.csv`` of every source one after another (the union of their
    columns; a cell a source lacks is empty), when every source has one."""
    tables: list[list[dict[str, str]]] = []
    columns: dict[str, None] = {}
    for root in roots:
        path = root / STRUCTURES_CSV
        if not path.is_file():
            return
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns.update(dict.fromkeys(reader.fieldnames or []))
            tables.append(list(reader))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    for rows in tables:
        writer.writerows(rows)
    write_bytes(out / STRUCTURES_CSV, buf.getvalue().encode("utf-8"))
