"""The networks being trained and one optimisation step.

:class:`Networks` holds the generator (and, for GAN presets, the PatchGAN discriminator and
its loss), their Adam optimizers, the optional EMA copy of the generator and the DDP
wrapper; :meth:`Networks.step` runs one step (discriminator every ``d_every`` steps, then
generator: GAN + ``lambda_l1`` x L1 + the RMSE term, plus the beta-NLL of a variance head
on the detached depth) and :meth:`Networks.validate` measures the validation split.
"""

from __future__ import annotations

import copy
import math
import random
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core.metrics import MetricAccumulator
from core.train.config import TrainConfig
from core.train.distributed import (
    DistContext,
    allreduce_grads,
    broadcast_module,
)
from core.train.speed import SpeedChoice, autocast, to_channels_last

if TYPE_CHECKING:
    from core.data import DepthDataset
    from core.models import Preset


class Networks:
    """Build with the resolved preset, then :meth:`prepare` with the speed choice (which
    may need the generator to measure)."""

    def __init__(
        self, preset: Preset, config: TrainConfig, device: torch.device, dist: DistContext
    ) -> None:
        from core.models import GANLoss, create_model

        self.preset, self.config, self.device, self.dist = preset, config, device, dist
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        random.seed(config.seed)
        self.G: nn.Module = create_model(preset.generator_arch, **preset.generator).to(device)
        self.D: nn.Module | None = None
        if preset.discriminator is not None:
            self.D = create_model(preset.discriminator_arch, **preset.discriminator).to(device)
            self.gan_loss = GANLoss(preset.gan_mode).to(device)
        broadcast_module(dist, self.G)
        if self.D is not None:
            broadcast_module(dist, self.D)
        self.last_loss_d = math.nan

    def prepare(self, speed: SpeedChoice) -> None:
        """Memory format, optimizers, the EMA copy and the DDP wrapper."""
        cfg, p = self.config, self.preset
        self.amp, self.channels_last = speed.amp, speed.channels_last
        if self.channels_last:
            to_channels_last(self.G)
            if self.D is not None:
                to_channels_last(self.D)
        self.betas = (p.betas[0] if cfg.beta1 is None else float(cfg.beta1), float(p.betas[1]))
        self.opt_g = self._generator_optimizer()
        self.opt_d = (
            torch.optim.Adam(self.D.parameters(), lr=p.lr, betas=self.betas)
            if self.D is not None
            else None
        )
        self.ema: nn.Module | None = None
        if cfg.ema is not None:
            self.ema = copy.deepcopy(self.G).eval()
            for q in self.ema.parameters():
                q.requires_grad_(False)
        self.G_train: nn.Module = self.G
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train = DDP(self.G, device_ids=ids)

    def _generator_optimizer(self) -> torch.optim.Optimizer:
        """Adam (``weight_decay`` as an L2 term on every parameter, as always) or AdamW
        (decoupled decay on the convolution weights only, not on biases and norms)."""
        cfg, p = self.config, self.preset
        if cfg.optimizer == "adamw":
            params = [q for q in self.G.parameters() if q.requires_grad]
            groups = [
                {"params": [q for q in params if q.ndim >= 2], "weight_decay": cfg.weight_decay},
                {"params": [q for q in params if q.ndim < 2], "weight_decay": 0.0},
            ]
            return torch.optim.AdamW(groups, lr=p.lr, betas=self.betas)
        return torch.optim.Adam(
            self.G.parameters(), lr=p.lr, betas=self.betas, weight_decay=cfg.weight_decay
        )

    @property
    def variance_head(self) -> bool:
        """The generator's last output channel is a predicted sigma (DU)."""
        return bool(getattr(self.G, "has_variance_head", False))

    # ------------------------------------------------------------------ views
    @property
    def eval_model(self) -> nn.Module:
        """What is validated and saved: the EMA copy when kept, else the generator."""
        return self.ema if self.ema is not None else self.G

    def modules(self) -> dict[str, nn.Module | None]:
        """The networks by their trainer-state prefix."""
        return {"G": self.G, "D": self.D, "EMA": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        return {"optG": self.opt_g, "optD": self.opt_d}

    def train_mode(self) -> None:
        self.G_train.train()
        if self.D is not None:
            self.D.train()

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = lr

    def sync_buffers(self) -> None:
        """DDP syncs buffers at each forward; after the last one, make every rank hold rank
        0's batch-norm statistics (the ones rank 0 validates and saves)."""
        broadcast_module(self.dist, self.G, buffers_only=True)

    # ------------------------------------------------------------------ one step
    def _inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        sem = batch["sem"].to(self.device, non_blocking=True)
        real = batch["depth"].to(self.device, non_blocking=True)
        if self.channels_last:
            sem = sem.contiguous(memory_format=torch.channels_last)
            real = real.contiguous(memory_format=torch.channels_last)
        return sem, real

    def _discriminator_step(
        self, D: nn.Module, sem: torch.Tensor, real: torch.Tensor, fake: torch.Tensor
    ) -> None:
        assert self.opt_d is not None
        for q in D.parameters():
            q.requires_grad_(True)
        with autocast(self.device, self.amp):
            pred_fake = D(torch.cat([sem, fake.detach() / 255.0], 1))
            pred_real = D(torch.cat([sem, real / 255.0], 1))
        loss_d = 0.5 * (
            self.gan_loss(pred_fake.float(), False) + self.gan_loss(pred_real.float(), True)
        )
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        allreduce_grads(self.dist, D)
        self.opt_d.step()
        self.last_loss_d = float(loss_d.detach())

    def _gan_term(
        self, sem: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, global_step: int
    ) -> torch.Tensor:
        D = self.D
        if D is None or self.opt_d is None:
            return torch.zeros((), device=self.device)
        if global_step % self.preset.d_every == 0:
            self._discriminator_step(D, sem, real, fake)
        for q in D.parameters():
            q.requires_grad_(False)
        with autocast(self.device, self.amp):
            pred = D(torch.cat([sem, fake / 255.0], 1))
        return self.gan_loss(pred.float(), True)

    def step(self, batch: dict[str, torch.Tensor], global_step: int) -> dict[str, float]:
        """One optimisation step on ``batch``; the losses (``_mse``: the batch's squared
        error, for the epoch's training RMSE)."""
        from core.models import l1_term, rmse_term
        from core.models.losses import beta_nll

        p = self.preset
        sem, real = self._inputs(batch)
        with autocast(self.device, self.amp):
            out = self.G_train(sem)
        out = out.float()
        sigma = out[:, -1:] if self.variance_head else None
        fake = out[:, :-1] if sigma is not None else out
        loss_gan = self._gan_term(sem, real, fake, global_step)
        loss_l1 = l1_term(fake, real)
        loss_rmse = rmse_term(fake, real, p.rmse_mode)
        loss_g = loss_gan + p.lambda_l1 * loss_l1 + loss_rmse
        loss_nll = None
        if sigma is not None:  # the depth is detached inside: this trains the sigma only
            loss_nll = beta_nll(fake, sigma, real, self.config.nll_beta)
            loss_g = loss_g + loss_nll
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if self.config.grad_clip:
            nn.utils.clip_grad_norm_(self.G.parameters(), self.config.grad_clip)
        self.opt_g.step()
        self._update_ema(global_step)
        with torch.no_grad():
            se = float(((fake.detach() - real) ** 2).mean())
        losses = {
            "loss_g": float(loss_g.detach()),
            "loss_l1": float(loss_l1.detach()),
            "loss_gan": float(loss_gan.detach()),
            "loss_rmse": float(loss_rmse.detach()),
        }
        if self.D is not None:
            losses["loss_d"] = self.last_loss_d
        if loss_nll is not None:
            losses["loss_nll"] = float(loss_nll.detach())
        losses["_mse"] = se
        return losses

    def _update_ema(self, global_step: int) -> None:
        if self.ema is None or self.config.ema is None:
            return
        decay = min(self.config.ema, (1 + global_step) / (10 + global_step))
        with torch.no_grad():
            for e, q in zip(self.ema.parameters(), self.G.parameters(), strict=True):
                e.lerp_(q.detach(), 1.0 - decay)
            for eb, b in zip(self.ema.buffers(), self.G.buffers(), strict=True):
                eb.copy_(b)

    # ------------------------------------------------------------------ validation
    def validate(self, dataset: DepthDataset, batch_size: int) -> MetricAccumulator:
        """RMSE/MAE of :attr:`eval_model` over ``dataset`` (per image and pooled, DU)."""
        model = self.eval_model
        was_training = model.training
        model.eval()
        acc = MetricAccumulator()
        n = len(dataset)
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                idx = list(range(i, min(n, i + batch_size)))
                b = dataset.batch(idx, augment=False)
                x = b["sem"].to(self.device)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast(self.device, self.amp):  # the head stays float32
                    y = model(x).float()
                acc.add(
                    y[:, 0].cpu().numpy(),
                    b["depth"][:, 0].numpy(),
                    [dataset.records[k] for k in idx],
                    indices=idx,
                )
        if was_training:
            model.train()
        return acc
