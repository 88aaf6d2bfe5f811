"""What a prediction starts from: the model's checkpoint file, the SEM image (a
:class:`~core.io.SemImage`, a 2-D array or a path) and, optionally, a second shot of the
same structure (``<name>_itrM`` beside ``<name>_itrN``, see :mod:`core.conventions`) whose
answers enter the mean and the spread.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.conventions import shot_stem, split_shot

if TYPE_CHECKING:
    from core.io import SemImage


def checkpoint_file(path: str | Path, what: str = "model") -> Path:
    """The weights file of a checkpoint given as ``x.safetensors`` or its card ``x.json``;
    :class:`~core.models.CheckpointError` naming the file (``"<what> file not found"``)
    when it is missing or not a file. The content is checked by the loader."""
    from core.models import CheckpointError

    p = Path(path)
    if p.suffix.lower() == ".json" and p.with_suffix(".safetensors").is_file():
        p = p.with_suffix(".safetensors")
    if not p.exists():
        raise CheckpointError(f"{p}: {what} file not found")
    if not p.is_file():
        raise CheckpointError(f"{p}: not a file")
    return p


#: What a depth model may ask for before the predictor builds it: U-Net levels and the
#: widest layer's channels (the bundled model: 3 levels, 128; the presets at most 512).
DEPTH_LEVELS = (1, 6)
MAX_DEPTH_WIDTH = 512


def check_depth_model(path: str | Path) -> Path:
    """The weights file of a depth checkpoint that passes every check made before anything
    is allocated (:func:`core.models.inspect_checkpoint`: pickles, the card, the weights'
    header and size against the card's network) and the predictor's own limits: a depth
    model (no other ``task``), :data:`DEPTH_LEVELS` levels, at most
    :data:`MAX_DEPTH_WIDTH` channels in its widest layer. One-line
    :class:`~core.models.CheckpointError` naming the file otherwise."""
    from core.models import CheckpointError, inspect_checkpoint

    weights = checkpoint_file(path, "model")
    _, card, _ = inspect_checkpoint(weights)
    card_path = weights.with_suffix(".json")
    if card.get("task", "depth") != "depth":
        raise CheckpointError(f"{weights}: this is a {card.get('task')!r} model, not a depth model")
    config = card["architecture"].get("config", {})
    levels = config.get("levels")
    lo, hi = DEPTH_LEVELS
    if levels is not None and not lo <= levels <= hi:
        raise CheckpointError(
            f"{card_path}: model card architecture.config.levels must be {lo}..{hi}, got {levels}"
        )
    widest = int(config.get("base_width", 0)) * 2 ** int(levels or 0)
    if widest > MAX_DEPTH_WIDTH:
        raise CheckpointError(
            f"{card_path}: model card asks for {widest} channels in one layer; a depth model "
            f"has at most {MAX_DEPTH_WIDTH}"
        )
    return weights


def as_sem(image: Any) -> SemImage:
    """``image`` as a :class:`~core.io.SemImage`: as is, read from a path (``read_sem``;
    its multi-page warning is left to :func:`input_notes`, never printed) or wrapped from
    a 2-D array. ``ValueError`` for other array shapes, ``TypeError`` for other types."""
    from core.io import MultiPageWarning, SemImage, read_sem

    if isinstance(image, SemImage):
        return image
    if isinstance(image, str | Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultiPageWarning)
            return read_sem(image)
    if isinstance(image, np.ndarray):
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D (rows, cols) image array, got shape {image.shape}")
        return SemImage.from_array(image)
    raise TypeError(f"cannot predict from {type(image).__name__}; give a SemImage, array or path")


#: Share of pixels at the top (or bottom) of an integer type's range that earns a note.
SATURATED_FRACTION = 0.02


def input_notes(sem: SemImage) -> list[str]:
    """Notes on an input the model cannot read well: a blank (all zero) or constant image,
    clipped white or black pixels (at least :data:`SATURATED_FRACTION` of them, integer
    types), and a multi-page file of which only the first page is used."""
    notes: list[str] = []
    if sem.page_count > 1:
        notes.append(
            f"multi-page {sem.format or 'image'} file with {sem.page_count} pages: only the "
            "first page is predicted"
        )
    px = np.asarray(sem.pixels)
    lo, hi = float(px.min()), float(px.max())
    if lo == hi:
        what = (
            "blank image: every pixel is 0" if hi == 0 else f"constant image: every pixel is {hi:g}"
        )
        notes.append(
            f"{what}; nothing to measure, the depth map is the model's answer to a flat field"
        )
        return notes
    try:
        top = float(np.iinfo(np.dtype(sem.dtype)).max)
    except (TypeError, ValueError):  # float or unknown types have no fixed range
        return notes
    for value, label in ((top, "white"), (0.0, "black")):
        share = float(np.count_nonzero(px == value)) / px.size
        if share >= SATURATED_FRACTION:
            notes.append(
                f"{100 * share:.1f} % of the pixels are clipped {label} ({value:g}): "
                "depths there are unreliable"
            )
    return notes


def find_second_shot(path: Path | None) -> Path | None:
    """``<name>_itrM.<ext>`` beside ``<name>_itrN.<ext>`` (M != N, lowest M), or None."""
    if path is None:
        return None
    path = Path(path)
    name, shot = split_shot(path.stem)
    if shot is None:
        return None
    for k in range(0, 10):
        if k == shot:
            continue
        cand = path.with_name(f"{shot_stem(name, k)}{path.suffix}")
        if cand.is_file():
            return cand
    return None


def load_second_shot(
    sem: SemImage, second_shot: Any, notes: list[str]
) -> tuple[np.ndarray | None, Path | None]:
    """The second shot's normalised pixels (0..1 float32) and its file, or (None, None).

    ``second_shot``: None/False (none), ``"auto"`` (:func:`find_second_shot` beside
    ``sem.path``), a path, a SemImage or an array. An unreadable file or a shape other than
    ``sem``'s is ignored with a note in ``notes``."""
    from core.io import SemImage, SemReadError, read_sem

    if second_shot is None or second_shot is False:
        return None, None
    path: Path | None = None
    other: Any = None
    if isinstance(second_shot, str) and second_shot == "auto":
        path = find_second_shot(sem.path) if sem.path is not None else None
        if path is None:
            return None, None
    elif isinstance(second_shot, str | Path):
        path = Path(second_shot)
    elif isinstance(second_shot, SemImage):
        other = second_shot
        path = second_shot.path
    elif isinstance(second_shot, np.ndarray):
        other = SemImage.from_array(second_shot)
    else:
        raise TypeError(f"second_shot: unsupported type {type(second_shot).__name__}")
    if other is None:
        assert path is not None
        try:
            other = read_sem(path)
        except SemReadError as exc:
            notes.append(f"second shot ignored: {exc}")
            return None, None
    arr = np.asarray(other.normalized(), dtype=np.float32)
    if arr.shape != tuple(sem.shape):
        notes.append(
            f"second shot {path or ''} ignored: shape {arr.shape} differs from {sem.shape}"
        )
        return None, None
    return arr, path
