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
    ``kind`` one of "open", "shallow" (under-etched), "closed" (not opened).
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
    through (the hole's top radius; 0 outside holes).
    """

    depth_nm: np.ndarray
    edge_nm: np.ndarray
    open_nm: np.ndarray


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


def sidewall_profile(p: HoleParams) -> tuple[np.ndarray, np.ndarray]:
    """Depth samples ``z`` (nm, ascending) and the visible radius ``r(z)`` (nm, non-increasing).

    ``r(z) = r_top - z tan(taper) + bow r_top sin(pi z / D)``, then a quarter-circle
    bottom corner of radius ``round_frac * r(D)``, then the running minimum (what is
    visible from above), clipped at 0 (a V-shaped bottom for narrow deep holes).
    """
    r_top = p.cd_nm / 2.0
    depth = max(p.depth_nm, 1e-3)
    z = np.linspace(0.0, depth, _N_LEVELS)
    r = r_top - z * np.tan(np.radians(p.taper_deg)) + p.bow * r_top * np.sin(np.pi * z / depth)
    r_bottom = max(float(r[-1]), 0.0)
    rc = min(p.round_frac * r_bottom, depth)
    if rc > 0:
        zc = depth - rc
        t = np.clip(z - zc, 0.0, None)
        r = r - (rc - np.sqrt(np.clip(rc * rc - t * t, 0.0, None)))
    r = np.minimum.accumulate(np.clip(r, 0.0, None))
    return z, r


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
    return HoleRender(depth.astype(np.float32), edge.astype(np.float32), opening.astype(np.float32))


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
