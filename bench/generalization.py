"""Depth on a physics the model never saw: leave one contrast family out.

Usage::

    python bench/generalization.py                      # 2 recipes x 4 folds, 300 s each
    python bench/generalization.py --budget 20 --train-structures 60 --test-structures 24 \\
        --no-doc                                        # smoke test (~5 min)
    python bench/generalization.py --recipe new=configs/default_model.toml --only new

For each contrast family F of the simulator (``docs/simulator.md``) and each recipe (a
training TOML; default: today's ``configs/default_model_v1.toml`` and the new
``configs/default_model.toml``), one network trains for ``--budget`` seconds on the images
of every OTHER family of a training set (simulator seed ``--train-seed``, every family,
``rotate`` assignment: each structure is seen under every family, so removing F removes a
quarter of the images and no structure), picks its checkpoint by validation RMSE on
those families, and is scored on a test set of another seed (``--test-seed``): on its
F images (held-out) and on the images of the families it trained on (in-family).
Errors in DU: per image (mean of each image's RMSE), pooled (one RMSE over every pixel),
and offset-free (each image's mean error removed: the top surface's level, 150-170 DU,
is not observable from a top-down image). The held-out family's errors are also given by
dose and by hole depth. Target: held-out RMSE <= 1.5x in-family for every family.

Data sets and results are cached under ``--cache`` (the repo's ignored ``scratch/``):
each finished run is kept in a JSON, so an interrupted bench continues where it stopped
(``--rerun`` trains again). Without ``--no-doc`` (and unless ``--budget`` < 60 s) the
tables replace the section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchdoc import update_section  # noqa: E402
from scoring import (  # noqa: E402
    image_errors,
    load_arrays,
    loadavg,
    mean_samples_per_s,
    predict,
    recipe_settings,
    summarize,
)

from core.data import find_records, read_synth_meta  # noqa: E402
from core.evaluate import load_model_any  # noqa: E402
from core.synth import FAMILIES, read_synth_images, write_dacon  # noqa: E402
from core.train import config_from_mapping, train  # noqa: E402

SECTION = "## Generalization to an unseen physics"
TRAIN_SEED, TEST_SEED = 11, 12
DEFAULT_RECIPES = {
    "today": REPO / "configs" / "default_model_v1.toml",
    "new": REPO / "configs" / "default_model.toml",
}
TARGET_RATIO = 1.5
SPLIT = {"val_fraction": 0.10, "test_fraction": 0.0, "seed": 0}
DOSE_BINS = (5.0, 10.0, 20.0, 50.0, 100.0)  # e-/px, log-uniform 5-100 in the simulator
DEPTH_BINS = (0.0, 30.0, 60.0, 100.0, 140.0, 256.0)  # hole depth below its top, DU
METRICS = (
    ("rmse_per_image", "per image"),
    ("rmse_pooled", "pooled"),
    ("offset_free_per_image", "offset-free"),
)


def ensure_data(cache: Path, n: int, seed: int) -> Path:
    data = cache / f"data_seed{seed}_n{n}"
    if read_synth_meta(data) is None:
        print(f"simulating {n} structures x 4 families into {data} ...", flush=True)
        t0 = time.perf_counter()
        write_dacon(data, n, seed, families="all", overwrite=True)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return data


class TestSet:
    """The test images in memory with each one's family, dose and hole depth."""

    def __init__(self, root: Path) -> None:
        records = [r for r in find_records(root) if r.depth_path is not None]
        rows = read_synth_images(root)
        base = root.resolve()
        meta = [rows[Path(r.sem_path).resolve().relative_to(base).as_posix()] for r in records]
        self.sem, self.depth = load_arrays(records)
        self.family = np.array([m["family"] for m in meta])
        self.dose = np.array([float(m["dose"]) for m in meta])
        self.hole_depth = np.array([float(m["hole_depth_du"]) for m in meta])

    def score(self, model: torch.nn.Module, heldout: str) -> dict[str, Any]:
        err = image_errors(predict(model, self.sem), self.depth)
        out_mask = self.family == heldout
        row: dict[str, Any] = {
            "heldout": summarize(err, out_mask),
            "in_family": summarize(err, ~out_mask),
            "per_family": {f: summarize(err, self.family == f) for f in FAMILIES},
        }
        row["heldout_by_dose"] = _binned(err, out_mask, self.dose, DOSE_BINS)
        row["heldout_by_depth"] = _binned(err, out_mask, self.hole_depth, DEPTH_BINS)
        return row


def _binned(
    err: dict[str, np.ndarray], mask: np.ndarray, value: np.ndarray, edges: tuple[float, ...]
) -> list[dict[str, Any]]:
    out = []
    for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = k == len(edges) - 2
        inside = (value >= lo) & ((value <= hi) if last else (value < hi))
        out.append({"lo": lo, "hi": hi, **summarize(err, mask & inside)})
    return out


