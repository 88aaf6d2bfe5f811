"""``semdepth predict``: exit codes 0/1/2, outputs, and every real SEM file handled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import read_summary
from core.cli import main
from core.conventions import IMAGE_SUFFIXES


def _png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (72, 48), np.uint8)).save(path)
    return path


def test_all_good_inputs_exit_0(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    _png(tmp_path / "in" / "a.png")
    _png(tmp_path / "in" / "b.png", seed=1)
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(tmp_path / "in"),
            "--out",
            str(out),
            "--model",
            str(tiny_checkpoint),
            "--fast-path",
            "fp32",
            "--format",
            "tiff,png",
            "-q",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "fast path fp32" in err and "2 done, 0 failed" in err
    assert (out / "a_depth.tif").is_file() and (out / "b_depth.png").is_file()
    assert not (out / "a_depth.csv").exists()
    assert [r["status"] for r in read_summary(out / "summary.csv")] == ["done", "done"]
    # --batch-files auto: 2 crop-sized files, too few for worker processes: one at a time
    assert "1 file(s) per pass" in err and "worker" not in err
    assert "TTA auto" in err
    assert (
        json.loads((out / "manifest.jsonl").read_text().splitlines()[0])["settings"]["tta"]
        == "auto"
    )


def test_batch_files_gives_the_files_of_one_at_a_time(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    from tests.core.batch.compare import assert_same_outputs

    for i in range(7):
        _png(tmp_path / "in" / f"c{i}.png", seed=i)
    (tmp_path / "in" / "bad.png").write_bytes(b"not a png")
    common = ["--model", str(tiny_checkpoint), "--fast-path", "fp32", "-q"]
    for n in ("1", "3"):
        argv = ["predict", str(tmp_path / "in"), "--out", str(tmp_path / n), "--batch-files", n]
        assert main(argv + common) == 1
    assert_same_outputs(tmp_path / "1", tmp_path / "3", atol=1e-3)


def test_some_failed_exit_1(tmp_path: Path, tiny_checkpoint: Path) -> None:
    good = _png(tmp_path / "a.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    code = main(
        [
            "predict",
            str(good),
            str(bad),
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(tiny_checkpoint),
            "--no-tta",
            "-q",
        ]
    )
    assert code == 1
    rows = read_summary(tmp_path / "o" / "summary.csv")
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert str(bad) in rows[1]["error"]


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "no inputs"),
        (["{in}", "--format", "tiff,gif"], "unknown output format"),
        (["{in}", "--model", "{tmp}/missing.safetensors"], "model not found"),
        (["{tmp}/empty_folder"], "no SEM images found"),
        (["{in}", "--fast-path", "warp"], "unknown fast path"),
        (["{in}", "--batch-files", "0"], "--batch-files must be auto or a whole number"),
        (["{in}", "--no-tta", "--tta", "on"], "--no-tta and --tta on contradict each other"),
    ],
)
def test_bad_arguments_exit_2(
    tmp_path: Path, tiny_checkpoint: Path, capsys, args: list[str], message: str
) -> None:
    f = _png(tmp_path / "a.png")
    (tmp_path / "empty_folder").mkdir()
    argv = [a.format(**{"in": f, "tmp": tmp_path}) for a in args]
    if "--model" not in argv:
        argv += ["--model", str(tiny_checkpoint)]
    code = main(["predict", *argv, "--out", str(tmp_path / "o"), "-q"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_out_exits_2(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    assert main(["predict", str(_png(tmp_path / "a.png")), "--model", str(tiny_checkpoint)]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_every_real_sem_file_gives_outputs_or_a_clear_error(
    tmp_path: Path, real_sem_dir: Path, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(real_sem_dir),
            "--out",
            str(out),
            "--model",
            str(tiny_checkpoint),
            "--no-tta",
            "--format",
            "tiff",
            "-q",
        ]
    )
    assert code in (0, 1)
    rows = read_summary(out / "summary.csv")
    images = sorted(p for p in real_sem_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    assert sorted(Path(r["file"]) for r in rows) == images
    for r in rows:
        if r["status"] == "done":
            stem = Path(r["outputs"].split(";")[0]).name
            assert (out / stem).is_file()
        else:
            assert r["status"] == "failed" and r["error"].startswith(r["file"])
    assert any(r["status"] == "done" for r in rows)
