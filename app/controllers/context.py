"""What every controller of the window shares (built once by the window)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMainWindow

from .. import settings as keys
from ..dialogs.error_dialog import ErrorReporter
from ..state import AppState
from ..workers import TaskFailure, TaskGroup
from .batch import BatchController

AskFn = Callable[[str, str], bool]


@dataclass
class WindowContext:
    """The window (parent of dialogs and worker tasks, owner of the status bar), the
    settings store, the queue state, the batch runner, the error reporter, the yes/no
    question (``ask(title, question) -> bool``; tests inject it) and the window's tasks."""

    window: QMainWindow
    settings: QSettings
    state: AppState
    batch: BatchController
    errors: ErrorReporter
    ask: AskFn
    tasks: TaskGroup = field(init=False)

    def __post_init__(self) -> None:
        self.tasks = TaskGroup(self.window, self.report_failure)

    def status(self, text: str, timeout_ms: int) -> None:
        """A transient message in the window's status bar."""
        self.window.statusBar().showMessage(text, timeout_ms)

    def report_failure(self, failure: TaskFailure) -> None:
        """A task's default failure handler: a cancel is a status message, anything else
        goes to the error reporter (dialog + log file)."""
        if failure.cancelled:
            self.status(f"{failure.task}: cancelled", 5000)
            return
        self.errors.report(f"{failure.task} failed", failure.message, failure.traceback)

    @property
    def last_folder(self) -> str:
        """Where file dialogs start."""
        return keys.LAST_FOLDER.read(self.settings)
