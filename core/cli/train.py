"""``semdepth train``: train a depth model from a preset, a TOML config, or both.

Settings come from, in increasing priority: the preset's defaults, ``--config FILE.toml``
(keys named like the flags, ``-`` or ``_``; ``[generator]``/``[discriminator]`` tables
override the networks), then the command-line flags. ``--resume`` with only ``--out``
continues the run with the settings recorded in its ``config.toml``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

from core.train import (
    AMP_CHOICES,
    BASELINE_PRESET,
    CHANNELS_LAST_CHOICES,
    CONFIG_NAME,
    SCHEDULES,
    TqdmCallback,
    TrainError,
    config_from_mapping,
    load_config_toml,
    train,
)
from core.transfer import OBJECTIVES, TransferError, TransferRequest, TransferSettingError
from core.transfer.stage import check_budget

# flag dest -> TrainConfig field
_FLAGS = {
    "preset": "preset",
    "data": "data",
    "out": "out",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "seed": "seed",
    "device": "device",
    "time_budget": "time_budget_s",
    "early_stopping": "early_stopping",
    "val_fraction": "val_fraction",
    "test_fraction": "test_fraction",
    "amp": "amp",
    "channels_last": "channels_last",
    "schedule": "schedule",
    "ema": "ema",
    "resume": "resume",
    "overwrite": "overwrite",
    "augment": "augment",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("what to train")
    g.add_argument("--preset", help="a preset name (see --list-presets)")
    g.add_argument("--data", type=Path, help="labelled data folder (DACON layout or SEM/+Depth/)")
    g.add_argument("--out", type=Path, help="run folder to create (or continue with --resume)")
    g.add_argument("--config", type=Path, help="TOML file with settings (flags override it)")
    g.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    o = parser.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, help="number of epochs (default 50)")
    o.add_argument("--batch-size", type=int, help="samples per step (per process)")
    o.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    o.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    o.add_argument("--ema", type=float, help="keep an EMA of the weights with this decay")
    o.add_argument("--seed", type=int, help="seed for the split, init and order (default 0)")
    o.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this long")
    o.add_argument(
        "--early-stopping",
        type=int,
        metavar="N",
        help="stop after N epochs without a better validation RMSE",
    )
    o.add_argument("--val-fraction", type=float, help="share of structures for validation")
    o.add_argument("--test-fraction", type=float, help="share of structures held out for test")
    o.add_argument(
        "--no-augment", dest="augment", action="store_false", default=None, help="no random flips"
    )
    o.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other setting, TOML value syntax, e.g. generator.base_width=16",
    )
    r = parser.add_argument_group("run")
    r.add_argument("--device", help="auto|cpu|cuda|mps (default auto)")
    r.add_argument(
        "--amp", choices=AMP_CHOICES, help="bf16 autocast: auto (measured on the CPU), bf16, off"
    )
    r.add_argument("--channels-last", choices=CHANNELS_LAST_CHOICES)
    r.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue the run in --out from its last epoch",
    )
    r.add_argument(
        "--overwrite", action="store_true", default=None, help="replace a finished run in --out"
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_transfer_arguments(parser)  # --unlabeled / --average-depth (core.transfer)


def add_transfer_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for a second, transfer stage after supervised training."""
    g = parser.add_argument_group(
        "transfer to new imaging conditions (a second stage after supervised training)"
    )
    g.add_argument(
        "--unlabeled",
        type=Path,
        metavar="DIR",
        help="SEM images of the new condition without depth maps: fine-tune the best model "
        "on them and write finetuned.safetensors in the run folder",
    )
    g.add_argument(
        "--average-depth",
        type=Path,
        metavar="CSV",
        help="per-site average depths (DU) of the --unlabeled images (DACON "
        "average_depth.csv): weak supervision of the mean predicted depth",
    )
    g.add_argument(
        "--transfer-objective",
        choices=OBJECTIVES,
        help="fine-tuning objective [average-depth with --average-depth, else masked]",
    )
    g.add_argument(
        "--transfer-budget",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="fine-tuning time budget [120]",
    )
    g.add_argument(
        "--transfer-adabn",
        action="store_true",
        help="re-estimate batch-norm statistics on the --unlabeled images at the end",
    )


# TransferRequest field -> the flag that sets it
_TRANSFER_FLAGS = {
    "unlabeled": "--unlabeled",
    "average_depth_csv": "--average-depth",
    "objective": "--transfer-objective",
    "budget_s": "--transfer-budget",
}


