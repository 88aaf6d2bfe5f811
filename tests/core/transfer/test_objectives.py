"""Transfer objectives: average-depth weak supervision, masked reconstruction, AdaBN
(core/transfer/objectives.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.transfer import MaskedReconstruction, adapt_batchnorm, average_depth_loss

from .conftest import tiny


def test_average_depth_loss_by_hand() -> None:
    pred = torch.tensor([[[[1.0, 3.0]]], [[[10.0, 10.0]]], [[[0.0, 4.0]]]])  # means 2, 10, 2
    avg = torch.tensor([4.0, 7.0, math.nan])
    assert float(average_depth_loss(pred, avg)) == pytest.approx((2 + 3) / 2)
    assert float(average_depth_loss(pred, avg, kind="l2")) == pytest.approx((4 + 9) / 2)
    none = average_depth_loss(pred, torch.full((3,), math.nan))
    assert float(none) == 0.0
    with pytest.raises(ValueError, match="2 averages for 3"):
        average_depth_loss(pred, avg[:2])
    # the gradient pulls each map's mean toward its average
    p = pred.clone().requires_grad_(True)
    average_depth_loss(p, avg).backward()
    assert p.grad is not None
    assert float(p.grad[0].sum()) < 0 < float(p.grad[1].sum()) and float(p.grad[2].sum()) == 0


def test_adabn_sets_running_stats_to_the_target_statistics() -> None:
    model = nn.Sequential(nn.BatchNorm2d(1))
    imgs = np.random.default_rng(0).random((10, 6, 5)).astype(np.float32) * 0.3 + 0.6
    assert adapt_batchnorm(model, imgs, batch_size=5) == 1
    bn = model[0]
    # cumulative average over the two batches of 5 images of their mean / unbiased variance
    assert float(bn.running_mean[0]) == pytest.approx(float(imgs.mean()), abs=1e-5)
    var = np.mean([imgs[:5].var(ddof=1), imgs[5:].var(ddof=1)])
    assert float(bn.running_var[0]) == pytest.approx(float(var), rel=1e-4)
    assert bn.momentum == 0.1 and model.training  # settings and mode restored


def test_masked_reconstruction_is_blind_to_the_masked_pixels(dacon: Path) -> None:
    model = tiny().eval()
    recon = MaskedReconstruction(model)
    x = torch.rand(2, 1, 12, 8)
    x2 = x.clone()
    x2[:, :, 0, 0] = 1.0 - x2[:, :, 0, 0]  # set 0 of the grid contains (0, 0)
    masker = recon.masker
    xm, _ = masker.apply(x, 0)
    xm2, _ = masker.apply(x2, 0)
    assert torch.equal(xm, xm2)  # what the network sees does not contain those pixels
    g = torch.Generator().manual_seed(0)
    loss = recon.loss(model, x, g)
    assert loss.ndim == 0 and float(loss.detach()) > 0
    loss.backward()
    assert recon.aux.weight.grad is not None and model.inc[0].weight.grad is not None
    recon.close()
