"""``semdepth`` command line: one sub-command per engine capability.

Each sub-command lives beside the code it drives and exposes
``add_arguments(parser)`` and ``run(args) -> int``; they are registered here
explicitly (no import tricks, so PyInstaller sees every module).
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

# name -> (module, one-line help[, prefix]). The module holds ``add_arguments``/``run``,
# or ``add_<prefix>_arguments``/``run_<prefix>`` when a prefix is given (one module can
# serve two sub-commands). Named literally for PyInstaller.
SUBCOMMANDS: dict[str, tuple[str, ...]] = {
    "synth": ("core.synth.cli", "simulate SEM images and depth maps (DACON layout or fields)"),
    "train": ("core.train_cli", "train a depth model from a preset or TOML config"),
    "evaluate": ("core.evaluate", "evaluate a model on a labelled data set"),
    "predict": ("core.predict_cli", "predict depth maps for SEM files and folders"),
    "info": ("core.io.cli", "read SEM files and print their size, pixel size and metadata"),
    "self-test": ("core.selftest", "check the installation: default model, a sample, TIFF/CSV"),
    "denoise-train": (
        "core.denoise_cli",
        "train a Noise2Self denoiser on noisy SEM images (no labels needed)",
        "train",
    ),
    "denoise": (
        "core.denoise_cli",
        "denoise SEM files and folders with a Noise2Self model",
        "denoise",
    ),
}

# Literal imports for type checkers and readers (build_app.spec collects SUBCOMMANDS itself).
if TYPE_CHECKING:  # pragma: no cover
    import core.denoise_cli
    import core.evaluate
    import core.io.cli
    import core.predict_cli
    import core.selftest
    import core.synth.cli
    import core.train_cli  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semdepth", description="SEM Depth Studio: depth maps from top-down SEM images."
    )
    parser.add_argument("--version", action="version", version=f"semdepth {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text, *prefix) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        infix = f"{prefix[0]}_" if prefix else ""
        p.set_defaults(_module=module_name, _run=f"run_{prefix[0]}" if prefix else "run")
        module = importlib.import_module(module_name)
        getattr(module, f"add_{infix}arguments")(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
