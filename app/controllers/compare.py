"""Model A/B: a second model (B) predicts the shown image in a worker thread; its depth
map and the difference A - B appear in the Compare dock, with both readouts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDockWidget

from ..state import DisplayData
from ..views.compare_view import CompareView
from ..views.image_view import LinkedImageView
from ..workers import Task, TaskFailure
from .context import WindowContext
from .model import ModelController, choose_model, load_predictor

log = logging.getLogger(__name__)
MAX_KEPT = 16  # model B's depth maps kept (by row), so stepping back shows them at once


class CompareController(QObject):
    """``ready(row_id)`` fires once model B's prediction of a row is on screen."""

    ready = Signal(object)
    loaded = Signal(object)  # model B's Predictor

    def __init__(
        self,
        ctx: WindowContext,
        model: ModelController,
        view: LinkedImageView,
        widget: CompareView,
        dock: QDockWidget,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.model, self.view = ctx, model, view
        self.widget, self.dock = widget, dock
        self.predictor: Any = None
        self.path: Path | None = None
        self.results: dict[int, Any] = {}  # row id -> model B's depth (DU)
        self._pending: int | None = None
        ctx.state.currentChanged.connect(self.on_current_changed)
        view.cursorMoved.connect(widget.show_readout)

    def load_dialog(self) -> None:
        path = choose_model(self.ctx, "Load model B (compare)")
        if path is not None:
            self.load(path)

    def load(self, path: Path) -> Task:
        """Load model B in a worker thread, then predict the shown image with it."""
        device = self.model.panel.device()
        self.widget.clear(f"Loading model B ({Path(path).name})...")
        self.show_dock()

        def work(_emit: Any, _cancel: Any) -> Any:
            return load_predictor(Path(path), device)

        def ok(predictor: Any) -> None:
            self.predictor, self.path = predictor, Path(path)
            self.results.clear()
            log.info("model B %s loaded from %s", predictor.model_id, path)
            self.loaded.emit(predictor)
            self.predict_current()

        def failed(f: TaskFailure) -> None:
            self.widget.clear(f"Model B could not be loaded: {f.message}")
            self.ctx.report_failure(f)

        return self.ctx.tasks.start("load model B", work, ok, failed)

    def show_dock(self) -> None:
        """Show the Compare dock, tall enough for its two panels (45 % of the window)."""
        self.dock.show()
        self.dock.raise_()
        window = self.ctx.window
        height = max(320, int(window.height() * 0.45))
        window.resizeDocks([self.dock], [height], Qt.Orientation.Vertical)

    def on_current_changed(self, data: DisplayData | None) -> None:
        if self.predictor is not None:
            self.predict_current()

    def predict_current(self) -> Task | None:
        """Predict the shown image with model B (worker thread) unless it is known."""
        data = self.ctx.state.current
        if data is None or self.predictor is None:
            self.widget.clear(
                "Nothing to compare yet." if self.predictor else self.widget.header.text()
            )
            return None
        if data.row_id is not None and data.row_id in self.results:
            self.show(data, self.results[data.row_id])
            return None
        if data.source is None:
            self.widget.clear("Model B needs the image's file.")
            return None
        if self._pending == data.row_id:
            return None  # already on its way
        self._pending = data.row_id
        predictor, source, row_id = self.predictor, data.source, data.row_id
        tta, policy = self.ctx.batch.tta, self.ctx.batch.scale_policy  # as model A's
        self.widget.header.setText(f"Model B is predicting {source.name}...")

        def work(_emit: Any, cancel: Any) -> Any:
            return predictor.predict(
                source, mode="auto", tta=tta, scale_policy=policy, cancel=cancel
            ).depth

        def ok(depth_b: Any) -> None:
            self._pending = None
            if row_id is not None:
                self.results[row_id] = depth_b
                while len(self.results) > MAX_KEPT:
                    self.results.pop(next(iter(self.results)))
            cur = self.ctx.state.current
            if cur is not None and cur.row_id == row_id:
                self.show(cur, depth_b)

        def failed(f: TaskFailure) -> None:
            self._pending = None
            self.widget.clear(f"Model B failed on {source.name}: {f.message}")
            if not f.cancelled:
                log.warning("model B on %s: %s", source, f.message)

        return self.ctx.tasks.start("compare", work, ok, failed)

    def show(self, data: DisplayData, depth_b: Any) -> None:
        if depth_b.shape != data.depth.shape:
            self.widget.clear(
                f"Model B's map is {depth_b.shape[0]}x{depth_b.shape[1]} px, model A's "
                f"{data.depth.shape[0]}x{data.depth.shape[1]} px: not comparable."
            )
            return
        name_a = data.model_id or "model A"
        name_b = str(getattr(self.predictor, "model_id", "model B"))
        self.widget.show_pair(
            data.depth,
            depth_b,
            names=(name_a, name_b),
            units=self.view.units,
            levels=self.view.depth_levels(),
            cmap=self.view.depth_cmap,
        )
        self.ready.emit(data.row_id)

    def refresh(self) -> None:
        """Redraw with the current units, colour map and levels."""
        data = self.ctx.state.current
        if data is not None and data.row_id in self.results:
            self.show(data, self.results[data.row_id])
