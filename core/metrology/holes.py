"""Per-hole metrology on the depth-below-top map: centre, top and bottom CD, ellipticity,
depth +- U, flags, outlines; field statistics and histograms. Definitions in
``docs/metrology.md``; every length is measured on the image's own pixel grid.

For each hole (a centre from field mode's detector, or found here: :func:`find_centres`):

- the map ``s`` = depth below top smoothed with a :data:`SMOOTH_PX` px Gaussian;
- the hole region: the connected part of ``s > delta`` (the top estimate's threshold)
  that holds the centre (else the deepest such part within a quarter window of it);
- **depth** ``D``: the largest ``s`` in the region (the bottom), at the bottom point;
- **top CD**: the equivalent-circle diameter ``2 sqrt(A / pi)`` of the area ``A`` enclosed
  by the iso-line ``s = TOP_LEVEL * D`` around the bottom point (marching squares, sub-pixel);
  **bottom CD**: the same at ``s = BOTTOM_LEVEL * D``;
- **ellipticity**: major / minor axis (>= 1) of the top-CD area's second moments;
- **U** (k = 2): the calibrated per-hole interval half-width (the card's ``hole`` scale on
  the raw uncertainty at the bottom point), inflated out of domain; None uncalibrated;
- **flags**: ``out_of_domain`` (the image's verdict), ``touching_border`` (the top outline
  reaches the image border: a cut hole, CDs not reported), ``merged`` (the outline leaves
  the analysis window: not one hole), ``closed`` (D below ``closed_below_du``: CDs not
  reported), ``under_etched`` (D below ``under_etched_fraction`` x the reference depth:
  the target depth when given, else the median depth of the image's holes when there are
  at least 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from core.metrology.fieldstats import FieldStats, Histogram, field_stats, histogram
from core.metrology.surface import DepthBelowTop

SMOOTH_PX = 1.0
TOP_LEVEL = 0.1
BOTTOM_LEVEL = 0.9
MAX_OUTLINE_POINTS = 256
#: Quantities with field statistics and histograms, and their units (``None``: the depth unit).
QUANTITIES: dict[str, str | None] = {
    "depth": None,
    "top_cd": "nm",
    "bottom_cd": "nm",
    "ellipticity": "1",
}


@dataclass(frozen=True)
class MetrologySettings:
    """Thresholds of the hole flags (DU and fractions)."""

    closed_below_du: float = 4.0
    under_etched_fraction: float = 0.5
    target_depth_du: float | None = None


@dataclass
class HoleMeasurement:
    """One hole, in the image's own pixel grid. Depths in the table's unit, CDs in px and
    nm (nm None without a pixel size), outlines as (n, 2) [row, col] arrays ((0, 2): none)."""

    id: int
    row: float
    col: float
    depth: float
    depth_u: float | None
    top_cd_px: float | None
    bottom_cd_px: float | None
    top_cd_nm: float | None
    bottom_cd_nm: float | None
    ellipticity: float | None
    bottom_row: float
    bottom_col: float
    flags: list[str] = field(default_factory=list)
    outline_top: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))
    outline_bottom: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))

    def as_row(self) -> dict[str, Any]:
        """The CSV row (column names of :data:`HOLE_TABLE_COLUMNS`)."""

        def r(v: float | None, digits: int = 3) -> Any:
            return "" if v is None or not math.isfinite(v) else round(v, digits)

        return {
            "id": self.id,
            "row_px": r(self.row),
            "col_px": r(self.col),
            "depth": r(self.depth, 4),
            "depth_u_k2": r(self.depth_u, 4),
            "top_cd_nm": r(self.top_cd_nm),
            "bottom_cd_nm": r(self.bottom_cd_nm),
            "top_cd_px": r(self.top_cd_px),
            "bottom_cd_px": r(self.bottom_cd_px),
            "ellipticity": r(self.ellipticity, 4),
            "flags": ";".join(self.flags),
        }


HOLE_TABLE_COLUMNS = (
    "id",
    "row_px",
    "col_px",
    "depth",
    "depth_u_k2",
    "top_cd_nm",
    "bottom_cd_nm",
    "top_cd_px",
    "bottom_cd_px",
    "ellipticity",
    "flags",
)


@dataclass
class HoleTable:
    """Every hole of one image, with field statistics and histograms per quantity
    (:data:`QUANTITIES`; holes touching the border or merged are left out of them)."""

    holes: list[HoleMeasurement]
    depth_unit: str
    pixel_size_nm: float | None
    calibrated: bool
    stats: dict[str, FieldStats]
    histograms: dict[str, Histogram]
    settings: MetrologySettings

    def units(self) -> dict[str, str]:
        """Column -> unit, for the CSV header and the report."""
        return {
            "row_px": "px",
            "col_px": "px",
            "depth": self.depth_unit,
            "depth_u_k2": self.depth_unit,
            "top_cd_nm": "nm",
            "bottom_cd_nm": "nm",
            "top_cd_px": "px",
            "bottom_cd_px": "px",
            "ellipticity": "major/minor",
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "depth_unit": self.depth_unit,
            "pixel_size_nm": self.pixel_size_nm,
            "calibrated": self.calibrated,
            "n_holes": len(self.holes),
            "stats": {k: v.as_dict() for k, v in self.stats.items()},
            "histograms": {k: v.as_dict() for k, v in self.histograms.items()},
        }


def find_centres(
    dbt_du: np.ndarray,
    delta: float,
    window: tuple[int, int],
    *,
    min_depth_du: float,
    smoothed: np.ndarray | None = None,
) -> list[tuple[float, float]]:
    """Hole centres found in a depth-below-top map: the deepest point of each connected
    region deeper than ``delta`` that reaches ``min_depth_du`` and covers at least a circle
    of 10 % of the window's shorter side. When none does (a closed hole), the deepest
    point of the central half of the map: a crop always shows one structure.
    ``smoothed``: the map after the :data:`SMOOTH_PX` Gaussian, when the caller has it."""
    s = smoothed
    if s is None:
        s = ndi.gaussian_filter(np.asarray(dbt_du, dtype=np.float64), SMOOTH_PX, mode="nearest")
    labels, n = ndi.label(s > delta)
    min_area = math.pi * (0.05 * min(window)) ** 2
    centres: list[tuple[float, float]] = []
    if n:
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        # each region's deepest point from its own box (the first in reading order on
        # ties, as ndi.maximum_position): no sort of the whole map
        for lab, box in enumerate(ndi.find_objects(labels), start=1):
            if box is None or areas[lab] < min_area:
                continue
            inside = np.where(labels[box] == lab, s[box], -np.inf)
            at = np.unravel_index(int(np.argmax(inside)), inside.shape)
            if inside[at] >= min_depth_du:
                centres.append((float(at[0] + box[0].start), float(at[1] + box[1].start)))
    if not centres:
        rows, cols = s.shape
        r0, c0 = rows // 4, cols // 4
        core = s[r0 : rows - r0 or rows, c0 : cols - c0 or cols]
        r, c = np.unravel_index(int(np.argmax(core)), core.shape)
        centres = [(float(r + r0), float(c + c0))]
    centres.sort(key=lambda rc: (round(rc[0] / max(1, min(window))), rc[1]))
    return centres


def _region(
    s: np.ndarray, delta: float, centre: tuple[int, int], reach: float
) -> np.ndarray | None:
    labels, n = ndi.label(s > delta)
    if n == 0:
        return None
    lab = int(labels[centre])
    if lab == 0:
        rr, cc = np.ogrid[: s.shape[0], : s.shape[1]]
        near = (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= reach * reach
        cand = labels[near & (labels > 0)]
        if cand.size == 0:
            return None
        vals = ndi.maximum(s, labels, index=np.unique(cand))
        lab = int(np.unique(cand)[int(np.argmax(vals))])
    return labels == lab


def _outline(
    s: np.ndarray, level: float, point: tuple[int, int]
) -> tuple[np.ndarray | None, bool, np.ndarray | None]:
    """The iso-line ``s = level`` enclosing ``point`` in window ``s`` (closed by a pad
    below every level), whether it touches the window's edge, and the region of
    ``s > level`` (4-connected, as :func:`scipy.ndimage.label` with its default structure
    gives it: what :func:`_shape` measures) that holds ``point`` (None when ``point`` is
    not above ``level``).

    When ``point`` is above ``level`` that line is the outer boundary of its region (4-
    connected, as marching squares joins the high side), so the contours are traced only
    in the region's box widened by 1 px, other regions lowered below the level: the same
    line, without tracing every other structure in the window (lines and textures make
    dozens)."""
    rows, cols = s.shape
    r0, r1, c0, c1 = 0, rows, 0, cols
    region = None
    if s[point] > level:
        labels, _ = ndi.label(s > level)
        region = labels == labels[point]
        rr = np.flatnonzero(region.any(axis=1))
        cc = np.flatnonzero(region.any(axis=0))
        r0, r1 = max(0, int(rr[0]) - 1), min(rows, int(rr[-1]) + 2)
        c0, c1 = max(0, int(cc[0]) - 1), min(cols, int(cc[-1]) + 2)
        # other regions in the box touch this one at most diagonally, where marching
        # squares keeps them apart: lowering them leaves its boundary as it is
        box = (slice(r0, r1), slice(c0, c1))
        values = np.where(region[box] | (labels[box] == 0), s[box], -1e9)
    else:
        values = s
    pad = np.pad(values, 1, mode="constant", constant_values=-1e9)
    p = (point[0] - r0 + 1, point[1] - c0 + 1)
    best = None
    for contour in measure.find_contours(pad, level):
        if len(contour) < 4 or not measure.points_in_poly(np.array([p], float), contour)[0]:
            continue
        area = abs(_area(contour))
        if best is None or area < abs(_area(best)):
            best = contour
    if best is None:
        return None, False, region
    best = best + np.array([r0 - 1.0, c0 - 1.0])
    touches = bool(
        np.any(best[:, 0] <= 0.0)
        or np.any(best[:, 1] <= 0.0)
        or np.any(best[:, 0] >= rows - 1.0)
        or np.any(best[:, 1] >= cols - 1.0)
    )
    return best, touches, region


def _area(poly: np.ndarray) -> float:
    """Signed area of the closed polygon ``poly`` (rows, cols) by the shoelace formula."""
    y, x = poly[:, 0], poly[:, 1]
    inner = float(np.dot(x[:-1], y[1:]) - np.dot(y[:-1], x[1:]))
    return 0.5 * (inner + float(x[-1] * y[0] - y[-1] * x[0]))


def _shape(mask: np.ndarray) -> tuple[float, float, float | None]:
    """Centroid (row, col) of ``mask`` and its ellipticity: sqrt of the ratio of the
    eigenvalues of its second moments (+1/12 px^2: a pixel's own extent), i.e. major /
    minor axis of the equivalent ellipse; None below 5 pixels."""
    rr, cc = np.nonzero(mask)
    r0, c0 = float(rr.mean()), float(cc.mean())
    if rr.size < 5:
        return r0, c0, None
    dr, dc = rr - r0, cc - c0
    a, b, c = np.mean(dr * dr) + 1 / 12, np.mean(dc * dc) + 1 / 12, np.mean(dr * dc)
    root = math.sqrt(((a - b) / 2) ** 2 + c * c)
    l1, l2 = (a + b) / 2 + root, (a + b) / 2 - root
    return r0, c0, (math.sqrt(l1 / l2) if l2 > 0 else None)


def _polygon(poly: np.ndarray | None, offset: tuple[int, int]) -> np.ndarray:
    """``poly`` moved by ``offset``, at most :data:`MAX_OUTLINE_POINTS` points, rounded to
    0.01 px; (0, 2) when None."""
    if poly is None:
        return np.empty((0, 2))
    step = max(1, math.ceil(len(poly) / MAX_OUTLINE_POINTS))
    return np.round(poly[::step] + np.asarray(offset, dtype=np.float64), 2)


@dataclass
class _Context:
    s: np.ndarray  # smoothed depth below top (DU): regions, bottom point, depth
    d: np.ndarray  # depth below top as predicted (DU): outlines and CDs
    delta: float
    half: tuple[int, int]
    pixel_size_nm: float | None
    factor: float


def _measure_one(
    ctx: _Context, hid: int, centre: tuple[float, float], raw: np.ndarray | None
) -> tuple[HoleMeasurement, float]:
    """One hole and its raw uncertainty at the bottom point (DU)."""
    rows, cols = ctx.s.shape
    hr, hc = ctx.half
    cr = min(max(round(centre[0]), 0), rows - 1)
    cc = min(max(round(centre[1]), 0), cols - 1)
    r0, r1 = max(0, cr - hr), min(rows, cr + hr + 1)
    c0, c1 = max(0, cc - hc), min(cols, cc + hc + 1)
    win = ctx.s[r0:r1, c0:c1]
    sharp = ctx.d[r0:r1, c0:c1]
    local = (cr - r0, cc - c0)
    region = _region(win, ctx.delta, local, 0.25 * min(2 * hr, 2 * hc))
    point: tuple[int, int] = local
    if region is not None:
        masked = np.where(region, win, -np.inf)
        pr, pc = np.unravel_index(int(np.argmax(masked)), win.shape)
        point = (int(pr), int(pc))
    depth_du = float(max(win[point], 0.0))
    bottom = (int(point[0]) + r0, int(point[1]) + c0)
    u_raw = float(raw[bottom]) if raw is not None else math.nan
    m = HoleMeasurement(
        id=hid,
        row=float(centre[0]),
        col=float(centre[1]),
        depth=depth_du * ctx.factor,
        depth_u=None,
        top_cd_px=None,
        bottom_cd_px=None,
        top_cd_nm=None,
        bottom_cd_nm=None,
        ellipticity=None,
        bottom_row=float(bottom[0]),
        bottom_col=float(bottom[1]),
    )
    if region is None or depth_du <= ctx.delta:
        return m, u_raw
    top_level = max(TOP_LEVEL * depth_du, 0.5 * ctx.delta)
    top_poly, top_touch, top_region = _outline(sharp, top_level, point)
    bot_poly, _, _ = _outline(sharp, BOTTOM_LEVEL * depth_du, point)
    m.outline_top = _polygon(top_poly, (r0, c0))
    m.outline_bottom = _polygon(bot_poly, (r0, c0))
    if top_touch:
        at_image_edge = r0 == 0 or c0 == 0 or r1 == rows or c1 == cols
        m.flags.append("touching_border" if at_image_edge else "merged")
        return m, u_raw
    if top_poly is not None:
        m.top_cd_px = 2.0 * math.sqrt(abs(_area(top_poly)) / math.pi)
        if top_region is not None:
            r, c, m.ellipticity = _shape(top_region)
            m.row, m.col = r + r0, c + c0
    if bot_poly is not None:
        m.bottom_cd_px = 2.0 * math.sqrt(abs(_area(bot_poly)) / math.pi)
    px = ctx.pixel_size_nm
    m.top_cd_nm = m.top_cd_px * px if (px and m.top_cd_px is not None) else None
    m.bottom_cd_nm = m.bottom_cd_px * px if (px and m.bottom_cd_px is not None) else None
    return m, u_raw


def measure_holes(
    dbt: DepthBelowTop,
    *,
    window: tuple[int, int],
    centres: Sequence[tuple[float, float]] | None = None,
    raw_uncertainty: np.ndarray | None = None,
    hole_sigma: Any = None,
    inflation: float = 1.0,
    out_of_domain: bool = False,
    pixel_size_nm: float | None = None,
    settings: MetrologySettings | None = None,
) -> HoleTable:
    """Measure every hole of one image (see the module docstring).

    ``window``: the model window on the image's grid (rows, cols); ``centres``: field
    mode's hole centres (None: :func:`find_centres`); ``raw_uncertainty``: the raw map
    (DU); ``hole_sigma``: a :class:`~core.trust.uncertainty.ConformalScale` for per-hole
    depth (None: U not given); ``inflation``: the out-of-domain factor on U."""
    settings = settings or MetrologySettings()
    s = ndi.gaussian_filter(dbt.du.astype(np.float64), SMOOTH_PX, mode="nearest")
    delta = dbt.top.delta
    if centres is None:
        centres = find_centres(
            dbt.du, delta, window, min_depth_du=settings.closed_below_du, smoothed=s
        )
    half = (max(4, round(0.75 * window[0])), max(4, round(0.75 * window[1])))
    ctx = _Context(s, dbt.du.astype(np.float64), delta, half, pixel_size_nm, dbt.factor)
    holes: list[HoleMeasurement] = []
    for i, centre in enumerate(centres, start=1):
        m, u_raw = _measure_one(ctx, i, centre, raw_uncertainty)
        if hole_sigma is not None and math.isfinite(u_raw):
            m.depth_u = float(hole_sigma.k * hole_sigma.sigma(u_raw)) * inflation * ctx.factor
        holes.append(m)
    _flag(holes, settings, dbt.factor, out_of_domain)
    usable = [h for h in holes if not ({"touching_border", "merged"} & set(h.flags))]
    values: dict[str, list[float | None]] = {
        "depth": [h.depth for h in usable],
        "top_cd": [h.top_cd_nm if pixel_size_nm else h.top_cd_px for h in usable],
        "bottom_cd": [h.bottom_cd_nm if pixel_size_nm else h.bottom_cd_px for h in usable],
        "ellipticity": [h.ellipticity for h in usable],
    }
    stats = {k: field_stats(v) for k, v in values.items()}
    hists = {k: histogram(v) for k, v in values.items()}
    return HoleTable(holes, dbt.unit, pixel_size_nm, hole_sigma is not None, stats, hists, settings)


def _flag(
    holes: list[HoleMeasurement], settings: MetrologySettings, factor: float, ood: bool
) -> None:
    closed = settings.closed_below_du * factor
    open_depths = [h.depth for h in holes if h.depth >= closed and not h.flags]
    if settings.target_depth_du is not None:
        reference: float | None = settings.target_depth_du * factor
    elif len(open_depths) >= 3:
        reference = float(np.median(open_depths))
    else:
        reference = None
    for h in holes:
        if h.depth < closed:
            h.flags.append("closed")
            h.top_cd_px = h.bottom_cd_px = h.top_cd_nm = h.bottom_cd_nm = None
            h.ellipticity = None
        elif reference is not None and h.depth < settings.under_etched_fraction * reference:
            h.flags.append("under_etched")
        if ood:
            h.flags.insert(0, "out_of_domain")
