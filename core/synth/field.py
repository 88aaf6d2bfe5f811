"""Full-field SEM images: a rectangular array of holes of varied depths.

Holes sit one per cell of ``pitch`` pixels (default the 72 x 48 crop size), centred
within +-2 px, at the same pixel size as the crops, so a 72 x 48 window around any
hole looks like a DACON crop. Written under ``out_dir``:

``SEM/field_<k>.png`` (8-bit), ``Depth/field_<k>.tif`` (float32 DU, deeper = smaller),
optional ``SEM_clean/field_<k>.png``, ``holes.csv`` (one row per hole, all fields),
``synth_images.csv`` (each field's family and drawn parameters) and ``synth_meta.json``.

With ``family`` (``families`` for the writer) a field is rendered like the family-mode
crops (:mod:`core.synth.wide`): wide hole shapes and depths, per-field probe, detector
and noise draws, one contrast family per field; without, the legacy imaging cases.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.progress import CancelToken, ProgressCallback, report
from core.synth import detector as det
from core.synth import geometry as geo
from core.synth import imaging as im
from core.synth import wide
from core.synth._files import prepare_output, write_bytes, write_depth_tiff, write_json, write_png
from core.synth.dacon import META_NAME, family_description, simulator_description
from core.synth.families import FAMILIES, Scene, family_names, hole_scene
from core.synth.records import IMAGES_CSV, images_csv_bytes
from core.synth.render import legacy_record
from core.synth.streams import FIELD_STREAM, rng_for

HOLES_CSV = "holes.csv"
HOLE_FIELDS = [
    "field",
    "id",
    "row",
    "col",
    "diameter_px",
    "depth_du",
    "top_du",
    "bottom_du",
    "kind",
]


@dataclass
class Field:
    """One rendered field: depth (DU, float32), SEM shot, clean image and its holes."""

    depth_du: np.ndarray
    sem: np.ndarray  # uint8
    clean: np.ndarray  # uint8
    case: str
    holes: list[dict[str, Any]]
    record: dict[str, Any] | None = None  # family and drawn imaging parameters


def _hole_row(
    hid: int, r0: int, c0: int, p: geo.HoleParams, cell: np.ndarray, top: float, px: float
) -> dict[str, Any]:
    bottom = float(cell.min())
    return {
        "id": hid,
        "row": round(r0 + p.center_row, 3),
        "col": round(c0 + p.center_col, 3),
        "diameter_px": round(p.cd_nm * float(np.sqrt(p.aspect)) / px, 3),
        "depth_du": round(top - bottom, 3),
        "top_du": round(top, 3),
        "bottom_du": round(bottom, 3),
        "kind": p.kind,
    }


def _family_field(
    seed: int,
    index: int,
    family: str,
    size: tuple[int, int],
    pitch: tuple[int, int],
    pixel_size_nm: float,
) -> Field:
    rows, cols = size
    pr, pc = pitch
    n_r, n_c = rows // pr, cols // pc
    r0, c0 = (rows - n_r * pr) // 2, (cols - n_c * pc) // 2
    fam = FAMILIES[family]
    rng = rng_for(seed, wide.WIDE_FIELD_STREAM, index, 0)
    top, surface, grain, grain_px = wide.draw_surface(rng, (rows, cols))
    scene = Scene.empty((rows, cols), pixel_size_nm, with_los=fam.needs_los)
    cells: list[tuple[int, int, geo.HoleParams]] = []
    for i in range(n_r):
        for j in range(n_c):
            p = geo.sample_wide_hole_params(
                rng, (pr, pc), top_du=top, pixel_size_nm=pixel_size_nm, offset_px=2.0
            )
            y, x = r0 + i * pr, c0 + j * pc
            cell = hole_scene(
                p,
                (pr, pc),
                surface[y : y + pr, x : x + pc],
                pixel_size_nm=pixel_size_nm,
                with_los=fam.needs_los,
            )
            scene.paste(cell, y, x)
            cells.append((y, x, p))
    scene.height_nm = surface - scene.depth_nm
    scene.grain = grain
    depth_du = np.clip(top + (surface - scene.depth_nm) / geo.NM_PER_DU, 0.0, None)
    depth_du = depth_du.astype(np.float32)
    holes = [
        _hole_row(hid, y, x, p, depth_du[y : y + pr, x : x + pc], top, pixel_size_nm)
        for hid, (y, x, p) in enumerate(cells)
    ]
    irng = rng_for(seed, wide.WIDE_FIELD_STREAM, index, 1, 0)
    common = det.draw_common(irng)
    fparams = fam.draw(irng)
    shots, clean = wide.render_image(
        scene, fam, common, fparams, [rng_for(seed, wide.WIDE_FIELD_STREAM, index, 1, 1)]
    )
    record = wide.image_record(family, common, fparams, grain_px)
    return Field(depth_du, shots[0], clean, "", holes, record)


def render_field(
    seed: int,
    index: int,
    *,
    size: tuple[int, int] = (512, 512),
    case: str = "Case_1",
    pitch: tuple[int, int] = geo.CROP_SHAPE,
    pixel_size_nm: float = geo.PIXEL_SIZE_NM,
    family: str | None = None,
) -> Field:
    """Render field ``index`` of ``seed``: holes on a ``pitch`` grid centred in ``size``.

    ``family``: a contrast family (wide randomisation, ``case`` unused); None: the legacy
    imaging ``case``.
    """
    rows, cols = int(size[0]), int(size[1])
    pr, pc = int(pitch[0]), int(pitch[1])
    if rows < pr or cols < pc:
        raise ValueError(f"field size {rows}x{cols} is smaller than one cell ({pr}x{pc} px)")
    if family is not None:
        family_names([family])  # validates the name
        return _family_field(seed, index, family, (rows, cols), (pr, pc), pixel_size_nm)
    rng = rng_for(seed, FIELD_STREAM, index, 0)
    n_r, n_c = rows // pr, cols // pc
    r0, c0 = (rows - n_r * pr) // 2, (cols - n_c * pc) // 2
    depth_nm = np.zeros((rows, cols), np.float32)
    edge_nm = np.full((rows, cols), 1e3, np.float32)
    open_nm = np.zeros((rows, cols), np.float32)
    u = rng.random(3)
    top = geo.TOP_DU_RANGE[0] + (geo.TOP_DU_RANGE[1] - geo.TOP_DU_RANGE[0]) * float(u[0])
    surface = geo.surface_roughness(
        rng, (rows, cols), amplitude_nm=0.1 + 0.3 * float(u[1]), corr_px=1.5 + 2.0 * float(u[2])
    )
    params: list[tuple[int, int, geo.HoleParams]] = []
    for i in range(n_r):
        for j in range(n_c):
            p = geo.sample_hole_params(rng, (pr, pc), pixel_size_nm=pixel_size_nm, offset_px=2.0)
            r = geo.render_hole(p, (pr, pc), pixel_size_nm=pixel_size_nm)
            sl = (slice(r0 + i * pr, r0 + (i + 1) * pr), slice(c0 + j * pc, c0 + (j + 1) * pc))
            depth_nm[sl], edge_nm[sl], open_nm[sl] = r.depth_nm, r.edge_nm, r.open_nm
            params.append((i, j, p))
    depth_du = geo.depth_to_du(depth_nm, top, surface)
    holes = [
        _hole_row(
            hid,
            r0 + i * pr,
            c0 + j * pc,
            p,
            depth_du[r0 + i * pr : r0 + (i + 1) * pr, c0 + j * pc : c0 + (j + 1) * pc],
            top,
            pixel_size_nm,
        )
        for hid, (i, j, p) in enumerate(params)
    ]
    c = im.CASES[case]
    k = list(im.CASES).index(case) + 1
    draw = im.draw_structure_imaging(rng_for(seed, FIELD_STREAM, index, k, 0), c)
    signal = im.se_signal(
        surface - depth_nm,
        depth_nm,
        edge_nm,
        open_nm,
        pixel_size_nm=pixel_size_nm,
        edge_gain=c.edge_gain,
        edge_length_nm=c.edge_length_nm,
        background=c.background,
        detector_tilt=c.detector_tilt,
        detector_angle_deg=c.detector_angle_deg,
    )
    mean, clean = im.expected_signal(signal, [draw], c.scan_lag)
    sem = im.noisy_shot(mean[0], draw, c, rng_for(seed, FIELD_STREAM, index, k, 1))
    return Field(
        depth_du=depth_du,
        sem=sem,
        clean=im.to_uint8(clean[0]),
        case=case,
        holes=holes,
        record=legacy_record(c, draw),
    )


def write_fields(
    out_dir: str | Path,
    n_fields: int,
    seed: int,
    *,
    size: tuple[int, int] = (512, 512),
    cases: Any = None,
    write_clean: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    overwrite: bool = False,
    families: Any = None,
) -> dict[str, Any]:
    """Write ``n_fields`` field images (case cycles through ``cases``), depth TIFFs and holes.csv.

    ``families`` ("all", "a,b", a list): field ``k`` gets ``families[k % len(families)]``
    and wide randomisation; None: the legacy imaging cases.

    Refuses a non-empty ``out_dir`` unless ``overwrite`` (which removes only this writer's
    outputs first). Returns the meta written to ``synth_meta.json``.
    """
    if int(n_fields) < 1:
        raise ValueError(f"n_fields must be >= 1, got {n_fields}")
    names = im.case_names(cases)
    fams = family_names(families)
    out = Path(out_dir)
    prepare_output(
        out,
        ["SEM", "Depth", "SEM_clean", HOLES_CSV, IMAGES_CSV, META_NAME],
        overwrite=overwrite,
        what="field images",
    )
    for sub in ("SEM", "Depth") + (("SEM_clean",) if write_clean else ()):
        (out / sub).mkdir(exist_ok=True)
    all_holes: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    report(progress, 0, n_fields, "fields")
    for k in range(int(n_fields)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        case = names[k % len(names)]
        family = fams[k % len(fams)] if fams else None
        f = render_field(seed, k, size=size, case=case, family=family)
        stem = f"field_{k:04d}"
        write_png(out / "SEM" / f"{stem}.png", f.sem)
        if write_clean:
            write_png(out / "SEM_clean" / f"{stem}.png", f.clean)
        write_depth_tiff(
            out / "Depth" / f"{stem}.tif",
            f.depth_du,
            pixel_size_nm=geo.PIXEL_SIZE_NM,
            description={
                "source": "semdepth synth --field",
                "seed": int(seed),
                "field": k,
                "case": f.case,
                "family": (f.record or {}).get("family", ""),
                "unit": "DU",
                "nm_per_depth_unit": geo.NM_PER_DU,
            },
        )
        all_holes.extend({"field": stem, **h} for h in f.holes)
        images.append(
            {
                "sem": f"SEM/{stem}.png",
                "depth": f"Depth/{stem}.tif",
                "structure": stem,
                "case": f.case,
                "shot": 0,
                "kind": "",
                "top_du": f.holes[0]["top_du"] if f.holes else None,
                "hole_depth_du": max((h["depth_du"] for h in f.holes), default=None),
                **(f.record or {}),
            }
        )
        report(progress, k + 1, n_fields, "fields")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HOLE_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(all_holes)
    write_bytes(out / HOLES_CSV, buf.getvalue().encode("utf-8"))
    write_bytes(out / IMAGES_CSV, images_csv_bytes(images))
    meta: dict[str, Any] = {
        **simulator_description(),
        "kind": "fields",
        "seed": int(seed),
        "structures": len(all_holes),
        "fields": int(n_fields),
        "size": [int(size[0]), int(size[1])],
        "pitch": list(geo.CROP_SHAPE),
        "cases": [] if fams else names,
        **family_description(fams, "cycle" if fams else None),
        "write_clean": bool(write_clean),
        "holes_csv_columns": {
            "row, col": "hole centre (px, fractional)",
            "diameter_px": "equivalent circular top diameter (px)",
            "depth_du": "top_du - bottom_du (DU, how deep the hole is)",
            "top_du": "top surface level (DU)",
            "bottom_du": "deepest value of the depth map in the hole's cell (DU)",
        },
    }
    write_json(out / META_NAME, meta)
    return meta
