"""Training a Noise2Self denoiser in memory (core/denoise/training.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.denoise import DenoiseError, DenoiseTrainConfig, fit_denoiser
from core.models.noise2self import psnr
from core.progress import CancelToken

from .helpers import noisy_set


def test_denoiser_lowers_error_against_the_clean_image() -> None:
    torch.set_num_threads(1)
    clean, noisy = noisy_set(24, sigma=0.1, seed=0)
    cfg = DenoiseTrainConfig(
        steps=40, batch_size=4, patch=32, base_width=8, lr=3e-3, val_fraction=0.1, device="cpu"
    )
    res = fit_denoiser(noisy[:20], cfg)
    assert res.steps == 40 and res.stopped == "completed"
    assert res.best_val_loss is not None and res.best_val_loss > 0
    for k in range(20, 24):
        before = float(np.mean((noisy[k] - clean[k]) ** 2))
        out = res.denoiser.denoise(noisy[k])
        assert out.shape == noisy[k].shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        after = float(np.mean((out - clean[k]) ** 2))
        inv = float(np.mean((res.denoiser.denoise(noisy[k], invariant=True) - clean[k]) ** 2))
        assert after < 0.5 * before, (k, before, after)
        assert inv < 0.5 * before, (k, before, inv)
        assert psnr(out, clean[k]) > psnr(noisy[k], clean[k]) + 3.0


def test_training_stops_on_cancel_and_time_budget() -> None:
    _, noisy = noisy_set(4, seed=1, size=24)
    token = CancelToken()
    token.cancel()
    cfg = DenoiseTrainConfig(steps=50, batch_size=2, patch=16, base_width=4, device="cpu")
    res = fit_denoiser(noisy, cfg, cancel=token)
    assert res.stopped == "cancelled" and res.steps == 0
    cfg.time_budget_s = 1e-9
    assert fit_denoiser(noisy, cfg).stopped == "time_budget"
    with pytest.raises(DenoiseError, match="mask width"):
        fit_denoiser(noisy, DenoiseTrainConfig(width=1))


def test_split_holds_out_a_fraction_but_always_keeps_one_to_train() -> None:
    from core.denoise.training import _split_images

    imgs = [np.full((4, 4), k, np.float32) for k in range(10)]
    train, val = _split_images(imgs, 0.25, np.random.default_rng(0))
    assert len(train) == 8 and len(val) == 2  # round(2.5) = 2
    assert sorted(float(a[0, 0]) for a in train + val) == list(range(10))
    train, val = _split_images(imgs[:1], 0.5, np.random.default_rng(0))
    assert len(train) == 1 and val == []  # one image: nothing held out
    with pytest.raises(DenoiseError, match="no training images"):
        _split_images([], 0.1, np.random.default_rng(0))


def test_crops_are_patch_sized_pieces_of_the_images() -> None:
    from core.denoise.training import _CropSampler, _val_crops

    img = np.arange(12 * 10, dtype=np.float32).reshape(12, 10)
    sampler = _CropSampler([img], patch=6, rng=np.random.default_rng(3))
    crops = sampler.sample(5)
    assert crops.shape == (5, 6, 6) and crops.dtype == np.float32
    values = set(img.ravel().tolist())
    assert all(set(c.ravel().tolist()) <= values for c in crops)
    # a crop is a contiguous block (up to flips): its rows differ by 10, its columns by 1
    for c in crops:
        assert set(np.abs(np.diff(c, axis=0)).ravel().tolist()) == {10.0}
        assert set(np.abs(np.diff(c, axis=1)).ravel().tolist()) == {1.0}
    # images smaller than the patch are used whole; the validation crop is the centre
    assert _CropSampler([img], patch=64, rng=np.random.default_rng(0)).rows == 12
    centre = _val_crops([img], 4, 4)
    assert np.array_equal(centre[0], img[4:8, 3:7])
    with pytest.raises(DenoiseError, match="too small"):
        _CropSampler([np.zeros((3, 3), np.float32)], patch=8, rng=np.random.default_rng(0))


def test_load_training_images_reads_every_sem_image(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.denoise import load_training_images

    from .helpers import write_pngs

    _, noisy = noisy_set(5, seed=2, size=16)
    write_pngs(tmp_path / "a", noisy)
    images = load_training_images(tmp_path / "a")
    assert len(images) == 5 and images[0].dtype == np.float32
    assert np.allclose(images[0], np.round(noisy[0] * 255) / 255, atol=1e-6)
    assert len(load_training_images(tmp_path / "a", max_images=2, seed=1)) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(DenoiseError):
        load_training_images(tmp_path / "empty")


def test_validation_loss_is_the_invariant_mse_and_keeps_the_mode() -> None:
    from core.denoise import validation_loss
    from core.models.noise2self import Masker

    class Identity(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    net = Identity().train()
    x = torch.rand(2, 1, 8, 8)
    masker = Masker(width=2, mode="zero")
    # identity on a zero-filled input: every pixel predicted as 0, the loss is mean(x^2)
    assert validation_loss(net, x, masker) == pytest.approx(float((x**2).mean()), rel=1e-6)
    assert net.training