def run_fold(
    recipe: str, settings: dict[str, Any], data: Path, heldout: str, budget: float, runs: Path
) -> tuple[dict[str, Any], torch.nn.Module]:
    families = [f for f in FAMILIES if f != heldout]
    cfg = config_from_mapping(
        {
            **settings,
            **SPLIT,
            "data": data,
            "out": runs / recipe / f"without-{heldout}",
            "epochs": 100_000,
            "time_budget_s": budget,
            "overwrite": True,
            "families": families,
            "command": f"bench/generalization.py recipe {recipe} without {heldout} "
            f"budget {budget:g}s",
        },
        source=f"recipe {recipe}",
    )
    print(f"[{recipe} / without {heldout}] training on {', '.join(families)} ...", flush=True)
    load0 = loadavg()
    res = train(cfg)
    path = res.best_path or res.last_path
    model, _ = load_model_any(path, device="cpu")
    info = {
        "recipe": recipe,
        "heldout_family": heldout,
        "train_families": families,
        "epochs": res.epochs_completed,
        "best_epoch": res.best_epoch,
        "train_seconds": round(res.seconds, 1),
        "samples_per_s": mean_samples_per_s(res.history),
        "val_rmse_per_image": res.best_val_rmse_per_image,
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
        "amp": res.amp,
    }
    return info, model


