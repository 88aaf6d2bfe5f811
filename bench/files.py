"""Files per second from disk to disk: the local engine one file at a time (today's path),
the local cross-file path (threads, one predict worker process, 1-3 writing worker
processes), and the Ray engine (1 and 2 workers sending their results here to be written,
2 and 3 workers that write their own files) on this machine, side by side in one
run -> the ``## Files per second: cross-file batching and Ray`` section of
docs/benchmarks.md (``python bench/speed.py --only files``).

The inputs: ``--files`` PNG crops of 72 x 48 px cut from simulated fields (the inputs of
the RSS batch of ``## Inference speed``, whose files/s is today's figure), written with the
same settings everywhere: tiff,csv,png, the card's TTA, ``fast_path=auto``. Each engine
runs ``--rounds`` times, interleaved (load from other processes hits them alike), into a
fresh folder; the best round counts. Two rates per row: end to end (``run_batch`` called
to returned, model and Ray actors loaded inside it; Ray's own start-up is its own column)
and steady (from the first file written to the last). Every run's depth maps are compared
with the one-file-at-a-time run's (max |diff|).

Then the command as a user runs it: ``semdepth predict`` on the same folder, one file at
a time and with its defaults, timed from the process start to its exit (a subprocess:
Python, torch, the model and the workers' start included).

Also measured: the driver's write rate (the writer pool alone, results already in
memory), the ceiling of any cluster whose files one machine writes, and one worker's
predict rate (``predict_many`` alone). The projection for N workers is
min(N x per-worker rate, write rate), labelled as a projection; ``--worker-rate`` puts in
a per-worker rate measured elsewhere (a GPU node).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SECTION = "## Files per second: cross-file batching and Ray"
FORMATS = ("tiff", "csv", "png")


def write_inputs(folder: Path, n: int, crops: np.ndarray) -> list[Path]:
    """``n`` PNG files of ``crops`` (0..1 floats, (K, 72, 48): repeated)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    base = (crops * 255).astype(np.uint8)
    paths = []
    for i in range(n):
        p = folder / f"img_{i:05d}.png"
        Image.fromarray(base[i % len(base)]).save(p)
        paths.append(p)
    return paths


