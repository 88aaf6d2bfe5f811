"""U-Net generator: SEM (0..1) in, depth (DU, 0..255) out, at any image size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.layers import check_norm, norm_layer
from core.models.normalization import check_input_norm, normalize_images

HEADS = ("affine", "sigmoid")
#: Bounds of the variance head's log-variance (DU^2): sigma from 0.05 to 150 DU.
LOGVAR_RANGE = (-6.0, 10.0)
#: Its starting log-variance: sigma = 5 DU, about the error of a trained model.
LOGVAR_INIT = 3.2


class DoubleConv(nn.Sequential):
    """(3x3 conv -> norm -> ReLU) twice; the conv has a bias only without a norm."""

    def __init__(self, cin: int, cout: int, norm: str) -> None:
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=bias),
            norm_layer(norm, cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=bias),
            norm_layer(norm, cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net with ``levels`` 2x down-samplings (widths ``base_width * 2**k``, k = 0..levels).

    The report cut the classic 5-resolution U-Net to 2, 3 or 4 levels for its 72x48 crops.
    ``forward`` reflect-pads the input to a multiple of ``2**levels`` (replicate where the
    image is too small to reflect) and crops the output back, so any ``H, W`` works.

    Output head (``head``):
      * ``"affine"`` (default): ``mid + half * conv1x1(features)`` with ``mid, half`` the
        centre and half-width of ``out_range``, so the network starts near the data mean
        (~128 DU, top surfaces ~150-170) and learns in the same [-1, 1] units as pix2pix's
        tanh output, but without tanh's vanishing gradient near the range ends. The output
        is clamped to ``out_range`` only in ``eval()`` mode: training sees the raw value, so
        an overshoot still gets a gradient back toward the target.
      * ``"sigmoid"``: ``lo + (hi - lo) * sigmoid(conv1x1(features))``, always in range.

    ``input_norm`` (:mod:`core.models.normalization`): ``"none"`` or ``"percentile"`` (each
    image scaled by its own 1st/99th percentiles before the first layer).
    ``dropout``: channel dropout on the deepest features while training (0: none).

    ``variance_head=True`` adds a second output channel: the predicted per-pixel standard
    deviation of the depth error, in DU (:meth:`sigma_from_logvar` of a small conv branch,
    log-variance clamped to :data:`LOGVAR_RANGE`). The branch reads the decoder's features
    *detached* and the (normalised) input image, so training it
    (``core.models.losses.beta_nll``) never changes the depth: channel 0 is computed
    exactly as without the head. Without it the output has
    ``out_channels`` channels as always.
    Only non-default options enter ``config`` (a card without them builds the same network).
    """

    arch_name = "unet"

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        levels: int = 3,
        base_width: int = 32,
        norm: str = "batch",
        out_range: tuple[float, float] | list[float] = (0.0, 255.0),
        head: str = "affine",
        input_norm: str = "none",
        dropout: float = 0.0,
        variance_head: bool = False,
    ) -> None:
        super().__init__()
        if not 1 <= int(levels) <= 6:
            raise ValueError(f"levels must be 1..6, got {levels}")
        if base_width < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError("base_width, in_channels and out_channels must be positive")
        check_norm(norm)
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}; got {head!r}")
        lo, hi = (float(v) for v in out_range)
        if not hi > lo:
            raise ValueError(f"out_range must be (low, high) with high > low, got {out_range}")
        check_input_norm(input_norm)
        if not isinstance(variance_head, bool):
            raise ValueError(f"variance_head must be true or false, got {variance_head!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config: dict[str, Any] = {
            "in_channels": int(in_channels),
            "out_channels": int(out_channels),
            "levels": int(levels),
            "base_width": int(base_width),
            "norm": norm,
            "out_range": [lo, hi],
            "head": head,
        }
        for key, value, default in (
            ("input_norm", input_norm, "none"),
            ("dropout", float(dropout), 0.0),
            ("variance_head", variance_head, False),
        ):
            if value != default:
                self.config[key] = value
        self.input_norm = input_norm
        self.dropout = float(dropout)
        self.levels = int(levels)
        self.out_range = (lo, hi)
        self.head_kind = head
        widths = [base_width * 2**k for k in range(self.levels + 1)]
        self.inc = DoubleConv(in_channels, widths[0], norm)
        self.down = nn.ModuleList(
            DoubleConv(widths[k - 1], widths[k], norm) for k in range(1, self.levels + 1)
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2)
            for k in range(self.levels, 0, -1)
        )
        self.dec = nn.ModuleList(
            DoubleConv(2 * widths[k - 1], widths[k - 1], norm) for k in range(self.levels, 0, -1)
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        if head == "affine":  # start close to the mid value: a small, zero-mean head
            with torch.no_grad():
                self.head.weight.mul_(0.1)
                if self.head.bias is not None:
                    self.head.bias.zero_()
        self.var_head: nn.Sequential | None = None
        if variance_head:
            self.var_head = nn.Sequential(
                nn.Conv2d(widths[0] + in_channels, widths[0], 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(widths[0], 1, 1),
            )
            with torch.no_grad():
                last = self.var_head[-1]
                assert isinstance(last, nn.Conv2d) and last.bias is not None
                last.weight.mul_(0.1)
                last.bias.fill_(LOGVAR_INIT)

    @property
    def has_variance_head(self) -> bool:
        """Channel 1 of the output is the predicted sigma (DU)."""
        return self.var_head is not None

    @staticmethod
    def sigma_from_logvar(logvar: torch.Tensor) -> torch.Tensor:
        """sigma (DU) = exp(log-variance / 2), the log-variance clamped to LOGVAR_RANGE."""
        return torch.exp(0.5 * logvar.clamp(*LOGVAR_RANGE))

    @property
    def multiple(self) -> int:
        """Input sizes are padded internally to a multiple of this."""
        return 2**self.levels

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom
        if ph == 0 and pw == 0:
            return x, pads
        mode = "reflect" if max(pads[0], pads[1]) < w and max(pads[2], pads[3]) < h else "replicate"
        return F.pad(x, pads, mode=mode), pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"UNet expects (N, C, H, W), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if self.input_norm != "none":
            with torch.autocast(device_type=x.device.type, enabled=False):
                x = normalize_images(x, self.input_norm)
        x_in = x
        x, (left, _, top, _) = self._pad(x)
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        if self.dropout > 0:
            y = F.dropout2d(y, self.dropout, self.training)
        for up, dec in zip(self.up, self.dec, strict=True):
            y = dec(torch.cat([skips.pop(), up(y)], dim=1))
        feats = y[..., top : top + h, left : left + w]
        # The head runs in float32 even under bf16 autocast: bf16 holds only 8 significant
        # bits, so a bf16 output would round depth to 1 DU steps between 128 and 255 DU.
        with torch.autocast(device_type=feats.device.type, enabled=False):
            feats32 = feats.float()  # once: the variance head reads the same copy
            y = self.head(feats32)
        lo, hi = self.out_range
        if self.head_kind == "sigmoid":
            y = lo + (hi - lo) * torch.sigmoid(y)
        else:
            y = (lo + hi) / 2.0 + (hi - lo) / 2.0 * y
            if not self.training:
                y = y.clamp(lo, hi)
        if self.var_head is None:
            return y
        return torch.cat([y, self.sigma_from_logvar(self._log_variance(feats, feats32, x_in))], 1)

    def _log_variance(
        self, feats: torch.Tensor, feats32: torch.Tensor, x_in: torch.Tensor
    ) -> torch.Tensor:
        """The variance head's log variance (DU^2) from the detached decoder features and
        the normalised input: in float32 on their concatenation, or, when an inference
        fast path has swapped the head for one that ``reads_parts``, from the two parts as
        they are (:class:`core.inference.fastpath.SplitVarianceHead`)."""
        head = self.var_head
        assert head is not None
        if getattr(head, "reads_parts", False):
            return head(feats.detach(), x_in)
        with torch.autocast(device_type=feats.device.type, enabled=False):
            return head(torch.cat([feats32.detach(), x_in.float()], dim=1))
