"""The domain check's flag rates: in-family, on held-out simulator families, on real SEM
files of other structures.

    python bench/domain.py --model M.safetensors --test DIR [--heldout DIR ...] \
        [--real ../shared/data/real_sem]

Targets (issue 12): at most 5 % of in-family simulated test images flagged; at least 90 %
of the images of a held-out family whose error exceeds twice the model's validation RMSE
(the card's ``metrics.val_rmse_per_image``) flagged; every real file flagged. Held-out and
in-family images are predicted as ``semdepth predict`` does (crop mode, one shot, the
card's TTA; cached with bench/uncertainty.py's); real files with the defaults (auto mode).
Writes the ``## Domain check`` section of ``docs/benchmarks.md`` (unless ``--no-doc``).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchdoc import publish  # noqa: E402
from trust_eval import bench_parser, evaluate_folder  # noqa: E402

SECTION = "## Domain check"


def reason_kind(reason: str) -> str:
    """The check a reason string comes from (its first words)."""
    for key, words in (
        ("pixel size", "pixel size"),
        ("image statistics", "image statistics"),
        ("features", "network features"),
        ("spread", "answers spread"),
        ("blank", "blank"),
        ("saturated", "saturated"),
        ("holes", "holes"),
    ):
        if words in reason:
            return key
    return "other"


def real_files(root: Path, predictor: Any) -> list[str]:
    """One table row per image file under ``root`` (unreadable files say so)."""
    from core.batch import expand_inputs
    from core.io import SemReadError

    rows = []
    for path in expand_inputs([root]):
        t0 = time.perf_counter()
        try:
            r = predictor.predict(path)
        except (SemReadError, ValueError) as exc:
            rows.append(f"| {path.relative_to(root)} | unreadable | | {str(exc)[:80]} |")
            continue
        v = r.trust.domain
        score = "" if v.score is None else f"{v.score:.2f}"
        flag = "in domain" if v.in_domain else "**flagged**"
        reasons = "; ".join(v.reasons).replace("|", "/")
        rows.append(
            f"| {path.relative_to(root)} | {flag} | {score} | {reasons} "
            f"({r.mode}, {time.perf_counter() - t0:.1f} s) |"
        )
        print(rows[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, SECTION[3:])
    ap.add_argument("--real", type=Path, default=None)
    args = ap.parse_args(argv)

    from core.inference import Predictor

    p = Predictor.from_checkpoint(args.model, device=args.device)
    val = (p.card.get("metrics") or {}).get("val_rmse_per_image")
    limit = 2.0 * float(val) if val else float("nan")
    table = []
    for k, root in enumerate([*args.test, *args.heldout]):
        rows = evaluate_folder(p, root, max_images=args.max_images, refresh=args.refresh)
        flagged = np.array([not r["in_domain"] for r in rows])
        bad = np.array([r["rmse"] > limit for r in rows])
        kinds = Counter(reason_kind(x) for r in rows for x in r["reasons"])
        fams = "/".join(sorted({r["family"] for r in rows}))
        label = f"in-family test ({fams})" if k < len(args.test) else f"held-out family {fams}"
        of_bad = f"{100 * flagged[bad].mean():.1f} %" if bad.any() else "n/a"
        table.append(
            f"| {label} | {len(rows)} | {np.mean([r['rmse'] for r in rows]):.2f} | "
            f"{np.mean([r['rmse_offset_free'] for r in rows]):.2f} | "
            f"{100 * flagged.mean():.1f} % | {int(bad.sum())} | {of_bad} | "
            f"{100 * flagged[~bad].mean() if (~bad).any() else float('nan'):.1f} % | "
            + ", ".join(f"{k2} {v}" for k2, v in kinds.most_common())
            + " |"
        )
        print(table[-1])
    real = real_files(args.real, p) if args.real is not None else []
    n_real_flagged = sum("**flagged**" in r for r in real)
    dom = p.card.get("domain") or {}
    thresholds = ", ".join(
        f"{k} {v.get('threshold'):.3g}" for k, v in (dom.get("signals") or {}).items()
    )
    command = (
        f"`python bench/domain.py --model {args.model} --test "
        + " ".join(str(t) for t in args.test)
        + (" --heldout " + " ".join(str(h) for h in args.heldout) if args.heldout else "")
        + (f" --real {args.real}" if args.real else "")
        + "`"
    )
    body = (
        f"{command} (at most {args.max_images} images per folder). Model `{p.model_id}`, "
        f"validation RMSE {val} DU: 'bad' = an image whose RMSE exceeds twice that "
        f"({limit:.2f} DU). Thresholds ({thresholds or 'not fitted'}) fitted by "
        f"`semdepth fit-trust` to flag {100 * float(dom.get('flag_rate_target', 0)):.1f} % "
        "of held-out calibration images.\n\n"
        "| images | n | RMSE (DU) | offset-free RMSE (DU) | flagged | bad | bad flagged | "
        "good flagged | reasons |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(table) + "\n"
    )
    if real:
        body += (
            f"\nReal SEM files ({args.real}): {n_real_flagged} of {len(real)} flagged.\n\n"
            "| file | verdict | score | reasons (mode, time) |\n|---|---|---:|---|\n"
            + "\n".join(real)
            + "\n"
        )
    body += (
        "\nTargets: in-family flagged <= 5 %; bad images of a held-out family flagged "
        ">= 90 %; every real file flagged.\n"
    )
    publish(f"## {args.section}", body, write=not args.no_doc, doc=args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
