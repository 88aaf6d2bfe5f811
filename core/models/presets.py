"""Training presets reproducing every variant of the report (see docs/ and the seed summary).

Shared choices, where the report is silent: generator ``base_width=32`` (its widths are not
given; 32 keeps CPU training practical), batch norm, the affine output head, batch size 32.
GAN presets follow pix2pix: ``lambda_l1=100`` (L1 on the [-1, 1] scale, see
:func:`core.models.losses.l1_term`), Adam ``lr=2e-4``, ``betas=(0.5, 0.999)``, PatchGAN
``ndf=64, n_layers=3`` unless the variant changes it; the discriminator is updated every
10th step (``d_every=10``) as in the report. Every preset keeps the report's detached RMSE
term (``rmse_mode="detached"``: logged, no gradient); use ``dataclasses.replace(preset,
rmse_mode="differentiable")`` for the fixed loss. The plain U-Nets use standard Adam
(``lr=1e-3``, ``betas=(0.9, 0.999)``), our choice.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from core.models.losses import GAN_MODES, RMSE_MODES
from core.models.registry import create_model


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    generator: dict[str, Any]  # kwargs of create_model(generator_arch, ...)
    discriminator: dict[str, Any] | None  # kwargs of create_model(discriminator_arch, ...)
    gan_mode: str  # "vanilla" | "lsgan" | "none" (no discriminator)
    lambda_l1: float
    rmse_mode: str  # "detached" | "differentiable" | "none"
    d_every: int  # update D every this many generator steps (0: no D)
    lr: float
    batch_size: int
    betas: tuple[float, float] = (0.5, 0.999)
    generator_arch: str = "unet"
    discriminator_arch: str = "patchgan"

    def __post_init__(self) -> None:
        if self.rmse_mode not in RMSE_MODES:
            raise ValueError(f"preset {self.name}: unknown rmse_mode {self.rmse_mode!r}")
        if self.discriminator is None:
            if self.gan_mode != "none":
                raise ValueError(f"preset {self.name}: gan_mode needs a discriminator")
        elif self.gan_mode not in GAN_MODES or self.d_every < 1:
            raise ValueError(f"preset {self.name}: bad gan_mode/d_every for a GAN")

    @property
    def is_gan(self) -> bool:
        return self.discriminator is not None

    def build_generator(self) -> nn.Module:
        return create_model(self.generator_arch, **copy.deepcopy(self.generator))

    def build_discriminator(self) -> nn.Module | None:
        if self.discriminator is None:
            return None
        return create_model(self.discriminator_arch, **copy.deepcopy(self.discriminator))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (for model cards and run folders)."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


def _gen(levels: int) -> dict[str, Any]:
    return {
        "in_channels": 1,
        "out_channels": 1,
        "levels": levels,
        "base_width": 32,
        "norm": "batch",
        "out_range": [0.0, 255.0],
        "head": "affine",
    }


def _disc(ndf: int = 64, n_layers: int = 3) -> dict[str, Any]:
    return {"in_channels": 2, "ndf": ndf, "n_layers": n_layers, "norm": "batch"}


def _pix2pix(name: str, description: str, levels: int, **kw: Any) -> Preset:
    disc = kw.pop("disc", _disc())
    return Preset(
        name=name,
        description=description,
        generator=_gen(levels),
        discriminator=disc,
        gan_mode=kw.pop("gan_mode", "vanilla"),
        lambda_l1=100.0,
        rmse_mode="detached",
        d_every=10,
        lr=2e-4,
        batch_size=32,
        betas=(0.5, 0.999),
    )


def _unet(name: str, description: str, levels: int) -> Preset:
    return Preset(
        name=name,
        description=description,
        generator=_gen(levels),
        discriminator=None,
        gan_mode="none",
        lambda_l1=100.0,
        rmse_mode="detached",
        d_every=0,
        lr=1e-3,
        batch_size=32,
        betas=(0.9, 0.999),
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _pix2pix(
            "pix2pix-2level",
            "pix2pix, 2-level U-Net, PatchGAN ndf=64 (report: valid RMSE 2.799, its best)",
            2,
        ),
        _pix2pix(
            "pix2pix-3level",
            "pix2pix, 3-level U-Net, BCE GAN criterion (report: valid RMSE 3.077 / 3.424)",
            3,
        ),
        _pix2pix("pix2pix-4level", "pix2pix, 4-level U-Net (report: valid RMSE 3.26)", 4),
        _pix2pix(
            "pix2pix-2level-ndf16",
            "pix2pix, 2-level U-Net, smaller PatchGAN ndf=16 (report variant)",
            2,
            disc=_disc(ndf=16),
        ),
        _pix2pix(
            "pix2pix-3level-deepD",
            "pix2pix, 3-level U-Net, deeper PatchGAN n_layers=4 (report variant)",
            3,
            disc=_disc(n_layers=4),
        ),
        _pix2pix(
            "pix2pix-3level-lsgan",
            "pix2pix, 3-level U-Net, least-squares (MSE) GAN criterion (report: 3.3768)",
            3,
            gan_mode="lsgan",
        ),
        _unet("unet-2level", "plain 2-level U-Net, no discriminator, L1 + RMSE", 2),
        _unet(
            "unet-3level",
            "plain 3-level U-Net, no discriminator, L1 + RMSE (report: valid RMSE 3.111)",
            3,
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
