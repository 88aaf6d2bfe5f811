"""Tiny simulated data sets and tiny-model settings for the trainer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.train import TrainConfig

# A 4-px-wide U-Net and PatchGAN: a step takes milliseconds on 72x48 crops.
TINY_G = {"base_width": 4}
TINY_D = {"ndf": 4}


@pytest.fixture(scope="session")
def tiny_dacon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 simulated structures x 1 case x 2 shots (16 SEM images, 8 depth maps)."""
    from core.synth import write_dacon

    root = tmp_path_factory.mktemp("tiny_dacon")
    write_dacon(root, n_structures=8, seed=3, cases=[1], workers=1)
    return root


def tiny_config(data: Path, out: Path, **kw: Any) -> TrainConfig:
    """A 1-epoch CPU config with tiny networks (fp32, no speed probe)."""
    from core.models import PRESETS

    preset = kw.pop("preset", "unet-2level")
    base: dict[str, Any] = {
        "preset": preset,
        "data": data,
        "out": out,
        "epochs": 1,
        "batch_size": 16,
        "device": "cpu",
        "amp": "off",
        "channels_last": "off",
        "generator": dict(TINY_G),
        "val_fraction": 0.25,
    }
    if preset in PRESETS and PRESETS[preset].discriminator is not None:
        base["discriminator"] = dict(TINY_D)
    base.update(kw)
    return TrainConfig(**base)
