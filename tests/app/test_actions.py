"""app.actions: the commands are declared once and the menus, toolbar and shortcuts of the
window are built from that declaration."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from app import actions
from app.actions import ACTIONS, MENUS, TOOLBAR, Actions, ActionSpec


def _menu_entries(menu: QMenu, window: Any) -> list[Any]:
    """A menu's entries in the vocabulary of :data:`app.actions.MENUS`."""
    by_action = {window.acts[n]: n for n in window.acts.names()}
    dock_toggles = {d.toggleViewAction() for d in window.docks}
    out: list[Any] = []
    for a in menu.actions():
        if a.isSeparator():
            out.append(actions.SEP)
        elif a.menu() is not None and a.menu() is not window.recent_menu:
            out.append((a.menu().title(), tuple(_menu_entries(a.menu(), window))))
        elif a.menu() is window.recent_menu:
            out.append(actions.RECENT)
        elif a in dock_toggles:
            if not out or out[-1] != actions.DOCKS:
                out.append(actions.DOCKS)
        else:
            out.append(by_action[a])
    return out


def test_menus_and_toolbar_follow_the_declaration(make_window: Any) -> None:
    win = make_window(model_path=None)
    menus = [a.menu() for a in win.menuBar().actions()]
    assert [m.title() for m in menus] == [title for title, _ in MENUS]
    for menu, (_title, entries) in zip(menus, MENUS, strict=True):
        assert _menu_entries(menu, win) == list(entries)
    view_menu = menus[[t for t, _ in MENUS].index("&View")]
    toggles = [a for a in view_menu.actions() if a in {d.toggleViewAction() for d in win.docks}]
    assert [a.text() for a in toggles] == [d.windowTitle() for d in win.docks]
    toolbar = win.findChild(QToolBar, "main_toolbar")
    acts = [a for a in toolbar.actions() if not a.isSeparator()]
    named = [n for n in TOOLBAR if n not in (actions.SEP, actions.DISPLAY)]
    listed = [a for a in acts if a in {win.acts[n] for n in named}]
    assert listed == [win.acts[n] for n in named]
    widgets = [toolbar.widgetForAction(a) for a in acts]
    assert win.controls.cmap_combo in widgets and win.controls.unit_combo in widgets


def test_every_action_has_its_text_shortcut_and_tip(make_window: Any) -> None:
    win = make_window(model_path=None)
    assert win.acts.names() == [s.name for s in ACTIONS]
    for spec in ACTIONS:
        act = win.acts[spec.name]
        assert act.text() == spec.text
        assert act in win.actions()  # shortcuts work without opening a menu
        if spec.tip:
            assert act.toolTip() == act.statusTip() == spec.tip
        if isinstance(spec.shortcut, tuple):
            assert act.shortcuts() == [QKeySequence(s) for s in spec.shortcut]
        elif spec.shortcut is not None:
            assert act.shortcut() == QKeySequence(spec.shortcut)
        else:
            assert act.shortcut().isEmpty()
    assert win.acts.open.shortcut() == QKeySequence("Ctrl+O")
    assert win.acts.line.isCheckable() and win.acts.line.isChecked()
    assert win.acts.rect.isCheckable() and not win.acts.rect.isChecked()
    with pytest.raises(AttributeError):
        _ = win.acts.no_such_action


def test_triggering_an_action_calls_its_slot(make_window: Any) -> None:
    win = make_window(model_path=None)
    win.acts.rect.trigger()
    assert win.tools.rect_on and win.roi_dock.isVisible()
    win.acts.line.trigger()  # unchecks: the profile dock goes
    assert not win.tools.line_on and not win.profile_dock.isVisible()
    win.acts.export.trigger()  # nothing shown yet: a message, no dialog
    assert win.statusBar().currentMessage() == "Nothing to export yet."


def test_a_slot_that_does_not_exist_fails_when_building(qtbot: Any, monkeypatch: Any) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    monkeypatch.setattr(actions, "ACTIONS", (ActionSpec("x", "X", "no.such.slot"),))
    with pytest.raises(AttributeError):
        Actions(window)


def _texts(menu: QMenu) -> list[str]:
    out = []
    for a in menu.actions():
        if a.menu() is not None:
            out += _texts(a.menu())
        elif not a.isSeparator():
            out.append(a.text().replace("&", "").lower())
    return out


def test_view_menu_lists_each_entry_once(make_window: Any) -> None:
    """No "Line Profile" beside "Line profile": a tool's dock follows the tool's action."""
    win = make_window(model_path=None)
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    texts = _texts(view_menu)
    assert len(texts) == len(set(texts)), texts
    assert "line profile" in texts and "roi statistics" in texts and "3-d surface" in texts
    for dock in (win.profile_dock, win.roi_dock, win.surface_dock):
        assert dock.toggleViewAction() not in view_menu.actions()


def test_toolbar_overflows_into_a_menu_at_1024_px(make_window: Any, qtbot: Any) -> None:
    """At 1024 px the toolbar's extension button appears and every action stays reachable:
    on the bar or in the extension's menu."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QToolButton

    win = make_window(model_path=None)
    win.resize(1024, 700)
    qtbot.wait(50)
    toolbar = win.findChild(QToolBar, "main_toolbar")
    ext = toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert ext is not None and ext.isVisible()
    bar_right = toolbar.contentsRect().right()
    hidden = []
    for a in toolbar.actions():
        if a.isSeparator():
            continue
        w = toolbar.widgetForAction(a)
        if w is None or not w.isVisible() or w.geometry().right() > bar_right:
            hidden.append(a)
    assert hidden  # something overflowed at 1024 px ...
    # ... and the named actions come first, so they stay on the bar
    named = {win.acts[n] for n in TOOLBAR if n not in (actions.SEP, actions.DISPLAY)}
    assert not named & set(hidden)
    # a click on the extension unfolds the toolbar: what did not fit shows
    QTest.mouseClick(ext, Qt.MouseButton.LeftButton)

    def all_shown() -> None:
        for a in hidden:
            w = toolbar.widgetForAction(a)
            assert w is not None and w.isVisible()

    qtbot.waitUntil(all_shown, timeout=5000)
    QTest.mouseClick(ext, Qt.MouseButton.LeftButton)
