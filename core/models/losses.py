"""Losses of the report's pix2pix training, with its RMSE bug reproducible and fixable.

The report's generator loss is ``GAN + lambda_L1 * L1 + RMSE`` with L1 on pix2pix's
[-1, 1] depth scale (DU / 127.5) and RMSE on the 0-255 scale, computed through numpy on
detached tensors: it changes the logged value and adds no gradient.
``rmse_mode="detached"`` reproduces that, ``"differentiable"`` is the fixed version,
``"none"`` leaves the term out. The discriminator loss is the mean of its real and fake
GAN losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("vanilla", "lsgan")
RMSE_MODES = ("differentiable", "detached", "none")

#: Half the depth range: L1 in DU divided by this is L1 on pix2pix's [-1, 1] scale.
L1_SCALE_DU = 127.5


class GANLoss(nn.Module):
    """``"vanilla"``: binary cross-entropy on logits (the report's "BCE");
    ``"lsgan"``: mean squared error to the label (least-squares GAN, the report's "MSE").
    Targets are 1 for real and 0 for fake, broadcast over the patch map."""

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"GAN mode must be one of {', '.join(GAN_MODES)}; got {mode!r}")
        self.mode = mode
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)

    def forward(self, pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(pred, target)
        return F.mse_loss(pred, target)


def rmse_term(pred_du: torch.Tensor, target_du: torch.Tensor, mode: str) -> torch.Tensor:
    """``sqrt(mean((pred - target)**2))`` in DU over the whole batch (the report's
    ``sqrt(mean over samples of per-sample MSE)``, equal for same-size images).

    ``"differentiable"``: with its gradient (zero, not NaN, where pred == target);
    ``"detached"``: the same value with no gradient (the report's numpy version);
    ``"none"``: a zero tensor.
    """
    if mode not in RMSE_MODES:
        raise ValueError(f"rmse_mode must be one of {', '.join(RMSE_MODES)}; got {mode!r}")
    if mode == "none":
        return pred_du.new_zeros(())
    if mode == "detached":
        with torch.no_grad():
            return torch.sqrt(torch.mean((pred_du.detach().float() - target_du.float()) ** 2))
    mse = torch.mean((pred_du - target_du) ** 2)
    return torch.sqrt(mse.clamp_min(1e-12))


def l1_term(pred_du: torch.Tensor, target_du: torch.Tensor) -> torch.Tensor:
    """Mean absolute error on pix2pix's [-1, 1] scale (DU / 127.5), the scale
    ``lambda_l1 = 100`` was tuned for."""
    return torch.mean(torch.abs(pred_du - target_du)) / L1_SCALE_DU


def generator_loss(
    pred_du: torch.Tensor,
    target_du: torch.Tensor,
    *,
    d_fake: torch.Tensor | None = None,
    gan: GANLoss | None = None,
    lambda_l1: float = 100.0,
    rmse_mode: str = "detached",
) -> dict[str, torch.Tensor]:
    """The report's G loss: ``{"total", "gan", "l1", "rmse"}`` where ``total = gan +
    lambda_l1 * l1 + rmse``. ``d_fake`` (D's logits on the generated pair) and ``gan`` are
    needed for the GAN term; without them (plain U-Net) the GAN term is 0."""
    if (d_fake is None) != (gan is None):
        raise ValueError("pass both d_fake and gan for the GAN term, or neither")
    g = gan(d_fake, True) if gan is not None and d_fake is not None else pred_du.new_zeros(())
    l1 = l1_term(pred_du, target_du)
    rmse = rmse_term(pred_du, target_du, rmse_mode)
    return {"total": g + lambda_l1 * l1 + rmse, "gan": g, "l1": l1, "rmse": rmse}


def discriminator_loss(gan: GANLoss, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Mean of the real and fake GAN losses (``d_fake`` from a detached generator output)."""
    return (gan(d_fake, False) + gan(d_real, True)) / 2.0


def beta_nll(
    mean_du: torch.Tensor, sigma_du: torch.Tensor, target_du: torch.Tensor, beta: float = 0.5
) -> torch.Tensor:
    """The beta-NLL of a Gaussian (Seitzer et al., ICLR 2022) that trains a variance head:
    the mean over pixels of ``sg(var**beta) * (log(var) / 2 + (target - mean)**2 / (2 var))``
    with ``var = sigma**2`` (DU^2) and ``sg`` stop-gradient; ``beta = 0`` is the plain
    Gaussian NLL, ``beta = 1`` weighs every pixel like an MSE. The mean is DETACHED: this
    loss trains the variance only and never moves the depth."""
    var = sigma_du.float() ** 2
    err2 = (target_du.float() - mean_du.detach().float()) ** 2
    nll = 0.5 * (torch.log(var) + err2 / var)
    if beta:
        nll = nll * var.detach() ** beta
    return nll.mean()
