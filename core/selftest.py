"""Headless installation check: ``semdepth self-test`` and ``semdepth-gui --self-test``.

Loads the default model (or ``--model``), predicts the depth of one bundled sample, writes
the depth as float32 TIFF and CSV into a temporary folder with the same writer the batch
uses, reads both back and checks them (shape, float32, finite, in the model's output
range, CSV equal to TIFF to the last bit). Prints one line per step and returns 0 when
every step passed, 1 at the first failure (the line names the step and the problem).

It needs nothing but the installed (or frozen) program and its bundled resources, so it is
the smoke test of the desktop build (see the README's "Desktop build" section).
"""

from __future__ import annotations

import io
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from core import __version__

#: The sample predicted when none is given: a small crop with a bundled ground truth.
DEFAULT_SAMPLE = "hole_1.png"
#: Output stem of the files written by the self-test.
STEM = "selftest"

ExtraCheck = tuple[str, Callable[[], str]]


class SelfTestError(RuntimeError):
    """One self-test step failed; the message says what was wrong."""


def default_sample() -> Path:
    """The bundled sample the self-test predicts (``hole_1.png``, else the first sample)."""
    from core import resources

    samples = resources.sample_images()
    for p in samples:
        if p.name == DEFAULT_SAMPLE:
            return p
    if not samples:
        raise SelfTestError(f"no sample images in {resources.resources_dir() / 'samples'}")
    return samples[0]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SelfTestError(message)


def _read_csv_matrix(path: Path) -> np.ndarray:
    """The matrix-layout depth CSV written by ``core.io.write_depth_csv`` (``#`` header)."""
    data = np.loadtxt(path, comments="#", delimiter=",", dtype=np.float64, ndmin=2)
    return data.astype(np.float32)


def _output_range(card: dict[str, Any]) -> tuple[float, float]:
    out = card.get("output") if isinstance(card.get("output"), dict) else {}
    rng = (out or {}).get("range")
    if isinstance(rng, list | tuple) and len(rng) == 2:
        try:
            return float(rng[0]), float(rng[1])
        except (TypeError, ValueError):
            pass
    return 0.0, 255.0


class _Report:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.t_last = time.perf_counter()

    def line(self, status: str, step: str, detail: str) -> None:
        now = time.perf_counter()
        seconds = now - self.t_last
        self.t_last = now
        print(f"  {status:<4} {step:<14} {detail}  ({seconds:.2f} s)", file=self.stream)
        self.stream.flush()


def self_test(
    model: str | Path | None = None,
    *,
    sample: str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str = "auto",
    fast_path: str = "auto",
    extra_checks: Sequence[ExtraCheck] = (),
    stream: TextIO | None = None,
) -> int:
    """Run the installation check; 0 when every step passed, 1 otherwise.

    ``model``: weights file (``.safetensors`` with its ``.json`` card beside it); default:
    the bundled default model. ``sample``: the SEM image to predict; default: the bundled
    ``hole_1.png``. ``out_dir``: keep the written files there (default: a temporary folder,
    removed afterwards; existing files there are never replaced). ``extra_checks``:
    ``(name, function)`` pairs run after the engine checks (the GUI adds its Qt check);
    a function returns a one-line detail or raises. The report goes to ``stream``
    (default stdout); the failure line also to stderr.
    """
    # a windowed executable (Windows GUI) has no stdout/stderr: report into nothing
    out = stream if stream is not None else (sys.stdout or io.StringIO())
    t0 = time.perf_counter()
    frozen = bool(getattr(sys, "frozen", False))
    print(
        f"SEM Depth Studio {__version__} self-test (Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {'frozen build' if frozen else 'from source'})",
        file=out,
    )
    report = _Report(out)
    step = "start"
    try:
        if out_dir is None:
            with tempfile.TemporaryDirectory(prefix="semdepth-selftest-") as tmp:
                n_checks = _run_steps(
                    report, model, sample, Path(tmp), device, fast_path, extra_checks
                )
        else:
            n_checks = _run_steps(
                report, model, sample, Path(out_dir), device, fast_path, extra_checks
            )
    except _StepFailed as failed:
        step, message = failed.step, failed.message
        report.line("FAIL", step, message)
        text = f"self-test FAILED at step '{step}': {message}"
        print(text, file=out)
        if sys.stderr is not None and out is not sys.stderr:
            print(f"semdepth: {text}", file=sys.stderr)
        return 1
    print(f"self-test passed ({n_checks} checks, {time.perf_counter() - t0:.1f} s)", file=out)
    return 0


class _StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, SelfTestError | OSError | ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _run_steps(
    report: _Report,
    model: str | Path | None,
    sample: str | Path | None,
    out_dir: Path,
    device: str,
    fast_path: str,
    extra_checks: Sequence[ExtraCheck],
) -> int:
    state: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], str]]] = [
        ("resources", lambda: _step_resources(state, model, sample)),
        ("load model", lambda: _step_model(state, device, fast_path)),
        ("read sample", lambda: _step_read(state)),
        ("predict", lambda: _step_predict(state)),
        ("write", lambda: _step_write(state, out_dir)),
        ("read TIFF", lambda: _step_tiff(state)),
        ("read CSV", lambda: _step_csv(state)),
        *extra_checks,
    ]
    for name, fn in steps:
        try:
            detail = fn()
        except Exception as exc:  # every failure becomes a report line, never a traceback
            raise _StepFailed(name, _describe(exc)) from exc
        report.line("ok", name, detail)
    return len(steps)


