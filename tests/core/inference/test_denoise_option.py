"""Denoise first (Noise2Self) in the Predictor, the batch outputs and ``semdepth predict``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.batch import read_summary, run_batch
from core.cli import main
from core.inference import Predictor, to_sem_range
from core.io import SemImage, read_depth_tiff
from core.models import CheckpointError
from core.models.noise2self import Noise2SelfDenoiser, create_denoiser_net
from tests.core.inference.helpers import Times255, predictor_for


class Half(nn.Module):
    """A stand-in denoiser: intensity * 0.5 (so every number below is hand-computable)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (72, 48), np.uint8)


def _save_denoiser(folder: Path) -> Path:
    torch.manual_seed(0)
    d = Noise2SelfDenoiser(create_denoiser_net(levels=2, base_width=4))
    return d.save(folder / "den", card={"id": "tiny-n2s"})


def _png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_image(seed)).save(path)
    return path


def test_denoised_input_feeds_the_depth_model_and_is_kept_in_sem_range() -> None:
    pred = predictor_for(Times255())
    img = _image()
    raw = pred.predict(img, tta=False)
    assert raw.denoised is None
    assert raw.description()["denoised"] is False
    assert raw.description()["denoiser"] is None
    assert raw.settings["denoised"] is False

    pred.set_denoiser(Noise2SelfDenoiser(Half()), source="den.safetensors")
    res = pred.predict(img, tta=False)
    # uint8: normalised /255, halved, back to the 0-255 range -> exactly img / 2
    assert res.denoised is not None and res.denoised.dtype == np.float32
    np.testing.assert_allclose(res.denoised, img / 2.0, atol=1e-4)
    # depth = denoised01 * 255 with the pointwise model
    np.testing.assert_allclose(res.depth, img / 2.0, atol=1e-3)
    assert not np.allclose(res.depth, raw.depth)
    desc = res.description()
    assert desc["denoised"] is True
    assert desc["denoiser"] == {
        "id": "noise2self-untrained",
        "file": "den.safetensors",
        "method": "noise2self",
        "invariant": False,
    }
    assert desc["settings"]["denoised"] is True
    assert "denoise" in res.timings
    json.dumps(desc)  # stays serialisable

    pred.set_denoiser(None)
    assert pred.denoiser is None
    assert pred.predict(img, tta=False).denoised is None


def test_float_sem_denoised_back_onto_its_own_range() -> None:
    sem = SemImage.from_array(np.linspace(-3.0, 5.0, 72 * 48, dtype=np.float32).reshape(72, 48))
    back = to_sem_range(sem, sem.normalized())
    np.testing.assert_allclose(back, sem.pixels, atol=1e-5)
    assert to_sem_range(sem, np.zeros((2, 2)))[0, 0] == pytest.approx(-3.0)
    u16 = SemImage.from_array(np.full((8, 8), 1000, np.uint16))
    assert to_sem_range(u16, np.full((8, 8), 0.5))[0, 0] == pytest.approx(32767.5)


def test_checkpoint_denoiser_changes_the_result(tmp_path: Path, tiny_checkpoint: Path) -> None:
    den = _save_denoiser(tmp_path)
    img = _image()
    plain = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32", denoiser=den)
    assert pred.denoiser is not None and pred.denoiser_source == den
    assert pred.describe()["denoiser"]["file"] == str(den)
    a = plain.predict(img, tta=False)
    b = pred.predict(img, tta=False)
    assert b.denoised is not None and b.denoised.shape == img.shape
    assert not np.allclose(b.denoised, img.astype(np.float32))
    assert not np.allclose(a.depth, b.depth)
    assert b.description()["denoiser"]["id"] == "tiny-n2s"


def test_depth_model_or_missing_file_refused_as_denoiser(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    with pytest.raises(CheckpointError, match="not a denoiser checkpoint") as exc:
        pred.set_denoiser(tiny_checkpoint)
    assert "tiny.json" in str(exc.value)
    with pytest.raises(CheckpointError, match="denoiser file not found"):
        pred.set_denoiser(tmp_path / "nothing.safetensors")
    with pytest.raises(TypeError, match="Noise2SelfDenoiser"):
        pred.set_denoiser(42)  # type: ignore[arg-type]
    assert pred.denoiser is None


def test_batch_outputs_record_denoising(tmp_path: Path) -> None:
    src = _png(tmp_path / "in" / "a.png")
    pred = predictor_for(Times255())
    pred.set_denoiser(Noise2SelfDenoiser(Half()))
    s = run_batch([src], pred, tmp_path / "out", formats=["tiff"], tta=False)
    assert s.n_done == 1
    desc = read_depth_tiff(tmp_path / "out" / "a_depth.tif")[1]["description"]
    assert desc["denoised"] is True and desc["denoiser"]["method"] == "noise2self"
    assert read_summary(tmp_path / "out" / "summary.csv")[0]["denoised"] == "true"
    pred.set_denoiser(None)
    run_batch([src], pred, tmp_path / "out2", formats=["tiff"], tta=False)
    assert read_summary(tmp_path / "out2" / "summary.csv")[0]["denoised"] == "false"


def test_cli_denoise_writes_denoised_description(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    den = _save_denoiser(tmp_path / "den")
    src = _png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    args = ["predict", str(src), "--out", str(out), "--model", str(tiny_checkpoint)]
    args += ["--fast-path", "fp32", "--format", "tiff", "--no-tta", "-q"]
    assert main([*args, "--denoise", str(den)]) == 0
    assert "denoise tiny-n2s" in capsys.readouterr().err
    desc = read_depth_tiff(out / "a_depth.tif")[1]["description"]
    assert desc["denoised"] is True
    assert desc["denoiser"]["id"] == "tiny-n2s" and desc["denoiser"]["file"] == str(den)
    assert read_summary(out / "summary.csv")[0]["denoised"] == "true"


def test_cli_refuses_a_depth_model_as_denoiser(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "a.png")
    code = main(
        [
            "predict",
            str(src),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(tiny_checkpoint),
            "--denoise",
            str(tiny_checkpoint),
            "-q",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--denoise" in err and "not a denoiser checkpoint" in err and "tiny.json" in err
    assert not (tmp_path / "out" / "a_depth.tif").exists()
