"""Contrast families: physically different ways a top-down SEM turns a hole into grey levels.

Each family maps a :class:`Scene` (the rendered geometry of one image) and its drawn
parameters to the emitted signal, normalised so the flat top surface is 1; the shared
probe/detector/noise chain of :mod:`core.synth.detector` follows. Parameters are drawn
uniformly from each family's ranges, once per image. ``docs/simulator.md`` has the
equations; in brief (``d`` depth below the top, ``r`` opening radius, ``theta`` the
local slope, ``e`` the distance from the rim):

``analytic``
    Today's model: ``(sec(theta) (1 + tilt * toward) + edge_gain e^(-e/l)) * (f + b (1 - f))``
    with ``f = r^2 / (r^2 + d^2)``.
``line-of-sight``
    The same yield terms, but ``f`` is the cosine emitter's escape computed from the 3-D
    profile (:mod:`core.synth.lineofsight`) plus one wall re-emission bounce.
``backscatter``
    A BSE/in-lens detector: weak slope and edge terms, material (Z) contrast of the
    landing layer at the bottom of opened holes, attenuation ``exp(-d / bse_length_nm)``,
    shadowing towards a side detector.
``charging``
    The analytic SE model with charge: bottoms darken with accumulated dose and aspect
    ratio, a halo blooms outside the rim with dose, streaks trail each hole along the fast
    scan axis, and the frame's brightness drifts along the slow axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.synth import geometry as geo
from core.synth import imaging as im
from core.synth import lineofsight as los
from core.synth.detector import CommonParams

DOSE_REF = 50.0  # e-/px: charging effects scale with dose / DOSE_REF


@dataclass
class Scene:
    """The geometry of one image, per pixel (float64 ``(rows, cols)``).

    ``height_nm`` surface height (up positive); ``depth_nm`` visible depth below the
    hole's top (0 on the top); ``edge_nm`` distance from the rim; ``open_nm`` opening
    radius (0 outside holes); ``floor`` landing-layer weight (1 on the bottom of opened
    holes); ``order`` raster-scan exposure order within each hole (0 just before its first
    pixel is scanned, 1 at its last; 0 outside); ``los_direct``/``los_bounce`` the
    line-of-sight escape maps (None unless asked for); ``grain`` a unit-variance smooth
    texture of the top surface (None: no texture).
    """

    height_nm: np.ndarray
    depth_nm: np.ndarray
    edge_nm: np.ndarray
    open_nm: np.ndarray
    floor: np.ndarray
    order: np.ndarray
    pixel_size_nm: float = geo.PIXEL_SIZE_NM
    los_direct: np.ndarray | None = None
    los_bounce: np.ndarray | None = None
    grain: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth_nm.shape  # type: ignore[return-value]

    @classmethod
    def empty(
        cls, shape: tuple[int, int], pixel_size_nm: float, *, with_los: bool = False
    ) -> Scene:
        z = np.zeros(shape)
        return cls(
            height_nm=z.copy(),
            depth_nm=z.copy(),
            edge_nm=np.full(shape, 1e3),
            open_nm=z.copy(),
            floor=z.copy(),
            order=z.copy(),
            pixel_size_nm=pixel_size_nm,
            los_direct=np.ones(shape) if with_los else None,
            los_bounce=z.copy() if with_los else None,
        )

    def paste(self, cell: Scene, r0: int, c0: int) -> None:
        """Copy ``cell`` into this scene at row ``r0``, column ``c0``."""
        sl = (slice(r0, r0 + cell.shape[0]), slice(c0, c0 + cell.shape[1]))
        for name in ("height_nm", "depth_nm", "edge_nm", "open_nm", "floor", "order"):
            getattr(self, name)[sl] = getattr(cell, name)
        if self.los_direct is not None and cell.los_direct is not None:
            self.los_direct[sl] = cell.los_direct
        if self.los_bounce is not None and cell.los_bounce is not None:
            self.los_bounce[sl] = cell.los_bounce


def hole_scene(
    p: geo.HoleParams,
    shape: tuple[int, int],
    surface_nm: np.ndarray,
    *,
    pixel_size_nm: float = geo.PIXEL_SIZE_NM,
    with_los: bool = False,
) -> Scene:
    """The scene of one cell holding hole ``p`` on a top surface of heights ``surface_nm``."""
    r = geo.render_hole(p, shape, pixel_size_nm=pixel_size_nm)
    depth = r.depth_nm.astype(np.float64)
    inside = depth > 0
    floor = np.zeros(shape)
    if p.kind == "open":  # the etch reached the landing layer: its material at the bottom
        floor = np.clip((depth - 0.85 * p.depth_nm) / (0.1 * p.depth_nm), 0.0, 1.0)
    flat = inside.ravel()
    count = int(flat.sum())
    order = np.zeros(shape)
    if count:
        order = (np.cumsum(flat) * flat / count).reshape(shape)
    scene = Scene(
        height_nm=surface_nm.astype(np.float64) - depth,
        depth_nm=depth,
        edge_nm=r.edge_nm.astype(np.float64),
        open_nm=r.open_nm.astype(np.float64),
        floor=floor,
        order=order,
        pixel_size_nm=pixel_size_nm,
    )
    if with_los:
        assert r.rho_nm is not None
        table = los.escape_table(p)
        scene.los_direct, scene.los_bounce = table.maps(r.rho_nm.astype(np.float64), inside)
    return scene


# ---------------------------------------------------------------------------- signals


def _se_yield_terms(s: Scene, fp: dict[str, float]) -> np.ndarray:
    """``sec(theta) (1 + tilt * toward) + edge_gain exp(-e / l)`` (analytic-style SE yield)."""
    gy, gx = np.gradient(s.height_nm, s.pixel_size_nm)
    tan = np.hypot(gx, gy)
    slope = im.secant_yield(tan)
    a = np.radians(fp["detector_angle_deg"])
    toward = -(gx * np.cos(a) - gy * np.sin(a)) / np.sqrt(1.0 + tan * tan)
    slope = slope * (1.0 + fp["detector_tilt"] * toward)
    return slope + fp["edge_gain"] * np.exp(-s.edge_nm / fp["edge_length_nm"])


def analytic_signal(s: Scene, c: CommonParams, fp: dict[str, float]) -> np.ndarray:
    """Today's analytic model (:func:`core.synth.imaging.se_signal`) with drawn knobs."""
    return im.se_signal(
        s.height_nm,
        s.depth_nm,
        s.edge_nm,
        s.open_nm,
        pixel_size_nm=s.pixel_size_nm,
        edge_gain=fp["edge_gain"],
        edge_length_nm=fp["edge_length_nm"],
        background=fp["background"],
        detector_tilt=fp["detector_tilt"],
        detector_angle_deg=fp["detector_angle_deg"],
    )


