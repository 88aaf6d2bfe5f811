"""The U-Net's variance head: a sigma channel that never changes the depth, its beta-NLL,
checkpoints with and without it, and the Predictor's ``with_sigma`` hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import UNet, load_checkpoint, save_checkpoint
from core.models.losses import beta_nll


def _pair(**kw: object) -> tuple[UNet, UNet]:
    """The same network without and with the head, equal weights for everything shared."""
    torch.manual_seed(0)
    plain = UNet(levels=2, base_width=4, **kw)  # type: ignore[arg-type]
    headed = UNet(levels=2, base_width=4, variance_head=True, **kw)  # type: ignore[arg-type]
    result = headed.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(k.startswith("var_head.") for k in result.missing_keys)
    return plain, headed


def test_shapes_and_positive_sigma_in_train_and_eval() -> None:
    _, net = _pair()
    x = torch.rand(3, 1, 20, 13)
    for mode in (True, False):
        net.train(mode)
        y = net(x).detach()
        assert y.shape == (3, 2, 20, 13)
        assert torch.isfinite(y).all() and float(y[:, 1].min()) > 0.0
    assert net.has_variance_head and net.config["variance_head"] is True
    assert not UNet(levels=2, base_width=4).has_variance_head
    assert "variance_head" not in UNet(levels=2, base_width=4).config  # old cards unchanged


@pytest.mark.parametrize("input_norm", ["none", "percentile"])
def test_channel_0_is_bit_identical_with_the_head_on_or_off(input_norm: str) -> None:
    plain, headed = _pair(input_norm=input_norm)
    x = torch.rand(4, 1, 24, 16)
    for mode in (True, False):  # batch statistics in train mode, running ones in eval
        plain.train(mode)
        headed.train(mode)
        with torch.no_grad():
            a, b = plain(x), headed(x)
        assert torch.equal(a, b[:, :1])


def test_the_nll_gradient_reaches_only_the_variance_branch() -> None:
    _, net = _pair()
    x = torch.rand(2, 1, 16, 16)
    target = torch.rand(2, 1, 16, 16) * 255
    out = net(x)
    beta_nll(out[:, :1], out[:, 1:], target, beta=0.5).backward()
    for name, p in net.named_parameters():
        grad = p.grad
        if name.startswith("var_head."):
            assert grad is not None and float(grad.abs().sum()) > 0, name
        else:
            assert grad is None or float(grad.abs().sum()) == 0.0, name


def test_beta_nll_matches_the_formula() -> None:
    mean = torch.tensor([1.0, 2.0])
    sigma = torch.tensor([2.0, 0.5])
    target = torch.tensor([3.0, 2.5])
    var = sigma**2
    nll = 0.5 * (torch.log(var) + (target - mean) ** 2 / var)
    assert float(beta_nll(mean, sigma, target, beta=0.0)) == pytest.approx(float(nll.mean()))
    weighted = (nll * var**0.5).mean()
    assert float(beta_nll(mean, sigma, target, beta=0.5)) == pytest.approx(float(weighted))


@pytest.fixture
def one_thread():
    """Tiny networks: one thread (on a shared CPU, 2 threads spin on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_sigma_learns_a_known_heteroscedastic_noise() -> None:
    """Depth errors of std 2 DU on the left half of the image, 8 DU on the right half."""
    torch.manual_seed(0)
    net = UNet(levels=1, base_width=4, norm="none", variance_head=True)
    x = torch.zeros(4, 1, 8, 16)
    x[..., 8:] = 1.0
    std = torch.where(x > 0.5, 8.0, 2.0)
    assert net.var_head is not None
    opt = torch.optim.Adam(net.var_head.parameters(), lr=3e-2)
    gen = torch.Generator().manual_seed(1)
    for _ in range(150):
        out = net(x)
        target = out[:, :1].detach() + std * torch.randn(x.shape, generator=gen)
        loss = beta_nll(out[:, :1], out[:, 1:], target, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        sigma = net.eval()(x[:1])[0, 1]
    # the columns next to the boundary see both halves through the 3x3 convolution
    assert float(sigma[:, :6].median()) == pytest.approx(2.0, rel=0.2)
    assert float(sigma[:, 10:].median()) == pytest.approx(8.0, rel=0.2)


def test_checkpoints_with_and_without_the_head_load(tmp_path: Path) -> None:
    plain, headed = _pair()
    save_checkpoint(tmp_path / "plain", plain, {"input": {"size": [24, 16]}})
    save_checkpoint(tmp_path / "headed", headed, {"input": {"size": [24, 16]}})
    m1, card1 = load_checkpoint(tmp_path / "plain.safetensors")
    m2, card2 = load_checkpoint(tmp_path / "headed.safetensors")
    assert "variance_head" not in card1["architecture"]["config"]
    assert card2["architecture"]["config"]["variance_head"] is True
    x = torch.rand(2, 1, 24, 16)
    with torch.no_grad():
        y1, y2 = m1(x), m2(x)
    assert y1.shape == (2, 1, 24, 16) and y2.shape == (2, 2, 24, 16)
    assert torch.equal(y1, y2[:, :1])


def test_variance_head_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="variance_head"):
        UNet(levels=1, base_width=2, variance_head="yes")  # type: ignore[arg-type]


def test_predictor_with_sigma_returns_the_same_depth_and_the_sigma() -> None:
    from core.inference import Predictor

    plain, headed = _pair()
    card = {"input": {"size": [24, 16]}}
    pred = Predictor(headed, card, device="cpu", fast_path="fp32")
    images = np.random.default_rng(0).random((3, 24, 16)).astype(np.float32)
    depth = pred.run_model(images)
    depth2, sigma = pred.run_model(images, with_sigma=True)
    assert pred.has_sigma and depth.shape == sigma.shape == (3, 24, 16)
    assert np.array_equal(depth, depth2) and float(sigma.min()) > 0
    ref = Predictor(plain, card, device="cpu", fast_path="fp32")
    assert np.array_equal(ref.run_model(images), depth)
    assert not ref.has_sigma
    with pytest.raises(ValueError, match="no variance head"):
        ref.run_model(images, with_sigma=True)
    result = pred.predict(images[0], mode="crop", tta=False)
    assert np.allclose(result.depth, depth[0], atol=1e-3)  # batch of 1: other kernels
