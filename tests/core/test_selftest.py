"""core.selftest: the headless installation check behind ``semdepth self-test``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from core import selftest
from core.cli import main as cli_main
from core.io import read_depth_tiff
from core.models import create_model, save_checkpoint

CARD = {
    "id": "selftest-tiny-unet",
    "input": {"normalization": "dtype-range-0-1", "size": [72, 48]},
    "output": {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller"},
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    return save_checkpoint(folder / "tiny", create_model("unet", levels=2, base_width=4), CARD)


def _run(model: Path | None, **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    code = selftest.self_test(model, stream=out, **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_passes_and_leaves_readable_tiff_and_csv(tiny_model: Path, tmp_path: Path) -> None:
    code, text = _run(tiny_model, out_dir=tmp_path, device="cpu", fast_path="fp32")
    assert code == 0, text
    assert "self-test passed (7 checks" in text
    assert "selftest-tiny-unet" in text and "hole_1.png" in text
    tiff = tmp_path / "selftest_depth.tif"
    csv = tmp_path / "selftest_depth.csv"
    depth, meta = read_depth_tiff(tiff)
    # hole_1.png is a 72 x 48 crop: the depth map has the image's own grid
    assert depth.shape == (72, 48) and depth.dtype == np.float32
    assert meta["value_unit"] == "DU"
    matrix = np.loadtxt(csv, comments="#", delimiter=",")
    np.testing.assert_array_equal(matrix.astype(np.float32), depth)


def test_temporary_folder_is_removed(tiny_model: Path) -> None:
    code, text = _run(tiny_model, device="cpu", fast_path="fp32")
    assert code == 0, text
    written = [line for line in text.splitlines() if line.strip().startswith("ok   write")]
    folder = Path(written[0].split(" in ", 1)[1].rsplit("  (", 1)[0])
    assert folder.name.startswith("semdepth-selftest-")
    assert not folder.exists()


def test_missing_model_fails_with_the_file_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.safetensors"
    code, text = _run(missing)
    assert code == 1
    assert f"FAILED at step 'resources': {missing}: model file not found" in text
    assert "nowhere.safetensors: model file not found" in capsys.readouterr().err


def test_missing_default_model_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core import resources

    monkeypatch.setattr(resources, "default_model_path", lambda: tmp_path / "default.safetensors")
    code, text = _run(None)
    assert code == 1
    assert "the bundled default model is missing (pass --model PATH" in text


def test_pickle_checkpoint_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    code, text = _run(bad)
    assert code == 1
    assert "FAILED at step 'load model'" in text and "model.pt" in text


def test_csv_that_differs_from_the_tiff_fails(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = selftest._read_csv_matrix
    monkeypatch.setattr(selftest, "_read_csv_matrix", lambda p: real(p) + np.float32(0.5))
    code, text = _run(tiny_model, out_dir=tmp_path, device="cpu", fast_path="fp32")
    assert code == 1
    assert "FAILED at step 'read CSV'" in text and "differs from the TIFF by up to 0.5 DU" in text


def test_existing_outputs_are_not_replaced(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "selftest_depth.tif").write_bytes(b"keep me")
    code, text = _run(tiny_model, out_dir=tmp_path, device="cpu", fast_path="fp32")
    assert code == 1
    assert "FAILED at step 'write'" in text and "selftest_depth.tif" in text
    assert (tmp_path / "selftest_depth.tif").read_bytes() == b"keep me"


def test_extra_checks_run_and_their_failure_is_reported(tiny_model: Path) -> None:
    calls: list[str] = []

    def good() -> str:
        calls.append("good")
        return "fine"

    def bad() -> str:
        raise RuntimeError("no platform plugin")

    code, text = _run(
        tiny_model, device="cpu", fast_path="fp32", extra_checks=[("qt", good), ("gui", bad)]
    )
    assert calls == ["good"]
    assert code == 1
    assert "ok   qt" in text
    assert "FAILED at step 'gui': RuntimeError: no platform plugin" in text


def test_cli_sub_command(tiny_model: Path, tmp_path: Path) -> None:
    argv = ["self-test", "--model", str(tiny_model), "--out", str(tmp_path), "--device", "cpu"]
    assert cli_main(argv) == 0
    assert (tmp_path / "selftest_depth.tif").is_file()
    assert (tmp_path / "selftest_depth.csv").is_file()
    assert cli_main(["self-test", "--model", str(tmp_path / "missing.safetensors")]) == 1
