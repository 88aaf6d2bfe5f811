"""Export against the CLI: the same files and names, never overwriting without asking;
images of the view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication

from app.controllers.export import export_stems
from app.dialogs.export_dialog import ExportRequest
from core.io import read_depth_tiff

from ..conftest import wait_batch_idle, write_pair


def run_cli(args: list[str]) -> int:
    from core.cli import main

    return main(args)


def tiffs(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: read_depth_tiff(p)[0] for p in sorted(folder.glob("*.tif"))}


def test_export_all_equals_cli(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, tiny_model: Path
) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder])
    wait_batch_idle(qtbot, window)
    gui_out = tmp_path / "gui_out"
    with qtbot.waitSignal(window.exportFinished, timeout=30_000) as sig:
        window.export(ExportRequest(gui_out, ("tiff", "csv", "png"), "all"))
    summary = sig.args[0]
    assert summary.n_done == 3 and summary.n_failed == 0
    cli_out = tmp_path / "cli_out"
    rc = run_cli(
        [
            "predict",
            str(sem_folder),
            "--out",
            str(cli_out),
            "--model",
            str(tiny_model),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert rc == 0
    gui, cli = tiffs(gui_out), tiffs(cli_out)
    assert (
        sorted(gui)
        == sorted(cli)
        == [
            f"{s}_{kind}.tif"
            for s in ("a", "b", "c")
            for kind in ("depth", "depth_below_top", "uncertainty")
        ]
    )
    for name in gui:
        assert gui[name].dtype == np.float32
        np.testing.assert_array_equal(gui[name], cli[name])
    # the depth arrays are the ones the window showed
    shown = window.state.cache.get(window.state.rows[0].row_id).result.depth
    np.testing.assert_array_equal(gui["a_depth.tif"], shown)
    for name in ("a_depth.csv", "a_depth.png", "summary.csv"):
        assert (gui_out / name).is_file() and (cli_out / name).is_file()
    from core.batch import read_summary

    rows = read_summary(gui_out / "summary.csv")
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png", "c.png"]
    assert rows[0]["rmse_du"] != "" and rows[2]["rmse_du"] == ""


def test_export_all_asks_before_overwriting(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, asker: Any
) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder / "a.png"])
    wait_batch_idle(qtbot, window)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_depth.tif").write_bytes(b"old")
    asker.answer = False
    assert window.export(ExportRequest(out, ("tiff",), "all")) is None
    assert asker.questions and "not empty" in asker.questions[0][1]
    assert (out / "a_depth.tif").read_bytes() == b"old"
    asker.answer = True
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):
        window.export(ExportRequest(out, ("tiff",), "all"))
    arr, _ = read_depth_tiff(out / "a_depth.tif")
    np.testing.assert_array_equal(arr, window.state.current.depth)


def test_export_current_and_overwrite_question(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path, asker: Any
) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder / "b.png"])
    wait_batch_idle(qtbot, window)
    out = tmp_path / "one"
    with qtbot.waitSignal(window.exportFinished, timeout=10_000) as sig:
        window.export(ExportRequest(out, ("tiff", "csv", "png", "dacon"), "current"))
    outputs = sig.args[0]
    assert sorted(p.name for p in outputs.values()) == [
        "b_depth.csv",
        "b_depth.png",
        "b_depth.tif",
        "b_depth8.png",
        "b_depth_below_top.csv",
        "b_depth_below_top.tif",
        "b_uncertainty.tif",
    ]
    depth = window.state.current.depth
    np.testing.assert_array_equal(read_depth_tiff(out / "b_depth.tif")[0], depth)
    dacon = np.asarray(Image.open(out / "b_depth8.png"))
    np.testing.assert_array_equal(dacon, np.clip(np.round(depth), 0, 255).astype(np.uint8))
    # again: asks; "no" leaves the files alone
    before = (out / "b_depth.tif").stat().st_mtime_ns
    asker.answer = False
    with qtbot.waitSignal(window.exportFailed, timeout=10_000):
        window.export(ExportRequest(out, ("tiff",), "current"))
    assert len(asker.questions) == 1 and "exists" in asker.questions[0][1]
    assert (out / "b_depth.tif").stat().st_mtime_ns == before
    asker.answer = True
    with qtbot.waitSignal(window.exportFinished, timeout=10_000):
        window.export(ExportRequest(out, ("tiff",), "current"))
    assert len(asker.questions) == 2
    np.testing.assert_array_equal(read_depth_tiff(out / "b_depth.tif")[0], depth)


def test_save_and_copy_view(qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([sem_folder / "a.png"])
    png = tmp_path / "view.png"
    assert window.save_view(png)
    img = Image.open(png)
    assert img.size == (window.view.width(), window.view.height())
    window.copy_view()
    assert not QApplication.clipboard().pixmap().isNull()


def test_export_stems_follow_the_cli_rule(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"
    tif = tmp_path / "a" / "x.tif"
    stems = export_stems([a, b, tif, a])  # a duplicate is named once
    assert list(stems.values()) == ["a__x", "b__x", "a__x_tif"]
    assert export_stems([b]) == {str(b.absolute()): "x"}  # alone: just its stem


def test_current_and_all_name_the_same_image_alike(qtbot: Any, window: Any, tmp_path: Path) -> None:
    root = tmp_path / "lots"
    write_pair(root / "a", "x", 1)  # lots/a/SEM/x.png
    write_pair(root / "b", "x", 2)  # lots/b/SEM/x.png: the same file name
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.open_paths([root])
    wait_batch_idle(qtbot, window)
    b_row = next(r for r in window.state.rows if r.source.parent.parent.name == "b")
    with qtbot.waitSignal(window.resultShown, timeout=30_000):
        window.show_row(b_row.row_id)
    one, every = tmp_path / "one", tmp_path / "all"
    with qtbot.waitSignal(window.exportFinished, timeout=10_000) as sig:
        window.export(ExportRequest(one, ("tiff",), "current"))
    assert sorted(p.name for p in sig.args[0].values()) == [
        "b__SEM__x_depth.tif",
        "b__SEM__x_depth_below_top.tif",
        "b__SEM__x_uncertainty.tif",
    ]
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):
        window.export(ExportRequest(every, ("tiff",), "all"))
    written = tiffs(every)
    assert sorted(written) == [
        f"{s}__SEM__x_{kind}.tif"
        for s in ("a", "b")
        for kind in ("depth", "depth_below_top", "uncertainty")
    ]
    shown = window.state.current.depth
    np.testing.assert_array_equal(tiffs(one)["b__SEM__x_depth.tif"], shown)
    np.testing.assert_array_equal(written["b__SEM__x_depth.tif"], shown)


def test_export_all_reuses_results_lists_failed_and_shows_progress(
    qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path
) -> None:
    """Results already computed are written, not predicted again; a failed file is in
    summary.csv; the status bar's bar counts files."""
    from core.batch import read_summary

    bad = sem_folder / "z_broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with qtbot.waitSignal(window.batch.jobFinished, timeout=30_000):
        window.open_paths([sem_folder])
    wait_batch_idle(qtbot, window)
    calls: list[Any] = []
    predictor = window.predictor
    original = predictor.predict
    predictor.predict = lambda *a, **k: calls.append(a) or original(*a, **k)
    # drop one result from memory: only that one is predicted again
    evicted = window.state.rows[1]
    window.state.cache._items.pop(evicted.row_id)
    bar = window.export_progress
    seen: list[tuple[int, int]] = []
    window.exporter.progress.valueChanged.connect(lambda v: seen.append((v, bar.maximum())))
    out = tmp_path / "all_out"
    try:
        with qtbot.waitSignal(window.exportFinished, timeout=30_000) as sig:
            window.export(ExportRequest(out, ("tiff", "png"), "all"))
    finally:
        predictor.predict = original
    assert [Path(c[0]).name for c in calls] == [evicted.source.name]
    summary = sig.args[0]
    assert (summary.n_done, summary.n_failed) == (3, 1)
    rows = read_summary(summary.summary_csv)
    assert [Path(r["file"]).name for r in rows] == ["a.png", "b.png", "c.png", "z_broken.png"]
    failed = rows[-1]
    assert failed["status"] == "failed" and "z_broken.png" in failed["error"]
    assert (4, 4) in seen and not bar.isVisible()  # per-file steps, hidden when done
    shown = window.state.cache.get(window.state.rows[0].row_id).result.depth
    np.testing.assert_array_equal(tiffs(out)["a_depth.tif"], shown)


