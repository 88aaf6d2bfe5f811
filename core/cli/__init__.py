"""``semdepth`` command line: one sub-command per engine capability.

Each sub-command is a module of this package exposing ``add_arguments(parser)`` and
``run(args) -> int`` (or ``add_<prefix>_arguments``/``run_<prefix>`` when one module serves
two sub-commands). Only the chosen sub-command's module is imported, so ``semdepth
--version`` and ``semdepth --help`` never import torch. They are named literally here (no
import tricks beyond this table), so PyInstaller sees every module (``build_app.spec``
collects :data:`SUBCOMMANDS`).
Exit codes: 0 success, 1 some inputs failed, 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core import __version__

# name -> (module, one-line help[, prefix]).
SUBCOMMANDS: dict[str, tuple[str, ...]] = {
    "synth": ("core.cli.synth", "simulate SEM images and depth maps (DACON layout or fields)"),
    "train": ("core.cli.train", "train a depth model from a preset or TOML config"),
    "evaluate": ("core.cli.evaluate", "evaluate a model on a labelled data set"),
    "predict": ("core.cli.predict", "predict depth maps for SEM files and folders"),
    "calibrate": (
        "core.cli.calibrate",
        "calibrate a depth model to your SEM: its images and optional reference depths",
    ),
    "info": ("core.cli.info", "read SEM files and print their size, pixel size and metadata"),
    "self-test": ("core.cli.selftest", "check the installation: default model, a sample, TIFF/CSV"),
    "fit-trust": (
        "core.cli.fit_trust",
        "fit a model's domain check and uncertainty calibration on held-out labelled images",
    ),
    "denoise-train": (
        "core.cli.denoise",
        "train a Noise2Self denoiser on noisy SEM images (no labels needed)",
        "train",
    ),
    "denoise": (
        "core.cli.denoise",
        "denoise SEM files and folders with a Noise2Self model",
        "denoise",
    ),
}

# Literal imports for type checkers and readers.
if TYPE_CHECKING:  # pragma: no cover
    import core.cli.calibrate
    import core.cli.denoise
    import core.cli.evaluate
    import core.cli.fit_trust
    import core.cli.info
    import core.cli.predict
    import core.cli.selftest
    import core.cli.synth
    import core.cli.train  # noqa: F401


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if any."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser: every sub-command listed, only ``command``'s arguments registered
    (``None``: none, which is all ``--help`` and ``--version`` need; ``"*"``: all)."""
    parser = argparse.ArgumentParser(
        prog="semdepth", description="SEM Depth Studio: depth maps from top-down SEM images."
    )
    parser.add_argument("--version", action="version", version=f"semdepth {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text, *prefix) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name, _run=f"run_{prefix[0]}" if prefix else "run")
        if command in (name, "*"):
            infix = f"{prefix[0]}_" if prefix else ""
            module = importlib.import_module(module_name)
            getattr(module, f"add_{infix}arguments")(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.command:
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(getattr(module, args._run)(args))
    except KeyboardInterrupt:
        print("semdepth: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
