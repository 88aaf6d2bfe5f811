"""The optional "denoise first" step of a :class:`~core.inference.Predictor`.

A Noise2Self denoiser (:class:`core.models.noise2self.Noise2SelfDenoiser`, trained with
``semdepth denoise train``) cleans the normalised SEM input (0..1) before the depth model
sees it. The result keeps the denoised image in the SEM's ORIGINAL value range
(:func:`to_sem_range`, the inverse of ``SemImage.normalized()``) so panels and readouts can
compare it with the raw pixels, and its description records whether denoising was used and
with which denoiser (:func:`denoiser_record`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.inference.inputs import checkpoint_file
from core.models.noise2self import METHOD, Noise2SelfDenoiser


def load_denoiser(path: str | Path, *, device: str | torch.device = "cpu") -> Noise2SelfDenoiser:
    """Load a denoiser checkpoint (``x.safetensors`` + ``x.json``, ``"task": "denoise"``).

    Raises :class:`~core.models.CheckpointError` naming the file when it is missing or is
    not a denoiser checkpoint (e.g. a depth model)."""
    return Noise2SelfDenoiser.load(checkpoint_file(path, "denoiser"), device=device)


def denoiser_record(
    denoiser: Noise2SelfDenoiser, source: Path | None, *, invariant: bool = False
) -> dict[str, Any]:
    """What goes into a result's settings and output descriptions about the denoiser."""
    return {
        "id": denoiser.model_id,
        "file": str(source) if source is not None else None,
        "method": METHOD,
        "invariant": bool(invariant),
    }


def to_sem_range(sem: Any, array01: np.ndarray) -> np.ndarray:
    """Map a 0..1 image back to ``sem``'s original value range (inverse of
    ``SemImage.normalized()``): uint8 x255, uint16 x65535, other unsigned ints x(2**bits-1),
    bool as is, float and signed ints onto the image's own min..max. float32 out."""
    a = np.asarray(array01, dtype=np.float32)
    dtype = str(getattr(sem, "dtype", "float32"))
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = "f"
    if kind == "b":
        return a.copy()
    if kind == "u":
        top = float(np.iinfo(np.dtype(dtype)).max)
        return (a * np.float32(top)).astype(np.float32)
    px = np.asarray(sem.pixels, dtype=np.float32)
    lo = float(np.nanmin(px)) if px.size else 0.0
    hi = float(np.nanmax(px)) if px.size else 0.0
    span = hi - lo if hi > lo else 0.0
    return (np.float32(lo) + a * np.float32(span)).astype(np.float32)


__all__ = ["denoiser_record", "load_denoiser", "to_sem_range"]
