"""The transfer objectives on unlabeled target images: average-depth weak supervision,
masked reconstruction (Noise2Self-style, on the depth network's shared features), shot
consistency, and AdaBN. Depth is in DU (0-255, deeper = smaller); SEM images are 0..1."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.models.noise2self import Masker

OBJECTIVES = ("none", "masked", "consistency", "average-depth", "adabn")


class TransferError(ValueError):
    """A fine-tuning set-up that cannot run (no target images, no averages, bad settings)."""


def average_depth_loss(
    pred_du: torch.Tensor, average_du: torch.Tensor, *, kind: str = "l1"
) -> torch.Tensor:
    """Weak supervision: ``|mean(pred map) - given average|`` per image, averaged over the
    images whose average is known (NaN = unknown; zero loss when none is).

    ``pred_du``: ``(N, 1, H, W)`` or ``(N, H, W)`` depth (DU); ``average_du``: ``(N,)`` DU.
    ``kind``: ``"l1"`` (DU) or ``"l2"`` (DU^2)."""
    if kind not in ("l1", "l2"):
        raise ValueError(f"kind must be 'l1' or 'l2', got {kind!r}")
    n = pred_du.shape[0]
    avg = torch.as_tensor(average_du, dtype=pred_du.dtype, device=pred_du.device).reshape(-1)
    if avg.shape[0] != n:
        raise ValueError(f"{avg.shape[0]} averages for {n} predicted maps")
    means = pred_du.reshape(n, -1).mean(dim=1)
    known = torch.isfinite(avg)
    if not bool(known.any()):
        return pred_du.sum() * 0.0
    diff = means[known] - avg[known]
    return diff.abs().mean() if kind == "l1" else (diff * diff).mean()


class _FeatureTap:
    """Captures the input of ``model.head`` (the last decoder features) on each forward."""

    def __init__(self, model: nn.Module) -> None:
        head = getattr(model, "head", None)
        if not isinstance(head, nn.Conv2d):
            raise TransferError(
                f"{type(model).__name__}: masked reconstruction needs a U-Net with a 1x1 "
                "'head' convolution"
            )
        self.features: torch.Tensor | None = None
        self.channels = int(head.in_channels)
        self._handle = head.register_forward_hook(self._hook)

    def _hook(self, mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        self.features = inputs[0]

    def remove(self) -> None:
        self._handle.remove()


class MaskedReconstruction(nn.Module):
    """Noise2Self-style self-supervision on the depth network's shared features.

    A :class:`~core.models.noise2self.Masker` hides a grid of pixels of the target image; a
    1x1 convolution on the decoder features (the same features the depth head reads)
    predicts the hidden intensities. Loss: mean absolute error on the masked pixels, in
    grey levels (0..1 x 255, so it has the scale of an L1 in DU)."""

    def __init__(self, model: nn.Module, masker: Masker | None = None) -> None:
        super().__init__()
        self.tap = _FeatureTap(model)
        self.masker = masker if masker is not None else Masker(width=4)
        self.aux = nn.Conv2d(self.tap.channels, 1, 1)
        nn.init.zeros_(self.aux.weight)
        assert self.aux.bias is not None
        nn.init.constant_(self.aux.bias, 0.5)

    def loss(
        self, model: nn.Module, sem: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        i = int(torch.randint(0, self.masker.n_masks, (1,), generator=generator))
        xm, m = self.masker.apply(sem, i, generator=generator)
        model(xm)
        feats = self.tap.features
        if feats is None:
            raise TransferError("masked reconstruction: the model's head was not called")
        h, w = sem.shape[-2:]
        top = (feats.shape[-2] - h) // 2
        left = (feats.shape[-1] - w) // 2
        recon = self.aux(feats.float())[..., top : top + h, left : left + w]
        mm = m.expand_as(recon)
        return (torch.abs(recon - sem) * mm).sum() / mm.sum().clamp_min(1.0) * 255.0

    def close(self) -> None:
        self.tap.remove()


class ShotConsistency:
    """Two shots of one structure must give the same depth map (their noise is independent,
    the structure is the same), and a flipped image the flipped map. Loss in DU (L1)."""

    def __init__(self, flip_weight: float = 0.5) -> None:
        self.flip_weight = float(flip_weight)

    def loss(self, model: nn.Module, shot_a: torch.Tensor, shot_b: torch.Tensor) -> torch.Tensor:
        pa = model(shot_a)
        pb = model(shot_b)
        loss = (pa - pb).abs().mean()
        if self.flip_weight > 0:
            pf = model(torch.flip(shot_a, dims=(-1,)))
            loss = loss + self.flip_weight * (torch.flip(pf, dims=(-1,)) - pa).abs().mean()
        return loss


@torch.no_grad()
def adapt_batchnorm(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> int:
    """AdaBN: replace every BatchNorm's running mean/variance by the statistics of
    ``images`` (``(n, rows, cols)`` 0..1) as seen by the model; weights untouched. Returns
    the number of BatchNorm layers updated (0: nothing to adapt)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    x_all = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x_all.ndim != 3 or x_all.shape[0] == 0:
        raise TransferError(f"adapt_batchnorm expects (n, rows, cols) images, got {x_all.shape}")
    saved = [(bn.momentum, bn.training) for bn in bns]
    was_training = model.training
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
        bn.train()
    try:
        for i in range(0, x_all.shape[0], batch_size):
            model(x_all[i : i + batch_size, None].to(device))
    finally:
        for bn, (mom, tr) in zip(bns, saved, strict=True):
            bn.momentum = mom
            bn.train(tr)
        model.train(was_training)
    return len(bns)
