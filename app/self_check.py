"""The GUI part of ``semdepth-gui --self-test`` (the engine part is :mod:`core.selftest`)."""

from __future__ import annotations

import os
import sys


def qt_self_check() -> str:
    """Qt starts (offscreen when there is no display), the app icon loads, the About
    dialog and a pyqtgraph plot render, and the licence metadata is bundled (PySide6 listed
    as LGPL). Returns a one-line summary."""
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import pyqtgraph as pg
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from core import resources

    from .dialogs.about import AboutDialog, qt_version

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "semdepth-gui"])
    icon_file = resources.icon_path()
    if QIcon(str(icon_file)).isNull():
        raise RuntimeError(f"{icon_file}: the app icon does not load")
    dialog = AboutDialog({"id": "self-test"})
    try:
        rows = dialog.table_rows()
        pyside = [r for r in rows if r[0].startswith("PySide6")]
        if not pyside or "LGPL" not in pyside[0][2]:
            raise RuntimeError("the licence table lacks PySide6 (LGPL): package metadata missing")
        if dialog.grab().isNull():
            raise RuntimeError("the About dialog does not render")
        plot = pg.PlotWidget()
        plot.plot([0.0, 1.0, 4.0])
        if plot.grab().isNull():
            raise RuntimeError("a pyqtgraph plot does not render")
        plot.close()
    finally:
        dialog.close()
    platform_name = app.platformName() if hasattr(app, "platformName") else "?"
    return (
        f"Qt {qt_version()} (platform {platform_name}), pyqtgraph {pg.__version__}, "
        f"{len(rows)} licences listed, icon loads"
    )
