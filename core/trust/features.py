"""The network's own view of an image: pooled encoder features for the domain check.

For a U-Net the features are the per-channel mean and standard deviation over the image
of the activations of every encoder level but the deepest (``inc`` and ``down[:-1]``),
read with forward hooks during one eager float32 pass that stops after the last of them.
The shallow levels describe the texture the network reacts to (noise, edges, contrast) and
separated held-out simulator families better than the bottleneck did in our tests
(``docs/metrology.md``). Models without such an encoder give no features (the check
says so).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext, suppress
from typing import Any

import numpy as np
import torch
from torch import nn


class _Enough(Exception):
    """Raised by the last hook: the features are read, the decoder need not run."""


def feature_modules(model: nn.Module) -> list[nn.Module] | None:
    """The encoder blocks whose activations are pooled, or None when ``model`` has no
    U-Net encoder (``inc`` and a ``down`` list)."""
    inc = getattr(model, "inc", None)
    down = getattr(model, "down", None)
    if not isinstance(inc, nn.Module) or not isinstance(down, nn.ModuleList):
        return None
    return [inc, *list(down)[:-1]]


def feature_dim(model: nn.Module) -> int | None:
    """Length of the feature vector of ``model`` (2 x channels of the pooled blocks)."""
    mods = feature_modules(model)
    if mods is None:
        return None
    total = 0
    for m in mods:
        convs = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
        if not convs:
            return None
        total += 2 * int(convs[-1].out_channels)
    return total


def extract_features(
    model: nn.Module,
    windows01: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    batch: int = 64,
    lock: threading.Lock | None = None,
) -> np.ndarray | None:
    """(N, D) float64 pooled features of a (N, H, W) stack of 0..1 windows, or None when
    the model has no encoder to read. ``lock`` serialises the model call (the predictor's).
    """
    mods = feature_modules(model)
    if mods is None:
        return None
    x = np.asarray(windows01, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    grabbed: list[Any] = [None] * len(mods)

    def hook(k: int) -> Any:
        def store(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            o = out.float()
            grabbed[k] = torch.cat([o.mean(dim=(2, 3)), o.std(dim=(2, 3))], dim=1).cpu()
            if k == len(mods) - 1:
                raise _Enough  # the rest of the network is not needed

        return store

    out: list[np.ndarray] = []
    dev = torch.device(device)
    with lock if lock is not None else nullcontext():
        handles = [m.register_forward_hook(hook(k)) for k, m in enumerate(mods)]
        try:
            was_training = model.training
            model.eval()
            with torch.inference_mode():
                for s in range(0, len(x), batch):
                    t = torch.from_numpy(np.ascontiguousarray(x[s : s + batch])[:, None])
                    with suppress(_Enough):
                        model(t.to(dev))
                    out.append(torch.cat(grabbed, dim=1).numpy().astype(np.float64))
            model.train(was_training)
        finally:
            for h in handles:
                h.remove()
    return np.concatenate(out, axis=0)