def _step_resources(
    state: dict[str, Any], model: str | Path | None, sample: str | Path | None
) -> str:
    from core import resources

    if model is None:
        path = resources.default_model_path()
        if not path.is_file():
            raise SelfTestError(
                f"{path}: the bundled default model is missing (pass --model PATH to test "
                "another model)"
            )
    else:
        path = Path(model)
        if not path.exists():
            raise SelfTestError(f"{path}: model file not found")
    state["model_path"] = path
    state["sample_path"] = default_sample() if sample is None else Path(sample)
    return f"model {path.name}, sample {state['sample_path'].name}, in {resources.resources_dir()}"


def _step_model(state: dict[str, Any], device: str, fast_path: str) -> str:
    import torch

    from core.inference import Predictor

    predictor = Predictor.from_checkpoint(state["model_path"], device=device, fast_path=fast_path)
    state["predictor"] = predictor
    return (
        f"{predictor.model_id} (torch {torch.__version__}, device {predictor.device}, "
        f"fast path {predictor.fast_path})"
    )


def _step_read(state: dict[str, Any]) -> str:
    from core.io import read_sem

    sem = read_sem(state["sample_path"])
    state["sem"] = sem
    rows, cols = sem.pixels.shape
    px = f"{sem.pixel_size_nm:g} nm/px" if sem.pixel_size_nm else "pixel size unknown"
    return f"{state['sample_path'].name}: {rows} x {cols} px, {px}"


def _step_predict(state: dict[str, Any]) -> str:
    predictor, sem = state["predictor"], state["sem"]
    result = predictor.predict(sem)
    state["result"] = result
    depth = result.depth
    _check(
        depth.shape == sem.pixels.shape,
        f"depth shape {depth.shape} differs from the image's {sem.pixels.shape}",
    )
    _check(depth.dtype == np.float32, f"depth dtype is {depth.dtype}, expected float32")
    _check(bool(np.isfinite(depth).all()), "depth holds NaN or infinite values")
    lo, hi = _output_range(predictor.card)
    tol = 1e-3 * max(1.0, hi - lo)
    _check(
        float(depth.min()) >= lo - tol and float(depth.max()) <= hi + tol,
        f"depth {depth.min():.3f}..{depth.max():.3f} DU is outside the model's range "
        f"{lo:g}..{hi:g} DU",
    )
    detail = (
        f"mode {result.mode}, depth {depth.min():.1f}..{depth.max():.1f} DU "
        f"(mean {depth.mean():.1f} DU)"
    )
    truth = _ground_truth_rmse(state["sample_path"], depth)
    if truth is not None:
        detail += f", RMSE vs bundled truth {truth:.2f} DU"
    return detail


def _ground_truth_rmse(sample_path: Path, depth: np.ndarray) -> float | None:
    """Informational: RMSE (DU, this image) against the sample's bundled truth, if any."""
    from core.batch import find_ground_truth
    from core.io import read_depth
    from core.metrics import rmse

    try:
        gt_path = find_ground_truth(sample_path)
        if gt_path is None:
            return None
        gt = read_depth(gt_path)
    except Exception:
        return None
    if gt.shape != depth.shape:
        return None
    value = rmse(depth.astype(np.float64) - gt)
    return value if math.isfinite(value) else None


def _step_write(state: dict[str, Any], out_dir: Path) -> str:
    from core.batch import write_outputs

    written = write_outputs(state["result"], out_dir, formats=("tiff", "csv"), stem=STEM)
    for kind in ("depth_tiff", "depth_csv"):
        _check(kind in written, f"the writer did not report a {kind.replace('_', ' ')}")
        _check(written[kind].is_file(), f"{written[kind]}: not written")
    state["written"] = written
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in written.values())
    return f"{sizes} in {out_dir}"


def _step_tiff(state: dict[str, Any]) -> str:
    from core.io import read_depth_tiff

    path = state["written"]["depth_tiff"]
    array, meta = read_depth_tiff(path)
    depth = state["result"].depth
    _check(array.dtype == np.float32, f"{path}: dtype {array.dtype}, expected float32")
    _check(array.shape == depth.shape, f"{path}: shape {array.shape}, expected {depth.shape}")
    _check(bool(np.isfinite(array).all()), f"{path}: NaN or infinite values")
    _check(bool(np.array_equal(array, depth)), f"{path}: values differ from the predicted depth")
    _check(meta.get("value_unit") == "DU", f"{path}: value unit {meta.get('value_unit')!r}")
    model_id = meta.get("description", {}).get("model_id")
    expected_id = state["predictor"].model_id
    _check(model_id == expected_id, f"{path}: model id {model_id!r}, expected {expected_id!r}")
    state["tiff_array"] = array
    return f"{path.name}: float32 {array.shape[0]} x {array.shape[1]}, equal to the prediction"


def _step_csv(state: dict[str, Any]) -> str:
    path = state["written"]["depth_csv"]
    try:
        data = _read_csv_matrix(path)
    except ValueError as exc:
        raise SelfTestError(f"{path}: not a numeric matrix ({exc})") from exc
    tiff = state["tiff_array"]
    _check(data.shape == tiff.shape, f"{path}: shape {data.shape}, the TIFF's is {tiff.shape}")
    diff = float(np.max(np.abs(data - tiff))) if data.size else 0.0
    _check(
        bool(np.array_equal(data, tiff)), f"{path}: differs from the TIFF by up to {diff:.3g} DU"
    )
    return f"{path.name}: {data.shape[0]} x {data.shape[1]} values, equal to the TIFF"
