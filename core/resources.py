"""Finding bundled resources (default model, samples, icons) from source and when frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: beside the package from source, under ``sys._MEIPASS`` frozen."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    import resources  # the package holding the data files

    return Path(resources.__file__).resolve().parent


def default_model_path() -> Path:
    """The bundled default model's weights file (``.safetensors``; its card sits beside it)."""
    return resources_dir() / "models" / "default.safetensors"


def sample_images() -> list[Path]:
    """The bundled sample SEM images, sorted by name (their ``*_depth.*`` truths left out)."""
    folder = resources_dir() / "samples"
    from core.conventions import is_image_name, is_output_stem

    return sorted(p for p in folder.iterdir() if is_image_name(p) and not is_output_stem(p.stem))


def icon_path(name: str = "semdepth.png") -> Path:
    return resources_dir() / "icons" / name
