"""Metrics, folds and the output correction against hand-computed values
(core/calibrate/agreement.py, run.nested_correction)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.calibrate import agreement as agr
from core.calibrate.run import nested_correction


def test_agreement_by_hand() -> None:
    fig = agr.agreement(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0]))
    # d = (0, 1, -1): RMSE sqrt(2/3), bias 0; cov(p, r) = 1, var(r) = 2 -> slope 0.5
    assert fig["n"] == 3
    assert fig["rmse"] == pytest.approx(math.sqrt(2 / 3))
    assert fig["bias"] == pytest.approx(0.0)
    assert fig["slope"] == pytest.approx(0.5)
    assert agr.agreement(np.array([1.0, 2.0]), np.array([3.0, 3.0]))["slope"] is None
    assert agr.agreement(np.array([]), np.array([]))["rmse"] is None


def test_folds_keep_groups_together_and_are_seeded() -> None:
    groups = [0, 0, 1, 2, 2, 3, 4]
    folds = agr.assign_folds(groups, 2, seed=3)
    for g in set(groups):
        assert len({int(f) for f, gg in zip(folds, groups, strict=True) if gg == g}) == 1
    assert sorted(set(folds.tolist())) == [0, 1]
    assert np.array_equal(folds, agr.assign_folds(groups, 2, seed=3))
    # the order is numpy's permutation of the groups, dealt round-robin
    order = np.random.default_rng(3).permutation(5)
    assert [int(folds[groups.index(int(g))]) for g in order] == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="3 folds for 2 groups"):
        agr.assign_folds([0, 1], 3, seed=0)


def test_references_sharing_images_share_a_group() -> None:
    assert agr.group_references([(0, 1), (2,), (1, 3), (4,), (3,)]) == [0, 1, 0, 2, 0]


def test_offset_crossval_by_hand() -> None:
    # averages m = 10..40, refs off by 2, 1, 3, 4; folds 0, 1, 0, 1
    obs = agr.Observations.of([10, 20, 30, 40], [12, 21, 33, 44], [False] * 4)
    folds = np.array([0, 1, 0, 1])
    held = agr.crossval_correction("offset", obs, folds, pivot=0.0)
    # fold 0 gets the mean offset of fold 1, (1 + 4) / 2; fold 1 that of fold 0, (2 + 3) / 2
    assert held == pytest.approx([12.5, 22.5, 32.5, 42.5])
    fig = agr.agreement(held, obs.ref)
    assert fig["rmse"] == pytest.approx(math.sqrt((0.25 + 2.25 + 0.25 + 2.25) / 4))
    assert fig["bias"] == pytest.approx(0.0)
    # "none" leaves the predictions; gain+offset on two points per fold fits them exactly
    assert agr.crossval_correction("none", obs, folds, 0.0) == pytest.approx([10, 20, 30, 40])


def test_fit_correction_recovers_an_affine_map() -> None:
    m = np.array([100.0, 120.0, 140.0, 160.0])
    obs = agr.Observations.of(m, 1.2 * (m - 150) + 150 - 5, [False] * 4)
    c = agr.fit_correction("gain+offset", obs, pivot=150.0)
    assert (c.gain, c.offset) == pytest.approx((1.2, -5.0))
    a, b = c.as_affine
    assert a * m + b == pytest.approx(c.apply(obs))
    # points see only the gain (depth below the top): d' = gain d
    pts = agr.Observations.of([10.0, 20.0], [15.0, 30.0], [True, True])
    g = agr.fit_correction("gain+offset", pts, pivot=150.0)
    assert (g.gain, g.offset) == pytest.approx((1.5, 0.0))
    assert agr.fit_correction("gain", pts, 150.0).apply(pts) == pytest.approx([15.0, 30.0])
    # a gain beyond the limits is clipped, the offset refitted for it
    wild = agr.Observations.of([10.0, 11.0], [0.0, 100.0], [False, False])
    w = agr.fit_correction("gain+offset", wild, pivot=0.0)
    assert w.gain == agr.GAIN_LIMITS[1]
    assert w.offset == pytest.approx(50.0 - 4.0 * 10.5)


def test_the_choice_needs_a_held_out_gain() -> None:
    folds = np.array([0, 0, 1, 1])
    shifted = agr.Observations.of([10, 20, 30, 40], [13, 23, 33, 43], [False] * 4)
    assert agr.choose_correction(shifted, folds, 0.0)[0] == "offset"
    noisy = agr.Observations.of([10, 20, 30, 40], [11, 19, 31, 39], [False] * 4)
    name, scores = agr.choose_correction(noisy, folds, 0.0)
    # the offset fitted on (11-10, 19-20) is 0: a tie with "none", which wins
    assert name == "none" and scores["offset"] == pytest.approx(scores["none"])
    # without averages no offset can be fitted: only "none" and "gain" compete
    pts = agr.Observations.of([10, 20, 30, 40], [20, 40, 60, 80], [True] * 4)
    name, scores = agr.choose_correction(pts, folds, 0.0)
    assert name == "gain" and set(scores) == {"none", "gain"}


def test_nested_correction_chooses_inside_each_fold() -> None:
    obs = agr.Observations.of([10, 20, 30, 40, 50, 60], [13, 23, 33, 43, 53, 63], [False] * 6)
    folds = np.array([0, 1, 2, 0, 1, 2])
    # every inner choice is "offset" (+3): the held-out predictions are exact
    assert nested_correction(obs, folds, 0.0) == pytest.approx(obs.ref)
    # with two folds the inner cross-validation has one fold: nothing is corrected
    two = np.array([0, 1, 0, 1, 0, 1])
    assert nested_correction(obs, two, 0.0) == pytest.approx(obs.pred)