def test_colour_png_in_the_shown_unit(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """With nm chosen and a depth scale, the colour PNG is drawn in nm (same picture as the
    writer makes of depth x nm per DU labelled "depth (nm)")."""
    from app.controllers import export as export_module
    from core.batch import ColourPng

    sem_folder = tmp_path / "d"
    path = write_pair(sem_folder, "a", 1)
    win = make_window()
    with qtbot.waitSignal(win.resultShown, timeout=30_000):
        win.open_paths([path])
    wait_batch_idle(qtbot, win)
    data = win.state.current
    data.nm_per_depth_unit = 2.0  # as a card with a depth scale gives it
    win.controls.unit_combo.setCurrentText("nm")
    win.controls.cmap_combo.setCurrentText("magma")
    assert win.exporter.colour_png() == ColourPng(cmap="magma", scale=2.0, unit="nm")
    got: list[Any] = []
    real = export_module.write_outputs
    monkeypatch.setattr(
        export_module, "write_outputs", lambda *a, **k: got.append(k["colour"]) or real(*a, **k)
    )
    with qtbot.waitSignal(win.exportFinished, timeout=10_000):
        win.export(ExportRequest(tmp_path / "o", ("png",), "current"))
    assert got == [ColourPng(cmap="magma", scale=2.0, unit="nm")]
    from core.io import write_colormap_png

    ref = tmp_path / "ref.png"
    write_colormap_png(ref, data.depth * 2.0, cmap="magma", label="depth (nm)")
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "o" / "a_depth.png")), np.asarray(Image.open(ref))
    )
    # the viewer's colour maps the writer lacks fall back to viridis
    win.controls.cmap_combo.setCurrentText("turbo")
    assert win.exporter.colour_png().cmap == "viridis"


def test_export_dialog_starts_in_documents_not_the_installation(
    qtbot: Any, window: Any, monkeypatch: Any
) -> None:
    from PySide6.QtCore import QStandardPaths

    from app.dialogs import export_dialog

    started: list[str] = []

    class Spy(export_dialog.ExportDialog):
        def exec(self) -> int:
            started.append(self.folder.text())
            return 0

    monkeypatch.setattr("app.controllers.export.ExportDialog", Spy)
    with qtbot.waitSignal(window.resultShown, timeout=60_000):
        window.open_samples()
    wait_batch_idle(qtbot, window, 60_000)
    window.acts.export.trigger()
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert started == [docs]
    assert "samples" not in started[0] and "resources" not in started[0]