def _cold_workers() -> None:
    """Each row pays for starting its own workers, as a new ``semdepth predict`` does: the
    fork server a previous row started (``core.batch.procs``) is stopped first."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)  # CPython's own (for its tests)
    if stop is not None:
        stop()


def _timed_batch(run: Callable[[Callable[[Any], None]], Any], n: int) -> dict[str, float]:
    """Run a batch; end-to-end and steady files/s from the items' arrival times."""
    stamps: list[float] = []
    t0 = time.perf_counter()
    summary = run(lambda item: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {
        "files_s": n / total,
        "steady_s": steady,
        "seconds": total,
        "first_s": stamps[0] - t0 if stamps else total,
        "done": float(summary.n_done),
        "failed": float(summary.n_failed),
    }


def max_diff(a: Path, b: Path) -> float:
    from core.io import read_depth_tiff

    worst = 0.0
    for p in sorted(a.glob("*_depth.tif")):
        worst = max(
            worst, float(np.abs(read_depth_tiff(p)[0] - read_depth_tiff(b / p.name)[0]).max())
        )
    return worst


def write_rate(pred: Any, paths: list[Path], tmp: Path, *, workers_wrote: bool = False) -> float:
    """Files/s of the writer pool alone: results predicted beforehand, handed over as
    fast as it takes them (the driver's ceiling). ``workers_wrote``: the results come with
    their files already written (by workers), so the driver only records their rows and
    manifest lines: its ceiling when the workers write."""
    from core.batch import run_batch

    results = {p: pred.predict(p) for p in paths}
    if workers_wrote:
        results = {
            p: dataclasses.replace(r, written={"depth_tiff": tmp / f"{p.stem}_depth.tif"})
            for p, r in results.items()
        }

    class Ready:
        """Hands the results over from its own thread, as a real source does: the sink is
        bounded, so putting them all from the loop's thread would wait for itself."""

        def start(self, todo: Any, sink: Any) -> None:
            def feed() -> None:
                for index, path in todo:
                    if not sink.put(index, lambda r=results[path]: r):
                        return  # closed: stop
                sink.end()

            self.thread = threading.Thread(target=feed, name="bench-ready", daemon=True)
            self.thread.start()

        def close(self) -> None:
            self.thread.join(timeout=60)

    out = tmp / ("record_only" if workers_wrote else "write_only")
    t0 = time.perf_counter()
    run_batch(paths, pred, out, formats=FORMATS, source=Ready(), batch_files=32)
    rate = len(paths) / (time.perf_counter() - t0)
    shutil.rmtree(out, ignore_errors=True)
    return rate


def predict_write_rate(pred: Any, paths: list[Path], files: int, tmp: Path) -> float:
    """Files/s of one worker that also writes: ``predict_many`` on ``files`` per call, then
    each result's files written in the same thread (what a Ray actor with
    ``--workers-write`` does)."""
    from core.batch.outputs import write_outputs

    out = tmp / "worker_writes"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for k in range(0, len(paths), files):
        chunk = paths[k : k + files]
        for path, result in zip(chunk, pred.predict_many(chunk), strict=True):
            write_outputs(result, out, formats=FORMATS, stem=path.stem, overwrite=True)
    rate = len(paths) / (time.perf_counter() - t0)
    shutil.rmtree(out, ignore_errors=True)
    return rate


def predict_rate(pred: Any, paths: list[Path], files: int) -> float:
    """Files/s of ``predict_many`` alone, ``files`` per call (one worker's work)."""
    pred.predict_many(paths[:files])
    t0 = time.perf_counter()
    for k in range(0, len(paths), files):
        pred.predict_many(paths[k : k + files])
    return len(paths) / (time.perf_counter() - t0)


DRIVER_WRITES = "local, cross-file + 1 predict worker process, this process writing"
RAY1 = "Ray, 1 worker, this process writing (embedded)"


def measure(
    model: Path,
    n: int,
    rounds: int,
    tmp: Path,
    with_ray: bool,
    crops: np.ndarray,
    device: str = "cpu",
) -> dict[str, Any]:
    """Every row of the section (see the module docstring)."""
    from core.batch import run_batch
    from core.inference import Predictor

    paths = write_inputs(tmp / "in", n, crops)
    pred = Predictor.from_checkpoint(model, device=device, fast_path="auto")
    pred.predict(paths[0])  # warm-up: kernels, allocator
    cores = os.cpu_count() or 1
    engines: dict[str, Callable[[Path, Callable[[Any], None]], Any]] = {
        "local, one file at a time (today)": lambda out, on: run_batch(
            paths, pred, out, formats=FORMATS, on_item=on
        ),
        "local, cross-file (--batch-files 32)": lambda out, on: run_batch(
            paths, pred, out, formats=FORMATS, on_item=on, batch_files=32
        ),
    }
    import torch

    from core.batch.procs import ProcessSource
    from core.batch.remote import PredictorSpec

    local_spec = PredictorSpec.from_files(
        model, device=device, fast_path="auto", batch_size=None, mode="auto", tta=True,
        scale_policy="auto", threads=torch.get_num_threads(),
    )  # fmt: skip
    engines[DRIVER_WRITES] = (
        lambda out, on: run_batch(
            paths, pred, out, formats=FORMATS, on_item=on, batch_files=32,
            source=ProcessSource(local_spec, workers=1, files=32),
        )
    )  # fmt: skip

    def writing_workers(workers: int) -> Callable[[Path, Callable[[Any], None]], Any]:
        """``semdepth predict --predict-workers N``: each worker writes its files."""
        threads = max(1, torch.get_num_threads() // workers)
        spec = dataclasses.replace(local_spec, threads=threads)
        return lambda out, on: run_batch(
            paths, pred, out, formats=FORMATS, on_item=on, batch_files=32,
            source=ProcessSource(
                dataclasses.replace(spec, write={"out": str(out), "formats": list(FORMATS)}),
                workers=workers, files=32,
            ),
        )  # fmt: skip

    for workers in (1, 2, 3):
        name = f"local, cross-file + {workers} predict worker process(es) that write"
        engines[f"{name} (--predict-workers {workers})"] = writing_workers(workers)
    info: dict[str, Any] = {
        "cores": cores,
        "fast_path": pred.fast_path,
        "ray": None,
        "device": str(pred.device),
    }
    if with_ray:
        from core.batch.ray_engine import RayOptions, RaySource, init_ray

        t0 = time.perf_counter()
        init_ray(num_cpus=cores)
        info["ray_start_s"] = time.perf_counter() - t0
        spec = PredictorSpec.from_files(
            model, device=device, fast_path="auto", batch_size=None, mode="auto", tta=True,
            scale_policy="auto",
        )  # fmt: skip
        # let Ray's own start-up (its worker processes importing) end before any timing
        warm = RaySource(spec, RayOptions(workers=1, cpus_per_worker=cores))
        run_batch(paths[:4], pred, tmp / "ray_warmup", formats=FORMATS, source=warm)
        time.sleep(2.0)

        def ray_engine(
            workers: int, write: bool = False
        ) -> Callable[[Path, Callable[[Any], None]], Any]:
            options = RayOptions(workers=workers, cpus_per_worker=cores / workers)

            def go(out: Path, on: Callable[[Any], None]) -> Any:
                where = {"out": str(out), "formats": list(FORMATS)} if write else None
                source = RaySource(dataclasses.replace(spec, write=where), options)
                return run_batch(
                    paths, pred, out, formats=FORMATS, on_item=on, batch_files=32, source=source
                )

            return go

        engines[RAY1] = ray_engine(1)
        engines["Ray, 2 workers, this process writing (embedded)"] = ray_engine(2)
        for workers in (2, 3):  # --workers-write (the default for the embedded Ray)
            engines[f"Ray, {workers} workers that write (embedded)"] = ray_engine(workers, True)
        import ray

        info["ray"] = ray.__version__
    rows: dict[str, dict[str, float]] = {}
    reference = tmp / "reference"
    try:
        for r in range(rounds):
            for k, (name, engine) in enumerate(engines.items()):
                out = tmp / f"out_{k}_{r}"
                _cold_workers()
                got = _timed_batch(lambda on, e=engine, o=out: e(o, on), n)
                if k == 0 and r == 0:
                    out.rename(reference)
                    got["max_diff"] = 0.0
                else:
                    got["max_diff"] = max_diff(reference, out)
                    shutil.rmtree(out, ignore_errors=True)
                best = rows.get(name)
                if best is None or got["files_s"] > best["files_s"]:
                    rows[name] = got
    finally:
        if with_ray:
            import ray

            ray.shutdown()
    info["write_s"] = write_rate(pred, paths, tmp)
    info["record_s"] = write_rate(pred, paths, tmp, workers_wrote=True)
    info["predict_s"] = predict_rate(pred, paths, 32)
    info["predict_write_s"] = predict_write_rate(pred, paths, 32, tmp)
    info["cli"] = cli_runs(model, tmp / "in", tmp, rounds)
    return {"rows": rows, "info": info, "n": n, "rounds": rounds}


CLI_RUNS = {
    "one file at a time (`--batch-files 1`)": ["--batch-files", "1"],
    "the defaults (`auto`)": [],
}


def cli_runs(model: Path, folder: Path, tmp: Path, rounds: int) -> dict[str, float]:
    """Seconds of ``semdepth predict FOLDER --out ...`` from the process start to its exit
    (Python, torch, the model, every file; best of ``rounds``), per :data:`CLI_RUNS`."""
    import subprocess
    import sys

    best: dict[str, float] = {}
    for r in range(rounds):
        for k, (name, extra) in enumerate(CLI_RUNS.items()):
            out = tmp / f"cli_{k}_{r}"
            cmd = [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())",
                   "predict", str(folder), "--out", str(out),
                   "--model", str(model), "--format", ",".join(FORMATS), "--tta", "on", "-q",
                   *extra]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            secs = time.perf_counter() - t0
            shutil.rmtree(out, ignore_errors=True)
            best[name] = min(secs, best.get(name, math.inf))
    return best


def section(measured: dict[str, Any], cmd: str, cpu: str, worker_rate: float | None) -> str:
    """The section's body (markdown)."""
    import torch

    rows, info, n = measured["rows"], measured["info"], measured["n"]
    today = next(iter(rows.values()))
    lines = [
        f"Measured by `{cmd}` on {time.strftime('%Y-%m-%d')}: {cpu}, {info['cores']} cores, "
        f"torch {torch.__version__}, device {info['device']}, fast path {info['fast_path']}"
        + (f", Ray {info['ray']}" if info["ray"] else "")
        + f"; load average {os.getloadavg()[0]:.1f} at the end. {n} PNG crops (72 x 48, "
        "simulated) from disk to disk, tiff,csv,png, TTA on; best of "
        f"{measured['rounds']} interleaved rounds.",
        "",
        "| engine | files/s end to end | files/s steady | x today (end to end) | "
        "first file (s) | failed | max abs diff vs one at a time (DU) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['files_s']:.1f} | {r['steady_s']:.1f} | "
            f"{r['files_s'] / today['files_s']:.2f} | {r['first_s']:.2f} | {r['failed']:.0f} | "
            f"{r['max_diff']:.2g} |"
        )
    local = {k: v for k, v in rows.items() if k.startswith("local, cross-file")}
    lines += [
        "",
        "*Steady* counts from the first file recorded to the last. Where results come back "
        "in bursts it overstates: Ray's actors that write return a call's 32 files at once, "
        "in input order, and the first call also waits for the actors to start, so most "
        "files are recorded in a rush at the end. *End to end* is the comparable figure.",
        "",
    ]
    if local:
        name, best = max(local.items(), key=lambda kv: kv[1]["files_s"])
        ratio = best["files_s"] / today["files_s"]
        lines.append(
            f"Target: >= 3x today's files/s on this CPU with the same settings and outputs: "
            f"**{ratio:.2f}x** by {name} ({'met' if ratio >= 3 else 'missed'}). `semdepth "
            "predict` picks, for crop-sized inputs, from 200 files on 2 or more cores, the "
            "cross-file path with predict worker processes that write their own files "
            "(`auto`: one per core and one more, at most 8); below that, one file at a time "
            "(in one process the cross-file path is no faster: its row above)."
        )
    cli = info.get("cli") or {}
    if cli:
        base = next(iter(cli.values()))
        lines += [
            "",
            f"The command as a user runs it: `semdepth predict` on the {n} files, from the "
            "process start to its exit (Python, torch and the model load included; best of "
            f"{measured['rounds']}):",
            "",
            "| `semdepth predict` | seconds | files/s | x one at a time |",
            "|---|---:|---:|---:|",
            *(
                f"| {name} | {secs:.1f} | {n / secs:.1f} | {base / secs:.2f} |"
                for name, secs in cli.items()
            ),
        ]
    lines += [
        "",
        f"The writer pool alone (results already in memory, {len(FORMATS)} formats): "
        f"**{info['write_s']:.1f} files/s**, the ceiling of any run whose files this one "
        f"machine writes. `predict_many` alone, 32 files per call, all cores: "
        f"{info['predict_s']:.1f} files/s.",
    ]
    ray1 = rows.get(RAY1)
    procs = rows.get(DRIVER_WRITES)
    if ray1 is not None and procs is not None:
        per_file_ms = 1000 * (1 / ray1["steady_s"] - 1 / procs["steady_s"])
        lines += [
            "",
            f"Ray: start-up {info['ray_start_s']:.1f} s once, then about "
            f"{ray1['first_s']:.1f} s to the first file of each run (its actors start); its "
            f"overhead per file, steady: **{per_file_ms:+.2f} ms** (1 Ray worker against 1 "
            "local predict worker process: the same split, one process predicting and this "
            "one writing, so the difference is Ray's own; negative: Ray was faster). The "
            "workers and this process share the same cores here, so more workers cannot beat "
            "the local engine on one machine; a cluster adds machines.",
        ]
    rate = worker_rate or info["predict_s"]
    rate_w = worker_rate or info["predict_write_s"]
    source = (
        "given with --worker-rate (used for both: the writing it leaves out is to be "
        "measured on that node too)"
        if worker_rate
        else "this machine's cores, a dedicated node like this one: `predict_many` alone, "
        f"and with each file also written by the worker, {info['predict_write_s']:.1f} "
        "files/s"
    )
    lines += [
        "",
        f"This process only recording rows and manifest lines, the files already written by "
        f"workers: **{info['record_s']:.1f} files/s**, the driver's ceiling when the workers "
        "write (`--workers-write`, the default for the embedded Ray; on a cluster, with "
        "--out on a file system every node mounts).",
        "",
        f"**Projection** (not a measurement) for N workers, from a per-worker rate of "
        f"{rate:.1f} files/s ({source}) and the driver's ceiling: its write rate when it "
        "writes the files, its recording rate when the workers write them: files/s = "
        "min(N x per-worker rate, ceiling). A GPU worker's rate is to be measured on its "
        "node (`python bench/speed.py --only files --device cuda --no-write` there: the "
        "`predict_many` line) and given here with `--worker-rate`; beyond the ceiling, split "
        "the inputs over several drivers, each with its own --out.",
        "",
        "| workers N | this process writes: files/s | files/day | workers write: files/s "
        "| files/day | limited by (workers write) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for workers in (1, 2, 4, 8, 16, 32, 64):
        driver = min(workers * rate, info["write_s"])
        spread = min(workers * rate_w, info["record_s"])
        limit = "workers" if workers * rate_w < info["record_s"] else "the driver's recording"
        lines.append(
            f"| {workers} | {driver:.0f} | {driver * 86400 / 1e6:.1f} M | {spread:.0f} | "
            f"{spread * 86400 / 1e6:.1f} M | {limit} |"
        )
    return "\n".join(lines) + "\n"


def run(
    model: Path, n: int, rounds: int, with_ray: bool, crops: np.ndarray, device: str = "cpu"
) -> dict[str, Any]:
    """Measure in a temporary folder."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="semdepth-files-") as tmpdir:
        return measure(model, n, rounds, Path(tmpdir), with_ray, crops, device)
