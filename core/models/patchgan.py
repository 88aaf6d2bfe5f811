"""PatchGAN discriminator (pix2pix ``NLayerDiscriminator``), conditioned on the SEM image."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.models.layers import check_norm, norm_layer

#: The discriminator sees depth divided by this, so both inputs are on a 0..1 scale.
DEPTH_SCALE_DU = 255.0


class PatchGAN(nn.Module):
    """``n_layers`` stride-2 4x4 convolutions (widths ``ndf * min(2**k, 8)``), one stride-1
    block, and a 1-channel 4x4 convolution: a map of real/fake logits, one per overlapping
    patch (receptive field 70 px at ``n_layers=3``). No sigmoid: pair with :class:`GANLoss`.

    Input: ``cat(sem, depth / 255)`` along channels, or call ``D(sem, depth_du)`` and the
    concatenation is done here.
    """

    arch_name = "patchgan"

    def __init__(
        self, in_channels: int = 2, ndf: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        if n_layers < 1 or ndf < 1 or in_channels < 1:
            raise ValueError("in_channels, ndf and n_layers must be positive")
        check_norm(norm)
        self.config: dict[str, Any] = {
            "in_channels": int(in_channels),
            "ndf": int(ndf),
            "n_layers": int(n_layers),
            "norm": norm,
        }
        bias = norm == "none"
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        mult = 1
        for k in range(1, n_layers):
            prev, mult = mult, min(2**k, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
            norm_layer(norm, ndf * mult),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)
        self.apply(_init_normal)

    def min_input_size(self) -> int:
        """Smallest side (px) that still gives a 1x1 patch map."""
        size = 1
        for _ in range(2):  # two stride-1 4x4 convs with padding 1: +1 px each
            size += 1
        for _ in range(self.config["n_layers"]):  # stride-2 4x4 conv, padding 1
            size = 2 * size
        return size

    def forward(self, x: torch.Tensor, depth_du: torch.Tensor | None = None) -> torch.Tensor:
        if depth_du is not None:
            x = torch.cat([x, depth_du / DEPTH_SCALE_DU], dim=1)
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(
                f"PatchGAN expects (N, {self.config['in_channels']}, H, W) = cat(sem, depth/255), "
                f"got shape {tuple(x.shape)}"
            )
        m = self.min_input_size()
        if min(x.shape[-2:]) < m:
            raise ValueError(
                f"PatchGAN with n_layers={self.config['n_layers']} needs images of at least "
                f"{m}x{m} px, got {x.shape[-2]}x{x.shape[-1]}"
            )
        return self.model(x)


def _init_normal(m: nn.Module) -> None:
    """pix2pix's initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02)."""
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d | nn.GroupNorm) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
