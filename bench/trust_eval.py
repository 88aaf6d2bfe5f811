"""What bench/uncertainty.py and bench/domain.py measure per image, computed once per
(model, folder) and cached under ``scratch/bench_trust/`` (a JSON per folder).

For a labelled folder (DACON layout), every image (or a seeded subset) is predicted the
way ``semdepth predict`` does (crop mode, one shot, the card's TTA) and reduced to
numbers: the verdict, the errors, the coverage of +-2 sigma (absolute depth and depth below
top), histograms of ``|error| / sigma`` for the calibration curves (with and without the
out-of-domain inflation), the per-hole depth error and its U.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = REPO / "scratch" / "bench_trust"
#: Bins of |error| / sigma for the calibration curves.
RATIO_EDGES = np.linspace(0.0, 8.0, 321)


def bench_parser(doc: str | None, section: str) -> argparse.ArgumentParser:
    """The options bench/uncertainty.py and bench/domain.py share: the model, the in-family
    test folders (the physics it was trained on, one row each) and held-out folders, the
    cache, and the section of docs/benchmarks.md (``section`` without its ``## ``) the run
    writes: one section per model compared."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--test", type=Path, nargs="+", required=True)
    ap.add_argument("--heldout", type=Path, nargs="*", default=[])
    ap.add_argument("--max-images", type=int, default=1200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--refresh", action="store_true", help="recompute cached predictions")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--section", default=section, help=f"the section to write [{section}]")
    return ap


def families(root: Path) -> dict[str, str]:
    """SEM path (relative to ``root``) -> contrast family, from synth_images.csv when the
    simulator wrote one; every image is "legacy" without one, or when the set was made by
    the legacy fixed-case simulator (no ``--families``: its table says "analytic"), and so
    is each image of a merged set whose detector is fixed by its imaging case."""
    table = root / "synth_images.csv"
    if not table.is_file():
        return {}
    meta = root / "synth_meta.json"
    info = json.loads(meta.read_text()) if meta.is_file() else {}
    from core.synth.records import default_azimuth

    fallback = default_azimuth(info)  # sets written before the azimuth column
    with open(table, newline="", encoding="utf-8") as fh:
        return {
            row["sem"]: "legacy"
            if (row.get("azimuth") or fallback) == "case"
            else row.get("family") or "legacy"
            for row in csv.DictReader(fh)
        }


def _ratio_hist(err: np.ndarray, sigma: np.ndarray) -> list[int]:
    r = np.abs(err) / np.maximum(sigma, 1e-9)
    counts, _ = np.histogram(np.minimum(r, RATIO_EDGES[-1] - 1e-9), bins=RATIO_EDGES)
    return [int(c) for c in counts]


def evaluate_image(predictor: Any, rec: Any, family: str) -> dict[str, Any]:
    """One labelled image's numbers (see the module docstring)."""
    from core.io import read_depth
    from core.metrics import image_rmse, image_rmse_offset_free
    from core.metrology.holes import measure_holes
    from core.metrology.surface import depth_below_top

    truth = read_depth(rec.depth_path).astype(np.float32)
    r = predictor.predict(rec.sem_path, mode="crop", second_shot=None)
    t = r.trust
    err = r.depth - truth
    true_bt = depth_below_top(truth)
    err_bt = t.below_top.du - true_bt.du
    out: dict[str, Any] = {
        "file": str(rec.sem_path),
        "family": family,
        "case": rec.case,
        "rmse": image_rmse(r.depth, truth),
        "rmse_offset_free": image_rmse_offset_free(r.depth, truth),
        "rmse_below_top": float(np.sqrt(np.mean(err_bt.astype(np.float64) ** 2))),
        "in_domain": t.domain.in_domain,
        "score": t.domain.score,
        "reasons": t.domain.reasons,
        "checks": {k: v.get("value") for k, v in t.domain.checks.items()},
        "inflation": t.inflation,
        "n_px": int(err.size),
        "raw_mean": float(np.mean(r.uncertainty)),
    }
    if t.sigma is not None:
        base = t.sigma / np.float32(t.inflation)
        base_bt = t.below_top.sigma_du / np.float32(t.inflation)
        out.update(
            within2=int(np.sum(np.abs(err) <= 2 * base)),
            within2_reported=int(np.sum(np.abs(err) <= 2 * t.sigma)),
            within2_bt=int(np.sum(np.abs(err_bt) <= 2 * base_bt)),
            width=float(np.mean(4 * base)),
            width_bt=float(np.mean(4 * base_bt)),
            hist=_ratio_hist(err, base),
            hist_bt=_ratio_hist(err_bt, base_bt),
        )
    true_holes = measure_holes(true_bt, window=predictor.input_size).holes
    holes = []
    for h in t.holes.holes if t.holes else []:
        m = min(true_holes, key=lambda x: math.hypot(x.row - h.row, x.col - h.col))
        if math.hypot(m.row - h.row, m.col - h.col) > 12 or {"touching_border", "merged"} & set(
            h.flags + m.flags
        ):
            continue
        u = None if h.depth_u is None else h.depth_u / t.below_top.factor / t.inflation
        holes.append({"err": h.depth / t.below_top.factor - m.depth, "u": u})
    out["holes"] = holes
    return out


def evaluate_folder(
    predictor: Any, root: Path, *, max_images: int, seed: int = 0, refresh: bool = False
) -> list[dict[str, Any]]:
    """Every image's numbers for a labelled folder (cached per model card and folder)."""
    from core.data import find_records

    card_text = json.dumps(predictor.card, sort_keys=True)
    key = hashlib.sha256(f"{card_text}|{root.resolve()}|{max_images}|{seed}".encode()).hexdigest()
    cache = CACHE / f"{root.name}-{key[:16]}.json"
    if cache.is_file() and not refresh:
        return list(json.loads(cache.read_text()))
    recs = [r for r in find_records(root) if r.depth_path is not None]
    if len(recs) > max_images:
        pick = np.random.default_rng(seed).choice(len(recs), max_images, replace=False)
        recs = [recs[i] for i in sorted(pick)]
    fam = families(root)
    rows = []
    for i, rec in enumerate(recs):
        rel = Path(rec.sem_path).resolve().relative_to(root.resolve()).as_posix()
        rows.append(evaluate_image(predictor, rec, fam.get(rel, "legacy")))
        if (i + 1) % 200 == 0:
            print(f"  {root.name}: {i + 1}/{len(recs)}", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(rows))
    return rows


def pooled(rows: list[dict[str, Any]], key: str) -> float:
    """Pooled share of pixels counted under ``key`` (within2, within2_bt, ...)."""
    n = sum(r["n_px"] for r in rows if key in r)
    return sum(r[key] for r in rows if key in r) / n if n else math.nan
