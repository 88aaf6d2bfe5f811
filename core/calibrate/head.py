"""Folding an output-level correction ``y' = a y + b`` (DU) into the network's weights, so
the calibrated checkpoint is an ordinary one that ``semdepth predict`` loads as it is.

For the U-Net's affine head ``y = mid + half conv1x1(f)`` (``mid``, ``half``: centre and
half-width of ``out_range``), ``a y + b = mid + half (a conv1x1(f) + (a mid + b - mid) /
half)``: the 1x1 convolution's weights are multiplied by ``a`` and its bias becomes
``a bias + (a mid + b - mid) / half``. The clamp to ``out_range`` in ``eval()`` applies to
the corrected value. A sigmoid head cannot hold an affine map of its output.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_refusal(model: nn.Module) -> str | None:
    """Why a correction cannot be folded into ``model`` (None: it can)."""
    head = getattr(model, "head", None)
    if getattr(model, "head_kind", None) != "affine" or not isinstance(head, nn.Conv2d):
        return f"{type(model).__name__} has no affine 1x1 output head to fold a correction into"
    if head.bias is None:
        return "the output head has no bias to hold an offset"
    return None


def fold_affine(model: nn.Module, a: float, b: float) -> nn.Module:
    """A copy of ``model`` whose depth output (channel 0) is ``a`` times the original's
    plus ``b`` DU (before the output clamp); ``ValueError`` when it cannot hold one."""
    reason = fold_refusal(model)
    if reason is not None:
        raise ValueError(reason)
    out = copy.deepcopy(model)
    lo, hi = (float(v) for v in getattr(out, "out_range"))  # noqa: B009
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    head = out.head
    assert isinstance(head, nn.Conv2d) and head.bias is not None
    with torch.no_grad():
        head.weight[0].mul_(float(a))
        head.bias[0] = float(a) * head.bias[0] + (float(a) * mid + float(b) - mid) / half
    return out
