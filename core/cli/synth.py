"""``semdepth synth``: write a simulated DACON-layout data set or full-field images.

``--families analytic,line-of-sight,backscatter,charging`` (or ``all``) renders each image
with one contrast family and wide randomisation; without it the legacy simulator runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from core.progress import Progress


def _size(text: str) -> tuple[int, int]:
    try:
        parts = text.lower().replace("*", "x").split("x")
        if len(parts) == 1:
            parts = parts * 2
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be ROWSxCOLS like 512x512, got {text!r}"
        ) from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return rows, cols


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (must be empty or new)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--cases", default="1,2,3,4", help="imaging cases, comma-separated (default 1,2,3,4)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing data set")
    parser.add_argument(
        "--clean", action="store_true", help="also write noise-free renderings (SEM_clean/)"
    )
    parser.add_argument(
        "--families",
        default=None,
        help="contrast families, comma-separated, or 'all' (analytic, line-of-sight, "
        "backscatter, charging); default: the legacy fixed-case simulator",
    )
    parser.add_argument(
        "--family-assignment",
        choices=("rotate", "per-case"),
        default="rotate",
        help="rotate: structure i under Case_k gets family (i + k - 1) mod F (every case "
        "folder holds every family); per-case: Case_k gets family (k - 1) mod F "
        "(default rotate; fields cycle through the families)",
    )
    g = parser.add_argument_group("DACON crops (default)")
    g.add_argument("--structures", type=int, default=1000, help="number of holes (default 1000)")
    g.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: all CPU cores)"
    )
    m = parser.add_argument_group("merging simulated data sets")
    m.add_argument(
        "--merge",
        nargs="+",
        metavar="SET",
        help="write one data set made of these simulated sets (files hard-linked, tables "
        "merged: e.g. the contrast families and the legacy cases, each with its own seed)",
    )
    f = parser.add_argument_group("full-field images")
    f.add_argument("--field", action="store_true", help="write full-field images instead")
    f.add_argument("--size", type=_size, default=(512, 512), help="ROWSxCOLS (default 512x512)")
    f.add_argument("--count", type=int, default=4, help="number of field images (default 4)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.synth import write_dacon, write_fields
    from core.synth._files import OutputExistsError
    from core.synth.families import family_names
    from core.synth.imaging import case_names

    if args.merge:
        return _merge(args)
    try:
        cases = case_names(args.cases)
        families = family_names(args.families) if args.families is not None else []
    except ValueError as e:
        print(f"semdepth synth: {e}", file=sys.stderr)
        return 2
    total = args.count if args.field else args.structures
    if total < 1:
        print("semdepth synth: the count must be at least 1", file=sys.stderr)
        return 2
    unit = "field" if args.field else "structure"
    bar = tqdm(total=total, unit=unit, desc="synth", file=sys.stderr)

    def on_progress(p: Progress) -> None:
        bar.update(p.done - bar.n)

    t0 = time.perf_counter()
    try:
        if args.field:
            meta = write_fields(
                args.out,
                args.count,
                args.seed,
                size=args.size,
                cases=cases,
                write_clean=args.clean,
                progress=on_progress,
                overwrite=args.overwrite,
                families=families or None,
            )
        else:
            meta = write_dacon(
                args.out,
                args.structures,
                args.seed,
                cases=cases,
                write_clean=args.clean,
                workers=args.workers or os.cpu_count(),
                progress=on_progress,
                overwrite=args.overwrite,
                families=families or None,
                family_assignment=args.family_assignment,
            )
    except (OutputExistsError, NotADirectoryError, ValueError) as e:
        bar.close()
        print(f"semdepth synth: {e}", file=sys.stderr)
        return 2
    bar.close()
    dt = time.perf_counter() - t0
    what = f"{meta.get('fields', 0)} fields" if args.field else f"{meta['structures']} structures"
    physics = f"families {', '.join(families)}" if families else "legacy imaging cases"
    if args.field:
        print(f"wrote {what} ({physics}) to {args.out} in {dt:.1f} s")
    else:
        print(f"wrote {what} x {len(cases)} case(s) ({physics}) to {args.out} in {dt:.1f} s")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from core.synth._files import OutputExistsError
    from core.synth.merge import merge_datasets

    try:
        meta = merge_datasets(args.out, args.merge, overwrite=args.overwrite)
    except (OutputExistsError, NotADirectoryError, ValueError) as e:
        print(f"semdepth synth: {e}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in meta["family_counts"].items())
    print(
        f"merged {len(args.merge)} data sets ({meta['structures']} structures; images by "
        f"family: {counts}) into {args.out}"
    )
    return 0
