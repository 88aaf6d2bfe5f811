"""How the shown result is drawn: the four panels, the depth colour map and levels, the
depth unit (DU or nm), the raw or denoised SEM image, the window title."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from .. import settings as keys
from ..state import DisplayData
from ..views.grid import ARRANGEMENTS
from ..views.image_view import DEPTH_COLORMAPS, PANEL_KEYS, LinkedImageView
from ..widgets.display_controls import UNITS, DisplayControls
from .context import WindowContext
from .tools import ToolsController

TITLE = "SEM Depth Studio"


class DisplayController(QObject):
    """Draws ``state.current`` whenever it changes and applies the toolbar's display
    controls; ``shown(DisplayData)`` fires once a result is on screen."""

    shown = Signal(object)

    def __init__(
        self,
        ctx: WindowContext,
        view: LinkedImageView,
        controls: DisplayControls,
        tools: ToolsController,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.view = view
        self.controls = controls
        self.tools = tools
        c = controls
        ctx.state.currentChanged.connect(self.on_current_changed)
        view.depthLevelsChanged.connect(self.on_levels_dragged)
        c.sem_denoised_check.toggled.connect(self.set_show_denoised)
        c.cmap_combo.currentTextChanged.connect(self.set_colormap)
        c.auto_levels.toggled.connect(self.set_auto_levels)
        c.level_min.valueChanged.connect(self.apply_fixed_levels)
        c.level_max.valueChanged.connect(self.apply_fixed_levels)
        c.unit_combo.currentTextChanged.connect(self.set_unit)

    # settings -----------------------------------------------------------------
    def restore(self) -> None:
        s = self.ctx.settings
        cmap = keys.COLORMAP.read(s)
        if cmap in DEPTH_COLORMAPS:
            self.controls.cmap_combo.setCurrentText(cmap)
            self.view.set_depth_colormap(cmap)
        unit = keys.UNIT.read(s)
        self.controls.unit_combo.setCurrentText(unit if unit in UNITS else "DU")
        self.view.set_unit(self.controls.unit_combo.currentText())
        self.tools.update_profile()
        self.controls.sem_denoised_check.setChecked(keys.show_denoised_setting(s))
        arrangement = keys.ARRANGEMENT.read(s)
        self.view.set_arrangement(arrangement if arrangement in ARRANGEMENTS else "auto")
        for key in keys.HIDDEN_PANELS.read(s):
            if key in PANEL_KEYS:
                self.view.set_panel_visible(key, False)

    def sync_actions(self, actions: Any) -> None:
        """Tick the View > Panels items that match the view (after :meth:`restore`)."""
        actions[f"arrange_{self.view.arrangement}"].setChecked(True)
        for key in PANEL_KEYS:
            actions[f"panel_{key}"].setChecked(key not in self.view.hidden)
        self._actions = actions

    def save(self) -> None:
        s = self.ctx.settings
        keys.COLORMAP.write(s, self.controls.cmap_combo.currentText())
        keys.UNIT.write(s, self.controls.unit_combo.currentText())
        keys.SEM_DENOISED.write(s, self.controls.sem_denoised_check.isChecked())
        keys.ARRANGEMENT.write(s, self.view.arrangement)
        keys.HIDDEN_PANELS.write(s, sorted(self.view.hidden))

    # panels -------------------------------------------------------------------
    def set_arrangement(self, arrangement: str, _checked: bool = True) -> None:
        """View > Panels: "auto", "1x4" or "2x2"."""
        self.view.set_arrangement(arrangement)
        keys.ARRANGEMENT.write(self.ctx.settings, arrangement)

    def set_panel_visible(self, key: str, visible: bool) -> None:
        """View > Panels > Show ...: the last visible panel cannot be hidden."""
        self.view.set_panel_visible(key, visible)
        keys.HIDDEN_PANELS.write(self.ctx.settings, sorted(self.view.hidden))
        actions = getattr(self, "_actions", None)
        if actions is not None:
            actions[f"panel_{key}"].setChecked(key not in self.view.hidden)

    def warm_up(self) -> None:
        """Draw the panels once with placeholder data, offscreen, while the window is built.

        The first render of images, colour bars and axes costs ~100+ ms (glyph and pixmap
        caches); paying it here keeps the first real result from stalling the event loop.
        """
        rows, cols = 72, 48
        ramp = np.linspace(0.0, 255.0, rows * cols, dtype=np.float32).reshape(rows, cols)
        dummy = DisplayData(
            source=None, sem=ramp, depth=ramp, uncertainty=ramp * 0.01, truth=ramp[::-1].copy()
        )
        self.view.show_data(dummy)
        self.tools.update_profile_for(dummy)
        self.view.grab()
        self.tools.profile_plot.grab()
        self.view.show_data(None)
        self.tools.update_profile()  # empty, its axes in the chosen unit

    # the shown result ---------------------------------------------------------
    def on_current_changed(self, data: DisplayData | None) -> None:
        self.view.show_data(data, unit=self.controls.unit_combo.currentText())
        self.update_sem_labels()
        self.tools.show_holes(data)
        if data is None:
            self.ctx.window.setWindowTitle(TITLE)
        else:
            name = data.source.name if data.source else "image"
            self.ctx.window.setWindowTitle(f"{TITLE} - {name}")
        self.sync_level_boxes()
        self.tools.clear_readout()
        self.tools.refresh()
        if data is not None:
            self.shown.emit(data)

    def set_show_denoised(self, on: bool) -> None:
        """SEM panel (and readout, line profile): the denoised image (on) or the raw one."""
        check = self.controls.sem_denoised_check
        check.blockSignals(True)
        check.setChecked(bool(on))
        check.blockSignals(False)
        keys.SEM_DENOISED.write(self.ctx.settings, bool(on))
        if self.ctx.state.current is not None:
            self.view.set_show_denoised(on)
            self.tools.clear_readout()
            self.tools.update_profile()
        self.update_sem_labels()

    def update_sem_labels(self) -> None:
        data = self.ctx.state.current
        has_denoised = data is not None and data.sem_denoised is not None
        self.controls.sem_denoised_check.setEnabled(has_denoised)
        self.tools.readout_panel.set_sem_kind(data.sem_kind if data is not None else "raw")

    # colour map, levels, unit -------------------------------------------------
    def set_colormap(self, name: str) -> None:
        self.view.set_depth_colormap(name)
        keys.COLORMAP.write(self.ctx.settings, name)

    def set_auto_levels(self, auto: bool) -> None:
        self.controls.level_min.setEnabled(not auto)
        self.controls.level_max.setEnabled(not auto)
        if auto:
            self.view.set_auto_levels(True)
        else:
            self.apply_fixed_levels()
        self.sync_level_boxes()

    def apply_fixed_levels(self, *_args: Any) -> None:
        if self.controls.auto_levels.isChecked():
            return
        lo, hi = self.controls.level_min.value(), self.controls.level_max.value()
        if hi > lo:
            self.view.set_fixed_levels(lo, hi)

    def on_levels_dragged(self, lo: float, hi: float) -> None:
        c = self.controls
        c.auto_levels.blockSignals(True)
        c.auto_levels.setChecked(False)
        c.auto_levels.blockSignals(False)
        c.level_min.setEnabled(True)
        c.level_max.setEnabled(True)
        self.set_level_boxes(lo, hi)

    def sync_level_boxes(self) -> None:
        lo, hi = self.view.depth_levels()
        self.set_level_boxes(lo, hi)

    def set_level_boxes(self, lo: float, hi: float) -> None:
        for sb, v in ((self.controls.level_min, lo), (self.controls.level_max, hi)):
            sb.blockSignals(True)
            sb.setValue(v)
            sb.blockSignals(False)

    def set_unit(self, unit: str) -> None:
        keys.UNIT.write(self.ctx.settings, unit)
        current = self.ctx.state.current
        if current is None:
            self.view.set_unit(unit)
            self.tools.update_profile()  # the empty profile's axes say the unit too
            return
        old_scale = self.view.scale
        self.view.show_data(current, unit=unit)
        if not self.view.auto_levels and old_scale:
            lo, hi = self.view.fixed_levels
            f = self.view.scale / old_scale
            self.view.set_fixed_levels(lo * f, hi * f)
        self.sync_level_boxes()
        self.tools.refresh()
