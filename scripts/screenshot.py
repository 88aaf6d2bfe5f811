"""Render the main window offscreen on the bundled samples to ``docs/screenshots/main_window.png``.

Shows an SEM crop with its predicted depth, true depth and error map, a line profile across
the hole, the batch queue and the model card. Uses the bundled default model, or ``--model``;
without either it falls back to a random-initialised tiny model (the picture then shows the
layout only, and says so on stderr). Settings go to a temporary folder.

    python scripts/screenshot.py [--out docs/screenshots/main_window.png] [--model PATH]
        [--width 1600 --height 1000] [--unit nm] [--sample field_512] [--compare MODEL_B]
        [--surface] [--dock roi|holes|profile|log] [--open FILE ...] [--hole N] [--readout]
        [--holes-width 0.6]

``--compare`` loads a second model and shows the Compare A/B dock; ``--surface`` shows the
3-D surface dock (without OpenGL, as offscreen, the dock says so). ``--open`` shows these
files instead of the samples (the first one). ``--hole N`` selects row N of the hole table
(highlighted, zoomed to), draws the line across it and puts the cursor on its bottom.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _wait(app: object, predicate: Callable[[], bool], timeout: float = 600.0) -> None:
    """Run the event loop until ``predicate()``; QTest.qWait, not processEvents, so deferred
    deletes happen as under app.exec() (else a stale dock tab bar stays on screen)."""
    from PySide6.QtTest import QTest

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state in time")
        QTest.qWait(10)


def _fallback_model(folder: Path) -> Path:
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(0)
    print("screenshot: no default model; using a random-initialised tiny model", file=sys.stderr)
    card = {
        "id": "untrained-demo",
        "input": {"normalization": "dtype-range-0-1", "size": [72, 48], "pixel_size_nm": None},
        "output": {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller"},
        "inference": {"fast_path": "fp32"},
    }
    return save_checkpoint(folder / "demo", create_model("unet", levels=2, base_width=8), card)


def _calibrated_copies(samples: list[Path], pixel_size_nm: float, folder: Path) -> list[Path]:
    """ImageJ-calibrated TIFF copies of the samples (and their truth maps beside them): the
    bundled PNGs state no pixel size."""
    import shutil

    import numpy as np
    import tifffile
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s in samples:
        target = folder / f"{s.stem}.tif"
        res = 1.0 / pixel_size_nm
        pixels = np.asarray(Image.open(s))
        tifffile.imwrite(
            target, pixels, imagej=True, resolution=(res, res), metadata={"unit": "nm"}
        )
        for truth in s.parent.glob(f"{s.stem}_depth.*"):
            shutil.copy(truth, folder / truth.name)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots" / "main_window.png")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--sample", default="hole_1", help="stem of the sample to show [hole_1]")
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=1000)
    p.add_argument("--unit", choices=("DU", "nm"), default="DU")
    p.add_argument("--compare", type=Path, default=None, help="model B checkpoint")
    p.add_argument("--surface", action="store_true", help="show the 3-D surface dock")
    p.add_argument("--dock", default="roi", help="bottom dock to raise [roi]")
    p.add_argument("--open", type=Path, nargs="+", default=None, help="files to show instead")
    p.add_argument("--hole", type=int, default=None, help="select this row of the hole table")
    p.add_argument("--readout", action="store_true", help="raise the Readout dock")
    p.add_argument(
        "--holes-width", type=float, default=0.6, help="the Holes dock's share of the bottom row"
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        help="open calibrated TIFF copies of the samples (this many nm per pixel)",
    )
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.dialogs.error_dialog import ErrorReporter
    from app.main_window import MainWindow
    from app.settings import make_settings
    from app.views.image_view import configure_runtime
    from core import resources
    from core.conventions import is_output_stem

    configure_runtime()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    tmp = Path(tempfile.mkdtemp(prefix="semdepth-shot-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp))
    model = args.model or resources.default_model_path()
    if not Path(model).is_file():
        model = _fallback_model(tmp)
    problems: list[str] = []
    reporter = ErrorReporter(log_dir=tmp, show_dialog=lambda t, m, d: problems.append(f"{t}: {m}"))
    win = MainWindow(model_path=Path(model), settings=make_settings(), error_reporter=reporter)
    win.resize(args.width, args.height)
    win.show()
    _wait(app, lambda: win.predictor is not None or bool(problems))
    win.controls.unit_combo.setCurrentText(args.unit)
    prefix = "field" if args.sample.startswith("field") else "hole"
    samples = [
        s
        for s in resources.sample_images()
        if s.stem.startswith(prefix) and not is_output_stem(s.stem)
    ]
    if not samples:
        raise SystemExit("screenshot: no hole_* sample images found in resources/samples")
    if args.pixel_size:
        samples = _calibrated_copies(samples, args.pixel_size, tmp / "samples")
    if args.open:
        samples = list(args.open)
        args.sample = samples[0].stem
    win.open_paths(samples)
    _wait(
        app,
        lambda: (
            len(win.state.rows) == len(samples)
            and all(r.status in ("done", "failed") for r in win.state.rows)
            and not win.batch.busy
        ),
    )
    if problems:
        raise SystemExit("screenshot: " + "; ".join(problems))
    target = next((r for r in win.state.rows if r.source.stem == args.sample), win.state.rows[0])
    win.show_row(target.row_id)
    _wait(app, lambda: win.state.current is not None and win.state.current.row_id == target.row_id)
    assert win.state.current is not None
    rows, cols = win.state.current.shape
    # a profile across the hole, through its centre
    win.view.set_line((2.5, rows * 0.5 + 0.5), (cols - 2.5, rows * 0.5 + 0.5))
    win.view.on_mouse_moved((win.view.scene_pos_of_pixel(rows // 2, cols // 2, "depth"),))
    cursor = (rows // 2, cols // 2)
    data = win.state.current
    if args.hole is not None and data.holes:
        hole = data.holes[min(args.hole, len(data.holes) - 1)]
        r, c = hole.row + 0.5, hole.col + 0.5
        half = max(2.0 * float(getattr(hole, "top_cd_px", None) or 20.0), 12.0)
        win.view.set_line((c - half, r), (c + half, r))
        win.holes_panel.selectRow(data.holes.index(hole))
        cursor = (
            int(getattr(hole, "bottom_row", hole.row)),
            int(getattr(hole, "bottom_col", hole.col)),
        )
    if args.dock == "roi":
        win.acts.rect.trigger()  # the rectangle tool and its statistics
    elif args.dock in ("holes", "profile", "log"):
        getattr(win, f"{args.dock}_dock").raise_()
    if args.dock == "holes":  # room for the metrology table and its field statistics
        width = win.centralWidget().width()
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        share = min(max(args.holes_width, 0.2), 0.8)
        sizes = [round(width * (1 - share)), round(width * share)]
        win.resizeDocks([win.profile_dock, win.holes_dock], sizes, horizontal)
        win.resizeDocks([win.holes_dock], [int(args.height * 0.34)], vertical)
    if args.compare is not None:
        win.compare.load(args.compare)
        _wait(app, lambda: bool(win.compare.results) or bool(problems))
    if args.surface:
        win.acts.surface.trigger()
    if args.readout:
        win.readout_dock.raise_()
    # the cursor over the centre (or the hole's bottom): the status bar, the Readout dock
    # and Compare's readout
    QTest.qWait(200)  # the zoom to a selected hole settles first
    win.view.on_mouse_moved((win.view.scene_pos_of_pixel(*cursor, "depth"),))
    win.statusBar().clearMessage()  # show the cursor readout, not the last transient message
    QTest.qWait(400)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = win.grab().save(str(args.out), "PNG")
    win.close()
    reporter.close()
    if not ok:
        raise SystemExit(f"screenshot: could not write {args.out}")
    print(f"wrote {args.out} ({args.width}x{args.height}, model {win.predictor.model_id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
