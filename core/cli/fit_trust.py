"""``semdepth fit-trust``: fit a model's domain reference and uncertainty calibration on
held-out labelled images and write them into a NEW model card beside a copy of the
weights (:mod:`core.trust.fit`).

    semdepth fit-trust --model M.safetensors --data DIR --out NEW.safetensors

Exit codes: 0 written, 2 bad arguments (missing model or data, too few images, existing
output without --overwrite), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="checkpoint (.safetensors + .json)")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="labelled images the model did not train on (DACON layout or SEM/ + Depth/); "
        "when it is the model's own training set only its held-out part is used",
    )
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint (.safetensors)")
    p.add_argument(
        "--max-images", type=int, default=4000, help="use at most this many images [4000]"
    )
    p.add_argument("--no-tta", action="store_true", help="calibrate predictions without TTA")
    p.add_argument(
        "--flag-rate",
        type=float,
        default=0.025,
        help="share of held-out in-family images the domain check may flag [0.025]",
    )
    p.add_argument("--seed", type=int, default=0, help="split and subsampling seed [0]")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|mps [auto]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _err(msg: str) -> int:
    print(f"semdepth fit-trust: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from core.cli.support import bar_progress, progress_bar, sigint_cancels
    from core.data import DatasetError, dataset_hash, find_records
    from core.evaluate import select_split
    from core.inference import Predictor
    from core.models import CheckpointError, checkpoint_paths
    from core.progress import Cancelled, CancelToken
    from core.trust.fit import fit_trust, write_fitted

    if not 0.0 < args.flag_rate < 0.5:
        return _err("--flag-rate must be between 0 and 0.5")
    if args.max_images < 20:
        return _err("--max-images must be at least 20")
    out_weights, out_card = checkpoint_paths(args.out)
    if not args.overwrite and (out_weights.exists() or out_card.exists()):
        return _err(f"{out_weights} exists (use --overwrite)")
    if checkpoint_paths(args.model)[0].resolve() == out_weights.resolve():
        return _err("--out must differ from --model (the original is never changed)")
    try:
        predictor = Predictor.from_checkpoint(args.model, device=args.device)
        records = [r for r in find_records(args.data) if r.depth_path is not None]
        if not records:
            raise DatasetError(f"{args.data}: no labelled images (SEM with depth maps)")
        chosen, split = select_split(records, predictor.card, "auto")
    except (ValueError, DatasetError, CheckpointError, FileNotFoundError) as exc:
        return _err(str(exc))
    if len(chosen) > args.max_images:
        pick = np.random.default_rng(args.seed).choice(len(chosen), args.max_images, replace=False)
        chosen = [chosen[i] for i in sorted(pick)]
    info = {"root": str(args.data), "split": split, "hash": dataset_hash(chosen)}
    print(
        f"fit-trust: model {predictor.model_id}; {len(chosen)} labelled images of {args.data} "
        f"(split: {split}); TTA {'off' if args.no_tta else predictor.tta_kind}",
        file=sys.stderr,
    )
    token = CancelToken()
    bar = progress_bar(len(chosen), quiet=args.quiet, unit="img")
    try:
        with sigint_cancels(token, "fit-trust"):
            sections = fit_trust(
                predictor,
                chosen,
                tta=not args.no_tta,
                flag_rate=args.flag_rate,
                seed=args.seed,
                data_info=info,
                progress=bar_progress(bar),
                cancel=token,
            )
    except ValueError as exc:
        return _err(str(exc))
    except Cancelled:
        print("semdepth fit-trust: cancelled; nothing written", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    written = write_fitted(args.model, args.out, sections, overwrite=args.overwrite)
    dom, unc = sections["domain"], sections["uncertainty"]
    scales = unc["scales"]
    print(
        f"wrote {written} (+ card): domain thresholds "
        + ", ".join(f"{k} {v['threshold']:.3g}" for k, v in dom["signals"].items())
        + f" (flags {100 * dom['flag_rate_on_calibration']:.1f} % of held-out calibration "
        "images); sigma = (q/2) sqrt(tau^2 + u^2): "
        + ", ".join(f"{k} q {v['q']:.3g} tau {v['tau_du']:.3g} DU" for k, v in scales.items())
    )
    return 0
