"""``semdepth evaluate`` (core/cli/evaluate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.baseline import IntensityBaseline
from core.cli import main
from core.data import find_records, split_by_structure
from core.evaluate import evaluate_model


def test_cli_evaluates_a_baseline_json(eval_dacon: Path, tmp_path: Path) -> None:
    records = find_records(eval_dacon)
    split = split_by_structure(records, val_fraction=0.34, seed=0)
    base = IntensityBaseline().fit(split.train)
    base.training["data"] = {"seed": 0, "val_fraction": 0.34, "test_fraction": 0.0}
    model = base.save(tmp_path / "baseline.json")
    out = tmp_path / "report.json"
    argv = ["evaluate", "--model", str(model), "--data", str(eval_dacon), "--json", str(out)]
    assert main([*argv, "--split", "val", "--average-shots"]) == 0
    rep = json.loads(out.read_text())
    for key in (
        "n_images",
        "rmse_per_image",
        "rmse_pooled",
        "mae",
        "per_case",
        "per_bucket",
        "worst",
        "shots_averaged",
        "split",
        "model",
        "unit",
    ):
        assert key in rep, key
    assert rep["split"] == "val" and rep["n_images"] == len(split.val)
    direct = evaluate_model(base, split.val)
    assert rep["rmse_per_image"] == pytest.approx(direct.rmse_per_image)
    assert rep["rmse_pooled"] == pytest.approx(direct.rmse_pooled)
    assert rep["worst"][0]["rmse"] >= rep["worst"][-1]["rmse"]
    # an existing report is not overwritten unless asked
    assert main([*argv, "--split", "all"]) == 2
    assert main([*argv, "--split", "all", "--overwrite"]) == 0
    assert json.loads(out.read_text())["n_images"] == len(records)


def test_cli_reports_missing_model(
    eval_dacon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["evaluate", "--model", str(tmp_path / "nope.safetensors"), "--data", str(eval_dacon)])
        == 2
    )
    assert "nope.safetensors" in capsys.readouterr().err
