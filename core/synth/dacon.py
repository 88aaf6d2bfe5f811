"""Write a simulated data set in the 2022 DACON layout.

``OUT/simulation_data/SEM/Case_k/<bucket>/<name>_itr0.png`` (+ ``_itr1``),
``OUT/simulation_data/Depth/Case_k/<bucket>/<name>.png`` (the same depth map under
every case), optional noise-free ``OUT/simulation_data/SEM_clean/Case_k/<bucket>/<name>.png``,
``OUT/synth_structures.csv`` (one row of parameters per structure),
``OUT/synth_images.csv`` (one row per SEM file: its contrast family and drawn imaging
parameters, :mod:`core.synth.records`) and ``OUT/synth_meta.json`` (written last: its
presence means the set is complete).

Without ``families`` the legacy simulator runs (four fixed imaging cases; the images are
bit-identical to earlier versions). With ``families`` every image gets one contrast
family (:mod:`core.synth.families`) and widely randomised geometry, probe, detector and
noise (:mod:`core.synth.wide`); the ``Case_k`` folders are then four independent images
of each structure.

Buckets: a hole of depth ``D`` DU below its top surface (top level minus the deepest
point of the depth map) goes in ``f"{10 * floor(D / 10):03d}"``: "090" holds
90 <= D < 100 DU. Crops are 72 rows x 48 columns at ``PIXEL_SIZE_NM`` nm/px.
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from core.conventions import shot_stem
from core.progress import CancelToken, ProgressCallback, report
from core.synth import detector as det
from core.synth import geometry as geo
from core.synth import imaging as im
from core.synth._files import prepare_output, write_bytes, write_json, write_png
from core.synth.families import FAMILIES, family_names
from core.synth.records import IMAGE_COLUMNS, IMAGES_CSV, images_csv_bytes
from core.synth.render import render_crops
from core.synth.streams import bucket_for
from core.synth.wide import ASSIGNMENTS

META_NAME = "synth_meta.json"
STRUCTURES_CSV = "synth_structures.csv"
FORMAT = "semdepth-synth/1"
CHUNK = 50  # structures per task
BUCKET_RULE = (
    "bucket = 10 * floor(hole depth / 10 DU), zero-padded to 3 digits; hole depth = top "
    "surface level minus the deepest point of the depth map, in DU"
)
_CSV_FIELDS = [
    "name",
    "bucket",
    "kind",
    "top_du",
    "hole_depth_du",
    "cd_nm",
    "aspect",
    "depth_nm",
    "taper_deg",
    "bow",
    "round_frac",
    "center_row",
    "center_col",
]


def family_description(families: list[str], assign: str | None) -> dict[str, Any]:
    """The families part of a meta file: which families, how images get them, the ranges."""
    if not families:
        return {
            "families": ["analytic"],
            "randomisation": "cases",
            "family_assignment": None,
            "images_csv": IMAGES_CSV,
            "images_csv_columns": IMAGE_COLUMNS,
        }
    return {
        "families": list(families),
        "randomisation": "wide",
        "family_assignment": assign,
        "images_csv": IMAGES_CSV,
        "images_csv_columns": IMAGE_COLUMNS,
        "parameter_ranges": {
            "common": det.COMMON_RANGES,
            "geometry": geo.WIDE_GEOMETRY_RANGES,
            **{f: FAMILIES[f].describe() for f in families},
        },
    }


def simulator_description() -> dict[str, Any]:
    """Scales and imaging cases, as recorded in the meta files."""
    return {
        "format": FORMAT,
        "pixel_size_nm": geo.PIXEL_SIZE_NM,
        "nm_per_depth_unit": geo.NM_PER_DU,
        "depth_convention": "DU 0-255, deeper = smaller, top surface 150-170",
        "top_du_range": list(geo.TOP_DU_RANGE),
        "crop_shape": list(geo.CROP_SHAPE),
        "imaging_cases": {name: c.to_dict() for name, c in im.CASES.items()},
        "secant_cap": im.SECANT_CAP,
    }


def _task(
    out: str,
    seed: int,
    indices: list[int],
    cases: list[str],
    write_clean: bool,
    families: list[str] | None = None,
    assign: str = "rotate",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Render and write one chunk of structures; returns their structure and image rows."""
    root = Path(out) / "simulation_data"
    batch = render_crops(seed, indices, cases, families=families, assign=assign)
    made: set[Path] = set()

    def folder(kind: str, case: str, bucket: str) -> Path:
        d = root / kind / case / bucket
        if d not in made:
            d.mkdir(parents=True, exist_ok=True)
            made.add(d)
        return d

    rows: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for k, name in enumerate(batch.names):
        bucket = batch.buckets[k]
        depth_png = im.to_uint8(batch.depth_du[k])
        p = batch.params[k]
        top, hole = round(float(batch.top_du[k]), 4), round(float(batch.hole_depth_du[k]), 4)
        for case in cases:
            write_png(folder("Depth", case, bucket) / f"{name}.png", depth_png)
            sem_dir = folder("SEM", case, bucket)
            for shot in range(2):
                write_png(sem_dir / f"{shot_stem(name, shot)}.png", batch.sem[case][k, shot])
                images.append(
                    {
                        "sem": f"simulation_data/SEM/{case}/{bucket}/{shot_stem(name, shot)}.png",
                        "depth": f"simulation_data/Depth/{case}/{bucket}/{name}.png",
                        "structure": name,
                        "case": case,
                        "shot": shot,
                        "kind": p.kind,
                        "top_du": top,
                        "hole_depth_du": hole,
                        **batch.records[case][k],
                    }
                )
            if write_clean:
                write_png(folder("SEM_clean", case, bucket) / f"{name}.png", batch.clean[case][k])
        row = {
            "name": name,
            "bucket": bucket,
            "kind": p.kind,
            "top_du": top,
            "hole_depth_du": hole,
            "cd_nm": round(p.cd_nm, 4),
            "aspect": round(p.aspect, 4),
            "depth_nm": round(p.depth_nm, 4),
            "taper_deg": round(p.taper_deg, 4),
            "bow": round(p.bow, 4),
            "round_frac": round(p.round_frac, 4),
            "center_row": round(p.center_row, 4),
            "center_col": round(p.center_col, 4),
        }
        if families:
            row["v_frac"] = round(p.v_frac, 4)
        rows.append(row)
    return rows, images


