"""The CSV text of depth maps: ``%.9g`` per value, rows in blocks, an exact float32 round
trip, values that need an exponent and non-finite ones written as Python writes them."""

from __future__ import annotations

import io

import numpy as np
import pytest

from core.io.csvtext import write_matrix


def _text(a: np.ndarray, values_per_block: int = 1 << 16) -> str:
    out = io.StringIO()
    write_matrix(out, a, "%.9g", values_per_block=values_per_block)
    return out.getvalue()


def test_hand_written_rows() -> None:
    a = np.array([[0.0, 1.0, -0.0, 128.5], [1e-5, 2e9, np.nan, -np.inf]], np.float32)
    assert _text(a) == "0,1,-0,128.5\n9.99999975e-06,2e+09,nan,-inf\n"


@pytest.mark.parametrize("values_per_block", [1, 9, 63, 1 << 16])
def test_blocks_do_not_change_the_text(values_per_block: int) -> None:
    a = (np.random.default_rng(0).random((20, 9)) * 300 - 20).astype(np.float32)
    one = ",".join(f"{float(v):.9g}" for v in a[0]) + "\n"
    text = _text(a, values_per_block)
    assert text.startswith(one) and text.count("\n") == 20
    assert text == _text(a, 1000)


def test_same_text_as_savetxt() -> None:
    a = (np.random.default_rng(1).random((37, 11)) * 500 - 250).astype(np.float32)
    a[3, 4], a[5, 6], a[7, 8] = np.nan, np.inf, -0.0
    ref = io.StringIO()
    np.savetxt(ref, a.astype(np.float64), fmt="%.9g", delimiter=",")
    assert _text(a, 50) == ref.getvalue()


def test_no_columns() -> None:
    assert _text(np.zeros((3, 0), np.float32)) == "\n\n\n"


def test_every_float32_reads_back_exactly() -> None:
    rng = np.random.default_rng(3)
    mags = 10.0 ** rng.uniform(-8, 12, 20_000)
    a = (mags * rng.choice([-1.0, 1.0], mags.size)).astype(np.float32).reshape(200, 100)
    back = np.loadtxt(io.StringIO(_text(a)), delimiter=",").astype(np.float32)
    assert np.array_equal(back, a)
