"""The main window: wiring of state, workers, views and docks (no computation here)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolBar,
    QWidget,
)

from core import resources
from core.batch import run_batch, write_outputs
from core.conventions import is_output_stem
from core.device import resolve_device
from core.inference import Predictor, load_denoiser
from core.io import read_depth
from core.io.atomic import OutputExistsError

from .dialogs.error_dialog import ErrorReporter
from .dialogs.export_dialog import ExportDialog, ExportRequest
from .state import (
    DONE,
    QUEUED,
    AppState,
    DisplayData,
    add_recent_file,
    denoise_settings,
    format_readout,
    make_settings,
    recent_files,
    save_denoise_settings,
    show_denoised_setting,
)
from .views.image_view import DEPTH_COLORMAPS, LinkedImageView, configure_pyqtgraph
from .views.profile import ProfilePlot, line_distances, sample_line
from .views.readout import ReadoutPanel
from .views.roi_stats import rect_slices, roi_statistics
from .widgets.batch_panel import BatchPanel
from .widgets.holes_panel import HolesPanel
from .widgets.log_panel import LogPanel
from .widgets.model_panel import ModelPanel
from .widgets.roi_panel import RoiPanel
from .workers import BatchController, Task, TaskFailure, expand_for_queue

log = logging.getLogger(__name__)

_DEFAULT = object()
AskFn = Callable[[str, str], bool]
IMAGE_FILTER = "SEM images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"
DEPTH_FILTER = "Depth maps (*.png *.tif *.tiff);;All files (*)"


class MainWindow(QMainWindow):
    """SEM Depth Studio's window. See the module docstring of :mod:`app` for the layout.

    ``model_path``: a checkpoint to load (default: the bundled model; None: load none).
    ``settings``: a QSettings (default :func:`app.state.make_settings`). ``error_reporter``
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
        model_path: Any = _DEFAULT,
        settings: QSettings | None = None,
        error_reporter: ErrorReporter | None = None,
        ask: AskFn | None = None,
        device: str | None = None,
        cache_size: int | None = None,
    ) -> None:
        super().__init__()
        configure_pyqtgraph()
        self.setWindowTitle("SEM Depth Studio")
        icon = resources.icon_path()
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.settings = settings if settings is not None else make_settings()
        self.errors = error_reporter or ErrorReporter(parent=self)
        self.ask: AskFn = ask or self._ask_dialog
        self.state = AppState() if cache_size is None else AppState(cache_size)
        self.batch = BatchController(self.state, self)
        self.predictor: Any = None
        self.model_path: Path | None = None
        self.denoiser: Any = None  # the loaded Noise2SelfDenoiser, used when the box is ticked
        self.denoiser_path: Path | None = None
        self.choose_denoiser_path: Callable[[], Path | None] = self._denoiser_file_dialog
        self.tasks: set[Task] = set()
        self._show_next = False
        self._pending_show: int | None = None
        self._closing = False

        self._build_view()
        self._build_docks()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._connect()
        self._restore_settings(device)
        self.setAcceptDrops(True)
        if not self.settings.contains("geometry"):
            self.resize(1400, 900)

        self._warm_up_render()
        if model_path is _DEFAULT:
            model_path = resources.default_model_path()
            if not Path(model_path).is_file():
                self._no_model(
                    f"No model loaded: the default model {Path(model_path).name} is missing. "
                    "Use Model > Load Model..."
                )
                model_path = None
        if model_path is not None:
            self.load_model(Path(model_path))
        elif self.predictor is None and not self.model_status.text():
            self._no_model("No model loaded. Use Model > Load Model...")
        self._restore_denoiser()

    # ================================================================== construction
    def _warm_up_render(self) -> None:
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
        self.update_profile_for(dummy)
        self.view.grab()
        self.profile_plot.grab()
        self.view.show_data(None)
        self.profile_plot.clear_profile()

    def _build_view(self) -> None:
        self.view = LinkedImageView(self)
        self.setCentralWidget(self.view)
        self.readout_label = QLabel("")
        self.readout_label.setObjectName("readout_status")
        self.model_status = QLabel("")
        self.statusBar().addWidget(self.readout_label, 1)
        self.statusBar().addPermanentWidget(self.model_status)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        R, B = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        from core.device import available_devices

        self.batch_panel = BatchPanel(self.state)
        self.model_panel = ModelPanel(available_devices())
        self.readout_panel = ReadoutPanel()
        self.profile_plot = ProfilePlot()
        self.roi_panel = RoiPanel()
        self.holes_panel = HolesPanel()
        self.log_panel = LogPanel()
        self.log_panel.attach()
        self.batch_dock = self._dock("Batch", self.batch_panel, R, "batch_dock")
        self.model_dock = self._dock("Model", self.model_panel, R, "model_dock")
        self.readout_dock = self._dock("Readout", self.readout_panel, R, "readout_dock")
        self.profile_dock = self._dock("Line profile", self.profile_plot, B, "profile_dock")
        self.roi_dock = self._dock("ROI statistics", self.roi_panel, B, "roi_dock")
        self.holes_dock = self._dock("Holes", self.holes_panel, B, "holes_dock")
        self.log_dock = self._dock("Log", self.log_panel, B, "log_dock")
        self.tabifyDockWidget(self.model_dock, self.readout_dock)
        self.tabifyDockWidget(self.roi_dock, self.holes_dock)
        self.tabifyDockWidget(self.roi_dock, self.log_dock)
        self.model_dock.raise_()
        self.log_dock.raise_()
        self.resizeDocks([self.batch_dock], [420], Qt.Orientation.Horizontal)
        self.resizeDocks([self.profile_dock], [230], Qt.Orientation.Vertical)
        self.holes_dock.hide()

    def _action(
        self,
        text: str,
        slot: Callable[..., Any],
        shortcut: Any = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, list | tuple):
                act.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_open = self._action(
            "&Open Files...", self.open_files_dialog, "Ctrl+O", "Open SEM image files"
        )
        self.act_open_folder = self._action(
            "Open &Folder...",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            "Queue every image in a folder (recursive)",
        )
        self.act_samples = self._action(
            "Open &Samples", self.open_samples, None, "Open the bundled sample SEM images"
        )
        self.act_gt = self._action(
            "Load &Ground Truth...",
            self.load_ground_truth_dialog,
            None,
            "Load a true depth map for the shown image",
        )
        self.act_export = self._action(
            "&Export...", self.export_dialog, "Ctrl+E", "Export depth maps (TIFF, CSV, PNG)"
        )
        self.act_copy = self._action(
            "&Copy View to Clipboard", self.copy_view, "Ctrl+Shift+C", "Copy the panels as an image"
        )
        self.act_save_view = self._action(
            "Save View as &PNG...", self.save_view_dialog, None, "Save the panels as a PNG"
        )
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        self.act_prev = self._action(
            "&Previous Result", self.show_previous, ["Left", "PgUp"], "Show the previous result"
        )
        self.act_next = self._action(
            "&Next Result", self.show_next, ["Right", "PgDown"], "Show the next result"
        )
        self.act_load_model = self._action(
            "&Load Model...", self.load_model_dialog, None, "Load a .safetensors model"
        )
        self.act_line = self._action(
            "Line Profile", self._toggle_line, None, "Show the line-profile tool", checkable=True
        )
        self.act_rect = self._action(
            "ROI Statistics", self._toggle_rect, None, "Show the rectangle tool", checkable=True
        )
        self.act_line.setChecked(True)
        self.act_cancel = self._action("&Cancel Batch", self.cancel_batch, K.Cancel)
        self.act_about = self._action("&About", self._about)

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        for a in (self.act_open, self.act_open_folder, self.act_samples):
            file_menu.addAction(a)
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.act_gt)
        file_menu.addSeparator()
        for a in (self.act_export, self.act_copy, self.act_save_view):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        view_menu = mb.addMenu("&View")
        view_menu.addAction(self.act_prev)
        view_menu.addAction(self.act_next)
        view_menu.addSeparator()
        view_menu.addAction(self.act_line)
        view_menu.addAction(self.act_rect)
        view_menu.addSeparator()
        for d in (
            self.batch_dock,
            self.model_dock,
            self.readout_dock,
            self.profile_dock,
            self.roi_dock,
            self.holes_dock,
            self.log_dock,
        ):
            view_menu.addAction(d.toggleViewAction())
        model_menu = mb.addMenu("&Model")
        model_menu.addAction(self.act_load_model)
        batch_menu = mb.addMenu("&Batch")
        batch_menu.addAction(self.act_cancel)
        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self.act_about)

        tb = QToolBar("Main", self)
        tb.setObjectName("main_toolbar")
        self.addToolBar(tb)
        for a in (self.act_open, self.act_open_folder, self.act_samples, self.act_export):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(QLabel(" Colour map "))
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(list(DEPTH_COLORMAPS))
        self.cmap_combo.setToolTip("Colour map of predicted and true depth")
        tb.addWidget(self.cmap_combo)
        self.auto_levels = QCheckBox("Auto levels")
        self.auto_levels.setChecked(True)
        self.auto_levels.setToolTip("Depth colour range from the shown maps (shared)")
        tb.addWidget(self.auto_levels)
        self.level_min = QDoubleSpinBox()
        self.level_max = QDoubleSpinBox()
        for sb, v in ((self.level_min, 0.0), (self.level_max, 255.0)):
            sb.setRange(-1e6, 1e6)
            sb.setDecimals(2)
            sb.setValue(v)
            sb.setKeyboardTracking(False)
            sb.setEnabled(False)
        tb.addWidget(QLabel(" min "))
        tb.addWidget(self.level_min)
        tb.addWidget(QLabel(" max "))
        tb.addWidget(self.level_max)
        tb.addWidget(QLabel(" Unit "))
        self.unit_combo = QComboBox()
        self.unit_combo.addItems(["DU", "nm"])
        self.unit_combo.setToolTip("Depth unit (nm needs the model card's nm per depth unit)")
        tb.addWidget(self.unit_combo)
        self.sem_denoised_check = QCheckBox("Denoised SEM")
        self.sem_denoised_check.setChecked(True)
        self.sem_denoised_check.setEnabled(False)
        self.sem_denoised_check.setToolTip(
            "SEM panel: show the Noise2Self-denoised image (ticked) or the raw image; "
            "available when the prediction denoised first (Model panel)"
        )
        tb.addWidget(self.sem_denoised_check)
        tb.addSeparator()
        tb.addAction(self.act_line)
        tb.addAction(self.act_rect)
        tb.addSeparator()
        tb.addAction(self.act_prev)
        tb.addAction(self.act_next)

    def _connect(self) -> None:
        self.state.currentChanged.connect(self._on_current_changed)
        self.batch.itemReady.connect(self._on_item_ready)
        self.batch.progressChanged.connect(self._on_progress)
        self.batch.jobStarted.connect(lambda _n: self.batch_panel.set_running(True))
        self.batch.jobFinished.connect(self._on_job_finished)
        self.batch.jobFailed.connect(self._on_job_failed)
        self.batch_panel.rowActivated.connect(self.show_row)
        self.batch_panel.cancelRequested.connect(self.cancel_batch)
        self.batch_panel.clearRequested.connect(self.clear_queue)
        self.model_panel.loadRequested.connect(self.load_model_dialog)
        self.model_panel.deviceChanged.connect(self.set_device)
        self.model_panel.denoiseToggled.connect(self.set_denoise)
        self.model_panel.loadDenoiserRequested.connect(self.load_denoiser_dialog)
        self.sem_denoised_check.toggled.connect(self.set_show_denoised)
        self.view.cursorMoved.connect(self._on_cursor)
        self.view.cursorLeft.connect(self._on_cursor_left)
        self.view.lineChanged.connect(lambda _l: self.update_profile())
        self.view.rectChanged.connect(lambda _r: self.update_roi_stats())
        self.view.depthLevelsChanged.connect(self._on_levels_dragged)
        self.holes_panel.holeSelected.connect(self._on_hole_selected)
        self.cmap_combo.currentTextChanged.connect(self._on_cmap)
        self.auto_levels.toggled.connect(self._on_auto_levels)
        self.level_min.valueChanged.connect(self._on_fixed_levels)
        self.level_max.valueChanged.connect(self._on_fixed_levels)
        self.unit_combo.currentTextChanged.connect(self._on_unit)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)

    # ================================================================== settings
    def _restore_settings(self, device: str | None) -> None:
        s = self.settings
        geometry = s.value("geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(geometry)
        window_state = s.value("window_state")
        if isinstance(window_state, QByteArray | bytes):
            self.restoreState(window_state)
        cmap = str(s.value("colormap", "viridis"))
        if cmap in DEPTH_COLORMAPS:
            self.cmap_combo.setCurrentText(cmap)
            self.view.set_depth_colormap(cmap)
        unit = str(s.value("unit", "DU"))
        self.unit_combo.setCurrentText(unit if unit in ("DU", "nm") else "DU")
        self.view.unit = self.unit_combo.currentText()
        self.model_panel.set_device(device or str(s.value("device", "auto")))
        self.sem_denoised_check.setChecked(show_denoised_setting(s))

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.setValue("colormap", self.cmap_combo.currentText())
        s.setValue("unit", self.unit_combo.currentText())
        s.setValue("device", self.model_panel.device())
        s.setValue("sem_denoised", self.sem_denoised_check.isChecked())
        save_denoise_settings(s, self.model_panel.denoise_enabled(), self.denoiser_path)
        s.sync()

    @property
    def last_folder(self) -> str:
        return str(self.settings.value("last_folder", ""))

    def _remember_folder(self, path: Path) -> None:
        folder = path if path.is_dir() else path.parent
        self.settings.setValue("last_folder", str(folder))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = recent_files(self.settings)
        if not items:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
            return
        for p in items:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _c=False, p=p: self.open_paths([p]))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Recent Files", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])

    # ================================================================== tasks
    def _start_task(
        self,
        name: str,
        fn: Callable[..., Any],
        on_success: Callable[[Any], None],
        on_failure: Callable[[TaskFailure], None] | None = None,
        on_message: Callable[[Any], None] | None = None,
    ) -> Task:
        task = Task(name, fn, self)
        self.tasks.add(task)
        task.succeeded.connect(lambda r: None if self._closing else on_success(r))
        task.failed.connect(
            lambda f: None if self._closing else (on_failure or self._report_failure)(f)
        )
        if on_message is not None:
            task.message.connect(lambda m: None if self._closing else on_message(m))
        task.finished.connect(lambda: self.tasks.discard(task))
        return task.start()

    def _report_failure(self, failure: TaskFailure) -> None:
        if failure.cancelled:
            self.statusBar().showMessage(f"{failure.task}: cancelled", 5000)
            return
        self.errors.report(f"{failure.task} failed", failure.message, failure.traceback)

    # ================================================================== model
    def _no_model(self, message: str) -> None:
        self.predictor = None
        self.batch.set_predictor(None)
        self.model_status.setText("No model loaded")
        self.model_panel.set_card(None)
        self.statusBar().showMessage(message, 15000)
        log.warning(message)

    def load_model(self, path: Path, device: str | None = None) -> Task:
        """Load a checkpoint in a worker thread; ``modelLoaded`` fires when it is ready."""
        device = device or self.model_panel.device()
        self.model_status.setText(f"Loading {Path(path).name}...")

        def work(_emit: Any, _cancel: Any) -> Any:
            predictor = Predictor.from_checkpoint(path, device=device)
            # warm up (kernel selection, autocast set-up) here rather than on the first image
            rows, cols = predictor.input_size
            predictor.run_model(np.zeros((1, rows, cols), np.float32))
            return predictor

        def ok(predictor: Any) -> None:
            self.predictor = predictor
            self.model_path = Path(path)
            want = self._wanted_denoiser()
            predictor.set_denoiser(want, source=self.denoiser_path if want is not None else None)
            self.batch.set_predictor(predictor)
            dev = f"{predictor.device} ({getattr(predictor, 'fast_path', '')})"
            self.model_panel.set_card(predictor.card, str(path), dev)
            model_id = getattr(predictor, "model_id", Path(path).stem)
            self.model_status.setText(f"Model: {model_id} on {predictor.device}")
            log.info("model %s loaded from %s on %s", model_id, path, predictor.device)
            self.modelLoaded.emit(predictor)
            self.batch.start_if_idle()

        def failed(f: TaskFailure) -> None:
            self._no_model(f"No model loaded: {f.message}")
            self.errors.report("Could not load the model", f.message, f.traceback)
            self.modelFailed.emit(f.message)

        return self._start_task("load model", work, ok, failed)

    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load model", self.last_folder, "Models (*.safetensors);;All files (*)"
        )
        if path:
            self.load_model(Path(path))

    def set_device(self, device: str) -> None:
        self.settings.setValue("device", device)
        if self.model_path is not None:
            if self.batch.busy:
                self.statusBar().showMessage(
                    "The device change applies after the running batch.", 5000
                )
            self.load_model(self.model_path, device)
        if self.denoiser is not None and self.denoiser_path is not None:
            self.load_denoiser(self.denoiser_path, enable=False)  # onto the new device

    # ================================================================== denoise first
    def _wanted_denoiser(self) -> Any:
        return self.denoiser if self.model_panel.denoise_enabled() else None

    def _denoiser_file_dialog(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load Noise2Self denoiser",
            self.last_folder,
            "Denoisers (*.safetensors);;All files (*)",
        )
        return Path(path) if path else None

    def _restore_denoiser(self) -> None:
        enabled, path = denoise_settings(self.settings)
        self.denoiser_path = Path(path) if path else None
        if self.denoiser_path is not None:
            self.model_panel.set_denoiser_info(
                None, note=f"Denoiser: {self.denoiser_path.name} (not loaded)"
            )
        if not enabled:
            return
        if self.denoiser_path is None or not self.denoiser_path.is_file():
            msg = f"Denoise first is off: the denoiser {self.denoiser_path or ''} is missing."
            self.statusBar().showMessage(msg, 15000)
            log.warning(msg)
            return
        self.model_panel.set_denoise_checked(True)
        self.load_denoiser(self.denoiser_path)

    def set_denoise(self, on: bool) -> Task | None:
        """Turn "Denoise first (Noise2Self)" on or off (the model panel's box calls this).

        New predictions use the choice, starting with the shown image, which is
        re-predicted; cached results of other rows are dropped so they re-predict when
        shown. Turning it on with no denoiser loaded loads the remembered one, or asks for a
        file (:attr:`choose_denoiser_path`); returns that loading task.
        """
        self.model_panel.set_denoise_checked(on)
        self.settings.setValue("denoise/enabled", bool(on))
        if on and self.denoiser is None:
            path = self.denoiser_path
            if path is None or not path.is_file():
                path = self.choose_denoiser_path()
            if path is None:
                self.model_panel.set_denoise_checked(False)
                self.settings.setValue("denoise/enabled", False)
                self.statusBar().showMessage("Denoise first: no denoiser chosen.", 5000)
                return None
            return self.load_denoiser(Path(path))
        self._apply_denoiser()
        return None

    def load_denoiser(self, path: Path, *, enable: bool = True) -> Task:
        """Load a Noise2Self denoiser checkpoint in a worker thread; ``denoiserLoaded``
        fires when it is ready. ``enable`` ticks "Denoise first" once loaded; new
        predictions wait for the denoiser meanwhile."""
        path = Path(path)
        device = self.model_panel.device()
        self.model_panel.set_denoiser_info(None, note=f"Loading denoiser {path.name}...")
        if enable:
            self.batch.set_enabled(False)  # queued images wait for the denoiser

        def release() -> None:
            if enable:
                self.batch.set_enabled(True)
                self.batch.start_if_idle()

        def work(_emit: Any, _cancel: Any) -> Any:
            return load_denoiser(path, device=resolve_device(device))

        def ok(denoiser: Any) -> None:
            self.denoiser = denoiser
            self.denoiser_path = path
            self.settings.setValue("denoise/path", str(path))
            self.model_panel.set_denoiser_info(denoiser.model_id, str(path))
            if enable:
                self.model_panel.set_denoise_checked(True)
                self.settings.setValue("denoise/enabled", True)
            log.info("denoiser %s loaded from %s", denoiser.model_id, path)
            self.denoiserLoaded.emit(denoiser)
            self._apply_denoiser()
            release()

        def failed(f: TaskFailure) -> None:
            if self.denoiser is None:
                self.model_panel.set_denoise_checked(False)
                self.settings.setValue("denoise/enabled", False)
                self.model_panel.set_denoiser_info(None)
            else:
                self.model_panel.set_denoiser_info(
                    self.denoiser.model_id, str(self.denoiser_path or "")
                )
            self.errors.report("Could not load the denoiser", f.message, f.traceback)
            self.denoiserFailed.emit(f.message)
            release()

        return self._start_task("load denoiser", work, ok, failed)

    def load_denoiser_dialog(self) -> None:
        path = self.choose_denoiser_path()
        if path:
            self._remember_folder(Path(path))
            self.load_denoiser(Path(path))

    def _apply_denoiser(self) -> None:
        """Give the predictor the wanted denoiser; re-predict the shown image if it changed."""
        want = self._wanted_denoiser()
        pred = self.predictor
        if pred is None or pred.denoiser is want:
            return
        pred.set_denoiser(want, source=self.denoiser_path if want is not None else None)
        log.info("denoise first %s", f"on ({want.model_id})" if want is not None else "off")
        self._repredict_current()

    def _repredict_current(self) -> None:
        self.state.cache.clear()
        cur = self.state.current
        if cur is None or cur.row_id is None:
            return
        try:
            row = self.state.row(cur.row_id)
        except KeyError:
            return
        if row.status != DONE:
            return  # queued or running rows pick up the new setting
        self.statusBar().showMessage(f"Re-predicting {row.source.name}...", 5000)
        self._pending_show = cur.row_id
        self.state.set_status(cur.row_id, QUEUED)
        self.batch.start_if_idle()

    def set_show_denoised(self, on: bool) -> None:
        """SEM panel (and readout, line profile): the denoised image (on) or the raw one."""
        self.sem_denoised_check.blockSignals(True)
        self.sem_denoised_check.setChecked(bool(on))
        self.sem_denoised_check.blockSignals(False)
        self.settings.setValue("sem_denoised", bool(on))
        if self.state.current is not None:
            self.view.set_show_denoised(on)
            self.readout_panel.set_values(None)
            self.readout_label.setText("")
            self.update_profile()
        self._update_sem_labels()

    def _update_sem_labels(self) -> None:
        data = self.state.current
        self.sem_denoised_check.setEnabled(data is not None and data.sem_denoised is not None)
        self.readout_panel.set_sem_kind(data.sem_kind if data is not None else "raw")

    # ================================================================== opening
    def open_paths(
        self, paths: Sequence[str | Path], *, show_first: bool = True, note: str = ""
    ) -> Task:
        """Queue files, folders (recursive) and globs; expansion runs in a worker thread.

        ``note`` is appended to the status-bar message once the inputs are queued.
        """
        inputs = [Path(p) for p in paths]
        if show_first:
            self._show_next = True

        def work(_emit: Any, _cancel: Any) -> Any:
            return expand_for_queue(inputs)

        def ok(result: Any) -> None:
            accepted, rejected = result
            self.state.add_rows(accepted)
            for path, reason in rejected:
                self.state.add_failed_row(path, reason)
                log.warning("%s: %s", path, reason)
            for p in inputs:
                add_recent_file(self.settings, p)
            if inputs:
                self._remember_folder(inputs[0])
            msg = f"Queued {len(accepted)} image(s)"
            if rejected:
                msg += f"; {len(rejected)} input(s) could not be queued"
            if self.predictor is None and accepted:
                msg += " - no model loaded, load one to start"
            if note:
                msg += f". {note}"
            self.statusBar().showMessage(msg, 10000)
            self.inputsQueued.emit(len(accepted), len(rejected))
            self.batch.start_if_idle()

        return self._start_task("open", work, ok)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open SEM images", self.last_folder, IMAGE_FILTER
        )
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open folder of SEM images", self.last_folder
        )
        if folder:
            self.open_paths([folder])

    def open_samples(self) -> Task | None:
        try:
            samples = resources.sample_images()
        except OSError as exc:
            samples = []
            log.warning("no sample images: %s", exc)
        # ground-truth maps bundled beside the samples (x_depth.png) are not SEM images
        samples = [s for s in samples if not is_output_stem(s.stem)]
        if not samples:
            self.statusBar().showMessage("No sample images are bundled with this build.", 8000)
            return None
        return self.open_paths(samples)

    # drag and drop ----------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = list(event.mimeData().urls())
        local = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        remote = [u.toString() for u in urls if not u.isLocalFile()]
        msg = ""
        if remote:
            msg = (
                f"Refused {len(remote)} non-local item(s) (only files and folders on this "
                f"computer can be opened): {', '.join(remote[:3])}"
            )
            self.statusBar().showMessage(msg, 10000)
            log.warning(msg)
        if local:
            self.open_paths(local, note=msg if remote else "")
            event.acceptProposedAction()
        else:
            event.ignore()

    # ================================================================== batch
    def _on_progress(self, done: int, total: int, _message: str) -> None:
        self.batch_panel.set_progress(done, total)

    def _on_item_ready(self, row_id: int, item: Any) -> None:
        if item.status == DONE and item.result is not None:
            if self._pending_show == row_id or self._show_next:
                self._pending_show = None
                self._show_next = False
                self._display_item(row_id, item)
        elif item.status != DONE:
            log.warning("%s: %s", item.source, item.error)
            if self._pending_show == row_id:
                self._pending_show = None

    def _on_job_finished(self, summary: Any) -> None:
        self.batch_panel.set_running(self.batch.busy)
        self.batch_panel.update_summary()
        if summary is not None and getattr(summary, "cancelled", False):
            self.statusBar().showMessage("Batch cancelled.", 5000)

    def _on_job_failed(self, failure: TaskFailure) -> None:
        self.batch_panel.set_running(self.batch.busy)
        self.errors.report("Batch failed", failure.message, failure.traceback)

    def cancel_batch(self) -> None:
        self.batch.cancel()
        for t in list(self.tasks):
            if t.name == "export":
                t.cancel()
        self.statusBar().showMessage("Cancelling...", 3000)

    def clear_queue(self) -> None:
        if self.batch.busy:
            self.statusBar().showMessage("Cancel the running batch before clearing.", 5000)
            return
        self.state.clear()

    # ================================================================== showing results
    def show_row(self, row_id: int) -> None:
        """Show a finished row (re-running it when its arrays were dropped from memory)."""
        try:
            row = self.state.row(row_id)
        except KeyError:
            return
        item = self.state.cache.get(row_id)
        if item is not None:
            self._display_item(row_id, item)
        elif row.status == DONE:
            self.statusBar().showMessage(f"Recomputing {row.source.name}...", 5000)
            self._pending_show = row_id
            self.state.set_status(row_id, QUEUED)
            self.batch.start_if_idle()
        elif row.error:
            self.statusBar().showMessage(f"{row.source.name}: {row.error}", 10000)
        else:
            self.statusBar().showMessage(f"{row.source.name}: {row.status}", 5000)

    def _display_item(self, row_id: int, item: Any) -> None:
        try:
            data = DisplayData.from_item(item, row_id)
        except ValueError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return
        data.show_denoised = self.sem_denoised_check.isChecked()
        self.state.set_current(data)
        self.batch_panel.select_row_id(row_id)

    def _on_current_changed(self, data: DisplayData | None) -> None:
        nm_ok = bool(data is not None and data.nm_per_depth_unit)
        item = self.unit_combo.model().item(1)  # type: ignore[attr-defined]
        item.setEnabled(nm_ok)
        unit = self.unit_combo.currentText() if nm_ok else "DU"
        self.view.show_data(data, unit=unit)
        self._update_sem_labels()
        self.holes_panel.set_holes(data.holes if data is not None else None)
        if data is not None and data.holes:
            self.holes_dock.show()
            self.holes_dock.raise_()
        if data is None:
            self.setWindowTitle("SEM Depth Studio")
        else:
            name = data.source.name if data.source else "image"
            self.setWindowTitle(f"SEM Depth Studio - {name}")
        self._sync_level_boxes()
        self.readout_panel.set_values(None)
        self.readout_label.setText("")
        self.update_profile()
        self.update_roi_stats()
        if data is not None:
            self.resultShown.emit(data)

    def _done_row_ids(self) -> list[int]:
        return [r.row_id for r in self.state.rows if r.status == DONE]

    def _step(self, delta: int) -> None:
        ids = self._done_row_ids()
        if not ids:
            return
        cur = self.state.current.row_id if self.state.current is not None else None
        i = ids.index(cur) + delta if cur in ids else 0 if delta > 0 else len(ids) - 1
        if 0 <= i < len(ids):
            self.show_row(ids[i])

    def show_previous(self) -> None:
        self._step(-1)

    def show_next(self) -> None:
        self._step(+1)

    # ================================================================== readout and tools
    def readout_at(self, row: int, col: int) -> dict[str, Any]:
        """The values under pixel (row, col) of the shown result (see DisplayData.readout_at)."""
        data = self.state.current
        if data is None:
            return {"row": row, "col": col, "inside": False}
        return data.readout_at(row, col)

    def _on_cursor(self, row: int, col: int) -> None:
        values = self.readout_at(row, col)
        self.readout_panel.set_values(values)
        self.readout_label.setText(format_readout(values))

    def _on_cursor_left(self) -> None:
        self.readout_label.setText("")

    def update_profile(self) -> None:
        data = self.state.current
        if data is None or not self.act_line.isChecked():
            self.profile_plot.clear_profile()
            return
        self.update_profile_for(data)

    def update_profile_for(self, data: DisplayData) -> None:
        p0, p1 = self.view.line()
        dist = line_distances(p0, p1)
        unit = "px"
        if data.pixel_size_nm:
            dist = dist * data.pixel_size_nm
            unit = "nm"
        curves = {
            "depth": sample_line(self.view.scaled(data.depth), p0, p1),
            "truth": None
            if data.truth is None
            else sample_line(self.view.scaled(data.truth), p0, p1),
            "sem": sample_line(data.shown_sem, p0, p1),
        }
        self.profile_plot.set_profile(
            dist, curves, distance_unit=unit, depth_unit=self.view.unit_label
        )

    def update_roi_stats(self) -> None:
        data = self.state.current
        if data is None or not self.act_rect.isChecked():
            self.roi_panel.set_stats(None)
            return
        rows, cols = rect_slices(data.shape, *self.view.rect())
        stats = roi_statistics(data.depth, data.truth, rows, cols)
        self.roi_panel.set_stats(stats, self.view.unit_label, self.view.scale)

    def roi_stats(self) -> dict[str, Any] | None:
        """The rectangle's statistics in DU (None when the tool is off or nothing is shown)."""
        return self.roi_panel.stats

    def _toggle_line(self, on: bool) -> None:
        self.view.set_tool_visible("line", on)
        self.profile_dock.setVisible(on)
        self.update_profile()

    def _toggle_rect(self, on: bool) -> None:
        self.view.set_tool_visible("rect", on)
        if on:
            self.roi_dock.show()
            self.roi_dock.raise_()
        self.update_roi_stats()

    def _on_hole_selected(self, row: float, col: float) -> None:
        # hole centres are pixel indices; pixel (r, c) is centred at (c + 0.5, r + 0.5)
        self.view.center_on(row + 0.5, col + 0.5)

    # ================================================================== display controls
    def _on_cmap(self, name: str) -> None:
        self.view.set_depth_colormap(name)
        self.settings.setValue("colormap", name)

    def _on_auto_levels(self, auto: bool) -> None:
        self.level_min.setEnabled(not auto)
        self.level_max.setEnabled(not auto)
        if auto:
            self.view.set_auto_levels(True)
        else:
            self._on_fixed_levels()
        self._sync_level_boxes()

    def _on_fixed_levels(self, *_args: Any) -> None:
        if self.auto_levels.isChecked():
            return
        lo, hi = self.level_min.value(), self.level_max.value()
        if hi > lo:
            self.view.set_fixed_levels(lo, hi)

    def _on_levels_dragged(self, lo: float, hi: float) -> None:
        self.auto_levels.blockSignals(True)
        self.auto_levels.setChecked(False)
        self.auto_levels.blockSignals(False)
        self.level_min.setEnabled(True)
        self.level_max.setEnabled(True)
        self._set_level_boxes(lo, hi)

    def _sync_level_boxes(self) -> None:
        lo, hi = self.view.depth_levels()
        self._set_level_boxes(lo, hi)

    def _set_level_boxes(self, lo: float, hi: float) -> None:
        for sb, v in ((self.level_min, lo), (self.level_max, hi)):
            sb.blockSignals(True)
            sb.setValue(v)
            sb.blockSignals(False)

    def _on_unit(self, unit: str) -> None:
        self.settings.setValue("unit", unit)
        if self.state.current is not None:
            old_scale = self.view.scale
            self.view.show_data(self.state.current, unit=unit)
            if not self.view.auto_levels and old_scale:
                lo, hi = self.view.fixed_levels
                f = self.view.scale / old_scale
                self.view.set_fixed_levels(lo * f, hi * f)
            self._sync_level_boxes()
            self.update_profile()
            self.update_roi_stats()
        else:
            self.view.unit = unit

    # ================================================================== ground truth
    def load_ground_truth(self, path: Path) -> Task | None:
        """Read a true depth map for the shown result (worker thread) and show the error."""
        data = self.state.current
        if data is None:
            self.statusBar().showMessage("Open an image before loading its ground truth.", 5000)
            return None
        row_id = data.row_id

        def work(_emit: Any, _cancel: Any) -> Any:
            return read_depth(path)

        def ok(truth: Any) -> None:
            cur = self.state.current
            if cur is None or cur.row_id != row_id:
                return
            try:
                cur.set_truth(np.asarray(truth, dtype=np.float32))
            except ValueError as exc:
                self.errors.report("Ground truth does not fit", f"{path}: {exc}")
                return
            item = self.state.cache.get(row_id) if row_id is not None else None
            if item is not None and row_id is not None:
                item = copy.copy(item)
                item.ground_truth = cur.truth
                item.rmse = cur.rmse
                self.state.record_item(row_id, item)
            log.info("ground truth %s loaded (RMSE %.3f DU pooled)", path, cur.rmse or 0.0)
            self.state.set_current(cur)
            self.groundTruthLoaded.emit(cur)

        return self._start_task("load ground truth", work, ok)

    def load_ground_truth_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load ground-truth depth map", self.last_folder, DEPTH_FILTER
        )
        if path:
            self.load_ground_truth(Path(path))

    # ================================================================== export
    def export_dialog(self) -> None:
        n_done = len(self.state.done_rows())
        if self.state.current is None and n_done == 0:
            self.statusBar().showMessage("Nothing to export yet.", 5000)
            return
        dlg = ExportDialog(
            self,
            folder=str(self.settings.value("export_folder", self.last_folder)),
            has_current=self.state.current is not None,
            n_done=n_done,
        )
        if dlg.exec() != ExportDialog.DialogCode.Accepted:
            return
        request = dlg.request()
        if request is None:
            self.statusBar().showMessage("Export needs a folder and at least one format.", 5000)
            return
        self.export(request)

    def export(self, request: ExportRequest, *, overwrite: bool | None = None) -> Task | None:
        """Write results through ``core.batch`` (same files as ``semdepth predict``).

        Never overwrites without asking: ``current`` asks when a file exists, ``all`` asks
        when the folder is not empty. ``overwrite`` skips the question (tests, re-tries).
        """
        self.settings.setValue("export_folder", str(request.out_dir))
        if request.scope == "current":
            return self._export_current(request, bool(overwrite))
        return self._export_all(request, overwrite)

    def _export_current(self, request: ExportRequest, overwrite: bool) -> Task | None:
        data = self.state.current
        item = self.state.cache.get(data.row_id) if data and data.row_id is not None else None
        if data is None or item is None:
            self.statusBar().showMessage("No result to export.", 5000)
            return None
        out_dir, formats = request.out_dir, request.formats
        stem = data.source.stem if data.source else "depth"

        def work(_emit: Any, _cancel: Any) -> Any:
            out_dir.mkdir(parents=True, exist_ok=True)
            return write_outputs(item, out_dir, formats=formats, stem=stem, overwrite=overwrite)

        def ok(outputs: Any) -> None:
            self.statusBar().showMessage(f"Exported {stem} to {out_dir}", 8000)
            log.info("exported %s: %s", stem, ", ".join(str(p) for p in dict(outputs).values()))
            self.exportFinished.emit(outputs)

        def failed(f: TaskFailure) -> None:
            if isinstance(f.exception, OutputExistsError | FileExistsError) and not overwrite:
                if self.ask("Overwrite?", f"{f.message}\n\nOverwrite the existing files?"):
                    self._export_current(request, True)
                    return
                self.statusBar().showMessage("Export cancelled: files exist.", 8000)
                self.exportFailed.emit(f.message)
                return
            self._report_failure(f)
            self.exportFailed.emit(f.message)

        return self._start_task("export", work, ok, failed)

    def _export_all(self, request: ExportRequest, overwrite: bool | None) -> Task | None:
        if self.predictor is None:
            self.statusBar().showMessage("Load a model before exporting all results.", 5000)
            return None
        sources = [r.source for r in self.state.done_rows()]
        if not sources:
            self.statusBar().showMessage("No finished results to export.", 5000)
            return None
        out_dir, formats, predictor = request.out_dir, request.formats, self.predictor
        if overwrite is None:
            overwrite = False
            if out_dir.is_dir() and any(out_dir.iterdir()):
                if not self.ask(
                    "Overwrite?",
                    f"{out_dir} is not empty. Files with the same names will be replaced.\n\n"
                    "Overwrite existing files?",
                ):
                    self.statusBar().showMessage("Export cancelled.", 5000)
                    return None
                overwrite = True

        def work(emit: Any, cancel: Any) -> Any:
            return run_batch(
                sources,
                predictor,
                out_dir,
                formats=formats,
                overwrite=bool(overwrite),
                progress=lambda p: emit(p),
                cancel=cancel,
            )

        def progress(p: Any) -> None:
            self.statusBar().showMessage(f"Exporting {p.done}/{p.total}...", 2000)

        def ok(summary: Any) -> None:
            msg = f"Exported {summary.n_done} result(s) to {out_dir}"
            if summary.n_failed:
                msg += f"; {summary.n_failed} failed (see the log)"
                for it in summary.items:
                    if it.status == "failed":
                        log.warning("export %s: %s", it.source, it.error)
            self.statusBar().showMessage(msg, 10000)
            log.info(msg)
            self.exportFinished.emit(summary)

        return self._start_task("export", work, ok, on_message=progress)

    # ================================================================== view images
    def copy_view(self) -> None:
        QGuiApplication.clipboard().setPixmap(self.view.grab())
        self.statusBar().showMessage("View copied to the clipboard.", 3000)

    def save_view(self, path: Path, *, overwrite: bool = False) -> bool:
        path = Path(path)
        if path.exists() and not overwrite and not self.ask("Overwrite?", f"Replace {path}?"):
            return False
        ok = self.view.grab().save(str(path), "PNG")
        if not ok:
            self.errors.report("Could not save the view", f"{path}: the PNG could not be written")
        return bool(ok)

    def save_view_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save view as PNG", self.last_folder, "PNG images (*.png)"
        )
        if path:
            # the file dialog already asked about replacing an existing file
            self.save_view(Path(path), overwrite=True)

    # ================================================================== misc
    def _ask_dialog(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _about(self) -> None:
        from .dialogs.about import AboutDialog

        card = self.predictor.card if self.predictor is not None else None
        AboutDialog(card, self, model_path=getattr(self.predictor, "source", None)).exec()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, cancel the batch and wait for every worker thread to stop."""
        self._closing = True
        try:
            self.save_settings()
        except Exception:  # settings must never block closing
            log.exception("could not save settings")
        self.batch.shutdown()
        for t in list(self.tasks):
            t.cancel()
        for t in list(self.tasks):
            t.wait(60_000)
        self.tasks.clear()
        self.log_panel.detach()
        super().closeEvent(event)
