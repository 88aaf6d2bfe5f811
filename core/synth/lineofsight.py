"""Line-of-sight escape of secondary electrons from inside a hole, from its 3-D profile.

A point of the hole surface at radius ``p`` from the axis and depth ``z`` emits
secondary electrons with a cosine (Lambertian) law about its surface normal ``n``.
A direction leaves the hole if, at every level ``z_k`` above the point, the ray is still
inside the sidewall radius ``r(z_k)`` (the true profile, overhangs included).

**Direct escape.** For a direction of elevation ``theta`` from vertical and azimuth
``phi`` (from the outward radial direction), the ray's horizontal distance from the axis
at height ``D_k = z - z_k`` above the point is ``|p + D_k tan(theta) u(phi)|``. Staying
inside ``r_k`` is a quadratic inequality in ``t = tan(theta)``::

    t in ((-p cos(phi) - w_k) / D_k, (-p cos(phi) + w_k) / D_k),  w_k = sqrt(r_k^2 - p^2 sin^2(phi))

so the escaping elevations at one azimuth form one interval ``[theta_lo, theta_hi)`` (the
intersection over levels). With the normal tilted by ``alpha`` towards the axis,
``n = (-sin(alpha), 0, cos(alpha))``, the cosine-weighted integral over that interval is
closed form::

    F(phi) = (1/pi) [G(b) - G(a)],  G(th) = cos(alpha) sin^2(th)/2
                                           - sin(alpha) cos(phi) (th - sin(th) cos(th))/2

with ``[a, b]`` the interval clipped to the emitting hemisphere (``omega . n > 0``), and
``F = integral of F(phi) over phi`` by the midpoint rule over ``N_PHI`` azimuths in
``[0, pi]`` (mirror symmetry). Only ``phi`` is discretised. On the axis of a straight
cylinder of radius ``r`` at depth ``d`` this is exactly ``r^2 / (r^2 + d^2)``; off the
axis it is the view factor of the opening disk, ``(1/2) [1 - (a^2 + d^2 - r^2) /
sqrt((a^2 + d^2 + r^2)^2 - 4 a^2 r^2)]`` for a point ``a`` off the axis.

**One bounce.** Electrons that hit the wall at depth ``z_hit`` re-emit a fraction
``reemission`` (chosen per image by the family), of which the wall's own direct escape
fraction ``F_wall(z_hit)`` leaves the hole. The hit points come from a fixed set of
``BOUNCE_THETA x BOUNCE_PHI`` cosine-distributed directions about the point's normal
(rays going down hit a lower wall or the bottom). So the line-of-sight escape is
``F = F_direct + reemission * F_bounce``, both tabulated per hole on ``N_SAMPLES`` radii
of its visible surface and interpolated to the pixels.

Ellipses and wavy edges are handled in the normalised frame of
:func:`core.synth.geometry.render_hole` with the area-equivalent circle (radii scaled by
``sqrt(aspect)``): an approximation for strongly elliptical holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.synth import geometry as geo

N_PHI = 16  # azimuth midpoints over [0, pi]
N_LEVELS = 48  # levels of the sidewall profile used for blocking
BOUNCE_LEVELS = 24  # coarser levels where bounced rays are traced
N_SAMPLES = 32  # radii of the visible surface where the escape is tabulated
BOUNCE_THETA = 6
BOUNCE_PHI = 16
_WALL_INSET_NM = 0.05  # wall points sit this far inside the wall


def direct_escape(
    p: np.ndarray,
    z: np.ndarray,
    alpha: np.ndarray,
    z_levels: np.ndarray,
    r_levels: np.ndarray,
    n_phi: int = N_PHI,
) -> np.ndarray:
    """Direct escape fraction of cosine emitters at radius ``p`` (nm), depth ``z`` (nm).

    ``alpha``: tilt of each point's normal from vertical towards the axis (rad; pi/2 a
    vertical wall, > pi/2 a downward-facing overhang); ``z_levels``/``r_levels``: the
    sidewall profile (nm). Arrays ``p``, ``z``, ``alpha`` of shape ``(P,)``.
    """
    p = np.asarray(p, np.float64)[:, None, None]
    z = np.asarray(z, np.float64)[:, None, None]
    al = np.asarray(alpha, np.float64)[:, None]
    phi = (np.arange(n_phi) + 0.5) * np.pi / n_phi
    cphi, sphi = np.cos(phi)[None, :, None], np.sin(phi)[None, :, None]
    dz = z - z_levels[None, None, :]  # (P, 1, K) height of each level above the point
    above = dz > 1e-9
    w2 = r_levels[None, None, :] ** 2 - (p * sphi) ** 2  # (P, F, K)
    w = np.sqrt(np.clip(w2, 0.0, None))
    safe = np.where(above, dz, 1.0)
    lo = np.where(above, (-p * cphi - w) / safe, -np.inf)
    hi = np.where(above, (-p * cphi + w) / safe, np.inf)
    empty = np.any(above & (w2 <= 0.0), axis=2)  # (P, F)
    t_lo = np.clip(lo.max(axis=2), 0.0, None)
    th_lo = np.arctan(t_lo)
    th_hi = np.arctan(hi.min(axis=2))  # arctan(inf) = pi/2
    ca, sa = np.cos(al), np.sin(al)
    cp = np.cos(phi)[None, :]
    delta = np.arctan2(sa * cp, ca)  # omega . n > 0  <=>  -pi/2 < theta + delta < pi/2
    a = np.maximum(th_lo, -np.pi / 2 - delta)
    b = np.minimum(np.minimum(th_hi, np.pi / 2 - delta), np.pi / 2)

    def g(th: np.ndarray) -> np.ndarray:
        s, c = np.sin(th), np.cos(th)
        return ca * s * s / 2.0 - sa * cp * (th - s * c) / 2.0

    inner = np.where((b > a) & ~empty, g(b) - g(np.minimum(a, b)), 0.0)
    return np.clip(2.0 / n_phi * inner.sum(axis=1), 0.0, 1.0)


def _bounce_directions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine-distributed unit directions about +z: (BOUNCE_THETA * BOUNCE_PHI,) each."""
    s2 = (np.arange(BOUNCE_THETA) + 0.5) / BOUNCE_THETA  # sin^2(theta) strata
    th = np.arcsin(np.sqrt(s2))[:, None]
    ph = ((np.arange(BOUNCE_PHI) + 0.5) * 2.0 * np.pi / BOUNCE_PHI)[None, :]
    x = (np.sin(th) * np.cos(ph)).ravel()
    y = (np.sin(th) * np.sin(ph)).ravel()
    zc = np.broadcast_to(np.cos(th), (BOUNCE_THETA, BOUNCE_PHI)).ravel()
    return x, y, zc


