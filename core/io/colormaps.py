"""Small colour maps (no matplotlib): anchor colours interpolated to 256-entry tables.

``viridis`` and ``magma`` (perceptually uniform, sequential: depth maps),
``gray``, and diverging ``coolwarm`` / ``RdBu`` (signed errors). Anchors are
sampled from the published maps (matplotlib's viridis/magma at 1/8 steps,
Moreland's cool-warm, ColorBrewer RdBu-11 reversed so blue = low).
"""

from __future__ import annotations

import functools

import numpy as np

_ANCHORS: dict[str, list[tuple[float, float, float]]] = {
    "viridis": [
        (0.267004, 0.004874, 0.329415),
        (0.282623, 0.140926, 0.457517),
        (0.229739, 0.322361, 0.545706),
        (0.172719, 0.448791, 0.557885),
        (0.127568, 0.566949, 0.550556),
        (0.157851, 0.683765, 0.501686),
        (0.369214, 0.788888, 0.382914),
        (0.678489, 0.863742, 0.189503),
        (0.993248, 0.906157, 0.143936),
    ],
    "magma": [
        (0.001462, 0.000466, 0.013866),
        (0.078815, 0.054184, 0.211667),
        (0.232077, 0.059889, 0.437695),
        (0.390384, 0.100379, 0.501864),
        (0.550287, 0.161158, 0.505719),
        (0.716387, 0.214982, 0.475290),
        (0.868793, 0.287728, 0.409303),
        (0.967671, 0.439703, 0.359810),
        (0.994738, 0.624350, 0.427397),
        (0.987053, 0.991438, 0.749504),
    ],
    "gray": [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)],
    "coolwarm": [
        (0.2298, 0.2987, 0.7537),
        (0.5543, 0.6901, 0.9955),
        (0.8654, 0.8654, 0.8654),
        (0.9567, 0.5980, 0.4773),
        (0.7057, 0.0156, 0.1502),
    ],
    "RdBu": [
        (0x05, 0x30, 0x61),
        (0x21, 0x66, 0xAC),
        (0x43, 0x93, 0xC3),
        (0x92, 0xC5, 0xDE),
        (0xD1, 0xE5, 0xF0),
        (0xF7, 0xF7, 0xF7),
        (0xFD, 0xDB, 0xC7),
        (0xF4, 0xA5, 0x82),
        (0xD6, 0x60, 0x4D),
        (0xB2, 0x18, 0x2B),
        (0x67, 0x00, 0x1F),
    ],
}

# magma's last anchors are not evenly spaced in matplotlib; positions per anchor list
_POSITIONS: dict[str, list[float]] = {
    "magma": [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 0.94, 1.0],
}

COLORMAPS: tuple[str, ...] = ("viridis", "magma", "gray", "coolwarm", "RdBu")
DIVERGING: frozenset[str] = frozenset({"coolwarm", "RdBu"})


def _canonical(name: str) -> str:
    for key in _ANCHORS:
        if key.lower() == name.lower():
            return key
    raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")


def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of colour map ``name`` (case-insensitive; read-only)."""
    return _lut(_canonical(name))


@functools.cache
def _lut(key: str) -> np.ndarray:
    anchors = np.asarray(_ANCHORS[key], dtype=np.float64)
    if anchors.max() > 1.0:
        anchors = anchors / 255.0
    pos = np.asarray(_POSITIONS.get(key, np.linspace(0.0, 1.0, len(anchors))), dtype=np.float64)
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, pos, anchors[:, c]) for c in range(3)], axis=1)
    out = np.clip(np.rint(table * 255.0), 0, 255).astype(np.uint8)
    out.setflags(write=False)  # shared by every caller
    return out


def apply(
    values: np.ndarray,
    name: str,
    vmin: float,
    vmax: float,
    *,
    bad: tuple[int, int, int] = (128, 128, 128),
) -> np.ndarray:
    """Map ``values`` to (rows, cols, 3) uint8 colours; NaN/inf get the ``bad`` colour."""
    table = lut(name)
    v = np.asarray(values, dtype=np.float32)  # 256 colours: float32 is plenty, and fast
    finite = np.isfinite(v)
    span = float(vmax) - float(vmin)
    if span > 0:
        t = (np.where(finite, v, np.float32(vmin)) - np.float32(vmin)) * np.float32(255.0 / span)
    else:
        t = np.full(v.shape, 127.5, np.float32)
    idx = np.clip(np.rint(t), 0, 255).astype(np.intp)
    out = table[idx]
    out[~finite] = bad
    return out
