"""The log dock: a Python ``logging`` handler that appends to a QPlainTextEdit (thread-safe)."""

from __future__ import annotations

import contextlib
import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QPlainTextEdit, QWidget

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Bridge(QObject):
    line = Signal(str)


class QtLogHandler(logging.Handler):
    """Formats records and sends them through a signal, so any thread may log."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # the widget is gone (window closed)
            self.bridge.line.emit(self.format(record))


class LogPanel(QPlainTextEdit):
    """Read-only log view, capped at ``max_lines`` lines."""

    def __init__(self, parent: QWidget | None = None, max_lines: int = 5000) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setPlaceholderText("Log messages appear here.")
        self.handler = QtLogHandler()
        self.handler.bridge.line.connect(self.append_line)

    @Slot(str)
    def append_line(self, text: str) -> None:
        self.appendPlainText(text)

    def attach(self, logger: logging.Logger | None = None) -> None:
        """Receive records of ``logger`` (default: the root); the product's own loggers
        (``app``, ``core``) are set to INFO when they have no level yet."""
        (logger or logging.getLogger()).addHandler(self.handler)
        for name in ("app", "core"):
            lg = logging.getLogger(name)
            if lg.level == logging.NOTSET:
                lg.setLevel(logging.INFO)

    def detach(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).removeHandler(self.handler)
