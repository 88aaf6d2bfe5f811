"""``semdepth evaluate``: a model's RMSE on a labelled data set (per image and pooled, per
case and bucket, the worst images). The work is :func:`core.evaluate.evaluate_model`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.evaluate import SPLITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint (.safetensors/.json card), run folder, or intensity-baseline JSON",
    )
    parser.add_argument("--data", required=True, help="labelled data folder (DACON or SEM/+Depth/)")
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="auto",
        help="which part of --data: the trainer's test/val/train split (from the model card), "
        "all, or auto (the trainer's held-out part if --data is its data set, else all)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument(
        "--average-shots",
        action="store_true",
        help="also report the mean prediction of each structure's two shots",
    )
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--worst", type=int, default=10, help="list the N worst images")
    parser.add_argument(
        "--per-image", action="store_true", help="include every image's errors in the JSON"
    )


def run(args: argparse.Namespace) -> int:
    from core.data import DatasetError, find_records
    from core.device import resolve_device
    from core.evaluate import evaluate_model, load_model_any, select_split
    from core.io.atomic import atomic_write_text

    try:
        device = resolve_device(args.device)
        model, card = load_model_any(args.model, device=str(device))
        records = [r for r in find_records(args.data)]
        labelled = [r for r in records if r.depth_path is not None]
        if not labelled:
            raise ValueError(f"{args.data}: no labelled images (depth maps) to evaluate on")
        chosen, split = select_split(labelled, card, args.split)
    except (FileNotFoundError, ValueError, DatasetError) as exc:
        print(f"semdepth evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json is not None and args.json.exists() and not args.overwrite:
        print(f"semdepth evaluate: {args.json} exists (use --overwrite)", file=sys.stderr)
        return 2
    rep = evaluate_model(
        model,
        chosen,
        device=device,
        average_shots=args.average_shots,
        batch_size=args.batch_size,
        worst=args.worst,
    )
    rep.info.update(
        {
            "model": str(args.model),
            "model_id": card.get("id"),
            "architecture": (card.get("architecture") or {}).get("name"),
            "data": str(args.data),
            "split": split,
        }
    )
    print(f"model {args.model} on {args.data} (split: {split})")
    print(rep.format_text())
    if args.json is not None:
        text = json.dumps(rep.to_dict(include_images=args.per_image), indent=2)
        atomic_write_text(args.json, text + "\n", overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0
