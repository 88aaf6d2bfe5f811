"""``evaluate_model`` and ``semdepth evaluate`` on tiny simulated data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.baseline import IntensityBaseline
from core.cli import main
from core.data import find_records, split_by_structure
from core.evaluate import evaluate_model, select_split


def _depth(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im, dtype=np.float64)


def test_constant_predictor_against_hand_computed_rmse(eval_dacon: Path) -> None:
    records = find_records(eval_dacon)
    rep = evaluate_model(lambda x: np.full(x.shape, 100.0, np.float32), records, batch_size=5)
    per = [math.sqrt(np.mean((_depth(r.depth_path) - 100.0) ** 2)) for r in records]
    pooled = math.sqrt(np.mean([np.mean((_depth(r.depth_path) - 100.0) ** 2) for r in records]))
    assert rep.n_images == len(records) == 24
    assert rep.rmse_per_image == pytest.approx(np.mean(per))
    assert rep.rmse_pooled == pytest.approx(pooled)  # all images are 72x48
    assert set(rep.per_case) == {"Case_1", "Case_2"}
    assert sum(g.n_images for g in rep.per_bucket.values()) == 24
    assert rep.worst[0].rmse == pytest.approx(max(per))
    assert len(rep.worst) == 10


def test_average_shots_pairs_the_two_shots(eval_dacon: Path) -> None:
    records = find_records(eval_dacon)
    assert [r.shot for r in records[:4]] == [0, 1, 0, 1]  # shots of a structure are adjacent

    # with batches of 2 (the two shots), +5 DU on one shot and -5 DU on the other cancel
    def pred(x: np.ndarray) -> np.ndarray:
        assert len(x) == 2
        return np.stack([np.full(x[0].shape, 155.0), np.full(x[0].shape, 145.0)])

    rep = evaluate_model(pred, records, average_shots=True, batch_size=2)
    assert rep.shots_averaged is not None
    assert rep.shots_averaged.n_images == 12  # 6 structures x 2 cases
    depths = [_depth(r.depth_path) for r in records if r.shot == 0]
    expected = np.mean([math.sqrt(np.mean((d - 150.0) ** 2)) for d in depths])
    assert rep.shots_averaged.rmse_per_image == pytest.approx(expected)
    assert rep.rmse_per_image > rep.shots_averaged.rmse_per_image
    assert rep.to_dict()["shots_averaged"]["n_images"] == 12


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


def test_select_split_auto_uses_the_trainers_held_out_part(eval_dacon: Path) -> None:
    from core.data import dataset_hash

    records = find_records(eval_dacon)
    card = {
        "training": {
            "data": {
                "seed": 1,
                "val_fraction": 0.2,
                "test_fraction": 0.2,
                "hash": dataset_hash(records),
            }
        }
    }
    chosen, split = select_split(records, card, "auto")
    expected = split_by_structure(records, val_fraction=0.2, test_fraction=0.2, seed=1).test
    assert split == "test" and chosen == expected
    other = {"training": {"data": {**card["training"]["data"], "hash": "different"}}}
    assert select_split(records, other, "auto") == (records, "all")
    with pytest.raises(ValueError, match="does not record how its data were split"):
        select_split(records, {}, "val")


def test_cli_reports_missing_model(
    eval_dacon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["evaluate", "--model", str(tmp_path / "nope.safetensors"), "--data", str(eval_dacon)])
        == 2
    )
    assert "nope.safetensors" in capsys.readouterr().err
