"""The vectorised CSV text of depth maps: the digits of ``%.9g``, exact float32 round trip,
``np.savetxt`` where it cannot."""

from __future__ import annotations

import io

import numpy as np
import pytest

from core.io.csvtext import format_rows, write_matrix


def _savetxt(a: np.ndarray) -> str:
    out = io.StringIO()
    np.savetxt(out, a.astype(np.float64), fmt="%.9g", delimiter=",")
    return out.getvalue()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_text_as_percent_9g_for_depth_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = (rng.random((64, 48)) * 300 - 20).astype(np.float32)  # DU, a few below 0
    a[0, :6] = [0.0, 1.0, 10.0, 255.0, 128.5, -0.0]
    text = format_rows(a)
    assert text is not None and text.decode() == _savetxt(a)


def test_every_float32_in_range_reads_back_exactly() -> None:
    rng = np.random.default_rng(3)
    mags = 10.0 ** rng.uniform(-3.99, 8.99, 20_000)
    a = (mags * rng.choice([-1.0, 1.0], mags.size)).astype(np.float32).reshape(200, 100)
    text = format_rows(a)
    assert text is not None
    back = np.loadtxt(io.StringIO(text.decode()), delimiter=",").astype(np.float32)
    assert np.array_equal(back, a)
    ref = np.loadtxt(io.StringIO(_savetxt(a)), delimiter=",").astype(np.float32)
    assert np.array_equal(back, ref)


def test_values_needing_an_exponent_fall_back() -> None:
    assert format_rows(np.array([[1e-5, 1.0]], np.float32)) is None
    assert format_rows(np.array([[2e9]], np.float32)) is None
    assert format_rows(np.array([[np.nan]], np.float32)) is None
    mixed = np.array([[1.5, 2.5], [1e-7, 3.0], [4.0, 5.0]], np.float32)
    out = io.StringIO()
    write_matrix(out, mixed, "%.9g", rows_per_block=1)  # the middle block falls back
    assert out.getvalue() == _savetxt(mixed)
