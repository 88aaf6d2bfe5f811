"""The adaptation loop's pieces (core/calibrate/adapt.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.calibrate.adapt import (
    AdaptConfig,
    PointTarget,
    TargetData,
    adabn_tiles,
    adapt,
    point_crops,
    random_tiles,
    tile_shape,
)
from core.calibrate.probe import make_probe, probe_depth_du

from .conftest import tiny_model


def test_tiles() -> None:
    images = [np.zeros((72, 48), np.float32), np.ones((100, 40), np.float32)]
    assert tile_shape(images, (72, 48)) == (72, 40)
    tiles = random_tiles(images, (72, 40), 10, np.random.default_rng(0))
    assert tiles.shape == (10, 72, 40) and set(np.unique(tiles)) <= {0.0, 1.0}
    mixed = adabn_tiles(images, (72, 40), seed=0)
    assert mixed.shape == (8, 72, 40)  # four tiles per image
    same = [np.full((72, 48), k, np.float32) for k in range(3)]
    assert [float(a[0, 0]) for a in adabn_tiles(same, (72, 48), seed=0)] == [0.0, 1.0, 2.0]


def test_point_crops_read_the_point_like_the_whole_map() -> None:
    rr, cc = np.mgrid[:200, :150]
    depth = np.where(np.hypot(rr - 120, cc - 70) <= 10, 100.0, 160.0).astype(np.float32)
    target = TargetData([depth], np.array([np.nan]), [PointTarget(0, 70.0, 120.0, 60.0)])
    (crop,) = point_crops(target, top_half_px=20)
    assert crop.sem.shape == (2 * 36 + 1, 2 * 36 + 1) and crop.target_du == 60.0
    whole = make_probe(depth.shape, 70.0, 120.0, top_half_px=20)
    assert probe_depth_du(crop.sem, crop.probe) == pytest.approx(probe_depth_du(depth, whole))
    assert probe_depth_du(crop.sem, crop.probe) == pytest.approx(60.0)


def test_adapt_uses_each_term_and_leaves_the_input_model() -> None:
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    images = [rng.random((72, 48), dtype=np.float32) for _ in range(4)]
    target = TargetData(
        images, np.array([150.0, np.nan, 140.0, np.nan], np.float32),
        [PointTarget(1, 24.0, 36.0, 40.0)],
    )  # fmt: skip
    rows: list[dict[str, float]] = []
    res = adapt(model, target, AdaptConfig(budget_s=600, max_steps=3, batch_size=2),
                input_size=(72, 48), top_half_px=36, on_loss=rows.append)  # fmt: skip
    assert res.steps == 3 and res.stopped == "max_steps" and len(rows) == 3
    assert {"masked", "average", "point", "loss", "step", "seconds"} <= set(rows[0])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not res.model.training


class _WithSigma(torch.nn.Module):
    """A depth network with a second (sigma) output channel, like a variance head."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_model()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return torch.cat([y, torch.full_like(y, 1000.0)], dim=1)


def test_the_losses_read_the_depth_channel_only() -> None:
    model = _WithSigma()
    image = np.random.default_rng(1).random((72, 48), dtype=np.float32)
    target = TargetData([image], np.array([150.0], np.float32))
    rows: list[dict[str, float]] = []
    cfg = AdaptConfig(budget_s=600, max_steps=1, masked_weight=0.0, lr=0.0, adabn=False)
    adapt(model, target, cfg, input_size=(72, 48), top_half_px=36, on_loss=rows.append)
    net = model.net.train()
    with torch.no_grad():
        mean = float(net(torch.from_numpy(image)[None, None]).mean())
    # the loop may flip the image (a few 0.01 DU); the sigma channel would add ~425 DU
    assert rows[0]["average"] == pytest.approx(abs(mean - 150.0), abs=0.1)


def test_keep_ties_the_map_to_the_starting_model() -> None:
    """The keep term is 0 for the model as it starts; under the average term alone the map
    of an image without a reference moves, and with a strong keep term it moves less."""
    rng = np.random.default_rng(2)
    images = [rng.random((72, 48), dtype=np.float32) for _ in range(2)]
    target = TargetData(images, np.array([250.0, np.nan], np.float32))

    def run(keep: float) -> tuple[float, list[dict[str, float]]]:
        model = tiny_model()
        rows: list[dict[str, float]] = []
        cfg = AdaptConfig(budget_s=600, max_steps=20, batch_size=2, masked_weight=0.0,
                          keep_weight=keep, lr=1e-2, adabn=False)  # fmt: skip
        res = adapt(model, target, cfg, input_size=(72, 48), top_half_px=36, on_loss=rows.append)
        x = torch.from_numpy(images[1])[None, None]
        with torch.no_grad():
            moved = (res.model.train()(x) - model.train()(x)).abs().mean()
        return float(moved), rows

    free, rows_free = run(0.0)
    kept, rows_kept = run(20.0)
    assert "keep" not in rows_free[0]
    assert rows_kept[0]["keep"] == pytest.approx(0.0, abs=1e-4)  # nothing has changed yet
    assert free > 1.0 and kept < 0.5 * free
