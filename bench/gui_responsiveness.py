"""GUI responsiveness during a batch: does the event loop keep running while the worker predicts?

Writes ``N`` tiny synthetic 72x48 crops to a temporary folder, opens the main window
offscreen with the default model (or ``--model``; a random-initialised tiny U-Net when there
is none), queues the folder and, while the batch runs in its worker thread, a ``QTimer``
heartbeat every 10 ms records the gaps between its ticks. Reports the largest gap and the
99th percentile (target: the event loop never stalls more than 100 ms) and replaces the
``## GUI responsiveness`` section of ``docs/benchmarks.md``.

    python bench/gui_responsiveness.py [--n 500] [--model PATH] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchdoc import update_section

REPO = Path(__file__).resolve().parents[1]
SECTION = "## GUI responsiveness"
TARGET_MS = 100.0


def make_crops(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` 72x48 8-bit crops of one dark hole each (varied size, brightness, noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:72, 0:48]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rad = rng.uniform(0.2, 0.35)
        r = np.hypot((yy - 36) / (72 * rad), (xx - 24) / (48 * rad))
        depth = np.where(r < 1, rng.uniform(40, 90) + 90 * r**2, 160)
        sem = 40 + 0.9 * depth + 30 * np.exp(-((r - 1) ** 2) / 0.02)
        sem += rng.normal(0, 6, sem.shape)
        Image.fromarray(np.clip(sem, 0, 255).astype(np.uint8)).save(folder / f"crop_{i:04d}.png")


def tiny_model(folder: Path) -> Path:
    import torch

    from core.models import create_model, save_checkpoint

    torch.manual_seed(0)
    card = {
        "id": "bench-tiny-unet",
        "input": {"normalization": "dtype-range-0-1", "size": [72, 48], "pixel_size_nm": None},
        "output": {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller"},
    }
    return save_checkpoint(folder / "tiny", create_model("unet", levels=2, base_width=4), card)


def run(n: int, model: Path | None, timeout_s: float, baseline_s: float = 2.0) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.dialogs.error_dialog import ErrorReporter
    from app.main_window import MainWindow
    from app.settings import make_settings
    from app.views.image_view import configure_runtime
    from core import resources

    configure_runtime()  # as semdepth-gui does
    app = QApplication.instance() or QApplication([sys.argv[0]])
    tmp = Path(tempfile.mkdtemp(prefix="semdepth-gui-bench-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    folder = tmp / "crops"
    t0 = time.perf_counter()
    make_crops(folder, n)
    print(f"wrote {n} crops in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if model is None:
        default = resources.default_model_path()
        model = default if default.is_file() else tiny_model(tmp)
    problems: list[str] = []
    reporter = ErrorReporter(log_dir=tmp, show_dialog=lambda t, m, d: problems.append(m))
    win = MainWindow(model_path=model, settings=make_settings(), error_reporter=reporter)
    win.resize(1400, 900)
    win.show()
    deadline = time.monotonic() + 120
    while win.predictor is None and not problems and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if win.predictor is None:
        raise SystemExit(f"model did not load: {problems}")

    ticks: list[float] = []
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    finished: dict[str, float] = {}

    def check() -> None:
        rows = win.state.rows
        if (
            len(rows) >= n
            and not win.batch.busy
            and all(r.status in ("done", "failed", "cancelled") for r in rows)
        ):
            finished["t"] = time.perf_counter()
            app.quit()
        elif time.perf_counter() - start > timeout_s:
            finished["timeout"] = 1.0
            win.cancel_batch()

    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(check)
    # idle baseline: the same heartbeat with nothing running (machine load shows up here)
    heartbeat.start()
    base_start = time.perf_counter()
    while time.perf_counter() - base_start < baseline_s:
        app.processEvents()
        time.sleep(0.001)
    base_gaps = np.diff(np.asarray(ticks)) * 1000.0 if len(ticks) > 1 else np.zeros(1)
    ticks.clear()
    poll.start()
    start = time.perf_counter()
    ticks.append(start)
    win.open_paths([folder])
    app.exec()
    heartbeat.stop()
    poll.stop()
    end = finished.get("t", time.perf_counter())
    counts = win.state.counts()
    win.close()
    reporter.close()
    gaps_ms = np.diff(np.asarray(ticks)) * 1000.0
    return {
        "n": n,
        "done": counts["done"],
        "failed": counts["failed"],
        "seconds": end - start,
        "images_per_s": counts["done"] / max(end - start, 1e-9),
        "ticks": len(ticks),
        "max_gap_ms": float(gaps_ms.max()) if gaps_ms.size else float("nan"),
        "p99_gap_ms": float(np.percentile(gaps_ms, 99)) if gaps_ms.size else float("nan"),
        "median_gap_ms": float(np.median(gaps_ms)) if gaps_ms.size else float("nan"),
        "over_target": int((gaps_ms > TARGET_MS).sum()),
        "worst_gaps_at_s": [
            round(float(ticks[i] - start), 2) for i in np.argsort(gaps_ms)[::-1][:3]
        ],
        "max_gap_after_1s_ms": float(gaps_ms[np.asarray(ticks[1:]) - start > 1.0].max())
        if (np.asarray(ticks[1:]) - start > 1.0).any()
        else float("nan"),
        "idle_max_gap_ms": float(base_gaps.max()),
        "idle_p99_gap_ms": float(np.percentile(base_gaps, 99)),
        "model": str(win.predictor.model_id),
        "device": str(win.predictor.device),
        "fast_path": str(getattr(win.predictor, "fast_path", "")),
        "timed_out": "timeout" in finished,
    }


def section(res: dict[str, Any], command: str) -> str:
    verdict = "meets" if res["max_gap_ms"] <= TARGET_MS else "MISSES"
    return (
        f"{SECTION}\n\n"
        f"`{command}` on {platform.machine()} ({os.cpu_count()} CPU cores, shared), "
        f"Qt offscreen. A 10 ms `QTimer` heartbeat runs in the GUI thread while the batch "
        f"worker predicts {res['n']} synthetic 72x48 crops with model `{res['model']}` on "
        f"{res['device']} (fast path {res['fast_path']}); every gap between ticks is recorded.\n\n"
        "| images | done | failed | batch time (s) | images/s | heartbeat ticks | "
        "median gap (ms) | 99th pct gap (ms) | max gap (ms) | gaps > 100 ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {res['n']} | {res['done']} | {res['failed']} | {res['seconds']:.1f} | "
        f"{res['images_per_s']:.1f} | {res['ticks']} | {res['median_gap_ms']:.1f} | "
        f"{res['p99_gap_ms']:.1f} | {res['max_gap_ms']:.1f} | {res['over_target']} |\n\n"
        f"Target: the event loop never stalls more than {TARGET_MS:.0f} ms; this run {verdict} "
        f"it. Worst gaps at {', '.join(f'{t:g}' for t in res['worst_gaps_at_s'])} s after "
        f"the folder was queued; largest gap after the first second "
        f"{res['max_gap_after_1s_ms']:.1f} ms. The same heartbeat with nothing running (idle "
        f"baseline, same machine load): max {res['idle_max_gap_ms']:.1f} ms, 99th pct "
        f"{res['idle_p99_gap_ms']:.1f} ms. Inference, file reading and writing run in the "
        "worker thread (`app.controllers.batch.BatchController` -> `core.batch.run_batch`); "
        "the GUI thread only updates the queue table (a `QTableView` model: one row per finished "
        "image, summary and progress coalesced to 10 Hz) and draws the first result, whose "
        "first render (axes, colour bars, profile) is the largest single cost (about 50-150 ms "
        "with software rendering).\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=500, help="images in the batch [500]")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds before cancelling")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = p.parse_args(argv)
    res = run(args.n, args.model, args.timeout)
    for k, v in res.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    cmd = "python bench/gui_responsiveness.py" + (f" --n {args.n}" if args.n != 500 else "")
    if not args.no_write:
        update_section(
            REPO / "docs" / "benchmarks.md", SECTION, section(res, cmd).split("\n", 1)[1]
        )
        print("updated docs/benchmarks.md", file=sys.stderr)
    return 0 if res["max_gap_ms"] <= TARGET_MS and not res["timed_out"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
