"""The three ways an image goes through the model, and how ``auto`` picks one.

- ``crop``: an image near the model's input size (0.5x-1.5x the card's ``input.size`` on
  each side) is predicted whole; the U-Net pads to its stride and crops back internally.
- ``field``: a large image with holes (see :mod:`core.inference.holes`): one window of
  the model's input size centred on each hole (reflect-padded at the borders), predicted
  in batches and blended back into a full-field map (see :mod:`core.inference.stitch`),
  plus a per-hole table (:func:`hole_records`).
- ``tiled``: the fewest overlapping tiles of at most :data:`MAX_TILE` px per side (the size
  that runs fastest per pixel on a CPU), blended without seams: a margin of ``border`` px
  at every inner tile edge is dropped and neighbours cross-fade with a raised cosine (see
  :class:`~core.inference.stitch.TileLayout`); progress is reported per tile.

``auto`` = crop if near the input size, field if at least 3 holes of one size class are
found, else tiled. Every runner gets the model as a ``stack`` function (a window stack and
the second shot's windows -> mean and std over the test-time variants, see
:func:`core.inference.tta.tta_mean_std`), so the modes know nothing of devices or TTA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from core.inference.holes import HoleCandidate, detect_holes, plausible_field
from core.inference.result import HoleRecord
from core.inference.stitch import (
    Accumulator,
    TileLayout,
    border_ring,
    fill_level_maps,
    tile_layout,
    window_weight,
)
from core.progress import CancelToken, ProgressCallback, report

MODES = ("auto", "crop", "field", "tiled")
#: Largest tile side (px) in tiled mode: on a CPU, 512 x 512 tiles run fastest per pixel
#: (bigger ones fall out of cache, smaller ones pay more overlap).
MAX_TILE = 512
#: Default margin (px) dropped at inner tile edges when the model does not say its own.
DEFAULT_BORDER = 32
#: Forward passes' worth of hole windows handed to the model per call in field mode (it
#: splits them into passes of ``batch_size``; progress and Cancel are checked per call).
FIELD_PASSES_PER_CALL = 8

#: (windows (N, H, W), second shot's windows or None) -> (mean, std), each (N, H, W).
StackFn = Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ModeRun:
    """What every mode runner needs besides the image: the model as a ``stack`` function,
    the model's ``input_size`` (rows, cols), ``batch_size`` model-input-sized images of
    pixels per forward pass, ``n_var`` answers per window (TTA variants x shots), the
    progress callback and cancel token, and for tiled mode the ``border`` (px dropped at
    inner tile edges, also the cross-fade length; about the reach of the network's zero
    padding) and the model's stride ``multiple``."""

    stack: StackFn
    input_size: tuple[int, int]
    batch_size: int
    n_var: int
    progress: ProgressCallback | None = None
    cancel: CancelToken | None = None
    border: int = DEFAULT_BORDER
    multiple: int = 8


class NoHolesFoundError(ValueError):
    """Field mode was asked for but the image shows no holes the detector accepts."""


def near_input_size(shape: tuple[int, ...], input_size: tuple[int, int]) -> bool:
    """Whether every side of ``shape`` is within 0.5x-1.5x the model's input size."""
    return all(0.5 * m <= s <= 1.5 * m for s, m in zip(shape[:2], input_size, strict=True))


def choose_mode(
    mode: str,
    work: np.ndarray,
    input_size: tuple[int, int],
    source: Path | None = None,
    *,
    holes: list[HoleCandidate] | None = None,
) -> tuple[str, list[HoleCandidate] | None]:
    """The mode to run and, for field mode (or when ``auto`` looked), the holes found.

    ``holes``: the holes already found in ``work`` (not searched again). ``mode="field"``
    finding no holes raises :class:`NoHolesFoundError` (naming ``source`` when given)."""
    if mode in ("crop", "tiled"):
        return mode, None
    chosen = mode
    if mode == "auto":
        if near_input_size(work.shape, input_size):
            chosen, holes = "crop", None
        else:
            holes = detect_holes(work, input_size) if holes is None else holes
            chosen = "field" if plausible_field(holes) else "tiled"
    elif mode == "field":
        holes = detect_holes(work, input_size) if holes is None else holes
        if not holes:
            where = f"{source}: " if source is not None else ""
            raise NoHolesFoundError(
                f"{where}field mode found no holes (dark round regions of "
                f"{0.08 * min(input_size):.0f}-{0.9 * min(input_size):.0f} px "
                "after resampling); use mode 'tiled' or 'auto'"
            )
    return chosen, holes


