"""``semdepth-gui [FILE...] [--samples] [--model PATH]``: start the desktop window."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from core import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="semdepth-gui",
        description="SEM Depth Studio: per-pixel depth maps from top-down SEM images.",
    )
    p.add_argument("files", nargs="*", type=Path, help="SEM files or folders to open")
    p.add_argument("--samples", action="store_true", help="open the bundled sample images")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model weights (.safetensors with its .json card); default: the bundled model",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default=None,
        help="inference device (default: the last one used, else auto)",
    )
    p.add_argument(
        "--self-test",
        action="store_true",
        help="check the installation headless (model, sample, TIFF/CSV, Qt) and exit; 0 = passed",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"semdepth-gui {__version__}")
    return p


def qt_binding_problem() -> str | None:
    """A message when the installed PySide6 mis-counts references on ``Signal.emit``.

    PySide6 6.12.0 on Python < 3.12 drops a reference to ``True`` on every emit, which
    crashes any Qt app after a few hundred signals ("deallocating True or False").
    """
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        sig = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.sig.emit()
    if sys.getrefcount(True) < before - 4:
        return (
            f"PySide6 {pyside_version} loses object references on every signal and will "
            "crash; install another version (e.g. pip install 'PySide6-Essentials!=6.12.0')"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.self_test:
        from core.selftest import self_test

        from .self_check import qt_self_check

        return self_test(
            args.model, device=args.device or "auto", extra_checks=[("qt", qt_self_check)]
        )
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from core import resources

    from .dialogs.error_dialog import ErrorReporter
    from .main_window import MainWindow
    from .settings import APPLICATION, ORGANIZATION
    from .views.image_view import configure_runtime

    problem = qt_binding_problem()
    if problem:
        print(f"semdepth-gui: {problem}", file=sys.stderr)
        logging.getLogger("app").error(problem)
    configure_runtime()
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication([sys.argv[0] if sys.argv else "semdepth-gui"])
    )
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    icon = resources.icon_path()
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    reporter = ErrorReporter()
    reporter.install()
    try:
        kwargs = {"model_path": args.model} if args.model is not None else {}
        window = MainWindow(error_reporter=reporter, device=args.device, **kwargs)
        reporter.parent = window
        window.show()
        if args.samples:
            window.open_samples()
        if args.files:
            window.open_paths(args.files)
        return int(app.exec())
    finally:
        reporter.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
