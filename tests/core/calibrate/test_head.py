"""Folding an output correction into the weights (core/calibrate/head.py)."""

from __future__ import annotations

import pytest
import torch

from core.calibrate.head import fold_affine, fold_refusal
from core.models import create_model


def test_folded_model_outputs_the_corrected_depth() -> None:
    torch.manual_seed(0)
    model = create_model("unet", levels=1, base_width=4).eval()
    x = torch.rand(3, 1, 72, 48)
    with torch.no_grad():
        y = model(x)
        z = fold_affine(model, 1.1, -5.0)(x)
    assert float(y.min()) > 10.0 and float(y.max()) < 230.0  # no clamping involved
    assert torch.allclose(z, 1.1 * y - 5.0, atol=1e-3)
    with torch.no_grad():  # the source model is untouched
        assert torch.equal(model(x), y)


def test_the_output_clamp_applies_after_the_correction() -> None:
    torch.manual_seed(0)
    model = create_model("unet", levels=1, base_width=4).eval()
    x = torch.rand(1, 1, 72, 48)
    with torch.no_grad():
        z = fold_affine(model, 1.0, 500.0)(x)
    assert torch.all(z == 255.0)


def test_a_sigmoid_head_cannot_hold_a_correction() -> None:
    model = create_model("unet", levels=1, base_width=4, head="sigmoid")
    assert "no affine 1x1 output head" in str(fold_refusal(model))
    with pytest.raises(ValueError, match="no affine"):
        fold_affine(model, 1.0, 1.0)
    assert fold_refusal(create_model("unet", levels=1, base_width=4)) is None
