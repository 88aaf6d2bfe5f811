"""Inference speed benchmark -> the ``## Inference speed`` section of docs/benchmarks.md.

One run measures, on this machine:

- images/s of the depth model at batch 1 and 64 (72x48 inputs) for plain eager fp32
  PyTorch and each fast path, and the ratio to eager fp32;
- how close each fast path is to fp32 (max |diff| and RMSE in DU, and RMSE against the
  ground truth of a simulated field image for fp32 vs the fast path);
- the CPU's GEMM peak (a large ``torch.mm``, fp32 and bf16) and the model's achieved
  GFLOP/s (convolution FLOPs counted with forward hooks) as a fraction of it;
- the latency of a 1024x768 full-field image (field mode, with and without TTA);
- peak RSS over an N-image batch from disk to disk (``run_batch`` in a subprocess that
  samples its own RSS after every image);
- whole images by size (1024x768, 2048x2048, 4096x4096, auto and tiled, TTA off/on), the
  tile seam figure and the real SEM files end to end (:mod:`images`, its own section
  ``## Image sizes, tile seams and real files``).

Usage (full run, ~10-20 minutes on 2 cores)::

    python bench/speed.py                       # N = 10,000 images for the RSS batch
    python bench/speed.py --n 300 --seconds 1   # reduced: proves it works
    python bench/speed.py --no-write            # print only
    python bench/speed.py --only images         # only the image-size / seam / real-files section
    python bench/speed.py --only files          # files/s: one at a time, cross-file, Ray 1 and 2
    python bench/speed.py --only files --files 40 --rounds 1 --no-write   # a smoke run

``--model`` defaults to the bundled default model if present, else a freshly initialised
3-level, 32-wide U-Net (the same cost; accuracy numbers are then only relative).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

import files  # noqa: E402
import images  # noqa: E402
from benchdoc import update_section  # noqa: E402

from core.device import cpu_has_native_bf16  # noqa: E402
from core.inference import Predictor  # noqa: E402
from core.inference.fastpath import onnxruntime_available  # noqa: E402

SECTION = "## Inference speed"


# ----------------------------------------------------------------------------- helpers
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gemm_peak(seconds: float, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """GFLOP/s of a square ``torch.mm`` of size n (best of repeated runs)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        torch.mm(a, b)
        dt = time.perf_counter() - t
        best = max(best, 2.0 * n**3 / dt / 1e9)
    return best


