"""``semdepth denoise-train`` and ``semdepth denoise`` on tiny folders."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli.denoise import add_denoise_arguments, add_train_arguments, run_denoise, run_train
from core.io import read_depth_tiff
from core.models import UNet, save_checkpoint

from .helpers import noisy_set, write_pngs


def _train(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    return run_train(p.parse_args(argv))


def _denoise(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    add_denoise_arguments(p)
    return run_denoise(p.parse_args(argv))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[np.ndarray]]:
    root = tmp_path_factory.mktemp("n2s")
    clean, noisy = noisy_set(12, sigma=0.08, seed=3, size=32)
    data = root / "data"
    write_pngs(data / "a", noisy[:6])
    write_pngs(data / "b", noisy[6:10])
    run = root / "run"
    rc = _train(
        [
            "--data", str(data), "--out", str(run), "--steps", "12", "--batch-size", "4",
            "--patch", "24", "--base-width", "4", "--device", "cpu", "--quiet",
        ]
    )  # fmt: skip
    assert rc == 0
    return run, data, clean


def test_train_writes_a_run_folder(trained: tuple[Path, Path, list[np.ndarray]]) -> None:
    run, data, _ = trained
    assert (run / "denoiser.safetensors").is_file() and (run / "denoiser.json").is_file()
    import json

    card = json.loads((run / "denoiser.json").read_text())
    assert card["task"] == "denoise"
    assert card["training"]["steps"] == 12
    assert card["training"]["data"]["n_images"] == 10
    assert card["input"]["size"] == [32, 32]
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert rows and rows[-1]["step"] == "12"
    # refuses to overwrite the run, bad data folder -> 2
    args = ["--data", str(data), "--out", str(run), "--steps", "2", "--quiet"]
    assert _train(args) == 2
    assert _train(["--data", str(run / "missing"), "--out", str(run / "x"), "--quiet"]) == 2
    assert _train(["--out", str(run / "x")]) == 2


def test_denoise_writes_float_tiff_and_png(
    trained: tuple[Path, Path, list[np.ndarray]], tmp_path: Path
) -> None:
    run, data, _ = trained
    out = tmp_path / "out"
    rc = _denoise([str(data / "a"), str(data / "b" / "img00.png"), "--model", str(run),
                   "--out", str(out), "--device", "cpu", "-q"])  # fmt: skip
    assert rc == 0
    tifs = sorted(out.glob("*_denoised.tif"))
    pngs = sorted(out.glob("*_denoised.png"))
    assert len(tifs) == 7 and len(pngs) == 7
    arr, meta = read_depth_tiff(out / "a__img00_denoised.tif")
    assert arr.dtype == np.float32 and arr.shape == (32, 32)
    assert arr.min() >= 0.0 and arr.max() <= 1.0
    assert meta["value_unit"].startswith("normalized intensity")
    png = np.asarray(Image.open(out / "a__img00_denoised.png"))
    assert png.dtype == np.uint8
    assert np.array_equal(png, np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8))
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["done"] * 7
    # again without --overwrite: every input fails naming its file, nothing replaced
    before = (out / "a__img00_denoised.tif").stat().st_mtime_ns
    weights = str(run / "denoiser.safetensors")
    rc = _denoise([str(data / "a"), str(data / "b" / "img00.png"),
                   "--model", weights, "--out", str(out), "-q"])  # fmt: skip
    assert rc == 1
    assert (out / "a__img00_denoised.tif").stat().st_mtime_ns == before
    rows = list(csv.DictReader((out / "summary_2.csv").open()))
    assert all(r["status"] == "failed" and "_denoised" in r["error"] for r in rows)
    assert _denoise([str(data / "a"), str(data / "b" / "img00.png"), "--model", str(run),
                     "--out", str(out), "--overwrite", "-q", "--format", "png"]) == 0  # fmt: skip


def test_denoise_bad_inputs_and_arguments(
    trained: tuple[Path, Path, list[np.ndarray]], tmp_path: Path
) -> None:
    run, data, _ = trained
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    rc = _denoise([str(data / "b" / "img01.png"), str(bad), str(tmp_path / "nope.png"),
                   "--model", str(run), "--out", str(out), "-q"])  # fmt: skip
    assert rc == 1
    rows = {Path(r["file"]).name: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["img01.png"]["status"] == "done"
    assert rows["broken.png"]["status"] == "failed" and "broken.png" in rows["broken.png"]["error"]
    assert rows["nope.png"]["status"] == "failed"
    # argument errors -> 2
    assert _denoise([str(bad), "--model", str(run)]) == 2  # no --out
    assert _denoise(["--model", str(run), "--out", str(out)]) == 2  # no inputs
    assert _denoise([str(bad), "--out", str(out)]) == 2  # no model
    assert _denoise([str(bad), "--model", str(tmp_path / "x"), "--out", str(out)]) == 2
    assert _denoise([str(bad), "--model", str(run), "--out", str(out), "--format", "jpg"]) == 2
    depth = save_checkpoint(tmp_path / "depth", UNet(levels=1, base_width=4), {})
    assert _denoise([str(bad), "--model", str(depth), "--out", str(out)]) == 2