def line_of_sight_signal(s: Scene, c: CommonParams, fp: dict[str, float]) -> np.ndarray:
    """SE yield terms times the 3-D line-of-sight escape ``F_direct + reemission F_bounce``."""
    if s.los_direct is None or s.los_bounce is None:
        raise ValueError("the line-of-sight family needs a scene built with with_los=True")
    f = np.clip(s.los_direct + fp["reemission"] * s.los_bounce, 0.0, 1.0)
    b = fp["background"]
    return _se_yield_terms(s, fp) * (f + b * (1.0 - f))


def shadow_lit(s: Scene, elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """1 where a straight path towards a side detector (``elevation_deg`` above the
    horizon, ``azimuth_deg`` in the image: 0 = +cols, 90 = -rows) leaves the hole
    through its opening, 0 where the wall blocks it (bilinear at the opening's edge)."""
    rows, cols = s.shape
    reach = s.depth_nm / np.tan(np.radians(elevation_deg)) / s.pixel_size_nm  # px
    a = np.radians(azimuth_deg)
    rr = np.clip(np.arange(rows)[:, None] - reach * np.sin(a), 0.0, rows - 1.0)
    cc = np.clip(np.arange(cols)[None, :] + reach * np.cos(a), 0.0, cols - 1.0)
    opening = (s.depth_nm > 0).astype(np.float64)
    r0 = np.minimum(np.floor(rr).astype(int), rows - 2) if rows > 1 else np.zeros_like(rr, int)
    c0 = np.minimum(np.floor(cc).astype(int), cols - 2) if cols > 1 else np.zeros_like(cc, int)
    fr, fc = rr - r0, cc - c0
    r1, c1 = np.minimum(r0 + 1, rows - 1), np.minimum(c0 + 1, cols - 1)
    lit = (
        opening[r0, c0] * (1 - fr) * (1 - fc)
        + opening[r0, c1] * (1 - fr) * fc
        + opening[r1, c0] * fr * (1 - fc)
        + opening[r1, c1] * fr * fc
    )
    return np.where(s.depth_nm > 0, lit, 1.0)


def backscatter_signal(s: Scene, c: CommonParams, fp: dict[str, float]) -> np.ndarray:
    """BSE-dominated detector (see ``docs/simulator.md``)::

    ((1 + k (sec - 1)) (1 + tilt * toward) + edge_gain e^(-e/l))
        * (1 + (z_contrast - 1) floor) * exp(-d / bse_length_nm) * (1 - shadow (1 - lit))
    """
    gy, gx = np.gradient(s.height_nm, s.pixel_size_nm)
    tan = np.hypot(gx, gy)
    slope = 1.0 + fp["slope_weight"] * (im.secant_yield(tan) - 1.0)
    a = np.radians(fp["detector_angle_deg"])
    toward = -(gx * np.cos(a) - gy * np.sin(a)) / np.sqrt(1.0 + tan * tan)
    yield_ = slope * (1.0 + fp["detector_tilt"] * toward)
    yield_ = yield_ + fp["edge_gain"] * np.exp(-s.edge_nm / fp["edge_length_nm"])
    material = 1.0 + (fp["z_contrast"] - 1.0) * s.floor
    atten = np.exp(-s.depth_nm / fp["bse_length_nm"])
    lit = shadow_lit(s, fp["shadow_elevation_deg"], fp["detector_angle_deg"])
    return yield_ * material * atten * (1.0 - fp["shadow_strength"] * (1.0 - lit))


def charge_factors(s: Scene, c: CommonParams, fp: dict[str, float]) -> dict[str, np.ndarray]:
    """The charging terms of one image (all dimensionless, ``q = dose / DOSE_REF``):

    ``darkening = exp(-charge_rate q (precharge + order) d / (d + r))`` on hole pixels,
    ``halo = halo_gain q exp(-e / halo_length_nm)`` on the top surface,
    ``streak = streak_amp q T`` with ``T`` the hole mask filtered along the fast axis by
    ``T[j] = a T[j-1] + (1 - a) hole[j]``, ``a = exp(-1 / streak_length_px)``, off holes,
    ``frame = 1 - frame_drift q (1 - exp(-y / frame_drift_tau))``, ``y`` in 0..1 down the frame.
    """
    q = c.dose / DOSE_REF
    hole = s.depth_nm > 0
    d, r = s.depth_nm, s.open_nm
    aspect = np.where(hole, d / np.where(hole, d + r, 1.0), 0.0)
    darkening = np.exp(-fp["charge_rate"] * q * (fp["precharge"] + s.order) * aspect)
    halo = np.where(hole, 0.0, fp["halo_gain"] * q * np.exp(-s.edge_nm / fp["halo_length_nm"]))
    trail = im.scan_lag(hole.astype(np.float64), float(np.exp(-1.0 / fp["streak_length_px"])))
    streak = np.where(hole, 0.0, fp["streak_amp"] * q * trail)
    y = np.linspace(0.0, 1.0, s.shape[0])[:, None]
    frame = 1.0 - fp["frame_drift"] * q * (1.0 - np.exp(-y / fp["frame_drift_tau"]))
    return {"darkening": darkening, "halo": halo, "streak": streak, "frame": frame}


def charging_signal(s: Scene, c: CommonParams, fp: dict[str, float]) -> np.ndarray:
    """``(analytic * darkening + halo) * (1 + streak) * frame``, clipped at 0."""
    t = charge_factors(s, c, fp)
    base = analytic_signal(s, c, fp)
    out = (base * t["darkening"] + t["halo"]) * (1.0 + t["streak"]) * t["frame"]
    return np.clip(out, 0.0, None)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Family:
    """A contrast family: its knobs ``params`` (name -> (low, high, unit)) and signal."""

    name: str
    summary: str
    params: dict[str, tuple[float, float, str]]
    signal: Callable[[Scene, CommonParams, dict[str, float]], np.ndarray]
    needs_los: bool = False

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """Uniform draws from the ranges (one uniform per parameter, in order)."""
        u = rng.random(len(self.params))
        items = zip(self.params.items(), u, strict=True)
        return {k: float(lo + (hi - lo) * x) for (k, (lo, hi, _)), x in items}

    def describe(self) -> dict[str, object]:
        return {
            "summary": self.summary,
            "params": {k: {"range": [lo, hi], "unit": u} for k, (lo, hi, u) in self.params.items()},
        }


_SE: dict[str, tuple[float, float, str]] = {
    "edge_gain": (0.4, 1.2, "1 (flat top = 1)"),
    "edge_length_nm": (2.0, 4.5, "nm"),
    "background": (0.02, 0.12, "1"),
    "detector_tilt": (0.0, 0.35, "1"),
    "detector_angle_deg": (0.0, 360.0, "deg"),
}

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "analytic",
            "secant-law slope yield, exponential bright rim, escape r^2/(r^2+d^2), "
            "backscatter floor, side-detector shading",
            dict(_SE),
            analytic_signal,
        ),
        Family(
            "line-of-sight",
            "SE yield terms times the cosine emitter's escape through the opening computed "
            "from the 3-D profile, plus one wall re-emission bounce",
            {
                **_SE,
                "edge_gain": (0.3, 1.0, "1 (flat top = 1)"),
                "background": (0.01, 0.08, "1"),
                "reemission": (0.05, 0.6, "1"),
            },
            line_of_sight_signal,
            needs_los=True,
        ),
        Family(
            "backscatter",
            "BSE/in-lens detector: weak slope and edge terms, landing-layer Z contrast, "
            "attenuation exp(-d/lambda), shadowing towards a side detector",
            {
                "bse_length_nm": (60.0, 400.0, "nm"),
                "z_contrast": (0.6, 1.6, "1 (landing / top-layer yield)"),
                "slope_weight": (0.0, 0.3, "1"),
                "edge_gain": (0.0, 0.15, "1 (flat top = 1)"),
                "edge_length_nm": (2.0, 4.0, "nm"),
                "detector_tilt": (0.0, 0.4, "1"),
                "detector_angle_deg": (0.0, 360.0, "deg"),
                "shadow_strength": (0.0, 0.6, "1"),
                "shadow_elevation_deg": (25.0, 70.0, "deg"),
            },
            backscatter_signal,
        ),
        Family(
            "charging",
            "analytic SE model with dose- and aspect-ratio-dependent darkening of bottoms, "
            "blooming rims, scan-direction streaks and slow-scan drift",
            {
                **_SE,
                "charge_rate": (0.2, 1.5, "1 per (dose/50 e-/px)"),
                "precharge": (0.0, 0.5, "frames"),
                "halo_gain": (0.05, 0.5, "1 per (dose/50 e-/px)"),
                "halo_length_nm": (3.0, 12.0, "nm"),
                "streak_amp": (-0.3, 0.1, "1 per (dose/50 e-/px)"),
                "streak_length_px": (3.0, 20.0, "px"),
                "frame_drift": (0.0, 0.15, "1 per (dose/50 e-/px)"),
                "frame_drift_tau": (0.2, 1.0, "frames"),
            },
            charging_signal,
        ),
    )
}

#: Every family parameter name, in a stable order (the images CSV columns).
FAMILY_PARAM_NAMES: list[str] = list(dict.fromkeys(k for f in FAMILIES.values() for k in f.params))


def family_names(families: object) -> list[str]:
    """Normalise a family selection ("all", "a,b", a list) to names in :data:`FAMILIES`."""
    if families is None:
        return []
    if isinstance(families, str):
        items = [f.strip() for f in families.split(",") if f.strip()]
    else:
        items = [str(f) for f in families]  # type: ignore[attr-defined]
    if items == ["all"]:
        return list(FAMILIES)
    names: list[str] = []
    for item in items:
        if item not in FAMILIES:
            raise ValueError(f"unknown contrast family {item!r}; choose from {', '.join(FAMILIES)}")
        if item not in names:
            names.append(item)
    if not names:
        raise ValueError("no contrast family selected")
    return names