def conv_peak(seconds: float) -> float:
    """GFLOP/s of a large fp32 3x3 convolution (64 -> 64 channels, 16 x 72 x 48): oneDNN's
    own peak, a second reference beside torch.mm (MKL, which may take slower code paths on
    AMD CPUs)."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(16, 64, 72, 48)
    flops = 2.0 * 64 * 64 * 9 * 72 * 48 * 16
    best = 0.0
    with torch.inference_mode():
        conv(x)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            conv(x)
            best = max(best, flops / (time.perf_counter() - t) / 1e9)
    return best


def count_flops(model: torch.nn.Module, shape: tuple[int, int]) -> float:
    """Multiply-add FLOPs (x2) of the convolutions for one (1, 1, H, W) input."""
    total = 0.0
    hooks = []

    def conv(mod: Any, inp: Any, out: Any) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, torch.nn.ConvTranspose2d):
            n_pos = inp[0].shape[-2] * inp[0].shape[-1]
        else:
            n_pos = out.shape[-2] * out.shape[-1]
        total += 2.0 * mod.in_channels // mod.groups * k * mod.out_channels * n_pos

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(conv))
    with torch.inference_mode():
        model(torch.zeros(1, 1, *shape))
    for h in hooks:
        h.remove()
    return total


def throughput(preds: dict[str, Predictor], batch: np.ndarray, seconds: float) -> dict[str, float]:
    """Images/s of each predictor's ``run_model`` on ``batch``: interleaved rounds (one call
    per path per round, so load from other processes hits every path alike), best call."""
    for p in preds.values():
        p.run_model(batch)  # warm-up: kernels, oneDNN primitives, ONNX sessions
    best = dict.fromkeys(preds, 0.0)
    end = time.perf_counter() + seconds * len(preds)
    rounds = 0
    while rounds < 3 or time.perf_counter() < end:
        for name, p in preds.items():
            t = time.perf_counter()
            p.run_model(batch)
            best[name] = max(best[name], len(batch) / (time.perf_counter() - t))
        rounds += 1
    return best


def make_inputs(n: int, seed: int = 0) -> np.ndarray:
    from core.synth.field import render_field

    f = render_field(seed, 0, size=(72 * 8, 48 * 8))
    img = f.sem.astype(np.float32) / 255.0
    crops = [img[r * 72 : (r + 1) * 72, c * 48 : (c + 1) * 48] for r in range(8) for c in range(8)]
    out = np.stack([crops[i % len(crops)] for i in range(n)])
    return np.ascontiguousarray(out, dtype=np.float32)


def model_path(arg: str | None, tmp: Path) -> tuple[Path, str]:
    from core.resources import default_model_path

    if arg:
        return Path(arg), "given"
    default = default_model_path()
    if default.is_file():
        return default, "bundled default model"
    from core.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("unet", levels=3, base_width=32)
    path = save_checkpoint(
        tmp / "fresh_unet3x32",
        model,
        {"id": "fresh-unet-3x32", "input": {"size": [72, 48]}},
    )
    return path, "freshly initialised 3-level 32-wide U-Net (no bundled model found)"


def rss_child(model: str, n: int, fast_path: str, folder: str, out: str) -> None:
    """Runs in the subprocess: a disk-to-disk batch, sampling VmRSS after every image."""
    from core.batch import run_batch

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    pred = Predictor.from_checkpoint(model, device="cpu", fast_path=fast_path)
    samples: list[float] = []
    t0 = time.perf_counter()

    def on_item(item: Any) -> None:
        samples.append(rss_mb())

    summary = run_batch([folder], pred, Path(out), on_item=on_item)
    seconds = time.perf_counter() - t0
    warm = samples[min(len(samples) - 1, 20)] if samples else 0.0
    print(
        json.dumps(
            {
                "n": len(samples),
                "done": summary.n_done,
                "failed": summary.n_failed,
                "rss_after_warmup_mb": warm,
                "rss_peak_mb": max(samples) if samples else 0.0,
                "rss_final_mb": samples[-1] if samples else 0.0,
                "seconds": seconds,
                "fast_path": pred.fast_path,
            }
        )
    )


def rss_batch(model: Path, n: int, fast_path: str, tmp: Path) -> dict[str, Any]:
    from PIL import Image

    folder = tmp / "rss_in"
    folder.mkdir()
    base = (make_inputs(64) * 255).astype(np.uint8)
    for i in range(n):
        sub = folder / f"d{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(base[i % 64]).save(sub / f"img_{i:05d}.png")
    out = tmp / "rss_out"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench.speed import rss_child; "
        "rss_child(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])"
    )
    argv = [str(REPO), str(model), str(n), fast_path, str(folder), str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"RSS batch failed:\n{proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def field_latency(model: Path, fast_path: str) -> dict[str, Any]:
    from core.io import SemImage
    from core.synth.field import render_field

    f = render_field(1, 0, size=(768, 1024))
    sem = SemImage.from_array(f.sem)
    pred = Predictor.from_checkpoint(model, device="cpu", fast_path=fast_path)
    pred.predict(sem, tta=False)  # warm-up (allocator, kernels, oneDNN primitives)
    out: dict[str, Any] = {"holes_true": len(f.holes)}
    for tta in (False, True):
        times = []
        res = None
        for _ in range(3):
            t = time.perf_counter()
            res = pred.predict(sem, tta=tta)
            times.append(time.perf_counter() - t)
        assert res is not None
        key = "tta" if tta else "no_tta"
        out[key] = {
            "seconds": min(times),
            "mode": res.mode,
            "holes": len(res.holes or []),
            "windows_per_s": len(res.holes or []) * (4 if tta else 1) / min(times),
            "detect_s": res.timings.get("detect", 0.0),
            "rmse_vs_truth": float(np.sqrt(np.mean((res.depth - f.depth_du) ** 2))),
        }
    return out


# ----------------------------------------------------------------------------- report
ACCURACY_DATA = REPO / "scratch" / "bench_accuracy" / "data_seed20240917_n2400"


def benchmark_rmse(model: Path, fast_paths: list[str]) -> dict[str, float] | None:
    """Test RMSE per image (DU) of ``model`` on bench/accuracy.py's test split, for each
    fast path (TTA off, as in training's validation); None without that data set."""
    from core.data import find_records, split_by_structure
    from core.evaluate import evaluate_model

    if not ACCURACY_DATA.is_dir():
        return None
    records = [r for r in find_records(ACCURACY_DATA) if r.depth_path is not None]
    test = split_by_structure(records, val_fraction=0.10, test_fraction=0.15, seed=0).test
    out: dict[str, float] = {}
    for fp in fast_paths:
        pred = Predictor.from_checkpoint(model, device="cpu", fast_path=fp)
        out[fp] = evaluate_model(pred.run_model, test).rmse_per_image
    return out


def _rmse_line(rmse: dict[str, float] | None, auto: str) -> str:
    if not rmse:
        return "Accuracy of the fast path: run bench/accuracy.py first (its test split is used)."
    ref, fast = rmse["fp32"], rmse.get(auto, rmse["fp32"])
    change = (fast - ref) / ref * 100
    return (
        f"Accuracy of the fast path on bench/accuracy.py's test split (TTA off): fp32 "
        f"{ref:.4f} DU, {auto} {fast:.4f} DU test RMSE per image: {change:+.2f} % "
        f"(target within 1 %: {'met' if abs(change) <= 1 else 'missed'})."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (.safetensors + .json)")
    ap.add_argument("--n", type=int, default=10_000, help="images in the RSS batch [10000]")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per measurement [3]")
    ap.add_argument("--with-compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--no-write", action="store_true", help="print the section only")
    ap.add_argument(
        "--only",
        choices=("all", "images", "files"),
        default="all",
        help="run only one section [all]",
    )
    ap.add_argument("--files", type=int, default=400, help="crops in the files/s runs [400]")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of the files/s runs [2]")
    ap.add_argument("--no-ray", action="store_true", help="files/s: leave out the Ray rows")
    ap.add_argument("--device", default="cpu", help="files/s section: the predictors' device [cpu]")
    ap.add_argument(
        "--worker-rate",
        type=float,
        default=None,
        help="files/s of one worker measured elsewhere (a GPU node), for the projection",
    )
    args = ap.parse_args(argv)
    if args.only == "images":
        return images_main(args)
    if args.only == "files":
        return files_main(args)

    with tempfile.TemporaryDirectory(prefix="semdepth-bench-") as tmpdir:
        tmp = Path(tmpdir)
        mpath, mdesc = model_path(args.model, tmp)
        ref = Predictor.from_checkpoint(mpath, device="cpu", fast_path="fp32")
        auto = Predictor.from_checkpoint(mpath, device="cpu", fast_path="auto").fast_path
        flops = count_flops(ref.model, ref.input_size)
        x64 = make_inputs(64)
        x1 = x64[:1]
        y_ref = ref.run_model(x64)

        paths = ["fp32", "fp32/16", "channels-last", "bf16"]
        if onnxruntime_available():
            paths.append("onnx")
        if args.with_compile:
            paths.append("compile")
        preds: dict[str, Predictor] = {"fp32": ref}
        for fp in paths[1:]:
            name, _, per = fp.partition("/")
            preds[fp] = Predictor.from_checkpoint(
                mpath,
                device="cpu",
                fast_path=name,
                batch_size=int(per) if per else None,
                cache_dir=tmp / "onnx",
            )
        rows: dict[str, dict[str, float]] = {}
        for fp, pred in preds.items():
            y = pred.run_model(x64)
            rows[fp] = {
                "per_pass": float(pred.batch_size),
                "maxdiff": float(np.abs(y - y_ref).max()),
                "rmsdiff": float(np.sqrt(np.mean((y - y_ref) ** 2))),
            }
        for key, batch, secs in (("b1", x1, args.seconds / 4), ("b64", x64, args.seconds)):
            for fp, v in throughput(preds, batch, secs).items():
                rows[fp][key] = v
        for fp in rows:
            print(f"{fp}: {rows[fp]}", file=sys.stderr)
        peak32 = gemm_peak(args.seconds)
        peak_conv = conv_peak(args.seconds)
        peak16 = gemm_peak(args.seconds, torch.bfloat16) if cpu_has_native_bf16() else None
        field = field_latency(mpath, auto)
        print(f"field: {field}", file=sys.stderr)
        field_ref = field_latency(mpath, "fp32")
        rss = rss_batch(mpath, args.n, auto, tmp)
        print(f"rss: {rss}", file=sys.stderr)
        bench_rmse = benchmark_rmse(mpath, ["fp32", auto] if auto != "fp32" else ["fp32"])
        print(f"benchmark rmse: {bench_rmse}", file=sys.stderr)

    eager = rows["fp32"]["b64"]
    gflop = flops / 1e9
    cmd = "python bench/speed.py" + (f" --n {args.n}" if args.n != 10_000 else "")
    cmd += f" --seconds {args.seconds:g}" if args.seconds != 3.0 else ""
    lines = [
        SECTION,
        "",
        f"Measured by `{cmd}` on {time.strftime('%Y-%m-%d')}: {cpu_name()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.1f} at the end (the CPU is shared: numbers vary by +-30 %).",
        f"Model: {mdesc} ({gflop:.3f} GFLOP per 72x48 image, convolutions only). "
        f"`fast_path=auto` picks **{auto}** here "
        f"(CPU native bf16: {'yes' if cpu_has_native_bf16() else 'no'}).",
        "",
        "| fast path | images per forward pass | img/s batch 1 | img/s batch 64 | "
        "x eager (b64) | GFLOP/s (b64) | max abs diff vs fp32 (DU) | RMS diff (DU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fp, r in rows.items():
        name = {"fp32": "eager fp32 (reference)", "fp32/16": "eager fp32, small passes"}.get(fp, fp)
        lines.append(
            f"| {name} | {r['per_pass']:.0f} | {r['b1']:.1f} | {r['b64']:.1f} | "
            f"{r['b64'] / eager:.2f} | "
            f"{r['b64'] * gflop:.1f} | {r['maxdiff']:.4f} | {r['rmsdiff']:.4f} |"
        )
    best = max(rows, key=lambda k: rows[k]["b64"])
    timing_note = (
        "Each timing is the best of interleaved calls (one per path per round), so load "
        "from other processes on this shared CPU hits all paths alike. A batch of 64 is "
        "split into forward passes of the size shown (the fast paths' default: small "
        "passes keep activations in cache)."
    )
    lines += [
        "",
        timing_note,
        "",
        f"GEMM peak (2048^3 `torch.mm`, same run): fp32 {peak32:.1f} GFLOP/s"
        + (f", bf16 {peak16:.1f} GFLOP/s" if peak16 else "")
        + f"; a large fp32 3x3 convolution (oneDNN) {peak_conv:.1f} GFLOP/s (torch.mm uses "
        "MKL, which can take slower code paths on AMD CPUs, so the convolution rate is the "
        f"fairer fp32 peak). Eager fp32 reaches {eager * gflop:.1f} GFLOP/s = "
        f"{100 * eager * gflop / peak32:.0f} % of the fp32 GEMM peak, "
        f"{100 * eager * gflop / peak_conv:.0f} % of the convolution peak; {auto} reaches "
        f"{rows[auto]['b64'] * gflop:.1f} GFLOP/s = "
        f"{100 * rows[auto]['b64'] * gflop / (peak16 or peak32):.0f} % of the "
        f"{'bf16' if peak16 and auto == 'bf16' else 'fp32'} GEMM peak.",
        f"Target fast path >= 3x eager: {auto} (auto) gives "
        f"**{rows[auto]['b64'] / eager:.2f}x**; the fastest here is {best} "
        f"({rows[best]['b64'] / eager:.2f}x).",
        "",
        f"1024x768 simulated field image ({field['holes_true']} holes), fast path {auto}:",
        "",
        "| TTA | seconds | mode | holes found | windows/s | detection (s) | "
        "RMSE vs truth, fast / fp32 (DU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("no_tta", "off"), ("tta", "on (TTA set of the card)")):
        f = field[key]
        lines.append(
            f"| {label} | {f['seconds']:.2f} | {f['mode']} | {f['holes']} | "
            f"{f['windows_per_s']:.0f} | {f['detect_s']:.2f} | {f['rmse_vs_truth']:.3f} / "
            f"{field_ref[key]['rmse_vs_truth']:.3f} |"
        )
    growth = rss["rss_peak_mb"] - rss["rss_after_warmup_mb"]
    lines += [
        "",
        f"Target < 2 s: {'met' if field['no_tta']['seconds'] < 2 else 'missed'} without TTA, "
        f"{'met' if field['tta']['seconds'] < 2 else 'missed'} with TTA. fp32 eager for "
        f"comparison: {field_ref['no_tta']['seconds']:.2f} s / "
        f"{field_ref['tta']['seconds']:.2f} s.",
        "",
        f"Memory: `run_batch` over {rss['n']} PNG files (72x48) from disk to disk "
        f"(tiff+csv+png, TTA on, fast path {rss['fast_path']}) in a subprocess: RSS "
        f"{rss['rss_after_warmup_mb']:.0f} MB after 20 images, peak "
        f"{rss['rss_peak_mb']:.0f} MB, final {rss['rss_final_mb']:.0f} MB: growth "
        f"**{growth:.1f} MB** (target < 100 MB over 10,000 images); "
        f"{rss['n'] / rss['seconds']:.1f} files/s including writing.",
        "",
        _rmse_line(bench_rmse, auto),
        "",
        "Full run: `python bench/speed.py` (10,000-image batch, 3 s per timing).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        update_section(args.out, SECTION, text.split("\n", 1)[1])
        print(f"written: {args.out}", file=sys.stderr)
    return images_main(args)


def files_main(args: argparse.Namespace) -> int:
    """The ``## Files per second: cross-file batching and Ray`` section (:mod:`files`)."""
    with_ray = not args.no_ray
    if with_ray:
        try:
            from core.batch.ray_engine import require_ray

            require_ray()
        except RuntimeError as exc:
            print(f"{exc}; the Ray rows are left out", file=sys.stderr)
            with_ray = False
    with tempfile.TemporaryDirectory(prefix="semdepth-bench-") as tmpdir:
        mpath, _ = model_path(args.model, Path(tmpdir))
        measured = files.run(mpath, args.files, args.rounds, with_ray, make_inputs(64), args.device)
    cmd = "python bench/speed.py --only files"
    cmd += f" --files {args.files}" if args.files != 400 else ""
    cmd += f" --rounds {args.rounds}" if args.rounds != 2 else ""
    cmd += " --no-ray" if not with_ray else ""
    cmd += f" --worker-rate {args.worker_rate:g}" if args.worker_rate else ""
    cmd += f" --device {args.device}" if args.device != "cpu" else ""
    body = files.section(measured, cmd, cpu_name(), args.worker_rate)
    print(f"{files.SECTION}\n\n{body}")
    if not args.no_write:
        update_section(args.out, files.SECTION, body)
        print(f"written: {args.out}", file=sys.stderr)
    return 0


def images_main(args: argparse.Namespace) -> int:
    """The ``## Image sizes, tile seams and real files`` section (:mod:`images`)."""
    with tempfile.TemporaryDirectory(prefix="semdepth-bench-") as tmpdir:
        mpath, _ = model_path(args.model, Path(tmpdir))
        pred = Predictor.from_checkpoint(mpath, device="cpu", fast_path="auto")
        cmd = "python bench/speed.py" + (" --only images" if args.only == "images" else "")
        body = images.section(pred, Path(args.model) if args.model else None, cmd, cpu_name())
    print(f"{images.SECTION}\n\n{body}")
    if not args.no_write:
        update_section(args.out, images.SECTION, body)
        print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
