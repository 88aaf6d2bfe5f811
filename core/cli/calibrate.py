"""``semdepth calibrate``: adapt a depth model to SEM images of the user's own tool, with
optional reference numbers, and save a new checkpoint (the work is
:func:`core.calibrate.calibrate`; formats in ``docs/calibration.md``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="the model to calibrate")
    parser.add_argument(
        "--images", required=True, type=Path, help="folder of SEM images of your tool"
    )
    parser.add_argument(
        "--averages",
        type=Path,
        metavar="CSV",
        help="mean depth (DU) per image or site: image,average_depth_du "
        "(or the DACON average_depth.csv)",
    )
    parser.add_argument(
        "--references",
        type=Path,
        metavar="CSV",
        help="depth below the local top (nm, positive down) at points: image,x_px,y_px,depth_nm",
    )
    parser.add_argument("--out", required=True, type=Path, help="the new .safetensors to write")
    parser.add_argument(
        "--budget", type=float, default=240.0, metavar="SECONDS", help="fine-tuning time [240]"
    )
    parser.add_argument("--folds", type=int, default=5, help="k of the cross-validation [5]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--anchor",
        default="auto",
        help="simulator data that anchor the depth head: auto (the families on the model card, "
        "else all), all, legacy, none, or families (analytic,line-of-sight,...) [auto]",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fmt(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.3f}{unit}" if isinstance(value, float) else str(value)


def summary_lines(section: dict) -> list[str]:  # type: ignore[type-arg]
    """The before/after table and what was done, for the terminal."""
    lines = [f"method: {section.get('method')}"]
    cv = section.get("crossval")
    if cv:
        lines.append(
            f"start: {cv.get('base')} (reference RMSE in DU of each start: "
            f"{cv.get('base_rmse_du')})"
        )
        lines.append(
            f"{cv['folds']}-fold cross-validation over {cv['groups']} reference groups; "
            f"held-out RMSE (DU) by way: {cv['heldout_rmse_du']}; chosen: {cv['chosen']}"
        )
    agreement = section.get("agreement") or {}
    if not agreement:
        lines.append("no references: nothing to check the calibration against")
    for kind, entry in agreement.items():
        unit = entry["unit"]
        for when in ("before", "after"):
            f = entry[when]
            lines.append(
                f"{kind:8s} {when:6s} n={f['n']}  RMSE {_fmt(f['rmse'])} {unit}  "
                f"bias {_fmt(f['bias'])} {unit}  slope {_fmt(f['slope'])}"
            )
    return lines


def run(args: argparse.Namespace) -> int:
    from core.calibrate import CalibrationError, CalibrationRequest, calibrate
    from core.cli.support import EXIT_CANCELLED, bar_progress, progress_bar, sigint_cancels
    from core.progress import Cancelled, CancelToken

    try:
        request = CalibrationRequest(
            model=args.model, images=args.images, out=args.out,
            averages_csv=args.averages, references_csv=args.references,
            budget_s=args.budget, folds=args.folds, seed=args.seed, anchor=args.anchor,
            overwrite=args.overwrite,
        )  # fmt: skip
        request.check_paths()
    except CalibrationError as exc:
        print(f"semdepth calibrate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    token = CancelToken()
    bar = progress_bar(1000, quiet=args.no_progress, unit="step")
    try:
        with sigint_cancels(token, "calibrate"):
            result = calibrate(request, progress=bar_progress(bar), cancel=token)
    except CalibrationError as exc:
        print(f"semdepth calibrate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled:
        print("semdepth calibrate: cancelled; nothing written", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        if bar is not None:
            bar.close()
    for line in summary_lines(result.section):
        print(line)
    print(f"wrote {result.out} (model {result.card.get('id')})")
    return 0
