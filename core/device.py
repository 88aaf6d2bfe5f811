"""Choosing the torch device: CUDA, then Apple MPS, then CPU (never a hard-coded ``cuda``)."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> dict[str, bool]:
    """Which device kinds this machine offers (the GUI disables the others)."""
    mps = getattr(torch.backends, "mps", None)
    return {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps is not None and mps.is_available()),
    }


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|mps`` (or ``cuda:1``) into a device, failing clearly if absent."""
    name = (name or "auto").lower()
    avail = available_devices()
    if name == "auto":
        for kind in ("cuda", "mps"):
            if avail[kind]:
                return torch.device(kind)
        return torch.device("cpu")
    kind = name.split(":", 1)[0]
    if kind not in avail:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if not avail[kind]:
        raise ValueError(f"device {name!r} is not available on this machine")
    return torch.device(name)
