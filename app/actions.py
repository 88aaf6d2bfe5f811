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

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar

from .views.image_view import PANEL_TITLES
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
    arg: str | None = None  # passed to the slot first (then ``checked`` when checkable)
    group: str = ""  # actions of one group are exclusive (radio items)


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
        "export_report",
        "Export &Report...",
        "exporter.report_dialog",
        "Ctrl+R",
        "The shown image's self-contained HTML report: domain verdict, depth below top "
        "+- U, hole metrology, pictures",
    ),
    ActionSpec(
        "export_batch_report",
        "Export &Batch Report...",
        "exporter.batch_report_dialog",
        None,
        "Every finished result's HTML report and the batch's report.html in a folder",
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
    ActionSpec(
        "properties",
        "P&roperties...",
        "show_properties",
        "Ctrl+I",
        "What the file says (pixel size, kV, magnification, detector...) beside what the "
        "model expects",
    ),
    ActionSpec("quit", "&Quit", "close", "Ctrl+Q"),
    ActionSpec("fit", "&Fit Image", "view.fit_image", "Ctrl+0", "Show the whole image"),
    *(
        ActionSpec(
            f"arrange_{name}",
            text,
            "display.set_arrangement",
            tip=tip,
            checkable=True,
            checked=name == "auto",
            arg=name,
            group="arrangement",
        )
        for name, text, tip in (
            ("auto", "&Automatic", "1x4 or 2x2, whichever draws the image larger"),
            ("1x4", "&1 x 4", "The panels side by side"),
            ("2x2", "&2 x 2", "The panels in two rows"),
        )
    ),
    *(
        ActionSpec(
            f"panel_{key}",
            f"Show {title}",
            "display.set_panel_visible",
            checkable=True,
            checked=True,
            arg=key,
        )
        for key, title in PANEL_TITLES.items()
    ),
    ActionSpec(
        "surface",
        "&3-D Surface",
        "surface.set_visible",
        "Ctrl+3",
        "The depth map as a 3-D surface",
        checkable=True,
    ),
    ActionSpec(
        "compare",
        "&Compare with Model B...",
        "compare.load_dialog",
        None,
        "Load a second model; its prediction and the difference A - B beside the panels",
    ),
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

PANEL_ACTIONS = tuple(f"panel_{key}" for key in PANEL_TITLES)
SEP = "-"
RECENT = "<recent files>"  # the File > Open Recent sub-menu
DOCKS = "<docks>"  # a show/hide toggle per dock
DISPLAY = "<display controls>"  # colour map, levels, unit, raw/denoised SEM

MenuEntry = str | tuple[str, tuple[str, ...]]  # an entry, or a sub-menu (title, entries)
MENUS: tuple[tuple[str, tuple[MenuEntry, ...]], ...] = (
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
            "export_report",
            "export_batch_report",
            "copy",
            "save_view",
            SEP,
            "properties",
            SEP,
            "quit",
        ),
    ),
    (
        "&View",
        (
            "prev",
            "next",
            SEP,
            "line",
            "rect",
            SEP,
            "fit",
            ("&Panels", ("arrange_auto", "arrange_1x4", "arrange_2x2", SEP, *PANEL_ACTIONS)),
            "surface",
            SEP,
            DOCKS,
        ),
    ),
    ("&Model", ("load_model", "compare", "calibrate")),
    ("&Batch", ("cancel",)),
    ("&Help", ("about",)),
)
# the display controls last: in a narrow window they go to the overflow menu first
TOOLBAR: tuple[str, ...] = (
    *("open", "open_folder", "samples", "export", SEP),
    *("line", "rect", "surface", SEP),
    *("prev", "next", SEP),
    DISPLAY,
)


class Actions:
    """Every :class:`QAction` of :data:`ACTIONS`, by name (``actions.open``), added to the
    window (so their shortcuts work without a menu) and connected to their slots."""

    def __init__(self, window: QMainWindow) -> None:
        self._by_name: dict[str, QAction] = {}
        groups: dict[str, QActionGroup] = {}
        for spec in ACTIONS:
            act = _make_action(window, spec)
            if spec.group:
                groups.setdefault(spec.group, QActionGroup(window)).addAction(act)
            self._by_name[spec.name] = act

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
    if spec.arg is None:
        act.triggered.connect(slot)
    elif spec.checkable:
        act.triggered.connect(lambda checked=False, f=slot, a=spec.arg: f(a, checked))
    else:
        act.triggered.connect(lambda _checked=False, f=slot, a=spec.arg: f(a))
    window.addAction(act)
    return act


def build_menus_and_toolbar(
    window: QMainWindow,
    actions: Actions,
    docks: Sequence[QDockWidget],
    controls: DisplayControls,
) -> QMenu:
    """Fill the menu bar (:data:`MENUS`) and the main toolbar (:data:`TOOLBAR`); returns the
    (empty) Open Recent menu, filled each time it opens. ``docks``: the docks whose
    show/hide toggle the View menu lists (the tool docks follow their tool's action).

    Actions go on the toolbar directly, so Qt's extension button (») offers those that do
    not fit a narrow window."""
    recent = QMenu("Open &Recent", window)

    def fill(menu: QMenu, entries: Sequence[MenuEntry]) -> None:
        for entry in entries:
            if isinstance(entry, tuple):
                fill(menu.addMenu(entry[0]), entry[1])
            elif entry == SEP:
                menu.addSeparator()
            elif entry == DOCKS:
                for d in docks:
                    menu.addAction(d.toggleViewAction())
            elif entry == RECENT:
                menu.addMenu(recent)
            else:
                menu.addAction(actions[entry])

    for title, entries in MENUS:
        fill(window.menuBar().addMenu(title), entries)
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
