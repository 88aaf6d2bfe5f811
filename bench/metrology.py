"""Per-hole metrology against the truth of simulated fields: CD and depth errors, hole
detection, and the coverage of +-U.

    python bench/metrology.py --model M.safetensors [--fields 4] [--seed 31]

Fields are written by ``core.synth.write_fields`` (the legacy simulator, 512 x 512 px at
2 nm/px, holes on a 72 x 48 grid) under ``scratch/bench_trust/`` and predicted in field
mode. Each measured hole is matched to the nearest true centre (within 4 px). Truth:
``holes.csv`` (top diameter ``diameter_px``, depth ``depth_du`` = top minus the deepest
point) and, for the bottom CD, the same estimator on the true depth map. The "estimator on
truth" rows measure the true maps: the error of the definitions alone. Writes the
``## Hole metrology`` section of ``docs/benchmarks.md`` (unless ``--no-doc``).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchdoc import update_section  # noqa: E402

SECTION = "## Hole metrology"
MATCH_PX = 4.0
PX_NM = 2.0
NM_PER_DU = 0.5


def _stats(values: list[float]) -> str:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return "| n/a | n/a | n/a |"
    return f"| {v.mean():+.2f} | {v.std(ddof=1) if v.size > 1 else 0:.2f} | {np.abs(v).max():.2f} |"


def match(measured: list[Any], truth: list[dict[str, str]]) -> list[tuple[Any, dict[str, str]]]:
    """Measured holes paired with their nearest true hole within :data:`MATCH_PX`."""
    pairs = []
    for h in measured:
        t = min(truth, key=lambda t: math.hypot(float(t["row"]) - h.row, float(t["col"]) - h.col))
        if math.hypot(float(t["row"]) - h.row, float(t["col"]) - h.col) <= MATCH_PX:
            pairs.append((h, t))
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--fields", type=int, default=4)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = ap.parse_args(argv)

    from core.inference import Predictor
    from core.io import read_depth
    from core.metrology.holes import measure_holes
    from core.metrology.surface import depth_below_top
    from core.synth import write_fields

    root = REPO / "scratch" / "bench_trust" / f"fields_seed{args.seed}_n{args.fields}"
    if not (root / "holes.csv").is_file():
        write_fields(root, args.fields, args.seed, overwrite=True)
    with open(root / "holes.csv", newline="", encoding="utf-8") as fh:
        truth_all = list(csv.DictReader(fh))
    p = Predictor.from_checkpoint(args.model, device=args.device)
    err: dict[str, list[float]] = {
        k: [] for k in ("cd", "bcd", "depth", "t_cd", "t_bcd", "t_depth")
    }
    covered: list[bool] = []
    found = missed = spurious = 0
    for sem_path in sorted((root / "SEM").glob("*.png")):
        truth = [t for t in truth_all if t["field"] == sem_path.stem]
        visible = [t for t in truth if float(t["depth_du"]) >= 4.0]
        r = p.predict(sem_path, mode="field")
        table = r.trust.holes
        unit = 1.0 / r.trust.below_top.factor  # table depth -> DU
        true_map = read_depth(root / "Depth" / f"{sem_path.stem}.tif")
        true_bt = depth_below_top(true_map, smooth_px=48.0)
        true_tab = measure_holes(true_bt, window=p.input_size, pixel_size_nm=PX_NM)
        pairs = match(table.holes, visible)
        found += len(pairs)
        missed += len(visible) - len({id(t) for _, t in pairs})
        spurious += len(table.holes) - len(pairs)
        true_pairs = {id(t): h for h, t in match(true_tab.holes, visible)}
        for h, t in pairs:
            ref = true_pairs.get(id(t))
            if h.top_cd_px is not None:
                err["cd"].append((h.top_cd_px - float(t["diameter_px"])) * PX_NM)
            err["depth"].append(h.depth * unit - float(t["depth_du"]))
            if ref is not None and h.bottom_cd_px is not None and ref.bottom_cd_px is not None:
                err["bcd"].append((h.bottom_cd_px - ref.bottom_cd_px) * PX_NM)
            if h.depth_u is not None:
                covered.append(abs(h.depth * unit - float(t["depth_du"])) <= h.depth_u * unit)
        for h, t in match(true_tab.holes, visible):
            if h.top_cd_px is not None:
                err["t_cd"].append((h.top_cd_px - float(t["diameter_px"])) * PX_NM)
            err["t_depth"].append(h.depth - float(t["depth_du"]))
        print(f"{sem_path.name}: {len(pairs)} of {len(visible)} visible holes matched")
    cov = f"{100 * np.mean(covered):.1f} % of {len(covered)}" if covered else "n/a (no U)"
    body = (
        f"`python bench/metrology.py --model {args.model} --fields {args.fields} --seed "
        f"{args.seed}`: {args.fields} simulated 512 x 512 fields (legacy simulator, 2 nm/px), "
        f"{len(truth_all)} holes of which "
        f"{sum(float(t['depth_du']) >= 4.0 for t in truth_all)} deeper than 4 DU; model "
        f"`{p.model_id}` in field mode. Matched {found}, missed {missed}, extra {spurious}. "
        "Errors are measured minus true (mean, standard deviation, largest absolute).\n\n"
        "| quantity | mean | sd | max abs |\n|---|---:|---:|---:|\n"
        f"| top CD (nm) {_stats(err['cd'])}\n"
        f"| bottom CD (nm; vs the estimator on the true map) {_stats(err['bcd'])}\n"
        f"| depth below top (DU; x {NM_PER_DU} = nm) {_stats(err['depth'])}\n"
        f"| estimator on truth: top CD (nm) {_stats(err['t_cd'])}\n"
        f"| estimator on truth: depth (DU) {_stats(err['t_depth'])}\n\n"
        f"+-U (k = 2) covers the true depth for {cov} matched holes (target >= 90 %). "
        "Definitions: `docs/metrology.md`.\n"
    )
    print(body)
    if not args.no_doc:
        update_section(args.doc, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
