"""The GUI part of ``semdepth-gui --self-test``."""

from __future__ import annotations

from typing import Any

import PySide6

from app.self_check import qt_self_check


def test_qt_self_check_renders_and_reports(qtbot: Any) -> None:
    line = qt_self_check()
    assert f"Qt {PySide6.QtCore.qVersion()}" in line
    assert "licences listed" in line
