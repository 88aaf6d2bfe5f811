"""Fixtures for the GUI tests: temporary settings, a tiny model, tiny PNGs, a window.

The ``window`` fixture closes what it opens and fails on leaked worker threads or on
unexpected error reports (the error dialog is replaced by a recorder, so nothing blocks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, QStandardPaths

ROWS, COLS = 72, 48


@pytest.fixture(autouse=True)
def temp_settings(tmp_path: Path) -> Iterator[Path]:
    """Every QSettings of the app goes to a temporary folder."""
    folder = tmp_path / "settings"
    folder.mkdir()
    QStandardPaths.setTestModeEnabled(True)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-initialised 2-level, 4-wide U-Net checkpoint (fp32 fast path)."""
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("unet", levels=2, base_width=4)
    card = {
        "id": "tiny-test-unet",
        "input": {"normalization": "dtype-range-0-1", "size": [ROWS, COLS], "pixel_size_nm": None},
        "output": {
            "range": [0, 255],
            "unit": "DU",
            "convention": "deeper = smaller",
            "nm_per_depth_unit": None,
        },
        "training": {"preset": "unet-2level", "data": {"root": "synthetic", "n_train": 0}},
        "metrics": {"val_rmse_per_image": 99.0},
        "inference": {"fast_path": "fp32"},
    }
    folder = tmp_path_factory.mktemp("model")
    return save_checkpoint(folder / "tiny", model, card)


#: A hand-written calibration (the trust step's split-conformal scales, core/trust/uncertainty):
#: sigma = (q / k) sqrt(tau^2 + u^2) per quantity, k = 2.
CALIBRATION = {
    "method": "split-conformal",
    "coverage": 0.95,
    "k": 2,
    "tta": "flips",
    "n_images": 10,
    "scales": {
        "depth": {"tau_du": 3.0, "q": 2.5, "n": 100},
        "below_top": {"tau_du": 1.0, "q": 2.0, "n": 100},
        "hole": {"tau_du": 2.0, "q": 3.0, "n": 40},
    },
}
#: The calibrated tiny model's pixel size and depth scale: a TIFF at this pixel size gives
#: depths below top in nm.
CAL_PIXEL_NM, CAL_NM_PER_DU = 2.0, 0.5


@pytest.fixture(scope="session")
def calibrated_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny U-Net with a calibration (``uncertainty`` section), a pixel size and nm per
    depth unit in its card: predictions carry a calibrated sigma and, at the model's pixel
    size, depth below top in nm."""
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("unet", levels=2, base_width=4)
    card = {
        "id": "tiny-calibrated-unet",
        "input": {
            "normalization": "dtype-range-0-1",
            "size": [ROWS, COLS],
            "pixel_size_nm": CAL_PIXEL_NM,
        },
        "output": {
            "range": [0, 255],
            "unit": "DU",
            "convention": "deeper = smaller",
            "nm_per_depth_unit": CAL_NM_PER_DU,
        },
        "uncertainty": CALIBRATION,
        "inference": {"fast_path": "fp32"},
    }
    folder = tmp_path_factory.mktemp("calibrated")
    return save_checkpoint(folder / "tiny_cal", model, card)


def write_tiff(path: Path, pixels: np.ndarray, pixel_size_nm: float) -> Path:
    """An ImageJ-calibrated TIFF (the pixel size in nm)."""
    import tifffile

    res = 1.0 / pixel_size_nm
    tifffile.imwrite(path, pixels, imagej=True, resolution=(res, res), metadata={"unit": "nm"})
    return path


def hole_image(seed: int, rows: int = ROWS, cols: int = COLS) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit SEM-like crop of one dark hole and its 8-bit depth map (deeper = smaller)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols]
    r = np.hypot((yy - rows / 2) / (rows * 0.3), (xx - cols / 2) / (cols * 0.3))
    depth = np.where(r < 1, 60 + 90 * r**2, 160).astype(np.float64)
    depth += rng.normal(0, 2, depth.shape)
    sem = 40 + 0.9 * depth + 30 * np.exp(-((r - 1) ** 2) / 0.02) + rng.normal(0, 6, depth.shape)
    return (
        np.clip(sem, 0, 255).astype(np.uint8),
        np.clip(depth, 0, 255).astype(np.uint8),
    )


def write_pair(folder: Path, name: str, seed: int, truth: bool = True) -> Path:
    sem, depth = hole_image(seed)
    (folder / "SEM").mkdir(parents=True, exist_ok=True)
    path = folder / "SEM" / f"{name}.png"
    Image.fromarray(sem).save(path)
    if truth:
        (folder / "Depth").mkdir(parents=True, exist_ok=True)
        Image.fromarray(depth).save(folder / "Depth" / f"{name}.png")
    return path


@pytest.fixture
def sem_folder(tmp_path: Path) -> Path:
    """``data/SEM/{a,b,c}.png`` (72x48 8-bit) with truth in ``data/Depth/``; ``c`` has none."""
    root = tmp_path / "data"
    write_pair(root, "a", 1)
    write_pair(root, "b", 2)
    write_pair(root, "c", 3, truth=False)
    return root / "SEM"


class ErrorRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.allowed = False

    def __call__(self, title: str, message: str, details: str) -> None:
        self.calls.append((title, message, details))


class Asker:
    """Answers the window's yes/no questions; records them."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.questions: list[tuple[str, str]] = []

    def __call__(self, title: str, question: str) -> bool:
        self.questions.append((title, question))
        return self.answer


