"""``semdepth calibrate``: exit codes and one-line refusals (core/cli/calibrate.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.cli import main
from core.models import read_card

from .conftest import AVERAGES, write_csv


def cli(model: Path, images: Path, out: Path, *extra: str) -> int:
    args = ["calibrate", "--model", str(model), "--images", str(images), "--out", str(out)]
    return main([*args, "--budget", "0.3", "--folds", "2", "--anchor", "none",
                 "--no-progress", *extra])  # fmt: skip


def test_success_prints_the_table_and_writes_the_model(
    model_path: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.safetensors"
    avg = write_csv(tmp_path / "avg.csv", AVERAGES)
    assert cli(model_path, images, out, "--averages", str(avg)) == 0
    text = capsys.readouterr().out
    assert "averages before n=4" in text and "averages after  n=4" in text
    assert "2-fold cross-validation over 4 reference groups" in text
    assert "start: " in text and "'source': " in text
    assert f"wrote {out}" in text
    assert read_card(out)["calibration"]["averages"]["count"] == 4
    # the same output again: refused unless --overwrite
    assert cli(model_path, images, out) == 2
    assert "exists (pass --overwrite" in capsys.readouterr().err
    assert cli(model_path, images, out, "--overwrite") == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: ["--averages", str(write_csv(t / "a.csv", "image,average_depth_du\nzz,1\n"))],
         "a.csv: 1 of 1 image names match no image under .*: 'zz' .line 2."),
        (lambda t: ["--averages", str(write_csv(t / "a.csv", "image,average_depth_du\na,1\n"))],
         "a.csv: a single reference cannot be checked"),
        (lambda t: ["--averages", str(write_csv(t / "a.csv", "image,average_depth_du\na,x\n"))],
         "a.csv: line 2: average_depth_du 'x' is not a number"),
        (lambda t: ["--references", str(write_csv(t / "p.csv", "image,x,y\n"))],
         "p.csv: line 1: no 'x_px'"),
        (lambda t: ["--averages", str(t / "missing.csv")], "missing.csv: file not found"),
        (lambda t: ["--budget", "-1"], "budget -1 s: must be > 0"),
        (lambda t: ["--anchor", "sparkle"], "unknown contrast family"),
    ],
)  # fmt: skip
def test_bad_inputs_exit_2_with_one_line(
    model_path: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    make, message: str,
) -> None:  # fmt: skip
    out = tmp_path / "cal.safetensors"
    assert cli(model_path, images, out, *make(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("semdepth calibrate: ") and "\n" not in err
    assert re.search(message, err), err
    assert not out.exists()


def test_missing_model_or_images_exit_2(
    model_path: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.safetensors"
    assert cli(tmp_path / "nope.safetensors", images, out) == 2
    assert "nope.safetensors: model not found" in capsys.readouterr().err
    assert cli(model_path, tmp_path / "none", out) == 2
    assert "none: no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli(model_path, tmp_path / "empty", out) == 2
    assert "empty: no images found" in capsys.readouterr().err
