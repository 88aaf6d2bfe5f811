"""Batch denoising on core.batch's loop (core/denoise/batch.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.denoise import check_denoise_formats, denoise_batch, planned_denoise_outputs
from core.models.noise2self import Noise2SelfDenoiser, create_denoiser_net
from core.progress import CancelToken

from .helpers import noisy_set, write_pngs


@pytest.fixture
def denoiser() -> Noise2SelfDenoiser:
    torch.manual_seed(0)
    return Noise2SelfDenoiser(create_denoiser_net(levels=1, base_width=4).eval())


def test_formats_and_planned_names(tmp_path: Path) -> None:
    assert check_denoise_formats(["TIF", "png", "tiff"]) == ("tiff", "png")
    with pytest.raises(ValueError, match="unknown output format 'jpg'"):
        check_denoise_formats(["jpg"])
    with pytest.raises(ValueError, match="no output format"):
        check_denoise_formats([])
    assert planned_denoise_outputs(tmp_path, "a", ("png",)) == {
        "denoised_png": tmp_path / "a_denoised.png"
    }


def test_compute_only_keeps_results_and_writes_nothing(
    denoiser: Noise2SelfDenoiser, tmp_path: Path
) -> None:
    _, noisy = noisy_set(3, seed=4, size=16)
    paths = write_pngs(tmp_path / "in", noisy)
    seen: list[int] = []
    summary = denoise_batch(
        [tmp_path / "in"],
        denoiser,
        None,
        keep_results=True,
        on_item=lambda it: seen.append(it.index),
    )
    assert summary.n_done == 3 and summary.summary_csv is None and seen == [0, 1, 2]
    first = summary.items[0]
    assert first.outputs == {} and first.shape == (16, 16)
    expected = denoiser.denoise(np.asarray(noisy[0] * 255, np.float32).round() / 255)
    assert first.denoised is not None and np.allclose(first.denoised, expected, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == [p.name for p in paths]
    # without keep_results the arrays are dropped once each item is reported
    dropped = denoise_batch([tmp_path / "in"], denoiser, tmp_path / "out", formats=["png"])
    assert all(it.denoised is None for it in dropped.items)
    assert dropped.summary_csv == tmp_path / "out" / "summary.csv"


def test_a_cancel_stops_before_the_next_input(denoiser: Noise2SelfDenoiser, tmp_path: Path) -> None:
    _, noisy = noisy_set(3, seed=5, size=16)
    write_pngs(tmp_path / "in", noisy)
    token = CancelToken()
    summary = denoise_batch(
        [tmp_path / "in"],
        denoiser,
        tmp_path / "out",
        cancel=token,
        on_item=lambda it: token.cancel(),
    )
    assert summary.cancelled and len(summary.items) == 1 and summary.n_done == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*_denoised.*")) == [
        "img00_denoised.png",
        "img00_denoised.tif",
    ]
