"""Small building blocks shared by the generator and the discriminator."""

from __future__ import annotations

import math

from torch import nn

NORMS = ("batch", "instance", "group", "none")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """``batch`` -> BatchNorm2d, ``instance`` -> InstanceNorm2d (affine), ``group`` ->
    GroupNorm with up to 8 groups, ``none`` -> Identity."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.Identity()
