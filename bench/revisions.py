"""This checkout against an earlier revision, side by side on the same CPU in the same
minutes: the speed of a 2048 x 2048 simulated field (``auto`` mode, i.e. field, and forced
``tiled``; TTA off and on; best of 2) and of the model on 72 x 48 crops (16 per forward
pass, best of 40). Absolute times on a shared or throttled CPU drift by 10-30 % between
runs; a ratio measured round by round (old, new, old, new, ...) does not.

The earlier revision is checked out with ``git worktree`` into a temporary folder and run
by this Python with that folder first on ``sys.path`` (its own ``core`` and ``bench``), so
both sides use the same interpreter, torch and model file of their revision.

    python bench/revisions.py b874871             # 2 rounds, prints a table
    python bench/revisions.py HEAD~3 --rounds 3

Nothing is written to docs/benchmarks.md: quote the table where a change is claimed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Run inside a checkout (cwd = its root, its root first on sys.path); prints one JSON line.
MEASURE = r"""
import json, sys, time
sys.path.insert(0, "bench")
import numpy as np
from images import field_image
from core.inference import Predictor
from core.io import SemImage

pred = Predictor.from_checkpoint("resources/models/default.safetensors")
sem = SemImage.from_array(field_image((2048, 2048)))
pred.predict(SemImage.from_array(field_image((256, 256))), tta=True)  # warm up
out = {}
for mode in ("auto", "tiled"):
    for tta in (False, True):
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            pred.predict(sem, mode=mode, tta=tta)
            best = min(best, time.perf_counter() - t)
        out[f"{mode} {'TTA on' if tta else 'TTA off'}"] = best
x = np.random.default_rng(0).random((16, 72, 48), dtype=np.float32)
pred.run_model(x)
best = float("inf")
for _ in range(40):
    t = time.perf_counter()
    pred.run_model(x)
    best = min(best, time.perf_counter() - t)
out["crops/s"] = 16 / best
print(json.dumps(out), flush=True)
"""


def measure(root: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"measuring {root} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def table(old: list[dict[str, float]], new: list[dict[str, float]], rev: str) -> str:
    lines = [
        f"| 2048 x 2048 field | {rev} | this checkout | new / old |",
        "|---|---|---|---:|",
    ]
    for key in old[0]:
        a = [r[key] for r in old]
        b = [r[key] for r in new]
        fmt = "{:.0f}" if key == "crops/s" else "{:.2f}"
        unit = "" if key == "crops/s" else " s"
        ratio = (sum(b) / len(b)) / (sum(a) / len(a))
        lines.append(
            f"| {key} | {' / '.join(fmt.format(v) for v in a)}{unit} | "
            f"{' / '.join(fmt.format(v) for v in b)}{unit} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revision", help="the earlier git revision (commit, tag, HEAD~N)")
    ap.add_argument("--rounds", type=int, default=2, help="old/new pairs, interleaved [2]")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="semdepth-rev-"))
    tree = tmp / "tree"
    try:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.revision],
            check=True,
        )
        old, new = [], []
        for k in range(args.rounds):
            old.append(measure(tree))
            new.append(measure(ROOT))
            print(f"round {k + 1}: old {old[-1]}\n         new {new[-1]}", file=sys.stderr)
        print(table(old, new, args.revision))
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
        )
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
