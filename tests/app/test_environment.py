"""Checks of the installed Qt binding, not of this project's code.

They exist because a broken binding crashes the app in ways no other test points at:
PySide6 6.12.0 on Python < 3.12 drops a reference to ``True`` on every ``Signal.emit()``,
and the app dies after a few hundred signals ("deallocating True"). ``semdepth-gui`` warns
about it at start-up (:func:`app.main.qt_binding_problem`, tested here too).
"""

from __future__ import annotations

import sys
from typing import Any

from app import main as app_main


def test_environment_pyside_signal_refcount(qapp: Any) -> None:
    """Environment check: ``Signal.emit`` of the installed PySide6 keeps the reference
    counts of ``True`` and ``None`` (fails on a broken PySide6 build, not on our code)."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        sig = Signal(object)

    e = Emitter()
    e.sig.connect(lambda _v: None)
    before = (sys.getrefcount(True), sys.getrefcount(None))
    for _ in range(100):
        e.sig.emit(None)
    after = (sys.getrefcount(True), sys.getrefcount(None))
    assert after[0] >= before[0] - 2, "Signal.emit leaks references to True (bad PySide6 build)"
    assert after[1] >= before[1] - 2, "Signal.emit leaks references to None (bad PySide6 build)"


def test_binding_problem_is_reported_when_emit_loses_references(
    qapp: Any, monkeypatch: Any
) -> None:
    """The start-up detector: silent on this (good) binding, a message naming the PySide6
    version when the reference count of True falls while signals are emitted."""
    import PySide6

    assert app_main.qt_binding_problem() is None
    counts = iter(range(1000, 0, -10))  # each reading 10 lower: emit leaks references
    monkeypatch.setattr(app_main.sys, "getrefcount", lambda _obj: next(counts))
    problem = app_main.qt_binding_problem()
    assert problem is not None
    assert f"PySide6 {PySide6.__version__} loses object references" in problem