def transfer_request(args: argparse.Namespace) -> TransferRequest | None:
    """The transfer stage the flags ask for (None: none), checked before training rather
    than after it: ``--average-depth`` needs ``--unlabeled``, and both must exist. Raises
    :class:`TransferError` naming the flag."""
    unlabeled, avg_csv = args.unlabeled, args.average_depth
    if avg_csv is not None and unlabeled is None:
        raise TransferError("--average-depth needs --unlabeled DIR (the images it describes)")
    try:
        if unlabeled is None:
            check_budget(args.transfer_budget)  # a bad flag is an error even when unused
            return None
        request = TransferRequest(
            unlabeled=Path(unlabeled),
            average_depth_csv=avg_csv,
            objective=args.transfer_objective,
            budget_s=args.transfer_budget,
            adapt_bn=bool(args.transfer_adabn),
        )
        request.check_paths()
    except TransferSettingError as exc:
        raise TransferError(f"{_TRANSFER_FLAGS[exc.setting]} {exc.detail}") from None
    return request


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_set(values: dict[str, Any], items: list[str]) -> None:
    for item in items:
        if "=" not in item:
            raise TrainError(f"--set {item!r}: expected KEY=VALUE")
        key, text = item.split("=", 1)
        parts = key.strip().replace("-", "_").split(".")
        target = values
        for p in parts[:-1]:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise TrainError(f"--set {item!r}: {p} is not a table")
        target[parts[-1]] = _parse_value(text.strip())


def _command_line(args: argparse.Namespace) -> str:
    argv = sys.argv
    if "train" in argv[1:3]:
        return shlex.join(["semdepth", *argv[argv.index("train", 1) :]])
    parts = ["semdepth", "train"]
    for dest, _ in _FLAGS.items():
        v = getattr(args, dest, None)
        if dest == "augment":
            if v is False:
                parts.append("--no-augment")
            continue
        if v is None or v is False:
            continue
        flag = "--" + dest.replace("_", "-")
        parts += [flag] if v is True else [flag, str(v)]
    if args.config is not None:
        parts += ["--config", str(args.config)]
    for s in args.set:
        parts += ["--set", s]
    return shlex.join(parts)


def build_config(args: argparse.Namespace) -> Any:
    values: dict[str, Any] = {}
    config_file = args.config
    if config_file is None and args.resume and args.out is not None and args.preset is None:
        cand = Path(args.out) / CONFIG_NAME
        if cand.is_file():
            config_file = cand
    if config_file is not None:
        values.update(load_config_toml(config_file))
        values.pop("command", None)
        values["resume"] = False
        values["overwrite"] = False
    _apply_set(values, list(args.set))
    for dest, name in _FLAGS.items():
        v = getattr(args, dest, None)
        if v is not None:
            values[name] = v
    values["command"] = _command_line(args)
    return config_from_mapping(values, source=str(config_file or "command line"))


def run(args: argparse.Namespace) -> int:
    from core.data import DatasetError
    from core.models import PRESETS

    if args.list_presets:
        for name, p in PRESETS.items():
            print(f"{name:24s} {p.description}")
        print(f"{BASELINE_PRESET:24s} intensity-to-depth least-squares baseline (no network)")
        return 0
    try:
        config = build_config(args)
        request = transfer_request(args)
    except (TrainError, TransferError) as exc:
        print(f"semdepth train: {exc}", file=sys.stderr)
        return 2
    callbacks = [] if args.no_progress else [TqdmCallback()]
    try:
        result = train(config, callbacks=callbacks)
    except (TrainError, DatasetError) as exc:
        print(f"semdepth train: {exc}", file=sys.stderr)
        return 2
    if result.best_val_rmse_per_image is not None:
        print(
            f"best epoch {result.best_epoch}: validation RMSE per image "
            f"{result.best_val_rmse_per_image:.4f} DU, pooled "
            f"{result.best_val_rmse_pooled or float('nan'):.4f} DU"
        )
    print(
        f"{result.stopped} after {result.epochs_completed} epoch(s), {result.seconds:.1f} s; "
        f"run folder {result.run_dir}"
    )
    if request is not None:
        from core.models import CheckpointError
        from core.transfer import run_transfer_stage

        try:
            path = run_transfer_stage(
                request,
                best_path=result.best_path,
                run_dir=result.run_dir,
                source_data=config.data,
                device=config.device,
                seed=config.seed,
                overwrite=config.overwrite,
            )
        except (TransferError, DatasetError, CheckpointError) as exc:
            print(f"semdepth train: transfer stage: {exc}", file=sys.stderr)
            return 2
        print(f"fine-tuned on {request.unlabeled}: {path}")
    return 0
