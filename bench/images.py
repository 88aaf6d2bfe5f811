"""Whole images through the predictor: latency by image size, tile seams, the real SEM
files end to end -> the ``## Image sizes, tile seams and real files`` section of
docs/benchmarks.md (run by ``bench/speed.py``, or alone: ``python bench/speed.py --only
images``).

- Latency of 1024x768, 2048x2048 and 4096x4096 simulated hole fields (at the model's pixel
  size) side by side in one run, each in ``auto`` mode (a field: one window per hole) and
  forced ``tiled`` mode, with and without the card's test-time augmentation; best of a
  few calls (the CPU is shared), the 4096x4096 once.
- Tile seams: a 1024x1536 simulated field in tiled mode; the mean absolute step between
  neighbouring pixels at the tile edges and over the blend zones, as a ratio to the mean
  step elsewhere (target <= 1.2), and the RMS difference to one whole-image pass.
- The real SEM files (``SEMDEPTH_REAL_SEM`` or ``shared/data/real_sem`` beside the
  checkout): ``semdepth predict DIR --out TMP`` with default settings, wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Image sizes, tile seams and real files"
SIZES = ((768, 1024), (2048, 2048), (4096, 4096))


def field_image(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    """A uint8 simulated hole field of ``shape`` at the model's pixel size (a 1024 x 1024
    field tiled for the large sizes: the timing, not the content, is measured)."""
    from core.synth.field import render_field

    base = render_field(seed, 0, size=(min(shape[0], 1024), min(shape[1], 1024))).sem
    reps = (-(-shape[0] // base.shape[0]), -(-shape[1] // base.shape[1]))
    return np.ascontiguousarray(np.tile(base, reps)[: shape[0], : shape[1]])


def _best(pred: Any, sem: Any, mode: str, tta: bool, repeats: int) -> tuple[float, Any]:
    best, res = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        res = pred.predict(sem, mode=mode, tta=tta)
        best = min(best, time.perf_counter() - t)
    return best, res


def size_rows(pred: Any) -> list[dict[str, Any]]:
    """One row per (size, mode): seconds without and with TTA and the work done."""
    from core.io import SemImage

    rows = []
    pred.predict(SemImage.from_array(field_image((256, 256))), tta=False)  # warm-up
    for shape in SIZES:
        sem = SemImage.from_array(field_image(shape))
        repeats = 1 if shape[0] * shape[1] > 8e6 else 2
        for mode in ("auto", "tiled"):
            off, res = _best(pred, sem, mode, False, repeats)
            on, _ = _best(pred, sem, mode, True, 1 if repeats == 1 else repeats)
            th, tw = res.settings.get("tile", [0, 0])
            units = (
                f"{res.settings['tiles']} tiles of {th}x{tw}"
                if res.mode == "tiled"
                else f"{len(res.holes or [])} windows"
            )
            rows.append({"shape": shape, "mode": res.mode, "units": units, "off": off, "on": on})
            print(f"size {shape} {res.mode}: {off:.2f} s / {on:.2f} s", file=sys.stderr)
    return rows


def seam_figures(pred: Any) -> dict[str, float]:
    """Seam steps of a tiled 1024x1536 simulated field and the RMS difference between its
    tiled prediction and one whole-image pass (TTA off)."""
    from core.inference.stitch import seam_steps
    from core.io import SemImage

    img = field_image((1024, 1536), seed=3)
    sem = SemImage.from_array(img)
    res = pred.predict(sem, mode="tiled", tta=False)
    out = seam_steps(res.depth, pred.tile_geometry(res.depth.shape))
    whole = pred.run_model((img.astype(np.float32) / 255.0)[None])[0]
    inner = (slice(8, -8), slice(8, -8))
    out["rms_vs_whole_du"] = float(np.sqrt(np.mean((res.depth - whole)[inner] ** 2)))
    out["tiles"] = float(res.settings["tiles"])
    return out


def real_sem_dir() -> Path | None:
    env = os.environ.get("SEMDEPTH_REAL_SEM")
    for c in (
        [Path(env)]
        if env
        else [REPO / "shared/data/real_sem", REPO.parent / "shared/data/real_sem"]
    ):
        if (c / "SOURCES.md").is_file():
            return c
    return None


def real_files_run(model: Path | None) -> dict[str, Any] | None:
    """``semdepth predict <real files> --out TMP`` with default settings, timed from the
    outside (import, model load and writing included)."""
    folder = real_sem_dir()
    if folder is None:
        return None
    code = "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"
    with tempfile.TemporaryDirectory(prefix="semdepth-real-") as tmp:
        argv = ["predict", str(folder), "--out", str(Path(tmp) / "out"), "-q"]
        if model is not None:
            argv += ["--model", str(model)]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env
        )
        seconds = time.perf_counter() - t
        from core.batch import read_summary

        rows = read_summary(Path(tmp) / "out" / "summary.csv")
    return {
        "seconds": seconds,
        "exit": done.returncode,
        "files": len(rows),
        "done": sum(r["status"] == "done" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "load": os.getloadavg()[0],
    }


def section(pred: Any, model: Path | None, cmd: str, cpu: str) -> str:
    """The markdown of the section (without its heading); ``cpu`` names the processor."""
    import torch

    rows = size_rows(pred)
    seam = seam_figures(pred)
    real = real_files_run(model)
    lines = [
        f"Measured by `{cmd}` on {time.strftime('%Y-%m-%d')}: {cpu}, "
        f"{torch.get_num_threads()} torch threads, fast path {pred.fast_path}, test-time "
        f"augmentation of the card ({pred.tta_kind}, {pred.n_tta} passes); load average "
        f"{os.getloadavg()[0]:.1f} at the end (a shared CPU: timings are upper bounds).",
        "Simulated hole fields at the model's pixel size (the 2048 and 4096 px ones a "
        "1024 px field repeated); `auto` finds the holes and runs one window per hole, "
        "`tiled` covers the image with the fewest tiles of at most 512 px (overlap "
        f"{3 * pred.tile_border} px: a {pred.tile_border} px margin dropped at every inner "
        "edge and a raised-cosine cross-fade).",
        "",
        "| image | mode | work | TTA off (s) | TTA on (s) | Mpx/s, TTA off |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        h, w = r["shape"]
        lines.append(
            f"| {w}x{h} | {r['mode']} | {r['units']} | {r['off']:.2f} | {r['on']:.2f} | "
            f"{h * w / 1e6 / r['off']:.1f} |"
        )
    big = [r for r in rows if r["shape"][0] * r["shape"][1] <= 2048 * 2048]
    seam_met = max(seam["edges_ratio"], seam["zones_ratio"]) <= 1.2
    worst_off, worst_on = max(r["off"] for r in big), max(r["on"] for r in big)
    lines += [
        "",
        f"Targets for any image up to 2048x2048 (worst row above): < 2 s without TTA "
        f"({worst_off:.2f} s: {'met' if worst_off < 2 else 'missed'}), < 6 s with TTA "
        f"({worst_on:.2f} s: {'met' if worst_on < 6 else 'missed'}).",
        "",
        f"Tile seams (1024x1536 simulated field, tiled, {seam['tiles']:.0f} tiles, TTA off): "
        f"mean |step| at the tile edges {seam['edges']:.3f} DU, over the blend zones "
        f"{seam['zones']:.3f} DU, elsewhere {seam['elsewhere']:.3f} DU: ratios "
        f"**{seam['edges_ratio']:.2f}** (edges) and **{seam['zones_ratio']:.2f}** (zones), "
        f"target <= 1.2: {'met' if seam_met else 'missed'}. "
        f"RMS difference to one whole-image pass: {seam['rms_vs_whole_du']:.3f} DU.",
        "",
    ]
    if real is None:
        lines.append("Real SEM files: not found (set SEMDEPTH_REAL_SEM).")
    else:
        lines.append(
            f"Real SEM files end to end (`semdepth predict <real_sem> --out TMP`, default "
            f"settings: auto mode, scale policy and TTA (`--tta auto`: one pass for a frame out "
            f"of the model's domain by its known pixel size), tiff+csv+png, import and model "
            f"load included): {real['files']} files, {real['done']} done, {real['failed']} failed, "
            f"exit {real['exit']}, **{real['seconds']:.1f} s** (target < 30 s on a quiet CPU; "
            f"load average {real['load']:.1f} at its end)."
        )
    return "\n".join(lines) + "\n"
