"""``evaluate_model`` and ``predict_fn`` (core/evaluate/runner.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.baseline import IntensityBaseline
from core.data import find_records
from core.evaluate import evaluate_model, predict_fn


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


class _Plus(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0 + 1.0


def test_predict_fn_wraps_modules_baselines_and_callables() -> None:
    sem = np.random.default_rng(0).random((2, 4, 3)).astype(np.float32)
    out = predict_fn(_Plus())(sem)
    assert out.shape == (2, 4, 3) and out.dtype == np.float32
    assert np.allclose(out, sem * 255.0 + 1.0, atol=1e-4)
    fn = lambda x: x  # noqa: E731
    assert predict_fn(fn) is fn
    base = IntensityBaseline()
    base.coef = np.zeros(len(base.config.feature_names()))
    assert predict_fn(base) == base.predict
    with pytest.raises(TypeError, match="cannot evaluate a int"):
        predict_fn(3)


def test_evaluate_refuses_bad_input(eval_dacon: Path) -> None:
    records = find_records(eval_dacon)
    with pytest.raises(ValueError, match="no records to evaluate"):
        evaluate_model(lambda x: x, [])
    with pytest.raises(ValueError, match=r"returned shape \(2, 1\) for input \(2, 72, 48\)"):
        evaluate_model(lambda x: np.zeros((2, 1), np.float32), records[:2])
