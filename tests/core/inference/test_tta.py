"""Test-time augmentation: variants and their inverses, and the mean and spread of the
un-done answers against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from core.inference.tta import (
    SHIFTS,
    flip_variants,
    n_variants,
    shift,
    shift_variants,
    tta_kind_for,
    tta_mean_std,
    unshift_variant,
)


def _stack(n: int = 2, h: int = 5, w: int = 4) -> np.ndarray:
    return np.arange(n * h * w, dtype=np.float32).reshape(n, h, w)


def test_kind_and_count_from_the_card() -> None:
    assert tta_kind_for({}) == "flips"
    assert tta_kind_for({"training": {"augment": True}}) == "flips"
    assert tta_kind_for({"training": "augment"}) == "flips"
    assert tta_kind_for({"training": {"augment": False}}) == "shifts"
    assert (n_variants("flips"), n_variants("shifts")) == (4, 5)


def test_each_flip_is_its_own_inverse() -> None:
    x = _stack()
    variants = flip_variants(x)
    assert len(variants) == 4 and np.array_equal(variants[0], x)
    assert np.array_equal(variants[1][0, 0], x[0, 0, ::-1])  # h-flip
    assert np.array_equal(variants[2][0, :, 0], x[0, ::-1, 0])  # v-flip
    for k, v in enumerate(variants):
        assert np.array_equal(flip_variants(v)[k], x)


def test_shift_by_hand() -> None:
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    up = shift(x, 1, 0)  # sample one row further down: rows 1, 2, then 1 (reflected)
    assert up[0].tolist() == [x[0, 1].tolist(), x[0, 2].tolist(), x[0, 1].tolist()]
    left = shift(x, 0, -1)  # columns 1 (reflected), 0, 1, 2
    assert left[0, 0].tolist() == [1.0, 0.0, 1.0, 2.0]
    assert np.array_equal(shift(x, 0, 0), x)


def test_unshift_undoes_every_move_away_from_the_border() -> None:
    x = _stack(h=7, w=6)
    variants = shift_variants(x)
    assert len(variants) == len(SHIFTS) == 5
    for k, v in enumerate(variants):
        back = unshift_variant(v, k)
        assert np.array_equal(back[:, 1:-1, 1:-1], x[:, 1:-1, 1:-1])


def _column_biased(stack: np.ndarray) -> np.ndarray:
    """A model that adds the column index: not flip-equivariant."""
    return stack + np.arange(stack.shape[-1], dtype=np.float32)


def test_flip_mean_and_std_by_hand() -> None:
    x = _stack(n=3, h=4, w=5)
    calls: list[int] = []

    def run(stack: np.ndarray) -> np.ndarray:
        calls.append(len(stack))
        return _column_biased(stack)

    mean, std = tta_mean_std(x, None, run, tta=True, kind="flips")
    assert calls == [12]  # one call, every variant of every window
    j = np.arange(5, dtype=np.float64)
    # identity and v-flip answer x + j, h-flip and both answer x + (4 - j) once un-flipped
    np.testing.assert_allclose(mean, x + 2.0, rtol=1e-6)
    np.testing.assert_allclose(std, np.broadcast_to(np.abs(2 * j - 4) / 2, x.shape), atol=1e-6)
    assert mean.dtype == std.dtype == np.float32


def test_without_tta_one_answer_and_zero_spread() -> None:
    x = _stack()
    mean, std = tta_mean_std(x, None, _column_biased, tta=False, kind="flips")
    assert np.array_equal(mean, _column_biased(x)) and not std.any()


def test_a_second_shot_enters_mean_and_spread() -> None:
    a = _stack()
    b = a + 6.0
    mean, std = tta_mean_std(a, b, lambda s: 2.0 * s, tta=False, kind="flips")
    np.testing.assert_allclose(mean, 2.0 * a + 6.0, rtol=1e-6)
    np.testing.assert_allclose(std, 6.0, rtol=1e-6)  # |2a - 2b| / 2
    mean8, std8 = tta_mean_std(a, b, lambda s: 2.0 * s, tta=True, kind="flips")
    np.testing.assert_allclose(mean8, mean, rtol=1e-6)
    np.testing.assert_allclose(std8, std, rtol=1e-6)  # pointwise: flips change nothing


@pytest.mark.parametrize("kind", ["flips", "shifts"])
def test_a_pointwise_model_has_no_spread_inside(kind: str) -> None:
    x = np.random.default_rng(0).random((2, 9, 8)).astype(np.float32)
    mean, std = tta_mean_std(x, None, lambda s: 255.0 * s, tta=True, kind=kind)
    inner = (slice(None), slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(mean[inner], 255.0 * x[inner], rtol=1e-5)
    assert float(std[inner].max()) < 1e-4
