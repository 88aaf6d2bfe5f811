"""The main window: builds the panels and docks, the controllers that give them behaviour,
the actions, menus and toolbar, and wires them together (no computation here).

Each job lives in its own module: :mod:`app.controllers` (model, denoiser, inputs, results,
display, tools, export, batch, calibration, compare, surface), :mod:`app.actions`
(commands, menus, toolbar), :mod:`app.settings` (remembered choices), :mod:`app.workers`
(worker threads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from core import resources
from core.device import available_devices

from . import settings as keys
from .actions import Actions, build_menus_and_toolbar
from .controllers.batch import BatchController
from .controllers.calibration import CalibrationController
from .controllers.compare import CompareController
from .controllers.context import AskFn, WindowContext
from .controllers.denoiser import DenoiserController
from .controllers.display import TITLE, DisplayController
from .controllers.export import ExportController
from .controllers.inputs import InputsController
from .controllers.model import DEFAULT_MODEL, ModelController
from .controllers.results import ResultsController
from .controllers.surface import SurfaceController
from .controllers.tools import ToolsController
from .dialogs.error_dialog import ErrorReporter
from .dialogs.export_dialog import ExportRequest
from .state import AppState
from .views.compare_view import CompareView
from .views.image_view import SEM, LinkedImageView, configure_pyqtgraph
from .views.profile import ProfilePlot
from .views.readout import ReadoutPanel
from .views.surface3d import SurfaceView
from .widgets.batch_panel import BatchPanel
from .widgets.display_controls import DisplayControls
from .widgets.elided_label import ElidedLabel
from .widgets.holes_panel import FieldStatsTable, HolesPanel
from .widgets.log_panel import LogPanel
from .widgets.model_panel import ModelPanel
from .widgets.roi_panel import RoiPanel
from .workers import Task

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """SEM Depth Studio's window.

    ``model_path``: a checkpoint to load (default: the bundled model; None: load none).
    ``settings``: a QSettings (default :func:`app.settings.make_settings`). ``error_reporter``
    shows and logs unexpected errors. ``ask(title, question) -> bool`` asks yes/no
    questions (overwrite?); tests inject it. ``choose_denoiser_path() -> Path | None`` asks
    for a denoiser checkpoint (a file dialog; tests replace the attribute).
    """

    modelLoaded = Signal(object)  # the Predictor
    modelFailed = Signal(str)
    resultShown = Signal(object)  # DisplayData
    inputsQueued = Signal(int, int)  # files queued, inputs rejected
    exportFinished = Signal(object)  # dict of outputs or BatchSummary
    exportFailed = Signal(str)
    groundTruthLoaded = Signal(object)
    denoiserLoaded = Signal(object)  # the Noise2SelfDenoiser
    denoiserFailed = Signal(str)

    def __init__(
        self,
        *,
        model_path: Any = DEFAULT_MODEL,
        settings: QSettings | None = None,
        error_reporter: ErrorReporter | None = None,
        ask: AskFn | None = None,
        device: str | None = None,
        cache_size: int | None = None,
    ) -> None:
        super().__init__()
        configure_pyqtgraph()
        self.setWindowTitle(TITLE)
        icon = resources.icon_path()
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.settings = settings if settings is not None else keys.make_settings()
        self.errors = error_reporter or ErrorReporter(parent=self)
        self.state = AppState() if cache_size is None else AppState(cache_size)
        self.batch = BatchController(self.state, self)
        self.ctx = WindowContext(
            self, self.settings, self.state, self.batch, self.errors, ask or self._ask_dialog
        )
        self.tasks = self.ctx.tasks

        self._build_widgets()
        self._build_controllers()
        self.acts = Actions(self)
        self.recent_menu = build_menus_and_toolbar(self, self.acts, self.docks, self.controls)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.surface.action = self.acts.surface
        self._forward_signals()
        self._restore_settings(device)
        self.setAcceptDrops(True)
        if not keys.GEOMETRY.stored(self.settings):
            self.resize(1400, 900)

        self.display.warm_up()
        self.model.load_at_start(model_path)
        self.denoise.restore()

    # ================================================================== construction
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_widgets(self) -> None:
        self.view = LinkedImageView(self)
        self.setCentralWidget(self.view)
        self.readout_label = ElidedLabel("")
        self.readout_label.setObjectName("readout_status")
        self.model_status = ElidedLabel("")
        self.model_status.setMaximumWidth(320)
        self.export_progress = QProgressBar()
        self.export_progress.setObjectName("export_progress")
        self.export_progress.setMaximumWidth(220)
        self.export_progress.hide()
        self.statusBar().addWidget(self.readout_label, 1)
        self.statusBar().addPermanentWidget(self.export_progress)
        self.statusBar().addPermanentWidget(self.model_status)
        self.controls = DisplayControls()

        R, B = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.batch_panel = BatchPanel(self.state)
        self.model_panel = ModelPanel(available_devices())
        self.readout_panel = ReadoutPanel()
        self.profile_plot = ProfilePlot()
        self.roi_panel = RoiPanel()
        self.holes_panel = HolesPanel()
        self.hole_stats = FieldStatsTable()
        holes_box = QWidget()  # the hole table over its field statistics
        column = QVBoxLayout(holes_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.holes_panel, 1)
        column.addWidget(self.hole_stats, 0)
        self.log_panel = LogPanel()
        self.log_panel.attach()
        self.surface_view = SurfaceView()
        self.compare_view = CompareView(link_to=self.view.panels[SEM])
        # the right-hand docks take the full height (the batch table keeps its rows)
        self.setCorner(Qt.Corner.BottomRightCorner, R)
        self.setCorner(Qt.Corner.TopRightCorner, R)
        self.batch_dock = self._dock("Batch", self.batch_panel, R, "batch_dock")
        self.model_dock = self._dock("Model", self.model_panel, R, "model_dock")
        self.readout_dock = self._dock("Readout", self.readout_panel, R, "readout_dock")
        self.profile_dock = self._dock("Line profile", self.profile_plot, B, "profile_dock")
        self.roi_dock = self._dock("ROI statistics", self.roi_panel, B, "roi_dock")
        self.holes_dock = self._dock("Holes", holes_box, B, "holes_dock")
        self.log_dock = self._dock("Log", self.log_panel, B, "log_dock")
        self.surface_dock = self._dock("3-D surface", self.surface_view, B, "surface_dock")
        self.compare_dock = self._dock("Compare A/B", self.compare_view, B, "compare_dock")
        # the View menu's dock toggles; the line profile, ROI and 3-D docks follow their
        # own View actions ("Line Profile", "ROI Statistics", "3-D Surface")
        self.docks = [
            self.batch_dock,
            self.model_dock,
            self.readout_dock,
            self.holes_dock,
            self.compare_dock,
            self.log_dock,
        ]
        self.tabifyDockWidget(self.model_dock, self.readout_dock)
        for dock in (self.log_dock, self.holes_dock, self.surface_dock, self.compare_dock):
            self.tabifyDockWidget(self.roi_dock, dock)
        for dock in (self.holes_dock, self.surface_dock, self.compare_dock):
            dock.hide()
        self.model_dock.raise_()
        self.roi_dock.raise_()
        self.resizeDocks([self.batch_dock], [420], Qt.Orientation.Horizontal)
        self.resizeDocks([self.profile_dock], [230], Qt.Orientation.Vertical)
        self._docks_sized = False

    def _build_controllers(self) -> None:
        ctx = self.ctx
        self.tools = ToolsController(
            self.state,
            self.view,
            readout_panel=self.readout_panel,
            readout_label=self.readout_label,
            profile_plot=self.profile_plot,
            roi_panel=self.roi_panel,
            holes_panel=self.holes_panel,
            hole_stats=self.hole_stats,
            docks={"profile": self.profile_dock, "roi": self.roi_dock, "holes": self.holes_dock},
            parent=self,
        )
        self.display = DisplayController(ctx, self.view, self.controls, self.tools, self)
        self.results = ResultsController(ctx, self.batch_panel, self.controls, self)
        self.model = ModelController(ctx, self.model_panel, self.model_status, self)
        self.denoise = DenoiserController(
            ctx, self.model, self.model_panel, self.results.repredict_current, self
        )
        self.model.prepare = self.denoise.configure
        self.inputs = InputsController(ctx, self.model, self._show_first_result, self)
        self.exporter = ExportController(ctx, self.model, self.view, self.export_progress, self)
        self.surface = SurfaceController(ctx, self.view, self.surface_view, self.surface_dock, self)
        self.compare = CompareController(
            ctx, self.model, self.view, self.compare_view, self.compare_dock, self
        )
        self.controls.unit_combo.currentTextChanged.connect(self.batch_panel.set_unit)
        for combo in (self.controls.cmap_combo, self.controls.unit_combo):
            combo.currentTextChanged.connect(self.surface.update)
            combo.currentTextChanged.connect(self.compare.refresh)
        self.calibration = CalibrationController(ctx, self.model, self)
        panel = self.model_panel
        panel.loadRequested.connect(self.model.load_dialog)
        panel.deviceChanged.connect(self.model.set_device)
        panel.predictionSettingsChanged.connect(self._set_prediction_settings)
        panel.deviceChanged.connect(self.denoise.on_device_changed)
        panel.denoiseToggled.connect(self.denoise.set_enabled)
        panel.loadDenoiserRequested.connect(self.denoise.load_dialog)

    def _forward_signals(self) -> None:
        self.model.loaded.connect(self.modelLoaded)
        self.model.failed.connect(self.modelFailed)
        self.display.shown.connect(self.resultShown)
        self.inputs.queued.connect(self.inputsQueued)
        self.exporter.finished.connect(self.exportFinished)
        self.exporter.failed.connect(self.exportFailed)
        self.results.groundTruthLoaded.connect(self.groundTruthLoaded)
        self.denoise.loaded.connect(self.denoiserLoaded)
        self.denoise.failed.connect(self.denoiserFailed)

    def _show_first_result(self) -> None:
        self.results.show_next = True

    def _fill_recent_menu(self) -> None:
        self.inputs.fill_recent_menu(self.recent_menu)

    # ================================================================== settings
    def _restore_settings(self, device: str | None) -> None:
        geometry = keys.GEOMETRY.read(self.settings)
        if geometry is not None:
            self.restoreGeometry(geometry)
        window_state = keys.WINDOW_STATE.read(self.settings)
        if window_state is not None:
            self.restoreState(window_state)
        self.display.restore()
        self.display.sync_actions(self.acts)
        self.batch_panel.set_unit(self.controls.unit_combo.currentText())
        self.model_panel.set_device(device or keys.DEVICE.read(self.settings))
        self.model_panel.set_prediction_settings(
            keys.SCALE_POLICY.read(self.settings), keys.TTA.read(self.settings)
        )
        self.batch.scale_policy = self.model_panel.scale_policy()
        self.batch.tta = self.model_panel.tta()

    def _set_prediction_settings(self, scale_policy: str, tta: str) -> None:
        """The panel's "Scale policy" / "Test-time flips": remembered, used from the next
        prediction on (a running batch keeps its own)."""
        keys.SCALE_POLICY.write(self.settings, scale_policy)
        keys.TTA.write(self.settings, tta)
        self.batch.scale_policy, self.batch.tta = scale_policy, tta
        when = "after the running batch" if self.batch.busy else "from the next prediction"
        self.ctx.status(f"Scale policy {scale_policy}, test-time flips {tta}: {when}.", 5000)

    def save_settings(self) -> None:
        s = self.settings
        keys.GEOMETRY.write(s, self.saveGeometry())
        keys.WINDOW_STATE.write(s, self.saveState())
        self.display.save()
        keys.DEVICE.write(s, self.model_panel.device())
        self.denoise.save()
        s.sync()

    # ================================================================== the public API
    # (what semdepth-gui, the scripts and the tests drive; each is one controller's job)
    @property
    def predictor(self) -> Any:
        return self.model.predictor

    @property
    def denoiser(self) -> Any:
        return self.denoise.denoiser

    @property
    def choose_denoiser_path(self) -> Callable[[], Path | None]:
        return self.denoise.choose_path

    @choose_denoiser_path.setter
    def choose_denoiser_path(self, chooser: Callable[[], Path | None]) -> None:
        self.denoise.choose_path = chooser

    def load_model(self, path: Path, device: str | None = None) -> Task:
        return self.model.load(path, device)

    def load_denoiser(self, path: Path, *, enable: bool = True) -> Task:
        return self.denoise.load(path, enable=enable)

    def open_paths(
        self, paths: Sequence[str | Path], *, show_first: bool = True, note: str = ""
    ) -> Task:
        return self.inputs.open_paths(paths, show_first=show_first, note=note)

    def open_samples(self) -> Task | None:
        return self.inputs.open_samples()

    def show_row(self, row_id: int) -> None:
        self.results.show_row(row_id)

    def cancel_batch(self) -> None:
        self.results.cancel_batch()

    def load_ground_truth(self, path: Path) -> Task | None:
        return self.results.load_ground_truth(path)

    def set_show_denoised(self, on: bool) -> None:
        self.display.set_show_denoised(on)

    def readout_at(self, row: int, col: int) -> dict[str, Any]:
        return self.tools.readout_at(row, col)

    def roi_stats(self) -> dict[str, Any] | None:
        return self.tools.roi_stats()

    def export(self, request: ExportRequest, *, overwrite: bool | None = None) -> Task | None:
        return self.exporter.export(request, overwrite=overwrite)

    def save_view(self, path: Path, *, overwrite: bool = False) -> bool:
        return self.exporter.save_view(path, overwrite=overwrite)

    def copy_view(self) -> None:
        self.exporter.copy_view()

    # ================================================================== dialogs
    def _ask_dialog(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_properties(self) -> None:
        """File > Properties: the shown file's metadata beside what the model expects."""
        from .dialogs.properties import PropertiesDialog

        data = self.state.current
        if data is None:
            self.ctx.status("Open an image to see its properties.", 5000)
            return
        predictor = self.model.predictor
        PropertiesDialog(data, predictor.card if predictor is not None else None, self).exec()

    def show_about(self) -> None:
        from .dialogs.about import AboutDialog

        predictor = self.model.predictor
        card = predictor.card if predictor is not None else None
        AboutDialog(card, self, model_path=getattr(predictor, "source", None)).exec()

    def showEvent(self, event: QShowEvent) -> None:
        """On the first show without a saved layout: the line profile and the ROI form
        share the bottom row (at 1600 px the form's two columns fit: the region and depth
        below top, the height map; narrower, it takes one column and scrolls)."""
        super().showEvent(event)
        if not self._docks_sized and not keys.WINDOW_STATE.stored(self.settings):
            w = max(self.centralWidget().width(), 300)
            sizes = [w // 2, w - w // 2]
            self.resizeDocks([self.profile_dock, self.roi_dock], sizes, Qt.Orientation.Horizontal)
        self._docks_sized = True

    # ================================================================== drag and drop
    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.dragMoveEvent(event)  # the same test (a QDragEnterEvent is a QDragMoveEvent)

    def dropEvent(self, event: QDropEvent) -> None:
        if self.inputs.open_urls(list(event.mimeData().urls())):
            event.acceptProposedAction()
        else:
            event.ignore()

    # ================================================================== close
    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, cancel the batch and wait for every worker thread to stop."""
        self.tasks.closing = True
        try:
            self.save_settings()
        except Exception:  # settings must never block closing
            log.exception("could not save settings")
        self.batch.shutdown()
        self.tasks.close()
        self.log_panel.detach()
        super().closeEvent(event)
