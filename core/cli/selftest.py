"""``semdepth self-test``: check an installation (default model, a bundled sample, TIFF and
CSV written and read back); the steps are :func:`core.selftest.self_test`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.selftest import DEFAULT_SAMPLE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model weights (.safetensors with its .json card); default: the bundled model",
    )
    parser.add_argument(
        "--sample",
        type=Path,
        default=None,
        help=f"SEM image to predict; default: the bundled {DEFAULT_SAMPLE}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the written TIFF/CSV in this folder (default: a temporary folder)",
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="device"
    )
    parser.add_argument("--fast-path", default="auto", help="inference fast path (default auto)")


def run(args: argparse.Namespace) -> int:
    from core.selftest import self_test

    return self_test(
        args.model,
        sample=args.sample,
        out_dir=args.out,
        device=args.device,
        fast_path=args.fast_path,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="semdepth self-test", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
