"""The window's commands, declared once: each action (text, shortcut, tip, slot), the menus
and the toolbar that show them.

A slot is an attribute path on the window (``"inputs.open_files_dialog"``), resolved when
the actions are built, so a renamed method fails at start-up rather than on a click.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar

from .widgets.display_controls import DisplayControls

Shortcut = str | tuple[str, ...] | QKeySequence.StandardKey | None


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    slot: str  # attribute path on the window
    shortcut: Shortcut = None
    tip: str = ""
    checkable: bool = False
    checked: bool = False


ACTIONS = (
    ActionSpec(
        "open", "&Open Files...", "inputs.open_files_dialog", "Ctrl+O", "Open SEM image files"
    ),
    ActionSpec(
        "open_folder",
        "Open &Folder...",
        "inputs.open_folder_dialog",
        "Ctrl+Shift+O",
        "Queue every image in a folder (recursive)",
    ),
    ActionSpec(
        "samples",
        "Open &Samples",
        "inputs.open_samples",
        None,
        "Open the bundled sample SEM images",
    ),
    ActionSpec(
        "ground_truth",
        "Load &Ground Truth...",
        "results.load_ground_truth_dialog",
        None,
        "Load a true depth map for the shown image",
    ),
    ActionSpec(
        "export", "&Export...", "exporter.dialog", "Ctrl+E", "Export depth maps (TIFF, CSV, PNG)"
    ),
    ActionSpec(
        "copy",
        "&Copy View to Clipboard",
        "exporter.copy_view",
        "Ctrl+Shift+C",
        "Copy the panels as an image",
    ),
    ActionSpec(
        "save_view",
        "Save View as &PNG...",
        "exporter.save_view_dialog",
        None,
        "Save the panels as a PNG",
    ),
    ActionSpec("quit", "&Quit", "close", "Ctrl+Q"),
    ActionSpec(
        "prev",
        "&Previous Result",
        "results.show_previous",
        ("Left", "PgUp"),
        "Show the previous result",
    ),
    ActionSpec(
        "next",
        "&Next Result",
        "results.show_next_result",
        ("Right", "PgDown"),
        "Show the next result",
    ),
    ActionSpec(
        "load_model", "&Load Model...", "model.load_dialog", None, "Load a .safetensors model"
    ),
    ActionSpec(
        "calibrate",
        "&Calibrate to My Tool...",
        "calibration.open_dialog",
        None,
        "Adapt the model to images of your SEM (and reference depths, if you have them)",
    ),
    ActionSpec(
        "line",
        "Line Profile",
        "tools.toggle_line",
        None,
        "Show the line-profile tool",
        checkable=True,
        checked=True,
    ),
    ActionSpec(
        "rect",
        "ROI Statistics",
        "tools.toggle_rect",
        None,
        "Show the rectangle tool",
        checkable=True,
    ),
    ActionSpec("cancel", "&Cancel Batch", "results.cancel_batch", QKeySequence.StandardKey.Cancel),
    ActionSpec("about", "&About", "show_about"),
)

SEP = "-"
RECENT = "<recent files>"  # the File > Open Recent sub-menu
DOCKS = "<docks>"  # a show/hide toggle per dock
DISPLAY = "<display controls>"  # colour map, levels, unit, raw/denoised SEM

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "&File",
        (
            "open",
            "open_folder",
            "samples",
            RECENT,
            SEP,
            "ground_truth",
            SEP,
            "export",
            "copy",
            "save_view",
            SEP,
            "quit",
        ),
    ),
    ("&View", ("prev", "next", SEP, "line", "rect", SEP, DOCKS)),
    ("&Model", ("load_model", "calibrate")),
    ("&Batch", ("cancel",)),
    ("&Help", ("about",)),
)
TOOLBAR: tuple[str, ...] = (
    *("open", "open_folder", "samples", "export", SEP),
    *(DISPLAY, SEP),
    *("line", "rect", SEP),
    *("prev", "next"),
)


class Actions:
    """Every :class:`QAction` of :data:`ACTIONS`, by name (``actions.open``), added to the
    window (so their shortcuts work without a menu) and connected to their slots."""

    def __init__(self, window: QMainWindow) -> None:
        self._by_name: dict[str, QAction] = {}
        for spec in ACTIONS:
            self._by_name[spec.name] = _make_action(window, spec)

    def __getattr__(self, name: str) -> QAction:
        try:
            return self.__dict__["_by_name"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> QAction:
        return self._by_name[name]

    def names(self) -> list[str]:
        return list(self._by_name)


def _make_action(window: QMainWindow, spec: ActionSpec) -> QAction:
    act = QAction(spec.text, window)
    if isinstance(spec.shortcut, tuple):
        act.setShortcuts([QKeySequence(s) for s in spec.shortcut])
    elif spec.shortcut is not None:
        act.setShortcut(QKeySequence(spec.shortcut))
    if spec.tip:
        act.setStatusTip(spec.tip)
        act.setToolTip(spec.tip)
    act.setCheckable(spec.checkable)
    if spec.checkable:
        act.setChecked(spec.checked)
    slot: Any = operator.attrgetter(spec.slot)(window)
    act.triggered.connect(slot)
    window.addAction(act)
    return act


def build_menus_and_toolbar(
    window: QMainWindow,
    actions: Actions,
    docks: Sequence[QDockWidget],
    controls: DisplayControls,
) -> QMenu:
    """Fill the menu bar (:data:`MENUS`) and the main toolbar (:data:`TOOLBAR`); returns the
    (empty) Open Recent menu, filled each time it opens."""
    recent = QMenu("Open &Recent", window)
    for title, entries in MENUS:
        menu = window.menuBar().addMenu(title)
        for entry in entries:
            if entry == SEP:
                menu.addSeparator()
            elif entry == DOCKS:
                for d in docks:
                    menu.addAction(d.toggleViewAction())
            elif entry == RECENT:
                menu.addMenu(recent)
            else:
                menu.addAction(actions[entry])
    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main_toolbar")
    window.addToolBar(toolbar)
    for entry in TOOLBAR:
        if entry == SEP:
            toolbar.addSeparator()
        elif entry == DISPLAY:
            controls.add_to(toolbar)
        else:
            toolbar.addAction(actions[entry])
    return recent