_LOCAL = _bounce_directions()


def wall_hits(
    p: np.ndarray,
    z: np.ndarray,
    alpha: np.ndarray,
    z_levels: np.ndarray,
    r_levels: np.ndarray,
    bottom_nm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Where the fixed cosine-distributed rays of each point first hit the hole surface.

    Returns ``(blocked (P, B) bool, z_hit (P, B) nm)``; rays going up that stay inside
    the profile up to the top escape (``blocked`` False); rays going down that never
    leave the profile hit the bottom (``z_hit = bottom_nm``).
    """
    lx, ly, lz = _LOCAL
    al = np.asarray(alpha, np.float64)[:, None]
    ca, sa = np.cos(al), np.sin(al)
    # local frame: e3 = n = (-sin a, 0, cos a), e1 = (cos a, 0, sin a), e2 = (0, 1, 0)
    wx = lx[None, :] * ca - lz[None, :] * sa
    wy = np.broadcast_to(ly[None, :], wx.shape)
    wz = lx[None, :] * sa + lz[None, :] * ca
    horiz = np.hypot(wx, wy)
    up = wz > 0
    t = horiz / np.clip(np.abs(wz), 1e-6, None)
    cphi = np.where(horiz > 0, wx / np.where(horiz > 0, horiz, 1.0), 1.0)
    pp = np.asarray(p, np.float64)[:, None, None]
    zz = np.asarray(z, np.float64)[:, None, None]
    dz = np.where(up[..., None], zz - z_levels, z_levels - zz)  # (P, B, K) travel height
    valid = dz > 1e-9
    s = t[..., None] * dz
    out = valid & (pp * pp + 2.0 * pp * s * cphi[..., None] + s * s >= r_levels**2)
    first = np.where(out, dz, np.inf).min(axis=2)  # nearest level where the ray is outside
    hit = np.isfinite(first)
    z_hit = np.where(up, zz[..., 0] - first, zz[..., 0] + first)
    z_hit = np.where(hit, z_hit, bottom_nm)
    blocked = hit | ~up
    return blocked, np.clip(z_hit, 0.0, bottom_nm)


@dataclass(frozen=True)
class EscapeTable:
    """Escape fractions of one hole on radii ``rho_nm`` (normalised frame) of its visible
    surface: ``direct`` and ``bounce`` (the escaping part per unit re-emission)."""

    rho_nm: np.ndarray
    direct: np.ndarray
    bounce: np.ndarray

    def maps(self, rho_nm: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``(direct, bounce)``: 1 and 0 outside the hole (``inside`` False)."""
        d = np.interp(rho_nm, self.rho_nm, self.direct)
        b = np.interp(rho_nm, self.rho_nm, self.bounce)
        return np.where(inside, d, 1.0), np.where(inside, b, 0.0)


def escape_table(p: geo.HoleParams, n_samples: int = N_SAMPLES) -> EscapeTable:
    """Tabulate the direct and one-bounce escape of a hole's visible surface."""
    scale = float(np.sqrt(p.aspect))  # area-equivalent circle of the ellipse
    zl, rl = geo.sidewall_radius(p, N_LEVELS)
    rl = rl * scale
    zv, rv = geo.sidewall_profile(p)
    r_top = float(rv[0])
    rho = np.linspace(0.0, r_top, n_samples, endpoint=False)
    zs = np.interp(rho, rv[::-1], zv[::-1], left=zv[-1], right=0.0)
    # normal tilt of the visible surface: tan(alpha) = -dz/drho (deeper towards the axis)
    slope = -np.gradient(zs, rho * scale) if n_samples > 1 else np.zeros(1)
    alpha_v = np.arctan(np.clip(slope, 0.0, None))
    # the true wall at each level: inward-facing normal (-1, -dr/dz) in (radial, up)
    drdz = np.gradient(rl, zl)
    alpha_w = np.arctan2(1.0, -drdz)
    pw = np.clip(rl - _WALL_INSET_NM, 0.0, None)
    bottom = float(zl[-1])
    pts_p = np.concatenate([rho * scale, pw, [0.0]])
    pts_z = np.concatenate([zs, zl, [bottom]])
    pts_a = np.concatenate([alpha_v, alpha_w, [0.0]])
    f = direct_escape(pts_p, pts_z, pts_a, zl, rl)
    f_vis, f_wall, f_bottom = f[:n_samples], f[n_samples:-1], float(f[-1])
    coarse = np.linspace(0, N_LEVELS - 1, BOUNCE_LEVELS).round().astype(int)
    blocked, z_hit = wall_hits(rho * scale, zs, alpha_v, zl[coarse], rl[coarse], bottom)
    f_hit = np.interp(z_hit, zl, f_wall)
    f_hit = np.where(z_hit >= bottom - 1e-9, f_bottom, f_hit)
    bounce = np.where(blocked, f_hit, 0.0).mean(axis=1)
    if n_samples > 2:  # the fixed ray set makes steps: a [1, 2, 1] / 4 smoothing
        padded = np.concatenate([bounce[:1], bounce, bounce[-1:]])
        bounce = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return EscapeTable(rho, f_vis, bounce)


def view_factor_disk(offset_nm: float, depth_nm: float, radius_nm: float) -> float:
    """Cosine emitter facing up, ``depth_nm`` below a disk of ``radius_nm``, ``offset_nm``
    off its axis: the fraction of its emission that passes through the disk."""
    a2, d2, r2 = offset_nm**2, depth_nm**2, radius_nm**2
    return 0.5 * (1.0 - (a2 + d2 - r2) / np.sqrt((a2 + d2 + r2) ** 2 - 4.0 * a2 * r2))
