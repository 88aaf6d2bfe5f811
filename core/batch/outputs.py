"""The files written for one prediction (names from :func:`core.conventions.output_name`,
all in one flat output folder; every file atomically):

- ``<stem>_depth.tif``: float32 depth (DU), ImageJ-calibrated, JSON description;
  ``<stem>_uncertainty.tif`` beside it (format ``tiff``)
- ``<stem>_depth.csv`` (format ``csv``), ``<stem>_depth.png`` colour-mapped with a colour
  bar (format ``png``), ``<stem>_depth8.png`` DACON 8-bit (format ``dacon``)
- ``<stem>_depth_below_top.tif`` (format ``tiff``) and ``.csv`` (format ``csv``): depth below
  the local top surface, positive down, in nm or DU (its description says which and why);
  ``<stem>_sigma.tif``: the calibrated sigma of the depth map (DU; only when the model card
  is calibrated)
- ``<stem>_report.html`` (format ``report``): the self-contained report of
  :func:`core.report.write_report`
- ``<stem>_holes.csv``: the per-hole metrology table, units in its column names
  (:mod:`core.metrology.export`), in field and tiled modes; a result without a trust step
  (built by hand) writes the detector's table (:data:`HOLE_COLUMNS`) in field mode

Existing files are never replaced unless ``overwrite=True``: the writer refuses with an
``OutputExistsError`` naming the file before writing anything. A set that fails half-way
is removed again (:func:`remove_outputs`).
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.items import BatchItem
from core.conventions import output_name

if TYPE_CHECKING:
    from core.inference import PredictionResult

FORMATS = ("tiff", "csv", "png", "dacon", "report")
#: Output kinds (keys of ``core.conventions.OUTPUT_SUFFIXES``) written for each format.
FORMAT_KINDS: dict[str, tuple[str, ...]] = {
    "tiff": ("depth_tiff", "uncertainty_tiff", "depth_below_top_tiff", "sigma_tiff"),
    "csv": ("depth_csv", "depth_below_top_csv"),
    "png": ("depth_png",),
    "dacon": ("depth8_png",),
    "report": ("report_html",),
}
#: Kinds that need the prediction's trust step, or its calibrated sigma.
TRUST_KINDS = frozenset({"depth_below_top_tiff", "depth_below_top_csv"})
SIGMA_KINDS = frozenset({"sigma_tiff"})
HOLE_COLUMNS = (
    "id",
    "row_px",
    "col_px",
    "diameter_px",
    "diameter_nm",
    "bottom_depth_du",
    "mean_depth_du",
    "uncertainty_du",
)
#: The description keys repeated in the depth CSV's ``#`` header.
CSV_HEADER_KEYS = (
    "model_id",
    "fast_path",
    "mode",
    "source",
    "pixel_size_nm",
    "value_unit",
    "convention",
)
UNCERTAINTY_QUANTITY = "uncertainty (std over TTA flips and shots)"


@dataclass(frozen=True)
class ColourPng:
    """How the colour-mapped ``<stem>_depth.png`` is drawn: its colour map, and its depth
    unit (``unit``; the DU values times ``scale``, e.g. the model card's nm per DU)."""

    cmap: str = "viridis"
    scale: float = 1.0
    unit: str = "DU"


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated formats; ``ValueError`` naming unknown ones."""
    out: list[str] = []
    for f in formats:
        key = f.strip().lower()
        if key in ("tif",):
            key = "tiff"
        if key not in FORMATS:
            raise ValueError(f"unknown output format {f!r}; choose from {', '.join(FORMATS)}")
        if key not in out:
            out.append(key)
    return tuple(out)


def planned_outputs(
    out_dir: Path,
    stem: str,
    formats: Sequence[str],
    *,
    holes: bool,
    trust: bool = False,
    sigma: bool = False,
) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each file (kind -> path); ``trust``: the result
    has a trust step (depth below top), ``sigma``: a calibrated sigma."""
    kinds = [
        k
        for f in FORMATS
        if f in formats
        for k in FORMAT_KINDS[f]
        if (trust or k not in TRUST_KINDS) and (sigma or k not in SIGMA_KINDS)
    ]
    if holes:
        kinds.append("holes_csv")
    return {k: out_dir / output_name(stem, k) for k in kinds}


def refuse_existing(paths: Iterable[Path]) -> None:
    """``OutputExistsError`` naming the first of ``paths`` that exists."""
    from core.io.atomic import OutputExistsError

    for p in paths:
        if p.exists():
            raise OutputExistsError(p)


def write_outputs(
    item_or_result: BatchItem | PredictionResult,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("tiff", "csv", "png"),
    stem: str,
    overwrite: bool = False,
    colour: ColourPng | None = None,
) -> dict[str, Path]:
    """Write one result's files (see the module docstring); returns kind -> final path.

    ``colour``: the colour PNG's colour map and unit (default: viridis, DU); every other
    file keeps DU values.

    All files are written atomically. Without ``overwrite``, if any target exists nothing
    is written and ``OutputExistsError`` names the file. When one file fails (a full
    disk: :class:`~core.io.atomic.OutputWriteError` naming it and the OS reason), the
    files this call already wrote are removed again, so no incomplete set is left.
    """
    from core import __version__
    from core.io.atomic import flushed_together

    result = item_or_result.result if isinstance(item_or_result, BatchItem) else item_or_result
    if result is None:
        raise ValueError("write_outputs: the batch item holds no result (failed or dropped)")
    fmts = check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = planned_outputs(
        out,
        stem,
        fmts,
        holes=_has_hole_table(result),
        trust=result.trust is not None,
        sigma=result.sigma is not None,
    )
    if not overwrite:
        refuse_existing(plan.values())
    desc = result.description()
    desc["product_version"] = __version__
    written: dict[str, Path] = {}
    try:
        with flushed_together(out):  # one flush to disk for the set, before it is recorded
            for kind, path in plan.items():
                written[kind] = _write_kind(
                    kind, path, result, desc, overwrite=overwrite, colour=colour
                )
    except BaseException:
        remove_outputs(written.values())
        raise
    return written


def remove_outputs(paths: Iterable[Path]) -> None:
    """Delete ``paths`` (files of an incomplete output set); missing ones are fine."""
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


def _has_hole_table(result: PredictionResult) -> bool:
    if result.trust is None:
        return result.holes is not None
    return result.mode != "crop" and result.trust.holes is not None


def _write_kind(
    kind: str,
    path: Path,
    result: PredictionResult,
    desc: dict[str, Any],
    *,
    overwrite: bool,
    colour: ColourPng | None = None,
) -> Path:
    """Write output ``kind`` of ``result`` to ``path`` (``desc``: its JSON description)."""
    from core.io import write_colormap_png, write_depth_csv, write_depth_png, write_depth_tiff

    px = result.sem.pixel_size_nm
    if kind in ("depth_tiff", "uncertainty_tiff"):
        array, description = result.depth, desc
        if kind == "uncertainty_tiff":
            array, description = result.uncertainty, dict(desc, quantity=UNCERTAINTY_QUANTITY)
        return write_depth_tiff(
            path,
            array,
            pixel_size_nm=px,
            value_unit="DU",
            description=description,
            overwrite=overwrite,
        )
    if kind == "depth_csv":
        header = {k: desc[k] for k in CSV_HEADER_KEYS}
        return write_depth_csv(
            path, result.depth, header=header, pixel_size_nm=px, overwrite=overwrite
        )
    if kind == "depth_png":
        c = colour or ColourPng()
        values = result.depth if c.scale == 1.0 else result.depth * c.scale
        return write_colormap_png(
            path, values, cmap=c.cmap, label=f"depth ({c.unit})", overwrite=overwrite
        )
    if kind == "depth8_png":
        return write_depth_png(path, result.depth, overwrite=overwrite)
    if kind == "holes_csv":
        if result.trust is not None and result.trust.holes is not None:
            from core.metrology.export import write_holes_table

            return write_holes_table(path, result.trust.holes, overwrite=overwrite)
        return write_holes_csv(path, result, overwrite=overwrite)
    if kind in TRUST_KINDS or kind in SIGMA_KINDS or kind == "report_html":
        from core.batch.trust_outputs import write_trust_kind

        return write_trust_kind(kind, path, result, desc, overwrite=overwrite)
    raise ValueError(f"unknown output kind {kind!r}")


def write_holes_csv(path: str | Path, result: PredictionResult, *, overwrite: bool = False) -> Path:
    """The per-hole table as CSV (units in the column names), atomically."""
    from core.io.atomic import atomic_write

    path = Path(path)
    with (
        atomic_write(path, overwrite=overwrite) as tmp,
        open(tmp, "w", newline="", encoding="utf-8") as fh,
    ):
        w = csv.DictWriter(fh, fieldnames=list(HOLE_COLUMNS))
        w.writeheader()
        for h in result.holes or []:
            w.writerow(h.as_row())
    return path