def _f(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def main_table(results: dict[str, dict[str, Any]], recipes: list[str]) -> str:
    head = (
        "| recipe | held-out family | in-family per image / pooled / offset-free (DU) "
        "| held-out per image / pooled / offset-free (DU) | ratio per image | ratio pooled "
        "| ratio offset-free | held-out: offset share of MSE |"
    )
    lines = [head, "|---|---|---|---|---:|---:|---:|---:|"]
    for recipe in recipes:
        for fam in FAMILIES:
            r = results.get(f"{recipe}/{fam}")
            if r is None:
                continue
            a, b = r["in_family"], r["heldout"]
            ratios = []
            for key, _ in METRICS:
                q = b[key] / a[key]
                ratios.append(f"**{q:.2f}x**" if q <= TARGET_RATIO else f"{q:.2f}x")
            lines.append(
                f"| {recipe} | {fam} | "
                + " / ".join(_f(a[k]) for k, _ in METRICS)
                + " | "
                + " / ".join(_f(b[k]) for k, _ in METRICS)
                + " | "
                + " | ".join(ratios)
                + f" | {b['offset_share'] * 100:.0f} % |"
            )
    return "\n".join(lines)


def verdict(results: dict[str, dict[str, Any]], recipes: list[str]) -> str:
    lines = []
    for recipe in recipes:
        rows = [results[f"{recipe}/{f}"] for f in FAMILIES if f"{recipe}/{f}" in results]
        if not rows:
            continue
        parts = []
        for key, label in METRICS:
            met = [
                r["heldout_family"]
                for r in rows
                if r["heldout"][key] <= TARGET_RATIO * r["in_family"][key]
            ]
            worst = max(r["heldout"][key] / r["in_family"][key] for r in rows)
            parts.append(
                f"{label}: {len(met)} of {len(rows)} families within {TARGET_RATIO}x "
                f"(worst {worst:.2f}x)"
            )
        lines.append(f"- **{recipe}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def binned_table(
    results: dict[str, dict[str, Any]], recipes: list[str], key: str, unit: str
) -> str:
    any_row = next(iter(results.values()))
    bins = any_row[key]
    cols = [f"{b['lo']:g}-{b['hi']:g} {unit}" for b in bins]
    lines = [
        "| recipe | held-out family | " + " | ".join(cols) + " |",
        "|---|---|" + "---:|" * len(cols),
    ]
    for recipe in recipes:
        for fam in FAMILIES:
            r = results.get(f"{recipe}/{fam}")
            if r is None:
                continue
            cells = [
                f"{b['rmse_per_image']:.1f} / {b['offset_free_per_image']:.1f} (n={b['n']})"
                if b["n"]
                else "-"
                for b in r[key]
            ]
            lines.append(f"| {recipe} | {fam} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs_table(results: dict[str, dict[str, Any]], recipes: list[str]) -> str:
    lines = [
        "| recipe | held-out family | epochs | best epoch | train s | samples/s "
        "| load average start / end | best val RMSE (DU) |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for recipe in recipes:
        for fam in FAMILIES:
            r = results.get(f"{recipe}/{fam}")
            if r is None:
                continue
            lines.append(
                f"| {recipe} | {fam} | {r['epochs']} | {r['best_epoch']} | {r['train_seconds']} "
                f"| {r['samples_per_s']} | {r['loadavg_start']} / {r['loadavg_end']} "
                f"| {_f(r['val_rmse_per_image'], 3)} |"
            )
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


def parse_recipes(items: list[str]) -> dict[str, Path]:
    if not items:
        return dict(DEFAULT_RECIPES)
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--recipe {item!r}: expected NAME=PATH.toml")
        out[name] = Path(path)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0, help="training seconds per run [300]")
    ap.add_argument("--train-structures", type=int, default=2400)
    ap.add_argument("--test-structures", type=int, default=600)
    ap.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    ap.add_argument("--test-seed", type=int, default=TEST_SEED)
    ap.add_argument("--recipe", action="append", default=[], metavar="NAME=PATH.toml")
    ap.add_argument("--only", default="", help="comma-separated recipe names to (re)run")
    ap.add_argument("--folds", default="all", help="held-out families, comma-separated [all]")
    ap.add_argument("--rerun", action="store_true", help="train again even if cached")
    ap.add_argument("--threads", type=int, default=2, help="torch threads [2]")
    ap.add_argument("--cache", type=Path, default=REPO / "scratch" / "bench_generalization")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--no-doc", action="store_true", help="print only")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    recipes = parse_recipes(args.recipe)
    run_names = [n.strip() for n in args.only.split(",") if n.strip()] or list(recipes)
    folds = list(FAMILIES) if args.folds == "all" else args.folds.split(",")
    bad = [f for f in folds if f not in FAMILIES] + [n for n in run_names if n not in recipes]
    if bad:
        ap.error(f"unknown families or recipes: {bad}")
    train_data = ensure_data(args.cache, args.train_structures, args.train_seed)
    test_data = ensure_data(args.cache, args.test_structures, args.test_seed)
    tag = f"n{args.train_structures}_t{args.test_structures}_b{args.budget:g}"
    store = args.cache / f"results_{tag}.json"
    runs = args.cache / f"runs_{tag}"
    results: dict[str, dict[str, Any]] = (
        json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
    )
    test = TestSet(test_data)
    for name in run_names:
        settings = recipe_settings(recipes[name])
        for fam in folds:
            key = f"{name}/{fam}"
            if key in results and not args.rerun:
                print(f"[{key}] cached", flush=True)
                continue
            info, model = run_fold(name, settings, train_data, fam, args.budget, runs)
            t0 = time.perf_counter()
            row = {**info, "recipe_file": str(recipes[name]), **test.score(model, fam)}
            row["score_seconds"] = round(time.perf_counter() - t0, 1)
            results[key] = row
            store.write_text(json.dumps(results, indent=1), encoding="utf-8")
            h, a = row["heldout"], row["in_family"]
            print(
                f"[{key}] held-out {h['rmse_per_image']:.2f} / {h['offset_free_per_image']:.2f} "
                f"DU, in-family {a['rmse_per_image']:.2f} / {a['offset_free_per_image']:.2f} DU "
                "(per image / offset-free)",
                flush=True,
            )

    names = [n for n in recipes if any(k.startswith(f"{n}/") for k in results)]
    names += sorted({k.split("/")[0] for k in results} - set(names))
    if not results:
        return 0
    tables = {
        "main": main_table(results, names),
        "dose": binned_table(results, names, "heldout_by_dose", "e-/px"),
        "depth": binned_table(results, names, "heldout_by_depth", "DU"),
        "runs": runs_table(results, names),
    }
    summary = verdict(results, names)
    print("\n" + tables["main"] + "\n\n" + summary + "\n\n" + tables["runs"])
    cpu = platform.processor() or platform.machine()
    body = "\n".join(
        [
            f"`python bench/generalization.py --budget {args.budget:g} --train-structures "
            f"{args.train_structures} --test-structures {args.test_structures}` on {cpu} "
            f"({os.cpu_count()} cores, {args.threads} torch threads, torch {torch.__version__}), "
            f"{time.strftime('%Y-%m-%d')}.",
            "",
            f"Leave one contrast family out: for each family F, a network trains "
            f"{args.budget:g} s on the other three families' images of a simulated set (seed "
            f"{args.train_seed}, {args.train_structures} structures, every family, `rotate`: "
            f"each structure under every family) and is scored on a set of another seed "
            f"({args.test_seed}, {args.test_structures} structures): on its F images (held-out)"
            " and on the images of the families it trained on (in-family). Recipes: "
            + ", ".join(f"**{n}** = `{_shown(recipes[n])}`" for n in names if n in recipes)
            + ". RMSE in DU: per image / pooled / offset-free (each image's mean error removed:"
            " the top surface's level, drawn at 150-170 DU, is not observable from a top-down "
            "image; an unbiased guess of it alone costs E|U(-10, 10)| = 5 DU per image). "
            f"Ratios held-out / in-family in bold where within the target {TARGET_RATIO}x.",
            "",
            tables["main"],
            "",
            summary,
            "",
            "Held-out family by dose (RMSE per image / offset-free, DU; n images):",
            "",
            tables["dose"],
            "",
            "Held-out family by hole depth below its top (RMSE per image / offset-free, DU):",
            "",
            tables["depth"],
            "",
            "The runs (a shared CPU: samples/s and the load average say what each run got):",
            "",
            tables["runs"],
        ]
    )
    if not args.no_doc and args.budget >= 60:
        update_section(args.doc, SECTION, body)
        print(f"\nwrote the {SECTION!r} section of {args.doc}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
