"""U-Net and PatchGAN shapes, ranges, sizes and the registry."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from core.models import MODELS, PatchGAN, UNet, UnknownModelError, create_model


def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("levels", [2, 3, 4, 5])
@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
def test_unet_output_shape_any_size(levels: int, norm: str) -> None:
    torch.manual_seed(0)
    net = UNet(levels=levels, base_width=4, norm=norm)
    for h, w in ((72, 48), (71, 47), (33, 17)):
        x = torch.rand(2, 1, h, w)
        net.train()
        y_train = net(x)
        assert y_train.shape == (2, 1, h, w)
        net.eval()
        with torch.no_grad():
            y = net(x)
        assert y.shape == (2, 1, h, w) and y.dtype == torch.float32
        assert torch.isfinite(y).all()
        assert float(y.min()) >= 0.0 and float(y.max()) <= 255.0


def test_unet_tiny_input_pads_with_replicate() -> None:
    net = UNet(levels=5, base_width=2, norm="batch").eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, 5, 3)).shape == (1, 1, 5, 3)


def test_unet_affine_head_starts_near_mid_and_clamps_only_in_eval() -> None:
    torch.manual_seed(0)
    net = UNet(levels=2, base_width=8, norm="batch").eval()
    with torch.no_grad():
        y = net(torch.rand(4, 1, 72, 48))
    assert abs(float(y.mean()) - 127.5) < 40.0
    # push the head far out of range: training output is raw, eval output is clamped
    with torch.no_grad():
        net.head.bias.fill_(3.0)  # mid + half * 3 = 510 DU
    x = torch.rand(1, 1, 16, 16)
    net.train()
    with torch.no_grad():
        assert float(net(x).min()) > 255.0
    net.eval()
    with torch.no_grad():
        assert float(net(x).max()) == 255.0


def test_unet_sigmoid_head_in_range() -> None:
    net = UNet(levels=2, base_width=4, head="sigmoid", out_range=(10.0, 20.0))
    y = net(torch.randn(2, 1, 16, 8) * 100)
    assert float(y.detach().min()) >= 10.0 and float(y.detach().max()) <= 20.0


def test_unet_parameter_counts() -> None:
    # The 3-level, 32-wide U-Net of DESIGN.md has ~1.9 M parameters (32/64/128/256).
    n3 = _n_params(UNet(levels=3, base_width=32))
    assert 1.85e6 < n3 < 1.95e6
    counts = [_n_params(UNet(levels=k, base_width=32)) for k in (2, 3, 4, 5)]
    assert counts == sorted(counts) and all(b / a > 3.5 for a, b in itertools.pairwise(counts))
    assert _n_params(UNet(levels=3, base_width=64)) == pytest.approx(4 * n3, rel=0.01)


def test_unet_validation() -> None:
    with pytest.raises(ValueError, match=r"levels"):
        UNet(levels=0)
    with pytest.raises(ValueError, match=r"norm"):
        UNet(norm="layer")
    with pytest.raises(ValueError, match=r"out_range"):
        UNet(out_range=(5.0, 5.0))
    with pytest.raises(ValueError, match=r"expects"):
        UNet()(torch.rand(1, 16, 16))


@pytest.mark.parametrize(
    "n_layers,expected", [(1, (34, 22)), (2, (16, 10)), (3, (7, 4)), (4, (2, 1))]
)
def test_patchgan_patch_map(n_layers: int, expected: tuple[int, int]) -> None:
    d = PatchGAN(ndf=8, n_layers=n_layers)
    sem = torch.rand(3, 1, 72, 48)
    depth = torch.rand(3, 1, 72, 48) * 255
    out = d(sem, depth)
    assert out.shape == (3, 1, *expected)
    # D(sem, depth) is D(cat(sem, depth / 255))
    d.eval()
    with torch.no_grad():
        assert torch.allclose(d(sem, depth), d(torch.cat([sem, depth / 255.0], 1)))


def test_patchgan_errors_and_params() -> None:
    d = PatchGAN(ndf=64, n_layers=3)
    with pytest.raises(ValueError, match=r"cat\(sem, depth/255\)"):
        d(torch.rand(1, 1, 72, 48))
    with pytest.raises(ValueError, match=r"at least 24x24"):
        d(torch.rand(1, 2, 20, 48))
    # by hand: conv 2->64 (+bias), 64->128, 128->256 (stride 2), 256->512 (stride 1), no
    # biases before BatchNorm (2 parameters per channel), 512->1 (+bias); 4x4 kernels.
    # (pix2pix's 6-channel default: 2,768,705 = this + 4 * 16 * 64, its "2.769 M".)
    by_hand = (
        (2 * 64 * 16 + 64)
        + (64 * 128 * 16 + 2 * 128)
        + (128 * 256 * 16 + 2 * 256)
        + (256 * 512 * 16 + 2 * 512)
        + (512 * 16 + 1)
    )
    assert _n_params(d) == by_hand == 2_764_609
    assert _n_params(PatchGAN(ndf=16)) < _n_params(d) / 10


def test_registry_and_config() -> None:
    assert set(MODELS) == {"unet", "patchgan"}
    g = create_model("unet", levels=2, base_width=8, norm="group")
    assert isinstance(g, UNet) and g.arch_name == "unet"
    assert g.config == {
        "in_channels": 1, "out_channels": 1, "levels": 2, "base_width": 8, "norm": "group",
        "out_range": [0.0, 255.0], "head": "affine",
    }  # fmt: skip
    again = create_model(g.arch_name, **json.loads(json.dumps(g.config)))
    assert again.config == g.config
    d = create_model("patchgan", ndf=16)
    assert d.arch_name == "patchgan" and d.config["ndf"] == 16 and d.config["n_layers"] == 3
    with pytest.raises(UnknownModelError, match=r"unknown model 'resnet'"):
        create_model("resnet")
    with pytest.raises(ValueError, match=r"bad configuration for model 'unet'"):
        create_model("unet", depth=3)


def test_unet_output_stays_float32_under_bf16_autocast() -> None:
    """A bf16 head would round depth to 1 DU steps near 128-255 DU (8 significant bits)."""
    from core.models import create_model

    torch.manual_seed(0)
    net = create_model("unet", levels=2, base_width=4).eval()
    x = torch.rand(1, 1, 24, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    assert y.dtype == torch.float32
    # values are not confined to the bf16 grid (steps of 1 DU between 128 and 256)
    upper = y[y >= 128]
    if upper.numel():
        assert torch.any(upper != upper.round())
