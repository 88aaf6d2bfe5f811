"""Noise2Self: a J-invariant denoiser trained on noisy images only (Batson & Royer, ICML 2019).

The idea: split the pixels into sets ``J`` (here a regular grid, the paper's scheme). A
function whose output on ``J`` never sees the input on ``J`` cannot learn the noise of
those pixels when noise is independent between sets, so minimising the self-supervised
loss ``||f(x)_J - x_J||^2`` (measured only on ``J``) also minimises the error against the
unseen clean image, up to a constant (the noise variance).

:class:`Masker` builds the sets and hides them: the masked pixels are replaced by an
interpolation of their unmasked neighbours (the paper's default) or by random values.
The denoising network is a 2-level :class:`~core.models.unet.UNet` (base width 16, batch
norm, linear ``affine`` head on the 0..1 intensity scale), so checkpoints use the regular
safetensors + JSON card format (architecture ``unet``) with ``"task": "denoise"`` in the
card and the masker settings under ``"denoiser"``.

Two ways to denoise with a trained network (:meth:`Noise2SelfDenoiser.denoise`):

* ``invariant=False`` (default): one pass on the unmasked image. The paper notes this
  usually denoises a little better, but is no longer strictly J-invariant.
* ``invariant=True``: one pass per set ``J``, each pixel taken from the pass in which it
  was masked (:func:`invariant_forward`): the output at a pixel never depends on that
  pixel's own input value.

SEM noise caveat: the simulator's (and real) scan noise is partly correlated along a row
(scan-line offsets, detector lag along the fast axis). A per-pixel grid then leaks noise
through the row neighbours; ``pattern="rows"`` masks whole rows (predicted from the rows
above and below) so row-correlated noise cannot be learned.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.models.card import DENOISE_TASK, denoiser_card
from core.models.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from core.models.unet import UNet

MASK_MODES = ("interpolate", "random", "zero")
MASK_PATTERNS = ("grid", "rows")
METHOD = "noise2self"

# The paper's interpolation kernel: the 8 neighbours, edge neighbours weighted 1 and
# diagonal ones 0.5, the centre 0 (so a masked pixel never contributes to its own value).
_GRID_KERNEL = torch.tensor([[0.5, 1.0, 0.5], [1.0, 0.0, 1.0], [0.5, 1.0, 0.5]])
# Whole rows masked: only the pixels straight above and below are unmasked neighbours.
_ROW_KERNEL = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class Masker:
    """The paper's masking scheme.

    ``pattern="grid"``: ``width**2`` sets; set ``i`` holds the pixels with
    ``row % width == i // width`` and ``col % width == i % width``.
    ``pattern="rows"``: ``width`` sets; set ``i`` holds the whole rows with
    ``row % width == i``.
    ``mode``: what replaces a masked pixel in the network input: ``"interpolate"`` (the
    normalised 3x3 kernel above over unmasked neighbours), ``"random"`` (uniform 0..1) or
    ``"zero"``.
    """

    def __init__(self, width: int = 4, mode: str = "interpolate", pattern: str = "grid") -> None:
        if int(width) < 2:
            raise ValueError(
                f"mask width must be >= 2 (neighbours must stay unmasked), got {width}"
            )
        if mode not in MASK_MODES:
            raise ValueError(f"mask mode must be one of {', '.join(MASK_MODES)}; got {mode!r}")
        if pattern not in MASK_PATTERNS:
            raise ValueError(
                f"mask pattern must be one of {', '.join(MASK_PATTERNS)}; got {pattern!r}"
            )
        self.width = int(width)
        self.mode = mode
        self.pattern = pattern

    @property
    def n_masks(self) -> int:
        return self.width**2 if self.pattern == "grid" else self.width

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "mode": self.mode, "pattern": self.pattern}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Masker:
        return cls(
            width=int(d.get("width", 4)),
            mode=str(d.get("mode", "interpolate")),
            pattern=str(d.get("pattern", "grid")),
        )

    def mask(
        self, i: int, shape: tuple[int, int], device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """Set ``i`` as a float ``(rows, cols)`` tensor of 0/1."""
        if not 0 <= i < self.n_masks:
            raise ValueError(f"mask index must be in 0..{self.n_masks - 1}, got {i}")
        rows, cols = shape
        r = torch.arange(rows, device=device)[:, None]
        c = torch.arange(cols, device=device)[None, :]
        if self.pattern == "grid":
            phase_r, phase_c = divmod(i, self.width)
            m = (r % self.width == phase_r) & (c % self.width == phase_c)
        else:
            m = (r % self.width == i).expand(rows, cols)
        return m.to(torch.float32)

    def interpolate(self, x: torch.Tensor) -> torch.Tensor:
        """The kernel-weighted mean of each pixel's neighbours (the pixel itself excluded),
        reflect-padded (replicate when the image is too small)."""
        kernel = _GRID_KERNEL if self.pattern == "grid" else _ROW_KERNEL
        k = (kernel / kernel.sum()).to(dtype=x.dtype, device=x.device)
        c = x.shape[1]
        k = k.expand(c, 1, 3, 3).contiguous()
        mode = "reflect" if min(x.shape[-2:]) > 1 else "replicate"
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), k, groups=c)

    def apply(
        self, x: torch.Tensor, i: int, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masked input, mask (1, 1, rows, cols))`` for set ``i`` of ``x`` (N, C, H, W)."""
        if x.ndim != 4:
            raise ValueError(f"Masker expects (N, C, H, W), got shape {tuple(x.shape)}")
        m = self.mask(i, (x.shape[-2], x.shape[-1]), x.device).to(x.dtype)[None, None]
        if self.mode == "interpolate":
            fill = self.interpolate(x)
        elif self.mode == "random":
            fill = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(
                x.device
            )
        else:
            fill = torch.zeros_like(x)
        return x * (1.0 - m) + fill * m, m


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked pixels only (the Noise2Self loss)."""
    m = mask.expand_as(pred)
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0)


def invariant_forward(net: nn.Module, x: torch.Tensor, masker: Masker) -> torch.Tensor:
    """The strictly J-invariant prediction: every pixel is read from the pass in which its
    set was masked, so it never depends on its own input value (``n_masks`` passes)."""
    out = torch.zeros_like(x)
    for i in range(masker.n_masks):
        xm, m = masker.apply(x, i)
        out = out + net(xm) * m
    return out


def create_denoiser_net(*, levels: int = 2, base_width: int = 16, norm: str = "batch") -> UNet:
    """The small denoising network: a U-Net on 0..1 intensities with a linear head."""
    return UNet(
        in_channels=1,
        out_channels=1,
        levels=levels,
        base_width=base_width,
        norm=norm,
        out_range=(0.0, 1.0),
        head="affine",
    )


def _tiles(n: int, tile: int, margin: int, multiple: int = 1) -> list[tuple[int, int, int, int]]:
    """Along one axis of length ``n`` (a multiple of ``multiple``): ``(read_start, read_stop,
    keep_start, keep_stop)`` covering 0..n, every boundary a multiple of ``multiple`` so
    each tile sees the same pooling grid as the whole image."""
    if n <= tile:
        return [(0, n, 0, n)]
    m = max(1, multiple)
    margin = -(-margin // m) * m
    core = max(m, ((tile - 2 * margin) // m) * m)
    out = []
    start = 0
    while start < n:
        stop = min(n, start + core)
        out.append((max(0, start - margin), min(n, stop + margin), start, stop))
        start = stop
    return out


class Noise2SelfDenoiser:
    """A trained Noise2Self network with its masker; ``denoise(array01) -> array01``."""

    def __init__(
        self,
        net: nn.Module | None = None,
        masker: Masker | None = None,
        *,
        device: str | torch.device = "cpu",
        card: dict[str, Any] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.net = (net if net is not None else create_denoiser_net()).to(self.device)
        self.masker = masker if masker is not None else Masker()
        self.card: dict[str, Any] = dict(card or {})

    @property
    def model_id(self) -> str:
        return str(self.card.get("id", "noise2self-untrained"))

    @torch.inference_mode()
    def denoise_batch(self, batch01: np.ndarray, *, invariant: bool = False) -> np.ndarray:
        """Denoise ``(n, rows, cols)`` float 0..1 images of one size; float32 0..1 out."""
        arr = np.asarray(batch01, dtype=np.float32)
        if arr.ndim != 3:
            raise ValueError(f"denoise_batch expects (n, rows, cols), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("denoise_batch: the images hold NaN or infinite values")
        was_training = self.net.training
        self.net.eval()
        try:
            x = torch.from_numpy(np.ascontiguousarray(arr))[:, None].to(self.device)
            y = invariant_forward(self.net, x, self.masker) if invariant else self.net(x)
        finally:
            self.net.train(was_training)
        return np.clip(y[:, 0].float().cpu().numpy(), 0.0, 1.0).astype(np.float32)

    def denoise(
        self,
        array01: np.ndarray,
        *,
        invariant: bool = False,
        tile: int = 512,
        margin: int = 32,
    ) -> np.ndarray:
        """Denoise one ``(rows, cols)`` float image in 0..1; float32 0..1 of the same shape.

        Images larger than ``tile`` px go through in overlapping tiles (``margin`` px of
        context on every side, more than the network's receptive field), so memory stays
        bounded for full SEM fields."""
        arr = np.asarray(array01, dtype=np.float32)
        if arr.ndim != 2:
            raise ValueError(f"denoise expects a 2-D image, got shape {arr.shape}")
        if min(arr.shape) < 2:
            raise ValueError(f"denoise: image of {arr.shape[0]}x{arr.shape[1]} px is too small")
        if tile <= 2 * margin:
            raise ValueError(f"tile ({tile}) must exceed twice the margin ({margin})")
        rows, cols = arr.shape
        if rows <= tile and cols <= tile:
            return self.denoise_batch(arr[None], invariant=invariant)[0]
        # pad once like the U-Net does internally, then cut tiles on its pooling grid
        m = int(getattr(self.net, "multiple", 1))
        ph, pw = (-rows) % m, (-cols) % m
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        if not (ph or pw):
            padded = arr
        elif max(ph, pw) < min(rows, cols):
            padded = np.pad(arr, pads, mode="reflect")
        else:
            padded = np.pad(arr, pads, mode="edge")
        out = np.empty_like(padded)
        for r0, r1, k0, k1 in _tiles(padded.shape[0], tile, margin, m):
            for c0, c1, j0, j1 in _tiles(padded.shape[1], tile, margin, m):
                piece = self.denoise_batch(padded[None, r0:r1, c0:c1], invariant=invariant)[0]
                out[k0:k1, j0:j1] = piece[k0 - r0 : k1 - r0, j0 - c0 : j1 - c0]
        return out[pads[0][0] : pads[0][0] + rows, pads[1][0] : pads[1][0] + cols]

    # ------------------------------------------------------------------ persistence
    def make_card(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The card sections of this denoiser (:func:`core.models.card.denoiser_card`)."""
        return denoiser_card(METHOD, self.masker.to_dict(), extra)

    def save(
        self, path: str | Path, *, card: dict[str, Any] | None = None, overwrite: bool = False
    ) -> Path:
        """``path.safetensors`` + ``path.json`` (atomic, via
        :func:`core.models.save_checkpoint`); returns the weights path."""
        full = self.make_card(card)
        weights = save_checkpoint(path, self.net, full, overwrite=overwrite)
        self.card = read_card(weights)
        return weights

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> Noise2SelfDenoiser:
        """Load a denoiser checkpoint; refuses depth models and other cards with a
        :class:`~core.models.CheckpointError` naming the file."""
        card = read_card(path)
        _, card_path = checkpoint_paths(path)
        if card.get("task") != DENOISE_TASK:
            raise CheckpointError(
                f"{card_path}: not a denoiser checkpoint (card task {card.get('task')!r}, "
                f"expected {DENOISE_TASK!r}); depth models go to 'semdepth predict'"
            )
        cfg = card.get("architecture", {}).get("config", {})
        if list(cfg.get("out_range", [0.0, 255.0])) != [0.0, 1.0]:
            raise CheckpointError(f"{card_path}: denoiser output range must be [0, 1]")
        try:
            masker = Masker.from_dict(card.get("denoiser", {}).get("masker", {}))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{card_path}: bad masker settings ({exc})") from None
        net, card = load_checkpoint(path, device=device)
        return cls(net, masker, device=device, card=card)


def psnr(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of ``estimate`` against ``reference``."""
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ ({a.shape} vs {b.shape})")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)
