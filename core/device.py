"""Choosing the torch device: CUDA, then Apple MPS, then CPU (never a hard-coded ``cuda``);
and what a device can do in bfloat16 (:func:`can_autocast_bf16`, :func:`cpu_has_native_bf16`,
:func:`has_fast_bf16`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


# --------------------------------------------------------------------------- bfloat16
# Two different questions, two names: "may torch autocast to bf16 on this device at all"
# (training's --amp bf16 accepts emulated bf16) and "does this CPU compute bf16 natively"
# (only then is bf16 faster than fp32, which the inference fast path cares about).


def can_autocast_bf16(device: torch.device) -> bool:
    """True when ``torch.autocast(device.type, dtype=torch.bfloat16)`` works on ``device``:
    CUDA with bf16 support, or a CPU whose oneDNN build has bf16 kernels (natively or
    emulated: it may be slower than float32). MPS and other devices: False."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), so autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        flags = ""
    if flags:
        return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "amx_tile"))
    # Not Linux: ask oneDNN (private but long-standing); Apple silicon answers False.
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # pragma: no cover - exotic builds
        return False


def has_fast_bf16(device: torch.device) -> bool:
    """True when bf16 autocast is expected to be FASTER than float32 on ``device``: CUDA
    with bf16 support, or a CPU with native bf16 (:func:`cpu_has_native_bf16`)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False
