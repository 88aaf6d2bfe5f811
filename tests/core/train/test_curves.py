"""``curves.png`` (core/train/curves.py)."""

from __future__ import annotations

import io
import math

from PIL import Image

from core.train import EpochMetrics, plot_curves
from core.train.curves import _ticks


def _m(epoch: int, val: float, loss_d: float = math.nan) -> EpochMetrics:
    return EpochMetrics(
        epoch,
        epoch * 10,
        1.0 * epoch,
        1e-3,
        1.0 / epoch,
        0.1,
        0.0,
        0.0,
        loss_d,
        val + 0.5,
        val,
        val * 1.01,
        val * 0.8,
        True,
        100.0,
    )


def test_plot_curves_draws_a_png() -> None:
    for history in ([_m(1, 3.0)], [_m(1, 3.0, 0.7), _m(2, 2.5, 0.6), _m(3, 2.2, 0.65)], []):
        png = plot_curves(history)
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.size == (960, 380)
            if history:  # the curves put colour on the white canvas
                assert len(im.getcolors(100000) or []) > 3


def test_ticks_are_round_steps_inside_the_range() -> None:
    assert _ticks(1.0, 10.0) == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert _ticks(0.5, 1.5) == [0.6, 0.8, 1.0, 1.2, 1.4]
    assert _ticks(3.0, 3.0) == [3.0]
