"""Tiny models, checkpoints and synthetic images for the inference and batch tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

INPUT_SIZE = (72, 48)


def tiny_card(**extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "id": "tiny-test-unet",
        "input": {"normalization": "dtype-range-0-1", "size": list(INPUT_SIZE)},
        "output": {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller"},
    }
    for key, value in extra.items():
        card[key] = value
    return card


def make_checkpoint(folder: Path, name: str = "tiny", *, seed: int = 0, **card: Any) -> Path:
    """A random-initialised 2-level, 4-wide U-Net saved as safetensors + card."""
    from core.models import create_model, save_checkpoint

    torch.manual_seed(seed)
    model = create_model("unet", levels=2, base_width=4)
    return save_checkpoint(folder / name, model, tiny_card(**card))


class Times255(nn.Module):
    """Depth = input * 255: pointwise, so flip-equivariant (TTA spread exactly 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0


class ShiftRight(nn.Module):
    """Depth = input shifted one column right * 255: not flip-equivariant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, shifts=1, dims=-1) * 255.0


def predictor_for(model: nn.Module, **card: Any) -> Any:
    from core.inference import Predictor

    return Predictor(model.eval(), tiny_card(**card), device="cpu", fast_path="fp32")


def hole_field(
    shape: tuple[int, int] = (240, 320),
    pitch: tuple[int, int] = (72, 64),
    radius: float = 11.0,
    seed: int = 0,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """uint8 field of dark holes with bright rims on a grey top, plus the true centres."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    img = np.full(shape, 120.0)
    centres: list[tuple[float, float]] = []
    for r0 in range(pitch[0] // 2, rows - pitch[0] // 2 + 1, pitch[0]):
        for c0 in range(pitch[1] // 2, cols - pitch[1] // 2 + 1, pitch[1]):
            r = r0 + rng.uniform(-3, 3)
            c = c0 + rng.uniform(-3, 3)
            centres.append((r, c))
            d = np.hypot(yy - r, xx - c)
            img = np.where(d < radius, 40.0 + 30.0 * (d / radius) ** 2, img)
            img = np.where((d >= radius) & (d < radius + 2.5), 220.0, img)
    img += rng.normal(0, 6, shape)
    return np.clip(img, 0, 255).astype(np.uint8), centres
