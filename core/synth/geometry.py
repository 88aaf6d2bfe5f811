"""Hole geometry: random parameters -> depth-below-top profile on a pixel grid.

A contact hole is described by its top critical dimension (CD), ellipticity, a
sidewall taper, bowing, bottom rounding, an off-centre position, a wavy edge
(line-edge roughness) and its etch depth. Everything here is in nanometres and
pixels; the conversion to depth units (DU) happens in :func:`depth_to_du`.

The rendered quantity is what a top-down view can see: at each pixel the depth
``z`` (nm, >= 0) of the first surface met when looking straight down. With
bowing the widest part of the hole hides under the narrower part above it, so
the visible radius at depth ``z`` is the running minimum of the sidewall radius
``r(z')`` for ``z' <= z``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Physical scales of the simulated crops (recorded in synth_meta.json).
PIXEL_SIZE_NM = 2.0  # nm per pixel
NM_PER_DU = 0.5  # nm of depth per depth unit (DU, 0-255 scale)
CROP_SHAPE = (72, 48)  # rows, cols: the 2022 DACON crop size
TOP_DU_RANGE = (150.0, 170.0)  # top surface level in DU (deeper = smaller)
_N_LEVELS = 96  # depth samples of the sidewall profile


@dataclass(frozen=True)
class HoleParams:
    """One hole, in the pixel frame of its cell and in nm.

    ``center_row``/``center_col`` are pixel coordinates in the cell (fractional),
    ``cd_nm`` the top diameter along columns, ``aspect`` rows/cols radius ratio,
    ``depth_nm`` the etch depth at the centre, ``taper_deg`` the sidewall angle
    from vertical (positive narrows downwards), ``bow`` the extra radius at
    mid-depth as a fraction of the top radius, ``round_frac`` the bottom corner
    radius as a fraction of the bottom radius, ``edge_amp``/``edge_phase`` the
    amplitude (fraction of the radius) and phase of the edge harmonics m=2..5,
    ``kind`` one of "open", "shallow" (under-etched), "closed" (not opened),
    ``v_frac`` the fraction of the depth over which a conical (V-shaped) bottom closes
    to a point (0: none; the legacy sampler never draws one).
    """

    center_row: float
    center_col: float
    cd_nm: float
    aspect: float
    depth_nm: float
    taper_deg: float
    bow: float
    round_frac: float
    edge_amp: tuple[float, float, float, float]
    edge_phase: tuple[float, float, float, float]
    kind: str = "open"
    v_frac: float = 0.0

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["edge_amp"] = list(self.edge_amp)
        d["edge_phase"] = list(self.edge_phase)
        return d


@dataclass(frozen=True)
class HoleRender:
    """The rendered geometry of one cell (all float32, shape ``(rows, cols)``).

    ``depth_nm``: visible depth below the local top surface (0 on the top);
    ``edge_nm``: distance from the top edge (rim) of the hole, in nm along the
    surface (radial distance for the top, plus depth on the wall);
    ``open_nm``: radius of the opening that electrons born in the hole escape
    through (the hole's top radius; 0 outside holes);
    ``rho_nm``: the normalised radius of each pixel (nm, the column-radius frame of the
    ellipse after the wavy-edge correction), where the hole's profile ``r(z)`` applies.
    """

    depth_nm: np.ndarray
    edge_nm: np.ndarray
    open_nm: np.ndarray
    rho_nm: np.ndarray | None = None


def sample_hole_params(
    rng: np.random.Generator,
    shape: tuple[int, int] = CROP_SHAPE,
    *,
    pixel_size_nm: float = PIXEL_SIZE_NM,
    max_depth_du: float = 145.0,
    offset_px: float = 3.0,
) -> HoleParams:
    """Draw one hole's parameters (a fixed number of draws, so streams stay aligned)."""
    u = rng.random(16)
    kind_u = u[0]
    kind = "open" if kind_u < 0.88 else ("shallow" if kind_u < 0.97 else "closed")
    # top CD 40..72 nm = 20..36 px at 2 nm/px, never wider than the cell allows
    max_cd = (min(shape[1], shape[0]) - 2 * offset_px - 6) * pixel_size_nm
    cd = min(40.0 + 32.0 * u[1], max_cd)
    aspect = 0.9 + 0.5 * u[2]  # rows radius / cols radius
    if aspect * cd > (shape[0] - 2 * offset_px - 6) * pixel_size_nm:
        aspect = (shape[0] - 2 * offset_px - 6) * pixel_size_nm / cd
    if kind == "open":
        depth_du = 25.0 + (max_depth_du - 25.0) * u[3]
    elif kind == "shallow":
        depth_du = 4.0 + 21.0 * u[3]
    else:
        depth_du = 0.5 + 2.5 * u[3]
    depth = depth_du * NM_PER_DU
    taper = 1.0 + 8.0 * u[4]
    bow = 0.12 * u[5] ** 2
    round_frac = 0.6 * u[6] if kind == "open" else 0.2 + 0.8 * u[6]
    cr = (shape[0] - 1) / 2.0 + offset_px * (2.0 * u[7] - 1.0)
    cc = (shape[1] - 1) / 2.0 + offset_px * (2.0 * u[8] - 1.0)
    edge_amp = tuple(float(a) for a in 0.025 * u[9:13] / np.arange(1, 5))
    phases = rng.random(4) * 2.0 * np.pi
    return HoleParams(
        center_row=float(cr),
        center_col=float(cc),
        cd_nm=float(cd),
        aspect=float(aspect),
        depth_nm=float(depth),
        taper_deg=float(taper),
        bow=float(bow),
        round_frac=float(round_frac),
        edge_amp=edge_amp,  # type: ignore[arg-type]
        edge_phase=tuple(float(p) for p in phases),  # type: ignore[arg-type]
        kind=kind,
    )


#: Ranges of the wide geometry sampler (:func:`sample_wide_hole_params`), recorded in
#: ``synth_meta.json``. Depths are hole depths below the top surface, in DU.
WIDE_GEOMETRY_RANGES: dict[str, object] = {
    "kind_probabilities": {"open": 0.82, "shallow": 0.12, "closed": 0.06},
    "cd_nm": [30.0, 80.0],
    "aspect": [0.7, 1.6],
    "open_depth_du": [20.0, "top_du"],
    "shallow_depth_du": [3.0, 30.0],
    "closed_depth_du": [0.3, 3.0],
    "taper_deg": [0.0, 10.0],
    "bow": [0.0, 0.25],
    "bottom_probabilities": {"flat": 0.45, "bowl": 0.25, "v": 0.30},
    "round_frac": {"flat": [0.0, 0.5], "bowl": [0.8, 1.0], "v": [0.0, 0.3]},
    "v_frac": [0.2, 0.7],
    "offset_px": 3.0,
    "edge_amp_m2": [0.0, 0.04],
}


def sample_wide_hole_params(
    rng: np.random.Generator,
    shape: tuple[int, int] = CROP_SHAPE,
    *,
    top_du: float,
    pixel_size_nm: float = PIXEL_SIZE_NM,
    offset_px: float = 3.0,
) -> HoleParams:
    """Draw one hole from the wide ranges of :data:`WIDE_GEOMETRY_RANGES` (fixed draw count).

    Unlike :func:`sample_hole_params`, open holes reach any depth down to the bottom of
    the 0-255 DU scale (``top_du`` DU below a top surface at ``top_du``), ellipses are
    elongated along either axis, and bottoms are flat, bowls (a quarter-circle corner as
    wide as the bottom) or V-shaped cones.
    """
    u = rng.random(20)
    phases = rng.random(4) * 2.0 * np.pi
    kind = "open" if u[0] < 0.82 else ("shallow" if u[0] < 0.94 else "closed")
    limit_c = (shape[1] - 2 * offset_px - 6) * pixel_size_nm
    limit_r = (shape[0] - 2 * offset_px - 6) * pixel_size_nm
    cd = min(30.0 + 50.0 * u[1], limit_c)
    aspect = 0.7 + 0.9 * u[2]
    aspect = min(aspect, limit_r / cd)
    if kind == "open":
        depth_du = 20.0 + (max(top_du, 21.0) - 20.0) * u[3]
    elif kind == "shallow":
        depth_du = 3.0 + 27.0 * u[3]
    else:
        depth_du = 0.3 + 2.7 * u[3]
    v_frac = 0.0
    if kind != "open":
        round_frac = 0.2 + 0.8 * u[6]
    elif u[7] < 0.45:  # flat bottom with rounded corners
        round_frac = 0.5 * u[6]
    elif u[7] < 0.70:  # bowl
        round_frac = 0.8 + 0.2 * u[6]
    else:  # V-shaped (conical) bottom
        round_frac = 0.3 * u[6]
        v_frac = 0.2 + 0.5 * u[8]
    cr = (shape[0] - 1) / 2.0 + offset_px * (2.0 * u[9] - 1.0)
    cc = (shape[1] - 1) / 2.0 + offset_px * (2.0 * u[10] - 1.0)
    edge_amp = tuple(float(a) for a in 0.04 * u[11:15] / np.arange(1, 5))
    return HoleParams(
        center_row=float(cr),
        center_col=float(cc),
        cd_nm=float(cd),
        aspect=float(aspect),
        depth_nm=float(depth_du * NM_PER_DU),
        taper_deg=float(10.0 * u[4]),
        bow=float(0.25 * u[5] ** 2),
        round_frac=float(round_frac),
        edge_amp=edge_amp,  # type: ignore[arg-type]
        edge_phase=tuple(float(ph) for ph in phases),  # type: ignore[arg-type]
        kind=kind,
        v_frac=float(v_frac),
    )


def sidewall_radius(p: HoleParams, n_levels: int = _N_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Depth samples ``z`` (nm, ascending) and the true sidewall radius ``r(z)`` (nm, >= 0).

    ``r(z) = r_top - z tan(taper) + bow r_top sin(pi z / D)``, then a quarter-circle
    bottom corner of radius ``round_frac * r(D)``, then (``v_frac > 0``) a cone closing
    linearly to 0 over the last ``v_frac * D``, clipped at 0. With bowing it can grow
    with depth (an overhang): what is visible from above is :func:`sidewall_profile`.
    """
    r_top = p.cd_nm / 2.0
    depth = max(p.depth_nm, 1e-3)
    z = np.linspace(0.0, depth, n_levels)
    r = r_top - z * np.tan(np.radians(p.taper_deg)) + p.bow * r_top * np.sin(np.pi * z / depth)
    r_bottom = max(float(r[-1]), 0.0)
    rc = min(p.round_frac * r_bottom, depth)
    if rc > 0:
        zc = depth - rc
        t = np.clip(z - zc, 0.0, None)
        r = r - (rc - np.sqrt(np.clip(rc * rc - t * t, 0.0, None)))
    if p.v_frac > 0:
        r = r * np.clip((depth - z) / (p.v_frac * depth), 0.0, 1.0)
    return z, np.clip(r, 0.0, None)


def sidewall_profile(p: HoleParams) -> tuple[np.ndarray, np.ndarray]:
    """Depth samples ``z`` (nm, ascending) and the visible radius ``r(z)`` (nm, non-increasing).

    The running minimum of :func:`sidewall_radius` (what is visible from above; a
    V-shaped bottom where it reaches 0).
    """
    z, r = sidewall_radius(p)
    return z, np.minimum.accumulate(r)


def render_hole(
    p: HoleParams, shape: tuple[int, int] = CROP_SHAPE, *, pixel_size_nm: float = PIXEL_SIZE_NM
) -> HoleRender:
    """Render one hole into a cell of ``shape`` pixels (see :class:`HoleRender`)."""
    rows, cols = shape
    y = (np.arange(rows, dtype=np.float64)[:, None] - p.center_row) * pixel_size_nm
    x = (np.arange(cols, dtype=np.float64)[None, :] - p.center_col) * pixel_size_nm
    # elliptical radius in the cols-radius frame, with a wavy edge
    rho = np.sqrt(x * x + (y / p.aspect) ** 2)
    phi = np.arctan2(y, x)
    wobble = np.ones_like(rho)
    for m, (a, ph) in enumerate(zip(p.edge_amp, p.edge_phase, strict=True), start=2):
        wobble = wobble + a * np.cos(m * phi + ph)
    rho = rho / wobble
    z_levels, r_levels = sidewall_profile(p)
    r_top = float(r_levels[0])
    # visible depth: invert the non-increasing r(z); interp needs ascending x
    depth = np.interp(rho, r_levels[::-1], z_levels[::-1], left=z_levels[-1], right=0.0)
    depth = np.where(rho >= r_top, 0.0, depth)
    edge = np.abs(rho - r_top) + depth
    opening = np.where(depth > 0.0, r_top * np.sqrt(p.aspect), 0.0)
    return HoleRender(
        depth.astype(np.float32),
        edge.astype(np.float32),
        opening.astype(np.float32),
        rho.astype(np.float32),
    )


def surface_roughness(
    rng: np.random.Generator, shape: tuple[int, int], *, amplitude_nm: float, corr_px: float
) -> np.ndarray:
    """A smooth random height field (nm, zero mean, std ~ ``amplitude_nm``), float32."""
    noise = rng.standard_normal(shape)
    f = np.fft.rfft2(noise)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    f *= np.exp(-2.0 * (np.pi * corr_px) ** 2 * (ky * ky + kx * kx))
    field = np.fft.irfft2(f, s=shape)
    std = float(field.std())
    if std > 0:
        field *= amplitude_nm / std
    return field.astype(np.float32)


def depth_to_du(
    depth_nm: np.ndarray, top_du: float, surface_nm: np.ndarray | float = 0.0
) -> np.ndarray:
    """Height map in DU: ``top_du + surface/NM_PER_DU - depth/NM_PER_DU`` (deeper = smaller)."""
    return (top_du + (np.asarray(surface_nm) - depth_nm) / NM_PER_DU).astype(np.float32)