@pytest.fixture
def errors() -> ErrorRecorder:
    return ErrorRecorder()


@pytest.fixture
def asker() -> Asker:
    return Asker()


@pytest.fixture
def make_window(
    qtbot: Any, tiny_model: Path, tmp_path: Path, errors: ErrorRecorder, asker: Asker
) -> Iterator[Any]:
    """Factory: ``make_window(**kwargs)`` opens a window (model loaded unless model_path=None)."""
    from app import workers
    from app.dialogs.error_dialog import ErrorReporter
    from app.main_window import MainWindow
    from app.settings import make_settings

    threads_before = _python_threads()
    opened: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("model_path", tiny_model)
        kwargs.setdefault("settings", make_settings())
        kwargs.setdefault(
            "error_reporter", ErrorReporter(log_dir=tmp_path / "logs", show_dialog=errors)
        )
        kwargs.setdefault("ask", asker)
        kwargs.setdefault("device", "cpu")
        load = kwargs.pop("wait_model", kwargs["model_path"] is not None)
        win = MainWindow(**kwargs)
        opened.append(win)
        win.resize(1400, 900)
        win.show()
        if load:
            with qtbot.waitSignal(win.modelLoaded, timeout=30_000):
                pass
        return win

    yield factory
    for win in opened:
        win.close()
        win.errors.close()
        win.deleteLater()
    qtbot.wait(10)
    leaked = workers.live_tasks()
    assert not leaked, f"worker threads still running after close: {[t.name for t in leaked]}"
    # Python's own threads; a "dummy" entry is Python's record of a foreign (Qt) thread
    # that ran Python code, e.g. a log call in a worker: the Qt side is checked above
    assert _python_threads() <= threads_before, (
        f"Python threads leaked: {[t.name for t in threading.enumerate()]}"
    )
    if not errors.allowed:
        assert not errors.calls, f"unexpected error reports: {errors.calls}"


@pytest.fixture
def window(make_window: Any) -> Any:
    return make_window()


def wait_batch_idle(qtbot: Any, win: Any, timeout: int = 30_000) -> None:
    """Wait until no batch job runs and no row is queued/running."""

    def idle() -> None:
        assert not win.batch.busy
        assert not [r for r in win.state.rows if r.status in ("queued", "running")]
        assert not [t for t in win.tasks if t.name == "open"]

    qtbot.waitUntil(idle, timeout=timeout)


def open_and_wait(qtbot: Any, win: Any, paths: list[Path], timeout: int = 30_000) -> None:
    with qtbot.waitSignal(win.resultShown, timeout=timeout):
        win.open_paths(paths)
    wait_batch_idle(qtbot, win, timeout)


class SlowPredictor:
    """Delegates to a real predictor, sleeping first; records when each call ran."""

    def __init__(self, inner: Any, delay: float = 0.05) -> None:
        self.inner = inner
        self.delay = delay
        self.calls: list[tuple[float, float]] = []
        self.threads: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def predict(self, image: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic()
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        try:
            return self.inner.predict(image, **kwargs)
        finally:
            self.calls.append((t0, time.monotonic()))


def many_images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sem, _ = hole_image(100 + i)
        Image.fromarray(sem).save(folder / f"img_{i:03d}.png")
    return folder


def _python_threads() -> int:
    """Threads Python started (not its records of foreign threads)."""
    return sum(1 for t in threading.enumerate() if type(t).__name__ != "_DummyThread")
