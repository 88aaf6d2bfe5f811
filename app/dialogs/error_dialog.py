"""Unexpected errors: logged to a file in the user's log folder and shown in a dialog.

The app keeps running. :class:`ErrorReporter` is installed as ``sys.excepthook``; worker
errors are passed to :meth:`ErrorReporter.report`. The dialog is non-modal and injectable
(tests replace ``show_dialog`` so nothing blocks).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("app.errors")

DialogFn = Callable[[str, str, str], None]  # title, message, details


def default_log_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("semdepth", appauthor=False))


def show_error_dialog(parent: QWidget | None, title: str, message: str, details: str) -> None:
    """A non-modal message box (does not block the event loop)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.show()


class ErrorReporter:
    """Writes errors to ``<log_dir>/semdepth.log`` and shows them with ``show_dialog``."""

    def __init__(
        self,
        log_dir: Path | None = None,
        show_dialog: DialogFn | None = None,
        parent: QWidget | None = None,
    ) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else default_log_dir()
        self.parent = parent
        self.show_dialog: DialogFn = show_dialog or (
            lambda t, m, d: show_error_dialog(self.parent, t, m, d)
        )
        self.reports: list[tuple[str, str, str]] = []
        self._file_handler: logging.Handler | None = None
        self._previous_hook: Callable[..., object] | None = None

    @property
    def log_file(self) -> Path:
        return self.log_dir / "semdepth.log"

    def open_log_file(self) -> None:
        """Attach a rotating file handler for the ``app`` and ``core`` loggers."""
        if self._file_handler is not None:
            return
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(
                self.log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError as exc:  # a read-only home must not stop the app
            log.warning("cannot write the log file in %s: %s", self.log_dir, exc)
            return
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        self._file_handler = handler
        logging.getLogger().addHandler(handler)

    def close(self) -> None:
        self.uninstall()
        if self._file_handler is not None:
            logging.getLogger().removeHandler(self._file_handler)
            self._file_handler.close()
            self._file_handler = None

    def install(self) -> None:
        """Become ``sys.excepthook`` (restored by :meth:`uninstall`)."""
        self.open_log_file()
        if self._previous_hook is None:
            self._previous_hook = sys.excepthook
            sys.excepthook = self.excepthook

    def uninstall(self) -> None:
        if self._previous_hook is not None:
            if sys.excepthook == self.excepthook:
                sys.excepthook = self._previous_hook  # type: ignore[assignment]
            self._previous_hook = None

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        self.report("Unexpected error", f"{exc_type.__name__}: {exc}", details)

    def report(self, title: str, message: str, details: str = "") -> None:
        """Log the error (with details) to the log file and show it; never raises."""
        self.open_log_file()
        log.error("%s: %s\n%s", title, message, details)
        self.reports.append((title, message, details))
        try:
            text = message
            if self._file_handler is not None:
                text += f"\n\nDetails were written to {self.log_file}."
            self.show_dialog(title, text, details)
        except Exception:  # the dialog itself failed: the log has it
            log.exception("could not show the error dialog")
