"""The networks and one optimisation step (core/train/networks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import DepthDataset
from core.metrics import mean_rmse_per_image
from core.train.config import resolve_preset
from core.train.data import TrainingData
from core.train.distributed import DistContext
from core.train.networks import Networks
from core.train.speed import SpeedChoice

from .conftest import tiny_config

CPU = torch.device("cpu")


def _nets(data: Path, **kw: object) -> tuple[Networks, DepthDataset, DepthDataset]:
    cfg = tiny_config(data, Path("unused"), **kw)
    split = TrainingData.load(cfg).split
    train_ds = DepthDataset(split.train, augment=False, preload=True)
    val_ds = DepthDataset(split.val, augment=False, preload=True)
    nets = Networks(resolve_preset(cfg), cfg, CPU, DistContext())
    nets.prepare(SpeedChoice(amp=False, channels_last=False))
    return nets, train_ds, val_ds


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_unet_step_loss_is_l1_plus_rmse_term(tiny_dacon: Path) -> None:
    nets, train_ds, _ = _nets(tiny_dacon)
    before = _params(nets.G)
    losses = nets.step(train_ds.batch(list(range(8))), global_step=0)
    p = nets.preset
    assert p.discriminator is None and nets.D is None and "loss_d" not in losses
    assert losses["loss_gan"] == 0.0
    expected = p.lambda_l1 * losses["loss_l1"] + losses["loss_rmse"]
    assert losses["loss_g"] == pytest.approx(expected, rel=1e-5)
    assert losses["_mse"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, _params(nets.G), strict=True))


def test_discriminator_steps_every_d_every_generator_steps(tiny_dacon: Path) -> None:
    nets, train_ds, _ = _nets(tiny_dacon, preset="pix2pix-2level", d_every=2)
    assert nets.D is not None
    batch = train_ds.batch(list(range(4)))
    d0 = _params(nets.D)
    first = nets.step(batch, global_step=0)  # 0 % 2 == 0: D steps
    d1 = _params(nets.D)
    assert any(not torch.equal(a, b) for a, b in zip(d0, d1, strict=True))
    second = nets.step(batch, global_step=1)  # D rests, its last loss is reported again
    assert all(torch.equal(a, b) for a, b in zip(d1, _params(nets.D), strict=True))
    assert second["loss_d"] == first["loss_d"] and np.isfinite(first["loss_d"])


def test_ema_follows_the_generator_with_the_warm_up_decay(tiny_dacon: Path) -> None:
    nets, train_ds, _ = _nets(tiny_dacon, ema=0.9)
    assert nets.ema is not None and nets.eval_model is nets.ema
    ema_before = _params(nets.ema)
    nets.step(train_ds.batch(list(range(8))), global_step=5)
    decay = min(0.9, (1 + 5) / (10 + 5))  # 0.4 early in the run
    for e0, e1, g in zip(ema_before, _params(nets.ema), _params(nets.G), strict=True):
        torch.testing.assert_close(e1, decay * e0 + (1 - decay) * g)


def test_set_lr_reaches_every_optimizer(tiny_dacon: Path) -> None:
    nets, _, _ = _nets(tiny_dacon, preset="pix2pix-2level")
    nets.set_lr(0.125)
    assert nets.opt_d is not None
    lrs = [g["lr"] for o in (nets.opt_g, nets.opt_d) for g in o.param_groups]
    assert lrs == [0.125, 0.125]


def test_validate_measures_the_eval_model_per_image(tiny_dacon: Path) -> None:
    nets, _, val_ds = _nets(tiny_dacon)
    acc = nets.validate(val_ds, batch_size=3)  # batches of 3, 1 left over
    assert len(acc) == len(val_ds) == 4
    b = val_ds.batch(list(range(len(val_ds))))
    with torch.no_grad():
        pred = nets.eval_model.eval()(b["sem"])[:, 0].numpy()
    expected = mean_rmse_per_image(pred, b["depth"][:, 0].numpy())
    assert acc.summary().rmse_per_image == pytest.approx(expected, rel=1e-5)
