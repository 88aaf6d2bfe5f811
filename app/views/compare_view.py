"""Model A/B: the second model's depth map and the difference A - B, linked to the main
panels (pan and zoom together), with both models' values under the cursor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..units import Units
from .image_view import ERROR_COLORMAP, finite_range
from .panel import ImagePanel

B, DIFF = "b", "diff"


class CompareView(QWidget):
    """A header (which models, how far apart), two linked panels, a one-line readout."""

    def __init__(self, link_to: pg.PlotItem | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel("Model B: none loaded (Model > Compare with Model B...)")
        self.header.setObjectName("compare_header")
        self.header.setWordWrap(True)
        self.readout = QLabel("")
        self.readout.setObjectName("compare_readout")
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("#202124")
        self.panels = {
            B: ImagePanel(B, "Model B", "viridis", "depth (DU)"),
            DIFF: ImagePanel(DIFF, "A − B", ERROR_COLORMAP, "A − B (DU)"),
        }
        for col, panel in enumerate(self.panels.values()):
            self.plots.addItem(panel, row=0, col=col)
            panel.line_roi.hide()
            panel.rect_roi.hide()
        if link_to is not None:
            # one way: these panels follow the main view's pan and zoom. A two-way pyqtgraph
            # link let these (hidden, other-sized, aspect-locked) views push the main
            # panels' ranges wider and wider.
            link_to.vb.sigRangeChanged.connect(self._follow)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.readout)
        self.depth_a: np.ndarray | None = None
        self.depth_b: np.ndarray | None = None
        self.units = Units()

    def _follow(self, _vb: Any, ranges: Any) -> None:
        (x0, x1), (y0, y1) = ranges
        for p in self.panels.values():
            p.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def clear(self, message: str) -> None:
        self.depth_a = self.depth_b = None
        for p in self.panels.values():
            p.set_array(None, (0.0, 1.0))
        self.header.setText(message)
        self.readout.setText("")

    def show_pair(
        self,
        depth_a: np.ndarray,
        depth_b: np.ndarray,
        *,
        names: tuple[str, str],
        units: Units,
        levels: tuple[float, float],
        cmap: str,
    ) -> None:
        """Show model B's depth (``levels`` in the shown unit, as the main depth panel) and
        A - B; the header gives the mean and RMS of A - B."""
        self.depth_a, self.depth_b, self.units = depth_a, depth_b, units
        k = np.float32(units.depth_scale)
        diff = (depth_a - depth_b).astype(np.float32)
        du = units.depth_unit
        b_panel, d_panel = self.panels[B], self.panels[DIFF]
        b_panel.setTitle("Model B")
        b_panel.set_colormap(cmap)
        b_panel.set_bar_label(f"depth ({du})")
        b_panel.set_array(depth_b * k, levels)
        lo, hi = finite_range(diff * k)
        m = max(abs(lo), abs(hi), 1e-6)
        d_panel.set_bar_label(f"A − B ({du})")
        d_panel.set_array(diff * k, (-m, m))
        for p in self.panels.values():
            p.set_units(units)
        d64 = diff.astype(np.float64)
        mean, rms = float(d64.mean()), float(np.sqrt(np.mean(d64**2)))
        self.stats = {"mean": mean, "rms": rms, "max_abs": float(np.abs(d64).max())}
        self.header.setText(
            f"A: {names[0]}   B: {names[1]}   A − B: mean {units.depth(mean)}, "
            f"RMS {units.depth(rms)}, max |A − B| {units.depth(self.stats['max_abs'])}"
        )

    def readout_at(self, row: int, col: int) -> dict[str, Any] | None:
        """Both models' depths (DU) and their difference at (row, col), or None."""
        a, b = self.depth_a, self.depth_b
        if a is None or b is None or not (0 <= row < a.shape[0] and 0 <= col < a.shape[1]):
            return None
        va, vb = float(a[row, col]), float(b[row, col])
        return {"a": va, "b": vb, "diff": va - vb}

    def show_readout(self, row: int, col: int) -> None:
        v = self.readout_at(row, col)
        if v is None:
            self.readout.setText("")
            return
        u = self.units
        self.readout.setText(
            f"x {col}, y {row} px   A {u.depth(v['a'])}   B {u.depth(v['b'])}   "
            f"A − B {u.depth(v['diff'])}"
        )
