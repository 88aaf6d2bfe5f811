"""How the image panels share the view: 1x4 or 2x2, chosen for the view's size and the
image's shape when the arrangement is "auto"."""

from __future__ import annotations

import math
from typing import Any

ARRANGEMENTS = ("auto", "1x4", "2x2")
#: Room a panel needs besides its image (axes, title, colour bar), in screen pixels.
PANEL_OVERHEAD_W, PANEL_OVERHEAD_H = 60.0, 110.0


def grid_shape(arrangement: str, n: int) -> tuple[int, int]:
    """(rows, cols) of the panel grid for ``n`` visible panels ("auto" is decided by
    :func:`best_grid`)."""
    if n <= 0:
        return 1, 1
    if arrangement == "2x2":
        return (1, n) if n <= 2 else (2, 2 if n <= 4 else math.ceil(n / 2))
    return 1, n


def best_grid(n: int, view_w: float, view_h: float, image_shape: tuple[int, int]) -> str:
    """The arrangement ("1x4" or "2x2") that draws the image largest in a view of that size."""
    if n <= 2:
        return "1x4"
    rows_img, cols_img = image_shape
    best, best_scale = "1x4", -1.0
    for name in ("1x4", "2x2"):
        r, c = grid_shape(name, n)
        w = view_w / c - PANEL_OVERHEAD_W
        h = view_h / r - PANEL_OVERHEAD_H
        scale = min(w / max(cols_img, 1), h / max(rows_img, 1))
        if scale > best_scale + 1e-9:
            best, best_scale = name, scale
    return best


class PanelGrid:
    """The arrangement part of :class:`~app.views.image_view.LinkedImageView` (a mixin: it
    uses the view's ``panels``, ``ci`` layout, ``hidden``, ``arrangement``, ``fitted`` and
    the shown image's ``_shape``)."""

    panels: dict[str, Any]
    ci: Any
    hidden: set[str]
    arrangement: str
    grid: str
    fitted: bool
    _shape: tuple[int, int] | None
    layoutChanged: Any  # the view's Signal(str)

    def visible_keys(self) -> list[str]:
        return [k for k in self.panels if k not in self.hidden]

    def set_arrangement(self, arrangement: str) -> None:
        """The arrangement: "auto", "1x4" or "2x2"."""
        if arrangement not in ARRANGEMENTS:
            raise ValueError(f"unknown arrangement {arrangement!r}")
        self.arrangement = arrangement
        self.relayout()

    def set_panel_visible(self, key: str, visible: bool) -> None:
        """Show or hide one panel (at least one stays visible)."""
        if visible:
            self.hidden.discard(key)
        elif len(self.visible_keys()) > 1:
            self.hidden.add(key)
        self.relayout(force=True)

    def _chosen_grid(self) -> str:
        if self.arrangement != "auto":
            return self.arrangement
        shape = self._shape or (1, 1)
        return best_grid(len(self.visible_keys()), self.width(), self.height(), shape)  # type: ignore[attr-defined]

    def relayout(self, *, force: bool = False) -> None:
        """Put the visible panels in the grid (only when the grid or the set changed).

        Every panel keeps both axes: panels of one size. Linked, aspect-locked view boxes
        of different sizes (axes on the outer panels only) pushed each other's ranges
        wider and wider."""
        grid = self._chosen_grid()
        if grid == self.grid and not force:
            return
        self.grid = grid
        keys = self.visible_keys()
        rows, cols = grid_shape(grid, len(keys))
        layout = self.ci
        for key in self.panels:
            panel = self.panels[key]
            if panel in layout.items:
                layout.removeItem(panel)
            panel.setVisible(key in keys)
        for i in range(4):
            layout.layout.setColumnStretchFactor(i, 1 if i < cols else 0)
            layout.layout.setRowStretchFactor(i, 1 if i < rows else 0)
        for i, key in enumerate(keys):
            r, c = divmod(i, cols)
            panel = self.panels[key]
            layout.addItem(panel, row=r, col=c)
        self._link_to(self.panels[keys[0]])
        self.fit_image()
        self.layoutChanged.emit(grid)

    def _link_to(self, master: Any) -> None:
        """Every panel follows ``master``'s pan and zoom; only the master keeps square
        pixels. Linked views that each lock their aspect push each other's ranges wider
        on every round (the old "-1000 to 2500" axes); a follower of the same size shows
        the master's range as it is."""
        master.setXLink(None)
        master.setYLink(None)
        master.setAspectLocked(True)
        for p in self.panels.values():
            if p is not master:
                p.setAspectLocked(False)
                p.setXLink(master)
                p.setYLink(master)

    def _refit(self) -> None:
        if self.fitted:
            self.fit_image()

    def _on_user_zoom(self, *_args: Any) -> None:
        self.fitted = False

    def fit_image(self) -> None:
        """Every (linked) panel shows the whole image, no margin beyond it (View > Fit
        Image, Ctrl+0); kept so when the window is resized, until the user zooms."""
        if self._shape is None:
            return
        keys = self.visible_keys()
        rows, cols = self._shape
        self.panels[keys[0]].vb.setRange(xRange=(0, cols), yRange=(0, rows), padding=0)
        self.fitted = True
