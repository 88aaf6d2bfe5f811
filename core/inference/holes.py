"""Finding holes in a full-field SEM image (scikit-image), for the predictor's field mode.

Holes in top-down SEM images of etched structures are dark: electrons born at a deep
bottom mostly do not escape (bright rims and flat tops surround them). The detector:

1. smooths the 0..1 image with a Gaussian (``sigma`` ~ 1 px, scaled with the window size),
2. removes slow background (charging drift, shading) by subtracting a wide Gaussian
   (``sigma`` = the window's longer side),
3. thresholds dark regions with Otsu's method on the flattened image and estimates the
   pixel noise (robust std of the image minus its smoothed version),
4. cleans them (binary opening with a 1-px disk, holes in regions filled),
5. labels connected regions and keeps those with a plausible hole shape:
   area >= ``min_area`` px, equivalent diameter between ``min_diameter`` and
   ``max_diameter`` px (by default 8 % and 90 % of the window's shorter side, so the hole
   fits in the model's window), eccentricity <= ``max_eccentricity`` (0.9: rejects lines
   and trenches), solidity >= ``min_solidity`` (0.7: rejects merged blobs), and a
   contrast (median of a surrounding ring minus the region's mean) of at least
   ``min_contrast`` times the pixel noise, so smoothed noise is not taken for holes.

Centres are the region centroids (sub-pixel, row/col). The diameter is that of the dark
region found, i.e. the hole's dark core as thresholded, not a calibrated CD.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, morphology

from core.grids import upsample_linear


@dataclass(frozen=True)
class HoleCandidate:
    """One dark region found by :func:`detect_holes` (pixel units of the searched image)."""

    row: float
    col: float
    area_px: int
    diameter_px: float  # equivalent diameter of the dark region
    eccentricity: float
    bbox: tuple[int, int, int, int]  # min_row, min_col, max_row, max_col (exclusive)
    coords: np.ndarray  # (n, 2) int rows/cols of the region's pixels
    contrast: float = 0.0  # region vs surrounding ring, in units of the pixel noise


def detect_holes(
    image01: np.ndarray,
    window: tuple[int, int],
    *,
    sigma: float | None = None,
    min_diameter: float | None = None,
    max_diameter: float | None = None,
    min_area: int = 12,
    max_eccentricity: float = 0.85,
    min_fill: float = 0.85,
    min_contrast: float = 3.0,
) -> list[HoleCandidate]:
    """Dark or rim-enclosed, round, window-sized regions of ``image01`` (float 0..1).

    ``window`` is the model's input size (rows, cols); the size limits scale with it.
    Returns the candidates sorted by row then column (reading order).
    """
    img = np.asarray(image01, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 8:
        return []
    short = float(min(window))
    if sigma is None:
        sigma = max(0.8, short / 48.0)
    min_d = 0.2 * short if min_diameter is None else float(min_diameter)
    max_d = 0.9 * short if max_diameter is None else float(max_diameter)
    smooth = ndi.gaussian_filter(img, sigma=sigma, mode="reflect")
    flat = smooth - _background(img, 2 * int(max(window)) + 1)
    if float(flat.max() - flat.min()) < 1e-6:
        return []
    # Pixel noise (robust std of the fine residual), the unit of the contrast test; on a
    # large image every other pixel of every other row is plenty for a median.
    resid = img - smooth
    if resid.size > 1_000_000:
        resid = resid[::2, ::2]
    noise = max(1e-3, 1.4826 * float(np.median(np.abs(resid - np.median(resid)))))
    try:
        t_dark, t_bright = filters.threshold_multiotsu(flat, classes=3)
    except ValueError:  # too few distinct values
        return []
    rims = ndi.binary_closing(flat > t_bright, structure=morphology.disk(2))
    enclosed = fill_holes(rims) & ~rims
    candidates = enclosed | (flat < t_dark)
    candidates = ndi.binary_opening(candidates, structure=morphology.disk(1))
    candidates = fill_holes(candidates)
    labels, n = ndi.label(candidates)
    if n == 0:
        return []
    shape_ok, stats, pixels = _shape_stats(
        labels, n, min_d, max_d, min_area, max_eccentricity, min_fill
    )
    keep = np.flatnonzero(shape_ok) + 1  # label ids
    if keep.size == 0:
        return []
    objects = ndi.find_objects(labels)
    inside_mean = _label_means(flat, pixels, n)[keep - 1]
    diameters = stats["diameter"][keep - 1]
    contrast = _contrast(flat, labels, objects, keep, diameters, inside_mean) / noise
    coords = _coords_by_label(pixels, n)
    found: list[HoleCandidate] = []
    for lab, con in zip(keep, contrast, strict=True):
        if con < min_contrast:
            continue
        sl = objects[lab - 1]
        assert sl is not None
        rr, cc = coords(int(lab))
        i = lab - 1
        found.append(
            HoleCandidate(
                row=float(stats["row"][i]),
                col=float(stats["col"][i]),
                area_px=int(stats["area"][i]),
                diameter_px=float(stats["diameter"][i]),
                eccentricity=float(stats["eccentricity"][i]),
                bbox=(sl[0].start, sl[1].start, sl[0].stop, sl[1].stop),
                coords=np.stack([rr, cc], axis=1).astype(np.int64),
                contrast=float(con),
            )
        )
    found.sort(key=lambda h: (round(h.row), h.col))
    return found


def _background(img: np.ndarray, size: int) -> np.ndarray:
    """Slow background: two box filters of ``size`` px (a cheap near-Gaussian). On a
    large image they run on 4 x 4 block means and are interpolated back (the background
    is smooth over tens of px: within 0.3 % of the full-resolution filter, 2x faster)."""
    k = 4
    rows, cols = img.shape
    if rows * cols <= 1_000_000 or min(rows, cols) < 8 * size // k:
        return ndi.uniform_filter(ndi.uniform_filter(img, size=size, mode="reflect"), size)
    r, c = rows // k * k, cols // k * k
    small = img[:r, :c].reshape(r // k, k, c // k, k).mean(axis=(1, 3), dtype=np.float32)
    sk = max(3, size // k | 1)
    small = ndi.uniform_filter(ndi.uniform_filter(small, size=sk, mode="reflect"), sk)
    return np.asarray(upsample_linear(small, (rows, cols)), dtype=np.float32)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region not connected to the border filled; the same
    as ``scipy.ndimage.binary_fill_holes`` (4-connected background), by one labelling
    instead of an iterated dilation (3x faster on large images)."""
    lab, n = ndi.label(~mask)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    outside[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = True
    outside[0] = False
    return mask | ~outside[lab]


#: The labelled pixels of an image in raster order: rows, cols, label - 1.
Pixels = tuple[np.ndarray, np.ndarray, np.ndarray]


def _shape_stats(
    labels: np.ndarray,
    n: int,
    min_d: float,
    max_d: float,
    min_area: int,
    max_ecc: float,
    min_fill: float,
) -> tuple[np.ndarray, dict[str, np.ndarray], Pixels]:
    """Area, centroid, equivalent diameter, eccentricity and ellipse fill of every label
    (vectorised image moments), which labels pass the shape limits, and the labelled
    pixels (for :func:`_label_means` and :func:`_coords_by_label`)."""
    rr, cc = np.nonzero(labels)
    lab = labels[rr, cc] - 1
    area = np.bincount(lab, minlength=n).astype(np.float64)
    safe = np.maximum(area, 1.0)
    row = np.bincount(lab, rr, minlength=n) / safe
    col = np.bincount(lab, cc, minlength=n) / safe
    dr, dc = rr - row[lab], cc - col[lab]
    mu20 = np.bincount(lab, dr * dr, minlength=n) / safe + 1.0 / 12.0  # + pixel extent
    mu02 = np.bincount(lab, dc * dc, minlength=n) / safe + 1.0 / 12.0
    mu11 = np.bincount(lab, dr * dc, minlength=n) / safe
    half = (mu20 + mu02) / 2.0
    root = np.sqrt(((mu20 - mu02) / 2.0) ** 2 + mu11**2)
    l1, l2 = half + root, np.maximum(half - root, 1e-12)
    ecc = np.sqrt(np.clip(1.0 - l2 / l1, 0.0, 1.0))
    ellipse_area = np.pi * 4.0 * np.sqrt(l1 * l2)  # semi-axes 2*sqrt(eigenvalue)
    fill = area / np.maximum(ellipse_area, 1e-12)
    diameter = np.sqrt(4.0 * area / np.pi)
    min_area_px = max(min_area, math.floor(math.pi * (min_d / 2.0) ** 2))
    ok = (
        (area >= min_area_px)
        & (diameter >= min_d)
        & (diameter <= max_d)
        & (ecc <= max_ecc)
        & (fill >= min_fill)
    )
    stats = {"area": area, "row": row, "col": col, "diameter": diameter, "eccentricity": ecc}
    return ok, stats, (rr, cc, lab)


def _label_means(values: np.ndarray, pixels: Pixels, n: int) -> np.ndarray:
    """The mean of ``values`` over each label (``ndi.mean``'s sums: the same pixels in
    the same raster order), from the labelled pixels already found."""
    rr, cc, lab = pixels
    sums = np.bincount(lab, values[rr, cc].astype(np.float64), minlength=n)
    counts = np.bincount(lab, minlength=n)
    return sums / np.maximum(counts, 1)


def _coords_by_label(pixels: Pixels, n: int) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    """``coords(label)``: that label's (rows, cols) in raster order, from one stable sort of
    the labelled pixels instead of a search of each region's box."""
    rr, cc, lab = pixels
    order = np.argsort(lab, kind="stable")
    starts = np.searchsorted(lab[order], np.arange(n + 1))

    def coords(label: int) -> tuple[np.ndarray, np.ndarray]:
        take = order[starts[label - 1] : starts[label]]
        return rr[take], cc[take]

    return coords


def _contrast(
    flat: np.ndarray,
    labels: np.ndarray,
    objects: list[Any],
    keep: np.ndarray,
    diameters: np.ndarray,
    inside_mean: np.ndarray,
) -> np.ndarray:
    """For each kept label: how much it stands out from a ring of unlabelled pixels around
    it (within half its diameter, and nearer to it than to any other kept region) on the
    flattened image, the larger of (ring 90th percentile - region mean: a bright rim or
    top) and (ring median - region mean: a dark hole). Each ring is found in a window of
    the region's box widened by twice its reach, which holds every region that could be
    nearer to a ring pixel, so the result is that of one whole-image distance transform
    at a fraction of its cost on large fields."""
    n = len(objects)
    lut = np.zeros(n + 1, dtype=np.int64)
    lut[keep] = np.arange(1, keep.size + 1)
    reach = np.maximum(2.0, diameters / 2.0)
    rows, cols = labels.shape
    out = np.zeros(keep.size)
    for k, lab in enumerate(keep):
        sl = objects[lab - 1]
        assert sl is not None
        pad = math.ceil(2.0 * reach[k]) + 1
        r0, r1 = max(0, sl[0].start - pad), min(rows, sl[0].stop + pad)
        c0, c1 = max(0, sl[1].start - pad), min(cols, sl[1].stop + pad)
        window = labels[r0:r1, c0:c1]
        sub = lut[window]  # 0 = background or not kept
        dist, (ir, ic) = ndi.distance_transform_edt(sub == 0, return_indices=True)
        ring = (window == 0) & (sub[ir, ic] == k + 1) & (dist <= reach[k])
        vals = flat[r0:r1, c0:c1][ring]
        if vals.size == 0:
            continue
        i90, i50 = min(vals.size - 1, int(0.9 * (vals.size - 1) + 0.5)), vals.size // 2
        part = np.partition(vals, (i50, i90))  # the two ranks a sort would give
        out[k] = max(part[i90], part[i50]) - inside_mean[k]
    return out


def plausible_field(
    holes: list[HoleCandidate], *, min_count: int = 3, min_fraction: float = 0.6
) -> bool:
    """True when ``holes`` look like an array of holes of one size class: at least
    ``min_count`` of them, and at least ``min_fraction`` of them, within 1.5x of the
    median diameter (etched arrays are uniform; textures and grains are not)."""
    if len(holes) < min_count:
        return False
    med = float(np.median([h.diameter_px for h in holes]))
    similar = [h for h in holes if med / 1.5 <= h.diameter_px <= 1.5 * med]
    return len(similar) >= min_count and len(similar) >= min_fraction * len(holes)