def tile_geometry(
    shape: tuple[int, int],
    border: int = DEFAULT_BORDER,
    multiple: int = 8,
    max_tile: int = MAX_TILE,
) -> TileLayout:
    """The tiles of tiled mode for an image of ``shape``: at most ``max_tile`` px per side,
    overlapping by ``3 * border`` (a ``border`` margin dropped on each side plus a
    ``border``-px cross-fade)."""
    return tile_layout(shape, (max_tile, max_tile), border, border, multiple)


def reflect_pad(a: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Reflect-pad ``a`` by (ph, pw) px (numpy repeats the reflection for large pads)."""
    if a.shape[0] < 2 or a.shape[1] < 2:
        return np.pad(a, ((ph, ph), (pw, pw)), mode="edge")
    return np.pad(a, ((ph, ph), (pw, pw)), mode="reflect")


def _windows(
    sources: tuple[np.ndarray, np.ndarray | None],
    corners: Sequence[tuple[int, int]],
    size: tuple[int, int],
    per_chunk: int,
    run: ModeRun,
    label: str,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(k, mean, std) of the window of ``size`` at each of ``corners`` (top-left, in the
    sources' coordinates), predicted ``per_chunk`` windows per ``run.stack`` call; one
    progress report per chunk, ``run.cancel`` checked before each."""
    image, second = sources
    h, w = size
    total = len(corners)
    for start in range(0, total, per_chunk):
        if run.cancel is not None:
            run.cancel.raise_if_cancelled()
        chunk = corners[start : start + per_chunk]
        win = np.stack([image[r : r + h, c : c + w] for r, c in chunk])
        win2 = (
            None if second is None else np.stack([second[r : r + h, c : c + w] for r, c in chunk])
        )
        mean, std = run.stack(win, win2)
        for k in range(len(chunk)):
            yield start + k, mean[k], std[k]
        report(run.progress, min(total, start + len(chunk)), total, label)


def predict_crop(
    work: np.ndarray, work2: np.ndarray | None, run: ModeRun
) -> tuple[np.ndarray, np.ndarray]:
    """The whole image in one window."""
    mean, std = run.stack(work[None], None if work2 is None else work2[None])
    report(run.progress, 1, 1, "crop")
    return mean[0], std[0]


def predict_field(
    work: np.ndarray,
    work2: np.ndarray | None,
    holes: list[HoleCandidate],
    run: ModeRun,
) -> tuple[np.ndarray, np.ndarray]:
    """One model-input-sized window centred on each hole, blended with a raised-cosine
    weight over a background spread from the windows' border levels. ``batch_size //
    n_var`` windows (``n_var`` answers each) per forward pass."""
    window = run.input_size
    wh, ww = window
    ph, pw = wh // 2 + 1, ww // 2 + 1
    padded = reflect_pad(work, ph, pw)
    padded2 = reflect_pad(work2, ph, pw) if work2 is not None else None
    weight = window_weight((wh, ww))
    acc = Accumulator(work.shape)
    corners = [(round(h.row) - wh // 2, round(h.col) - ww // 2) for h in holes]
    in_padded = [(t + ph, c + pw) for t, c in corners]
    centres: list[tuple[int, int]] = []
    levels: list[float] = []
    level_unc: list[float] = []
    # windows are small: several forward passes per call keep the per-call work (stacks,
    # variants, blending) from costing more than the passes (the same answers)
    per_chunk = max(1, FIELD_PASSES_PER_CALL * run.batch_size // run.n_var)
    found = _windows((padded, padded2), in_padded, window, per_chunk, run, "holes")
    for k, mean, std in found:
        t, c = corners[k]
        acc.add(t, c, mean, std, weight)
        centres.append((t + wh // 2, c + ww // 2))
        levels.append(float(np.median(border_ring(mean))))
        level_unc.append(float(np.median(border_ring(std))))
    sigma = min(wh, ww) / 2.0
    bg, bg_unc = fill_level_maps(work.shape, centres, [levels, level_unc], sigma)
    return acc.with_background(bg, bg_unc)


def predict_tiled(
    work: np.ndarray, work2: np.ndarray | None, run: ModeRun
) -> tuple[np.ndarray, np.ndarray, TileLayout]:
    """Overlapping tiles (:func:`tile_geometry`) blended without seams; returns depth,
    uncertainty and the layout. As many tiles per forward pass as fit in ``batch_size``
    model-input-sized images of pixels (at least one); one progress report per pass."""
    shape = (int(work.shape[0]), int(work.shape[1]))
    layout = tile_geometry(shape, run.border, run.multiple)
    positions = layout.positions()
    acc = Accumulator(shape)
    th, tw = layout.tile
    budget = run.batch_size * run.input_size[0] * run.input_size[1]
    per_chunk = max(1, budget // (th * tw * run.n_var))
    tiles = _windows((work, work2), positions, layout.tile, per_chunk, run, "tiles")
    for k, mean, std in tiles:
        r, c = positions[k]
        acc.add(r, c, mean, std, layout.weight(r, c))
    depth, unc = acc.normalized()
    return depth, unc, layout


def run_mode(
    chosen: str,
    work: np.ndarray,
    work2: np.ndarray | None,
    holes: list[HoleCandidate] | None,
    run: ModeRun,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Depth and uncertainty on the working grid by the ``chosen`` mode (crop, field with
    its ``holes``, tiled), and the mode's geometry for the result's settings (``window``,
    or ``tile``, ``overlap``, ``tile_margin`` and the number of ``tiles``)."""
    if chosen == "crop":
        depth, unc = predict_crop(work, work2, run)
        return depth, unc, {}
    if chosen == "field":
        assert holes is not None
        depth, unc = predict_field(work, work2, holes, run)
        return depth, unc, {"window": list(run.input_size)}
    depth, unc, layout = predict_tiled(work, work2, run)
    return (
        depth,
        unc,
        {
            "tile": list(layout.tile),
            "overlap": layout.overlap,
            "tile_margin": layout.margin,
            "tiles": len(layout.rows) * len(layout.cols),
        },
    )


def hole_records(
    holes: list[HoleCandidate],
    depth_w: np.ndarray,
    unc_w: np.ndarray,
    scale: float,
    pixel_size_nm: float | None,
) -> list[HoleRecord]:
    """The per-hole table of field mode, in the ORIGINAL image's pixel grid (``depth_w``
    and ``unc_w`` are on the grid resampled by ``scale``)."""
    smooth = ndi.gaussian_filter(depth_w.astype(np.float64), sigma=1.0, mode="nearest")
    out: list[HoleRecord] = []
    for i, h in enumerate(holes, start=1):
        rr, cc = h.coords[:, 0], h.coords[:, 1]
        d_px = h.diameter_px / scale
        out.append(
            HoleRecord(
                id=i,
                row=(h.row + 0.5) / scale - 0.5,
                col=(h.col + 0.5) / scale - 0.5,
                diameter_px=float(d_px),
                diameter_nm=float(d_px * pixel_size_nm) if pixel_size_nm else None,
                bottom_depth=float(np.percentile(smooth[rr, cc], 5)),
                mean_depth=float(depth_w[rr, cc].mean()),
                uncertainty=float(unc_w[rr, cc].mean()),
            )
        )
    return out
