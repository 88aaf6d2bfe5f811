"""Choosing the torch device (CUDA, then Apple MPS, then CPU; never a hard-coded ``cuda``)
and what it can do with bfloat16.

Two bf16 questions with different answers, each asked in one place:

- :func:`bf16_autocast_supported`: can ``torch.autocast`` run bfloat16 on this device at
  all? (Training's ``--amp bf16`` needs it; emulated bf16 on a CPU counts.)
- :func:`cpu_has_native_bf16`: does this CPU compute bf16 in hardware (AVX-512 BF16 or
  AMX), so that bf16 inference is faster than float32 rather than slower? (The inference
  fast path ``auto`` picks ``bf16`` only then.) :func:`has_fast_bf16` answers the same
  question for any device.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

#: /proc/cpuinfo flags of a CPU with native bf16 arithmetic.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")
_CPUINFO = Path("/proc/cpuinfo")


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


def _mkldnn_bf16() -> bool:
    """oneDNN's own answer to "can this CPU run bf16 kernels" (a private but long-standing
    torch op; False where the build lacks it or it fails)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_autocast_supported(device: torch.device | str) -> bool:
    """Whether ``torch.autocast`` can run bfloat16 on ``device``: CUDA when
    ``torch.cuda.is_bf16_supported()``, the CPU when oneDNN supports bf16 (natively or
    emulated: possibly slower than float32, see :func:`cpu_has_native_bf16`), never on
    other device kinds (MPS)."""
    dev = device if isinstance(device, torch.device) else torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        return _mkldnn_bf16()
    return False


def native_bf16_in_flags(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo`` text lists a native bf16 flag (:data:`NATIVE_BF16_FLAGS`)."""
    flags = set(cpuinfo.split())
    return any(f in flags for f in NATIVE_BF16_FLAGS)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), so bf16 autocast
    pays off for inference. Linux: the flags in ``/proc/cpuinfo``; elsewhere oneDNN's
    answer (Apple silicon answers False). Cached for the process."""
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        text = ""
    if text:
        return native_bf16_in_flags(text)
    try:
        return _mkldnn_bf16()
    except Exception:  # pragma: no cover - exotic builds
        return False


def has_fast_bf16(device: torch.device | str) -> bool:
    """True when bf16 autocast is expected to be FASTER than float32 on ``device``: CUDA
    with bf16 support, or a CPU with native bf16 (:func:`cpu_has_native_bf16`)."""
    dev = device if isinstance(device, torch.device) else torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        return cpu_has_native_bf16()
    return False
