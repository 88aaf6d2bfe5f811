"""Metric functions against hand-computed numbers (all in DU)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.metrics import (
    GroupMetrics,
    MetricAccumulator,
    image_mae,
    image_rmse,
    image_rmse_offset_free,
    mean_rmse_per_image,
    pooled_mae,
    pooled_rmse,
    rmse,
    rmse_per_image,
)


def test_single_image_rmse_and_mae() -> None:
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.zeros((2, 2))
    assert image_rmse(pred, target) == pytest.approx(math.sqrt((1 + 4 + 9 + 16) / 4))
    assert image_mae(pred, target) == pytest.approx(2.5)
    assert image_rmse(target, target) == 0.0


def test_per_image_mean_differs_from_pooled_for_unequal_sizes() -> None:
    # image A: 2x2 pixels all off by 1; image B: 1x2 pixels all off by 4
    preds = [np.ones((2, 2)), np.full((1, 2), 4.0)]
    targets = [np.zeros((2, 2)), np.zeros((1, 2))]
    np.testing.assert_allclose(rmse_per_image(preds, targets), [1.0, 4.0])
    assert mean_rmse_per_image(preds, targets) == pytest.approx(2.5)
    assert pooled_rmse(preds, targets) == pytest.approx(math.sqrt((4 * 1 + 2 * 16) / 6))
    assert pooled_mae(preds, targets) == pytest.approx((4 * 1 + 2 * 4) / 6)


def test_stacked_arrays_and_equal_sizes() -> None:
    preds = np.stack([np.full((3, 2), 1.0), np.full((3, 2), 3.0)])
    targets = np.zeros((2, 3, 2))
    assert mean_rmse_per_image(preds, targets) == pytest.approx(2.0)
    assert pooled_rmse(preds, targets) == pytest.approx(math.sqrt(5.0))
    assert pooled_mae(preds, targets) == pytest.approx(2.0)


def test_bad_shapes_and_empty_inputs_raise() -> None:
    with pytest.raises(ValueError, match="differs from target shape"):
        image_rmse(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        pooled_rmse([np.zeros((1, 1))] * 2, [np.zeros((1, 1))])
    with pytest.raises(ValueError, match="zero"):
        image_rmse(np.zeros((0,)), np.zeros((0,)))


@dataclass
class _Rec:
    sem_path: Path
    structure: str
    case: str | None
    bucket: str | None
    shot: int | None = 0


def test_accumulator_groups_and_worst() -> None:
    acc = MetricAccumulator()
    recs = [
        _Rec(Path("a.png"), "a", "Case_1", "080"),
        _Rec(Path("b.png"), "b", "Case_1", "081"),
        _Rec(Path("c.png"), "c", "Case_2", "080"),
    ]
    target = np.zeros((3, 2, 2))
    pred = np.stack([np.full((2, 2), v) for v in (1.0, 3.0, 2.0)])
    acc.add(pred[:2], target[:2], recs[:2])
    acc.add(pred[2:, None], target[2:, None], recs[2:])  # (n, 1, rows, cols) works too
    s = acc.summary()
    assert s == GroupMetrics(3, 2.0, math.sqrt(14 / 3), 2.0, 0.0)  # constant errors only
    by_case = acc.by("case")
    assert by_case["Case_1"].n_images == 2 and by_case["Case_1"].rmse_per_image == 2.0
    assert by_case["Case_2"].rmse_pooled == 2.0
    assert acc.by("bucket")["080"].rmse_per_image == pytest.approx(1.5)
    assert [r.structure for r in acc.worst(2)] == ["b", "c"]


def test_offset_free_rmse_removes_only_the_constant_offset() -> None:
    target = np.array([[10.0, 20.0], [30.0, 40.0]])
    # prediction = target + 5 everywhere, plus +-1 of shape error
    pred = target + 5.0 + np.array([[1.0, -1.0], [1.0, -1.0]])
    assert image_rmse(pred, target) == pytest.approx(math.sqrt((36 + 16 + 36 + 16) / 4))
    assert image_rmse_offset_free(pred, target) == pytest.approx(1.0)
    assert image_rmse_offset_free(target + 7.0, target) == pytest.approx(0.0)


def test_rmse_of_an_error_array() -> None:
    assert rmse(np.array([3.0, -4.0])) == pytest.approx(math.sqrt(12.5))
    assert math.isnan(rmse(np.array([])))


def test_accumulator_offset_free_rmse_per_image_by_hand() -> None:
    acc = MetricAccumulator()
    target = np.zeros((2, 1, 2))
    pred = np.array([[[5.0, 7.0]], [[1.0, 1.0]]])  # errors +6 +- 1, and a constant 1
    acc.add(pred, target)
    assert [r.rmse_offset_free for r in acc.images] == [1.0, 0.0]
    assert acc.summary().rmse_offset_free_per_image == 0.5
