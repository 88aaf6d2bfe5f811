"""File > Export Report and Export Batch Report: core.report's HTML files, written in a
worker thread, parsed back and compared with the shown results."""

from __future__ import annotations

import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.report.html import num

from ..conftest import open_and_wait, wait_batch_idle
from .test_trust import calibrated_crop


class Keys(HTMLParser):
    """Text of every element with a ``data-key`` attribute (a list per key)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        key = dict(attrs).get("data-key")
        if tag in ("img", "br", "meta"):
            return
        self._open.append(key)
        if key is not None:
            self.values.setdefault(key, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("img", "br", "meta") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key is not None:
                self.values[key][-1] += data

    def one(self, key: str) -> str:
        (value,) = self.values[key]
        return value


def parse(path: Path) -> Keys:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "http://" not in text and "https://" not in text  # self-contained
    keys = Keys()
    keys.feed(text)
    return keys


def test_export_report_of_the_shown_image(
    qtbot: Any,
    make_window: Any,
    calibrated_model: Path,
    tmp_path: Path,
    monkeypatch: Any,
    asker: Any,
) -> None:
    from core import report

    win = make_window(model_path=calibrated_model)
    open_and_wait(qtbot, win, [calibrated_crop(tmp_path)])
    result = win.state.cache.get(win.state.current.row_id).result
    threads: list[int] = []
    real = report.write_report

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", spy)
    target = tmp_path / "out" / "crop_report.html"
    with qtbot.waitSignal(win.exportFinished, timeout=30_000) as sig:
        win.exporter.export_report(target)
    assert sig.args[0] == {"report_html": target}
    assert threads and threads[0] != threading.get_ident()  # a worker wrote it
    keys = parse(target)
    assert keys.one("in_domain") == "true" and keys.one("verdict") == "In domain"
    assert keys.one("calibrated") == "true"
    bt = result.trust.below_top
    assert keys.one("mean_sigma_below_top") == num(float(np.mean(bt.sigma)))
    assert keys.one("img.below_top.hi") == num(float(np.nanmax(bt.values)))
    holes = result.trust.holes.holes
    assert keys.one("n_holes") == str(len(holes))
    for h in holes:
        row = h.as_row()
        assert keys.one(f"hole.{h.id}.depth") == num(row["depth"])
        assert keys.one(f"hole.{h.id}.depth_u_k2") == num(row["depth_u_k2"] or None)
    # the same path again: asked, and the answer kept the file
    asker.answer = False
    before = target.read_bytes()
    with qtbot.waitSignal(win.exportFailed, timeout=30_000):
        win.exporter.export_report(target)
    assert asker.questions and "Replace the existing report?" in asker.questions[-1][1]
    assert target.read_bytes() == before
    # atomic: nothing else in the folder (no temporary left behind)
    assert [p.name for p in target.parent.iterdir()] == ["crop_report.html"]


def test_export_report_of_an_out_of_domain_image(qtbot: Any, window: Any, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((72, 48), 200, np.uint8)).save(blank)
    open_and_wait(qtbot, window, [blank])
    result = window.state.cache.get(window.state.current.row_id).result
    target = tmp_path / "blank_report.html"
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):
        window.exporter.export_report(target)
    keys = parse(target)
    assert keys.one("in_domain") == "false"
    assert keys.one("verdict").startswith("OUT OF DOMAIN")
    assert keys.values["domain_reason"] == result.domain_reasons
    assert keys.one("calibrated") == "false"  # the tiny model's card has no calibration


def test_export_batch_report(qtbot: Any, window: Any, sem_folder: Path, tmp_path: Path) -> None:
    blank = sem_folder / "blank.png"
    Image.fromarray(np.full((72, 48), 90, np.uint8)).save(blank)
    open_and_wait(qtbot, window, [sem_folder / "a.png", blank])
    wait_batch_idle(qtbot, window)
    out = tmp_path / "reports"
    with qtbot.waitSignal(window.exportFinished, timeout=60_000) as sig:
        window.exporter.export_batch_report(out)
    assert sig.args[0].n_done == 2
    assert sorted(p.name for p in out.glob("*_report.html")) == [
        "a_report.html",
        "blank_report.html",
    ]
    keys = parse(out / "report.html")
    assert keys.one("n_inputs") == "2" and keys.one("n_done") == "2"
    assert keys.one("n_out_of_domain") == "1"
    by_file = {Path(keys.one(f"row.{i}.file")).name: i for i in range(2)}
    assert keys.one(f"row.{by_file['blank.png']}.in_domain") == "false"
    assert keys.one(f"row.{by_file['a.png']}.in_domain") == "true"
    assert "blank or constant image" in keys.one(f"row.{by_file['blank.png']}.domain_reasons")
    assert parse(out / "blank_report.html").one("in_domain") == "false"
