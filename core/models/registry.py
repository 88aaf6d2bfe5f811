"""String-keyed model factory with explicit registration (PyInstaller sees every import)."""

from __future__ import annotations

from typing import Any

from torch import nn

from core.models.patchgan import PatchGAN
from core.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {
    "unet": UNet,
    "patchgan": PatchGAN,
}


class UnknownModelError(ValueError):
    """A model name that is not in :data:`MODELS`."""


def create_model(name: str, **cfg: Any) -> nn.Module:
    """``create_model("unet", levels=2)``; the model's ``.config`` records the kwargs and
    ``.arch_name`` the name. Bad kwargs raise ``ValueError`` naming the model."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}"
        ) from None
    try:
        return cls(**cfg)
    except TypeError as exc:  # unexpected keyword
        raise ValueError(f"bad configuration for model {name!r}: {exc}") from None
