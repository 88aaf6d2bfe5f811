"""Measure the simulator's speed: N structures x 4 cases x 2 shots into a temporary folder.

Usage: ``python bench/synth_speed.py [--structures 10000] [--family-structures 1000]
[--repeats 2] [--families all] [--workers K] [--clean]``.
First the legacy simulator (no family: the four fixed cases) on ``--structures`` with
``--workers`` processes (wall time). Then the legacy simulator, each contrast family
alone and all of them mixed on ``--family-structures`` in this process (one worker),
``--repeats`` rounds interleaved, keeping each one's least CPU time: on a shared machine
CPU time compares them fairly where wall time measures the neighbours. Reported: CPU ms
per SEM image (rendering, PNG and CSV writing) and SEM images/s per core.
Prints the tables and replaces the ``## Simulator speed`` section of
``docs/benchmarks.md`` (created if missing; other sections are left untouched).
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
from core.synth.families import family_names  # noqa: E402

SECTION = "## Simulator speed"
TARGET_S = 300.0
TARGET_N = 10_000


def _timed(n: int, seed: int, workers: int, clean: bool, families: list[str] | None) -> dict:
    """Write one data set into a temporary folder; wall and CPU time (this process), meta
    and file counts."""
    tmp = Path(tempfile.mkdtemp(prefix="synth_speed_"))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        meta = write_dacon(
            tmp / "set", n, seed, write_clean=clean, workers=workers, families=families
        )
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        files = [p for p in (tmp / "set").rglob("*") if p.is_file()]
        size_mb = sum(p.stat().st_size for p in files) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "meta": meta,
        "n_files": len(files),
        "size_mb": size_mb,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", type=int, default=TARGET_N)
    ap.add_argument(
        "--family-structures",
        type=int,
        default=1000,
        help="structures per contrast-family run (default 1000; 0 skips them)",
    )
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--families", default="all", help="families to time (default all)")
    ap.add_argument("--workers", type=int, default=None, help="default: all CPU cores")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clean", action="store_true", help="also write SEM_clean renderings")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--no-doc", action="store_true", help="print only")
    ap.add_argument("--note", default="", help="a line added under the table")
    args = ap.parse_args(argv)

    workers = args.workers or os.cpu_count() or 1
    legacy = _timed(args.structures, args.seed, workers, args.clean, None)
    seconds, meta = legacy["seconds"], legacy["meta"]
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
        ("files written (incl. csv, json)", f"{legacy['n_files']:,} ({legacy['size_mb']:.0f} MB)"),
        ("workers", str(workers)),
        ("wall time", f"{seconds:.1f} s"),
        ("structures/s", f"{per_s:.0f}"),
        ("PNG files/s", f"{(files['sem'] + files['depth'] + files['sem_clean']) / seconds:.0f}"),
        (f"{TARGET_N:,} structures (est.)", f"{est:.0f} s (target < {TARGET_S:.0f} s)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")

    fam_rows: list[tuple[str, int, int, float, float]] = []
    if args.family_structures > 0:
        chosen = family_names(args.families)
        runs: list[list[str] | None] = [None, *([f] for f in chosen)]
        if len(chosen) > 1:
            runs.append(chosen)
        best: dict[int, tuple[float, float, int]] = {}
        for _ in range(max(1, args.repeats)):
            for j, fams in enumerate(runs):
                r = _timed(args.family_structures, args.seed, 1, args.clean, fams)
                if j not in best or r["cpu"] < best[j][0]:
                    best[j] = (r["cpu"], r["seconds"], r["meta"]["files"]["sem"])
        for j, fams in enumerate(runs):
            cpu, _, n_sem = best[j]
            if fams is None:
                label = "legacy (no family)"
            else:
                label = fams[0] if len(fams) == 1 else "mixed: " + ", ".join(fams)
            fam_rows.append((label, args.family_structures, n_sem, cpu, n_sem / cpu))
    ref = next(
        (ips for name, *_, ips in fam_rows if name == "analytic"),
        fam_rows[0][-1] if fam_rows else 1.0,
    )
    table = [
        "| physics | structures | SEM images | CPU time | CPU ms per SEM image | SEM images/s "
        "per core | time per image vs analytic family |",
        "|---|---|---|---|---|---|---|",
    ]
    print(f"\n{'physics':<44} {'images':>7} {'cpu s':>7} {'ms/img':>7} {'img/s':>7} {'x ana':>6}")
    for name, ns, n_sem, cpu, ips in fam_rows:
        print(f"{name:<44} {n_sem:>7,} {cpu:>7.1f} {1e3 / ips:>7.2f} {ips:>7.0f} {ref / ips:>6.2f}")
        table.append(
            f"| {name} | {ns:,} | {n_sem:,} | {cpu:.1f} s | {1e3 / ips:.2f} | {ips:.0f} | "
            f"{ref / ips:.2f} |"
        )

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = [
        f"`python bench/synth_speed.py --structures {n} --family-structures "
        f"{args.family_structures} --repeats {args.repeats}` on {platform.machine()} with "
        f"{os.cpu_count()} CPU cores ({workers} workers), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; load average {load:.1f} at the end (a shared machine: "
        "wall times vary with the neighbours).",
        "",
        "| quantity | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        "Per contrast family (`--families <name>`: every image of the set in that family; "
        "wide randomisation; 4 cases x 2 shots per structure), one process, CPU time of "
        "rendering plus PNG and CSV writing, least of "
        f"{args.repeats} interleaved rounds; with K workers expect about K times the "
        "images/s per core:",
        "",
        *table,
    ]
    if args.note:
        body += ["", args.note]
    if not args.no_doc:
        update_section(args.doc, SECTION, "\n".join(body))
        print(f"updated {args.doc} ({SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
