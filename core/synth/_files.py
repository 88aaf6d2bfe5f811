"""File helpers of the simulator: fast atomic PNG/TIFF/JSON/CSV writes, output-folder checks."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.io.atomic import OutputExistsError, atomic_write, atomic_write_bytes
from core.io.writers import write_depth_tiff as _shared_depth_tiff

__all__ = ["OutputExistsError", "atomic_path", "prepare_output", "write_bytes", "write_png"]

PNG_COMPRESS_LEVEL = 1  # fast; 72x48 crops are small either way


def atomic_path(
    path: Path, *, overwrite: bool = True, durable: bool = False
) -> contextlib.AbstractContextManager[Path]:
    """A temporary path beside ``path``, renamed onto it on success (``core.io.atomic``).

    Data-set files skip the per-file flush (``durable=False``): ``synth_meta.json``
    is written last and durably, so its presence marks a complete data set.
    """
    return atomic_write(path, overwrite=overwrite, durable=durable)


def write_bytes(path: Path, data: bytes, *, overwrite: bool = True, durable: bool = False) -> Path:
    """Data-set bytes: atomic, flushed to disk only when ``durable`` (see atomic_path)."""
    return atomic_write_bytes(path, data, overwrite=overwrite, durable=durable)


def png_bytes(array: np.ndarray) -> bytes:
    """8-bit grayscale PNG bytes (deterministic for the same array)."""
    if array.dtype != np.uint8 or array.ndim != 2:
        raise ValueError(f"PNG export needs a 2-D uint8 array, got {array.dtype} {array.shape}")
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def write_png(path: Path, array: np.ndarray, *, overwrite: bool = True) -> Path:
    return write_bytes(path, png_bytes(array), overwrite=overwrite)


def write_json(path: Path, obj: Any, *, overwrite: bool = True) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite, durable=True)


def write_depth_tiff(
    path: Path, depth: np.ndarray, *, pixel_size_nm: float, description: dict[str, Any]
) -> Path:
    """Float32 depth TIFF (DU) with ImageJ calibration, through ``core.io.writers``."""
    return _shared_depth_tiff(
        path,
        depth.astype(np.float32),
        pixel_size_nm=pixel_size_nm,
        value_unit="DU",
        description=description,
        overwrite=True,
    )


def prepare_output(out_dir: Path, owned: list[str], *, overwrite: bool, what: str) -> None:
    """Create ``out_dir``; refuse a non-empty one unless ``overwrite``.

    With ``overwrite`` only the entries named in ``owned`` (this writer's own outputs)
    are removed first; other files in the folder are left alone.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            present = sorted(p.name for p in out_dir.iterdir())[:5]
            raise OutputExistsError(
                out_dir,
                f"folder is not empty (holds {', '.join(present)}); refusing to write "
                f"{what} into it without overwrite (--overwrite)",
            )
        for name in owned:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