def _pool_context() -> Any:
    # fork is unsafe from a threaded (GUI) process; forkserver where it exists, else spawn
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def write_dacon(
    out_dir: str | Path,
    n_structures: int,
    seed: int,
    *,
    cases: Sequence[int | str] | str | None = None,
    write_clean: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    overwrite: bool = False,
    families: Sequence[str] | str | None = None,
    family_assignment: str = "rotate",
) -> dict[str, Any]:
    """Simulate ``n_structures`` holes under each case (2 shots each) into ``out_dir``.

    ``families``: contrast families ("all", "analytic,charging", a list; None: the legacy
    simulator); ``family_assignment``: "rotate" or "per-case" (:mod:`core.synth.wide`).

    Deterministic: the same ``seed`` gives byte-identical files for any ``workers``.
    Refuses a non-empty ``out_dir`` unless ``overwrite`` (which first removes only
    ``simulation_data/``, ``synth_structures.csv`` and ``synth_meta.json``).
    Returns the meta dict also written to ``synth_meta.json``.
    Raises :class:`core.progress.Cancelled` if ``cancel`` is set (no meta is written then).
    """
    if int(n_structures) < 1:
        raise ValueError(f"n_structures must be >= 1, got {n_structures}")
    n = int(n_structures)
    seed = int(seed)
    names = im.case_names(cases)
    fams = family_names(families) or None
    if family_assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown family assignment {family_assignment!r}; choose {ASSIGNMENTS}")
    out = Path(out_dir)
    prepare_output(
        out,
        ["simulation_data", STRUCTURES_CSV, IMAGES_CSV, META_NAME],
        overwrite=overwrite,
        what="a data set",
    )
    task_args = (names, write_clean, fams, family_assignment)
    n_workers = max(1, int(workers) if workers else (os.cpu_count() or 1))
    chunks = [list(range(s, min(s + CHUNK, n))) for s in range(0, n, CHUNK)]
    results: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    done = 0
    report(progress, 0, n, "simulating")
    if n_workers == 1 or len(chunks) == 1:
        for ci, chunk in enumerate(chunks):
            if cancel is not None:
                cancel.raise_if_cancelled()
            results[ci] = _task(str(out), seed, chunk, *task_args)
            done += len(chunk)
            report(progress, done, n, "simulating")
    else:
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=_pool_context()) as pool:
            pending: dict[Future[tuple[list[dict[str, Any]], list[dict[str, Any]]]], int] = {}
            queue = list(enumerate(chunks))
            queue.reverse()
            try:
                while queue or pending:
                    while queue and len(pending) < 2 * n_workers:
                        ci, chunk = queue.pop()
                        fut = pool.submit(_task, str(out), seed, chunk, *task_args)
                        pending[fut] = ci
                    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for fut in finished:
                        ci = pending.pop(fut)
                        results[ci] = fut.result()
                        done += len(chunks[ci])
                        report(progress, done, n, "simulating")
                    if cancel is not None:
                        cancel.raise_if_cancelled()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    rows = [row for ci in sorted(results) for row in results[ci][0]]
    images = [row for ci in sorted(results) for row in results[ci][1]]
    buf = io.StringIO()
    fields = _CSV_FIELDS + (["v_frac"] if fams else [])
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes(out / STRUCTURES_CSV, buf.getvalue().encode("utf-8"))
    write_bytes(out / IMAGES_CSV, images_csv_bytes(images))
    family_counts: dict[str, int] = {}
    for img in images:
        family_counts[img["family"]] = family_counts.get(img["family"], 0) + 1
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["bucket"]] = counts.get(row["bucket"], 0) + 1
    meta: dict[str, Any] = {
        **simulator_description(),
        "kind": "dacon",
        "seed": seed,
        "structures": n,
        "cases": names,
        **family_description(fams or [], family_assignment if fams else None),
        "family_counts": dict(sorted(family_counts.items())),
        "shots": 2,
        "write_clean": bool(write_clean),
        "bucket_rule": BUCKET_RULE,
        "bucket_counts": dict(sorted(counts.items())),
        "name_pattern": "syn<seed>_<index:06d>",
        "files": {
            "sem": n * len(names) * 2,
            "depth": n * len(names),
            "sem_clean": n * len(names) if write_clean else 0,
        },
    }
    write_json(out / META_NAME, meta)
    return meta


__all__ = [
    "BUCKET_RULE",
    "META_NAME",
    "bucket_for",
    "family_description",
    "simulator_description",
    "write_dacon",
]
