"""Measure the simulator's speed: N structures x 4 cases x 2 shots into a temporary folder.

Usage: ``python bench/synth_speed.py [--structures 10000] [--workers K] [--clean]``.
Prints a table and replaces the ``## Simulator speed`` section of ``docs/benchmarks.md``
(created if missing; other sections are left untouched).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from benchdoc import update_section  # noqa: E402

from core.synth import write_dacon  # noqa: E402

SECTION = "## Simulator speed"
TARGET_S = 300.0
TARGET_N = 10_000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", type=int, default=TARGET_N)
    ap.add_argument("--workers", type=int, default=None, help="default: all CPU cores")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clean", action="store_true", help="also write SEM_clean renderings")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--no-doc", action="store_true", help="print only")
    ap.add_argument("--note", default="", help="a line added under the table")
    args = ap.parse_args(argv)

    workers = args.workers or os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="synth_speed_"))
    try:
        t0 = time.perf_counter()
        meta = write_dacon(
            tmp / "set", args.structures, args.seed, write_clean=args.clean, workers=workers
        )
        seconds = time.perf_counter() - t0
        n_files = sum(1 for p in (tmp / "set").rglob("*") if p.is_file())
        size_mb = sum(p.stat().st_size for p in (tmp / "set").rglob("*") if p.is_file()) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.structures
    per_s = n / seconds
    est = TARGET_N / per_s
    files = meta["files"]
    rows = [
        ("structures", f"{n:,}"),
        ("cases x shots", f"{len(meta['cases'])} x 2"),
        (
            "SEM / depth / clean PNGs",
            f"{files['sem']:,} / {files['depth']:,} / {files['sem_clean']:,}",
        ),
        ("files written (incl. csv, json)", f"{n_files:,} ({size_mb:.0f} MB)"),
        ("workers", str(workers)),
        ("wall time", f"{seconds:.1f} s"),
        ("structures/s", f"{per_s:.0f}"),
        ("PNG files/s", f"{(files['sem'] + files['depth'] + files['sem_clean']) / seconds:.0f}"),
        (f"{TARGET_N:,} structures (est.)", f"{est:.0f} s (target < {TARGET_S:.0f} s)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")

    body = [
        f"`python bench/synth_speed.py --structures {n}` on {platform.machine()} with "
        f"{os.cpu_count()} CPU cores ({workers} workers), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| quantity | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
    ]
    if args.note:
        body += ["", args.note]
    if not args.no_doc:
        update_section(args.doc, SECTION, "\n".join(body))
        print(f"updated {args.doc} ({SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
