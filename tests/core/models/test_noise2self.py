"""Noise2Self masking, J-invariance, tiled denoising and denoiser checkpoints
(core/models/noise2self.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models import CheckpointError, UNet, save_checkpoint
from core.models.noise2self import (
    Masker,
    Noise2SelfDenoiser,
    create_denoiser_net,
    invariant_forward,
    masked_mse,
)


def test_grid_masks_partition_the_image() -> None:
    m = Masker(width=3)
    masks = torch.stack([m.mask(i, (7, 8)) for i in range(m.n_masks)])
    assert m.n_masks == 9
    assert torch.equal(masks.sum(0), torch.ones(7, 8))  # every pixel in exactly one set
    # set 4 = rows 1, 4 and cols 1, 4, 7
    assert masks[4].nonzero().tolist() == [[r, c] for r in (1, 4) for c in (1, 4, 7)]
    rows = Masker(width=2, pattern="rows")
    assert rows.n_masks == 2
    assert rows.mask(1, (4, 3)).tolist() == [[0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]]


def test_interpolation_uses_only_neighbours_with_the_paper_kernel() -> None:
    x = torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6) ** 1.5
    masker = Masker(width=4, mode="interpolate")
    xm, m = masker.apply(x, 5)  # set 5 = rows 1, 5 and cols 1, 5
    assert m[0, 0].nonzero().tolist() == [[1, 1], [1, 5], [5, 1], [5, 5]]
    n = x[0, 0]
    # pixel (1, 1): edge neighbours weight 1, diagonals 0.5, centre 0; sum of weights 6
    expected = (
        n[0, 1] + n[2, 1] + n[1, 0] + n[1, 2] + 0.5 * (n[0, 0] + n[0, 2] + n[2, 0] + n[2, 2])
    ) / 6.0
    assert float(xm[0, 0, 1, 1]) == pytest.approx(float(expected), rel=1e-6)
    # unmasked pixels are untouched
    keep = m[0, 0] == 0
    assert torch.equal(xm[0, 0][keep], x[0, 0][keep])
    # the masked value does not depend on the pixel itself
    x2 = x.clone()
    x2[0, 0, 1, 1] = 1e6
    assert float(masker.apply(x2, 5)[0][0, 0, 1, 1]) == float(xm[0, 0, 1, 1])


def test_masked_mse_counts_only_masked_pixels() -> None:
    pred = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert float(masked_mse(pred, target, mask)) == pytest.approx((1 + 16) / 2)


@pytest.mark.parametrize(
    ("mode", "pattern"), [("interpolate", "grid"), ("random", "grid"), ("interpolate", "rows")]
)
def test_prediction_at_a_pixel_does_not_depend_on_that_pixel(mode: str, pattern: str) -> None:
    torch.manual_seed(0)
    net = create_denoiser_net(levels=2, base_width=4).eval()
    with torch.no_grad():
        net.head.weight.mul_(100.0)  # undo the small initial head: a sensitive network
    masker = Masker(width=3, mode=mode, pattern=pattern)
    x = torch.rand(1, 1, 16, 12)
    x2 = x.clone()
    x2[0, 0, 7, 5] += 0.9  # change one input pixel a lot
    with torch.no_grad():
        torch.manual_seed(1)
        y = invariant_forward(net, x, masker)
        torch.manual_seed(1)
        y2 = invariant_forward(net, x2, masker)
        plain, plain2 = net(x), net(x2)
    # J-invariant output: unchanged at the changed pixel ...
    assert float(y[0, 0, 7, 5]) == pytest.approx(float(y2[0, 0, 7, 5]), abs=1e-6)
    # ... while the pixel does influence its neighbours, and the plain network at itself
    assert float((y - y2).abs().max()) > 1e-3
    assert abs(float(plain[0, 0, 7, 5] - plain2[0, 0, 7, 5])) > 1e-3


def test_tiled_denoising_matches_a_single_pass() -> None:
    torch.manual_seed(0)
    d = Noise2SelfDenoiser(create_denoiser_net(levels=2, base_width=4).eval())
    x = np.random.default_rng(0).random((70, 90)).astype(np.float32)
    whole = d.denoise(x, tile=512)
    # receptive-field radius of a 2-level U-Net is about 20 px < the 24 px margin
    tiled = d.denoise(x, tile=64, margin=24)
    assert np.allclose(whole, tiled, atol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        d.denoise(np.zeros((2, 8, 8), np.float32))


def test_save_load_round_trip_and_refuses_depth_models(tmp_path) -> None:
    torch.manual_seed(0)
    d = Noise2SelfDenoiser(
        create_denoiser_net(levels=2, base_width=4), Masker(width=3, pattern="rows")
    )
    path = d.save(tmp_path / "den", card={"training": {"steps": 3}})
    assert path.name == "den.safetensors" and (tmp_path / "den.json").is_file()
    loaded = Noise2SelfDenoiser.load(path)
    assert loaded.card["task"] == "denoise"
    assert loaded.card["training"]["steps"] == 3
    assert loaded.masker.to_dict() == {"width": 3, "mode": "interpolate", "pattern": "rows"}
    x = np.random.default_rng(1).random((20, 16)).astype(np.float32)
    assert np.array_equal(d.denoise(x), loaded.denoise(x))
    with pytest.raises(CheckpointError, match="exists"):
        d.save(tmp_path / "den")
    # a depth model is not a denoiser
    depth = save_checkpoint(tmp_path / "depth", UNet(levels=1, base_width=4), {})
    with pytest.raises(CheckpointError, match="not a denoiser") as exc:
        Noise2SelfDenoiser.load(depth)
    assert "depth.json" in str(exc.value)
