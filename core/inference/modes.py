"""The three ways an image goes through the model, and how ``auto`` picks one.

- ``crop``: an image near the model's input size (0.5x-1.5x the card's ``input.size`` on
  each side) is predicted whole; the U-Net pads to its stride and crops back internally.
- ``field``: a large image with holes (see :mod:`core.inference.holes`): one window of
  the model's input size centred on each hole (reflect-padded at the borders), predicted
  in batches and blended back into a full-field map (see :mod:`core.inference.stitch`),
  plus a per-hole table (:func:`hole_records`).
- ``tiled``: overlapping tiles (a multiple of the input size) with linearly blended seams.

``auto`` = crop if near the input size, field if at least 3 holes of one size class are
found, else tiled. Every runner gets the model as a ``stack`` function (a window stack and
the second shot's windows -> mean and std over the test-time variants, see
:func:`core.inference.tta.tta_mean_std`), so the modes know nothing of devices or TTA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from core.inference.holes import HoleCandidate, detect_holes, plausible_field
from core.inference.result import HoleRecord
from core.inference.stitch import (
    Accumulator,
    border_ring,
    fill_levels,
    tile_starts,
    tile_weight,
    window_weight,
)
from core.progress import CancelToken, ProgressCallback, report

MODES = ("auto", "crop", "field", "tiled")

#: (windows (N, H, W), second shot's windows or None) -> (mean, std), each (N, H, W).
StackFn = Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ModeRun:
    """What every mode runner needs besides the image: the model as a ``stack`` function,
    the model's ``input_size`` (rows, cols), ``batch_size`` model-input-sized images of
    pixels per forward pass, ``n_var`` answers per window (TTA variants x shots), and the
    progress callback and cancel token."""

    stack: StackFn
    input_size: tuple[int, int]
    batch_size: int
    n_var: int
    progress: ProgressCallback | None = None
    cancel: CancelToken | None = None


class NoHolesFoundError(ValueError):
    """Field mode was asked for but the image shows no holes the detector accepts."""


def near_input_size(shape: tuple[int, ...], input_size: tuple[int, int]) -> bool:
    """Whether every side of ``shape`` is within 0.5x-1.5x the model's input size."""
    return all(0.5 * m <= s <= 1.5 * m for s, m in zip(shape[:2], input_size, strict=True))


def choose_mode(
    mode: str, work: np.ndarray, input_size: tuple[int, int], source: Path | None = None
) -> tuple[str, list[HoleCandidate] | None]:
    """The mode to run and, for field mode (or when ``auto`` looked), the holes found.

    ``mode="field"`` finding no holes raises :class:`NoHolesFoundError` (naming
    ``source`` when given)."""
    holes: list[HoleCandidate] | None = None
    chosen = mode
    if mode == "auto":
        if near_input_size(work.shape, input_size):
            chosen = "crop"
        else:
            holes = detect_holes(work, input_size)
            chosen = "field" if plausible_field(holes) else "tiled"
    elif mode == "field":
        holes = detect_holes(work, input_size)
        if not holes:
            where = f"{source}: " if source is not None else ""
            raise NoHolesFoundError(
                f"{where}field mode found no holes (dark round regions of "
                f"{0.08 * min(input_size):.0f}-{0.9 * min(input_size):.0f} px "
                "after resampling); use mode 'tiled' or 'auto'"
            )
    return chosen, holes


def tile_geometry(
    shape: tuple[int, int], input_size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Tile size (4x the model input per side, at most the image) and overlap (half
    the model input per side) used by tiled mode."""
    ih, iw = input_size
    tile = (min(shape[0], 4 * ih), min(shape[1], 4 * iw))
    overlap = (min(ih // 2, tile[0] // 2), min(iw // 2, tile[1] // 2))
    return tile, overlap


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
    per_chunk = max(1, run.batch_size // run.n_var)
    found = _windows((padded, padded2), in_padded, window, per_chunk, run, "holes")
    for k, mean, std in found:
        t, c = corners[k]
        acc.add(t, c, mean, std, weight)
        centres.append((t + wh // 2, c + ww // 2))
        levels.append(float(np.median(border_ring(mean))))
        level_unc.append(float(np.median(border_ring(std))))
    sigma = min(wh, ww) / 2.0
    bg = fill_levels(work.shape, centres, levels, sigma)
    bg_unc = fill_levels(work.shape, centres, level_unc, sigma)
    return acc.with_background(bg, bg_unc)


def predict_tiled(
    work: np.ndarray, work2: np.ndarray | None, run: ModeRun
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]:
    """Overlapping tiles (:func:`tile_geometry`) blended with linear ramps; returns depth,
    uncertainty, the tile size and the overlap. As many tiles per forward pass as fit in
    ``batch_size`` model-input-sized images of pixels."""
    shape = (int(work.shape[0]), int(work.shape[1]))
    tile, overlap = tile_geometry(shape, run.input_size)
    rows = tile_starts(shape[0], tile[0], overlap[0])
    cols = tile_starts(shape[1], tile[1], overlap[1])
    positions = [(r, c) for r in rows for c in cols]
    weight = tile_weight(tile, overlap)
    acc = Accumulator(shape)
    budget = run.batch_size * run.input_size[0] * run.input_size[1]
    per_chunk = max(1, budget // (tile[0] * tile[1] * run.n_var))
    tiles = _windows((work, work2), positions, tile, per_chunk, run, "tiles")
    for k, mean, std in tiles:
        r, c = positions[k]
        acc.add(r, c, mean, std, weight)
    depth, unc = acc.normalized()
    return depth, unc, tile, overlap


def run_mode(
    chosen: str,
    work: np.ndarray,
    work2: np.ndarray | None,
    holes: list[HoleCandidate] | None,
    run: ModeRun,
) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """Depth and uncertainty on the working grid by the ``chosen`` mode (crop, field with
    its ``holes``, tiled), and the mode's geometry for the result's settings (``window``,
    or ``tile`` and ``overlap``)."""
    if chosen == "crop":
        depth, unc = predict_crop(work, work2, run)
        return depth, unc, {}
    if chosen == "field":
        assert holes is not None
        depth, unc = predict_field(work, work2, holes, run)
        return depth, unc, {"window": list(run.input_size)}
    depth, unc, tile, overlap = predict_tiled(work, work2, run)
    return depth, unc, {"tile": list(tile), "overlap": list(overlap)}


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
