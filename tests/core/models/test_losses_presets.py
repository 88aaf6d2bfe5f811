"""GAN, L1 and RMSE terms against hand-computed numbers; every preset builds and runs."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from core.models import (
    PRESETS,
    GANLoss,
    discriminator_loss,
    generator_loss,
    get_preset,
    l1_term,
    rmse_term,
)


def test_gan_loss_vanilla_matches_hand_bce() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0])
    loss = GANLoss("vanilla")
    # BCE with logits: real -> -log(sigmoid(x)) = log(1 + e^-x); fake -> log(1 + e^x)
    real = (math.log(2) + math.log(1 + math.exp(-2)) + math.log(1 + math.exp(1))) / 3
    fake = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 3
    assert float(loss(logits, True)) == pytest.approx(real, rel=1e-6)
    assert float(loss(logits, False)) == pytest.approx(fake, rel=1e-6)


def test_gan_loss_lsgan_matches_hand_mse() -> None:
    pred = torch.tensor([[0.5, 2.0], [-1.0, 1.0]])
    loss = GANLoss("lsgan")
    assert float(loss(pred, True)) == pytest.approx((0.25 + 1.0 + 4.0 + 0.0) / 4)
    assert float(loss(pred, False)) == pytest.approx((0.25 + 4.0 + 1.0 + 1.0) / 4)
    with pytest.raises(ValueError, match=r"GAN mode"):
        GANLoss("wgan")


def test_discriminator_loss_is_mean_of_real_and_fake() -> None:
    gan = GANLoss("lsgan")
    d_real, d_fake = torch.tensor([0.5]), torch.tensor([0.25])
    assert float(discriminator_loss(gan, d_real, d_fake)) == pytest.approx((0.25 + 0.0625) / 2)


def test_rmse_value_and_modes() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    expected = math.sqrt((0 + 4 + 9 + 16) / 4)
    for mode in ("differentiable", "detached"):
        assert float(rmse_term(pred, target, mode)) == pytest.approx(expected)
    assert float(rmse_term(pred, target, "none")) == 0.0
    with pytest.raises(ValueError, match=r"rmse_mode"):
        rmse_term(pred, target, "numpy")


def test_rmse_differentiable_gradient_matches_hand_derivation() -> None:
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = torch.tensor([1.5, 1.0, 3.0, 2.0])
    rmse_term(x, y, "differentiable").backward()
    # d/dx sqrt(mean((x-y)^2)) = (x - y) / (N * sqrt(mean((x-y)^2)))
    diff = [-0.5, 1.0, 0.0, 2.0]
    r = math.sqrt(sum(d * d for d in diff) / 4)
    assert x.grad is not None
    assert x.grad.tolist() == pytest.approx([d / (4 * r) for d in diff], rel=1e-6)
    z = torch.zeros(3, requires_grad=True)  # no NaN at a perfect prediction
    rmse_term(z, torch.zeros(3), "differentiable").backward()
    assert z.grad is not None and torch.equal(z.grad, torch.zeros(3))


def test_rmse_detached_adds_value_but_no_gradient() -> None:
    torch.manual_seed(0)
    x = (torch.rand(2, 1, 6, 4) * 255).requires_grad_()
    y = torch.rand(2, 1, 6, 4) * 255
    base = generator_loss(x, y, lambda_l1=100.0, rmse_mode="none")["total"]
    (g_base,) = torch.autograd.grad(base, x)
    parts = generator_loss(x, y, lambda_l1=100.0, rmse_mode="detached")
    (g_det,) = torch.autograd.grad(parts["total"], x)
    assert torch.equal(g_det, g_base)  # the report's bug: gradient unaffected
    assert float((parts["total"] - base).detach()) == pytest.approx(
        float(rmse_term(x, y, "detached"))
    )
    assert not parts["rmse"].requires_grad
    (g_fix,) = torch.autograd.grad(
        generator_loss(x, y, lambda_l1=100.0, rmse_mode="differentiable")["total"], x
    )
    assert not torch.allclose(g_fix, g_base)


def test_generator_loss_parts() -> None:
    pred = torch.full((1, 1, 2, 2), 100.0)
    target = torch.full((1, 1, 2, 2), 125.5)
    gan = GANLoss("vanilla")
    d_fake = torch.zeros(1, 1, 3, 3)
    parts = generator_loss(
        pred, target, d_fake=d_fake, gan=gan, lambda_l1=100.0, rmse_mode="detached"
    )
    assert float(parts["l1"]) == pytest.approx(25.5 / 127.5)
    assert float(l1_term(pred, target)) == pytest.approx(0.2)
    assert float(parts["gan"]) == pytest.approx(math.log(2))
    assert float(parts["rmse"]) == pytest.approx(25.5)
    assert float(parts["total"]) == pytest.approx(math.log(2) + 20.0 + 25.5)
    with pytest.raises(ValueError, match=r"both d_fake and gan"):
        generator_loss(pred, target, d_fake=d_fake)


EXPECTED = {
    "pix2pix-2level": (2, 64, 3, "vanilla"),
    "pix2pix-3level": (3, 64, 3, "vanilla"),
    "pix2pix-4level": (4, 64, 3, "vanilla"),
    "pix2pix-2level-ndf16": (2, 16, 3, "vanilla"),
    "pix2pix-3level-deepD": (3, 64, 4, "vanilla"),
    "pix2pix-3level-lsgan": (3, 64, 3, "lsgan"),
    "unet-2level": (2, None, None, "none"),
    "unet-3level": (3, None, None, "none"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_preset_builds_and_runs(name: str) -> None:
    preset = PRESETS[name]
    levels, ndf, n_layers, gan_mode = EXPECTED[name]
    assert preset.name == name and preset.gan_mode == gan_mode
    assert preset.rmse_mode == "detached" and preset.lambda_l1 == 100.0
    json.dumps(preset.to_dict())
    torch.manual_seed(0)
    g = preset.build_generator()
    assert g.config["levels"] == levels
    sem = torch.rand(2, 1, 72, 48)
    fake = g(sem)
    assert fake.shape == (2, 1, 72, 48)
    d = preset.build_discriminator()
    if ndf is None:
        assert d is None and not preset.is_gan and preset.d_every == 0
        return
    assert d is not None and preset.is_gan
    assert d.config["ndf"] == ndf and d.config["n_layers"] == n_layers
    assert preset.d_every == 10 and preset.lr == 2e-4 and preset.betas == (0.5, 0.999)
    out = d(sem, fake)
    assert out.ndim == 4 and out.shape[:2] == (2, 1)
    gan = GANLoss(preset.gan_mode)
    parts = generator_loss(
        fake,
        torch.rand(2, 1, 72, 48) * 255,
        d_fake=out,
        gan=gan,
        lambda_l1=preset.lambda_l1,
        rmse_mode=preset.rmse_mode,
    )
    parts["total"].backward()
    assert all(p.grad is not None for p in g.parameters())


def test_preset_lookup_and_replace() -> None:
    assert set(PRESETS) == set(EXPECTED)
    fixed = dataclasses.replace(get_preset("unet-2level"), rmse_mode="differentiable")
    assert fixed.rmse_mode == "differentiable"
    with pytest.raises(ValueError, match=r"unknown preset"):
        get_preset("pix2pix-9level")
    with pytest.raises(ValueError, match=r"rmse_mode"):
        dataclasses.replace(fixed, rmse_mode="numpy")
