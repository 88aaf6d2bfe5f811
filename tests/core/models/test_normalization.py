"""Per-image input normalisation inside the network: invariance to the detector's gain and
black level, images independent of their batch, blank images, and the ONNX fast path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models import UNet
from core.models.normalization import normalize_images, percentile_ranks


def test_percentile_scaling_by_hand() -> None:
    x = torch.arange(101, dtype=torch.float32).view(1, 1, 1, 101) / 100.0  # 0.00 .. 1.00
    assert percentile_ranks(101) == (1, 99)
    y = normalize_images(x, "percentile")
    expected = (x - 0.01) / (0.99 - 0.01)
    assert torch.allclose(y, expected, atol=1e-6)
    assert torch.equal(normalize_images(x, "none"), x)


def test_selection_gives_the_sorted_ranks_exactly() -> None:
    """The eager path selects the two ranks (kthvalue) instead of sorting: the same values,
    ties and all, and the same gradient path (training runs through it)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 40, (5, 1, 31, 23), generator=g).float() / 40.0  # many ties
    flat = x.flatten(2)
    i_lo, i_hi = percentile_ranks(int(flat.shape[-1]))
    ranked = torch.sort(flat, dim=-1).values
    lo, hi = ranked[..., i_lo, None, None], ranked[..., i_hi, None, None]
    span = hi - lo
    expected = (x - lo) * torch.where(span > 1e-6, 1.0 / span.clamp_min(1e-6), 0.0)
    assert torch.equal(normalize_images(x, "percentile"), expected)
    y = x.clone().requires_grad_(True)
    normalize_images(y, "percentile").sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_gain_and_offset_do_not_matter() -> None:
    x = torch.rand(3, 1, 24, 16)
    a = normalize_images(x, "percentile")
    b = normalize_images(0.4 * x + 0.3, "percentile")
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, normalize_images(x**2, "percentile"), atol=1e-2)


def test_each_image_on_its_own_and_blank_images_give_zeros() -> None:
    x = torch.rand(4, 1, 12, 10)
    x[2] = 0.5  # constant
    batch = normalize_images(x, "percentile")
    for i in range(4):
        assert torch.equal(batch[i : i + 1], normalize_images(x[i : i + 1], "percentile"))
    assert torch.equal(batch[2], torch.zeros_like(batch[2]))
    assert torch.isfinite(batch).all()


def test_unet_with_percentile_input_ignores_the_dtype_range() -> None:
    torch.manual_seed(0)
    net = UNet(levels=2, base_width=4, input_norm="percentile").eval()
    x = torch.rand(2, 1, 24, 16)
    with torch.no_grad():
        a, b = net(x), net(x * 0.25 + 0.1)  # e.g. a 10-bit image read as 16-bit, offset
    assert torch.allclose(a, b, atol=1e-3)
    with pytest.raises(ValueError, match="input_norm"):
        UNet(input_norm="zscore")


def test_the_onnx_fast_path_normalises_like_eager(tmp_path: object) -> None:
    pytest.importorskip("onnxruntime")
    from core.inference.fastpath import OnnxRunner

    torch.manual_seed(0)
    net = UNet(levels=2, base_width=4, input_norm="percentile").eval()
    x = np.random.default_rng(1).random((3, 1, 24, 16)).astype(np.float32) * 0.5
    with torch.no_grad():
        eager = net(torch.from_numpy(x)).numpy()
    onnx = OnnxRunner(net, cache_dir=tmp_path)(x)  # type: ignore[arg-type]
    assert np.allclose(onnx, eager, atol=1e-3)
