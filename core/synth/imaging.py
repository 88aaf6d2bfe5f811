"""SEM image formation from a height map: yield, escape, blur, detector and noise.

The model, each term a knob of :class:`ImagingCase`:

1. Secondary-electron (SE) yield rises on slopes by the secant law,
   ``delta(theta) = 1 / cos(theta) = sqrt(1 + |grad h|^2)`` (capped: a steep
   wall's projection is only a pixel or two wide and the SE escape depth limits it).
2. Near the top edge of a hole electrons leave through two faces: a bright rim
   ``edge_gain * exp(-edge_distance / edge_length)``.
3. Electrons born at depth ``d`` below an opening of radius ``r`` escape only
   through it; for a cosine emitter the collected fraction is
   ``r^2 / (r^2 + d^2)`` (deep bottoms dark), plus a small depth-independent
   ``background`` (SE made by backscattered electrons). A side detector adds
   shading: slopes facing it look brighter (``detector_tilt``).
4. Gaussian probe blur (sigma in px), slow charging drift (a brightness ramp),
   detector gain and offset, and the detector's finite bandwidth along the fast
   scan axis (columns): ``y[j] = (1 - a) x[j] + a y[j - 1]`` (``scan_lag``).
5. Per shot: Poisson shot noise at ``dose`` electrons per pixel on the flat top,
   scan-line (row) offsets and Gaussian read noise; 8-bit after clipping.

Two shots of one structure share everything up to step 4 and differ only in step 5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SECANT_CAP = 2.5  # the secant factor saturates at 1/cos(66.4 deg)


@dataclass(frozen=True)
class ImagingCase:
    """One imaging condition (beam, detector and noise settings)."""

    name: str
    dose: float  # mean detected electrons per pixel on the flat top surface
    blur_px: float  # Gaussian probe sigma (px)
    gain: float  # grey levels (DN) per unit of yield
    offset: float  # detector black level (DN)
    read_noise: float  # Gaussian detector noise (DN, std)
    row_noise: float  # scan-line offset noise (DN, std per row)
    drift: float  # charging drift: fractional brightness change across the frame (std)
    edge_gain: float  # extra yield at the rim, relative to the flat top
    edge_length_nm: float  # decay length of the rim enhancement (nm)
    background: float  # depth-independent fraction collected from inside holes
    detector_tilt: float  # side-detector shading: slopes facing the detector brighter
    detector_angle_deg: float  # direction of the detector in the image (0 = +cols, 90 = -rows)
    scan_lag: float  # detector bandwidth: each pixel keeps this fraction of the previous one
    jitter: float  # relative per-structure jitter of gain, offset and blur

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _case(name: str, **kw: float) -> ImagingCase:
    return ImagingCase(name=name, **kw)  # type: ignore[arg-type]


CASES: dict[str, ImagingCase] = {
    c.name: c
    for c in (
        # balanced: moderate dose and blur
        _case(
            "Case_1",
            dose=60.0,
            blur_px=0.8,
            gain=80.0,
            offset=35.0,
            read_noise=1.5,
            row_noise=1.0,
            drift=0.03,
            edge_gain=0.8,
            edge_length_nm=3.0,
            background=0.05,
            detector_tilt=0.15,
            detector_angle_deg=90.0,
            scan_lag=0.15,
            jitter=0.05,
        ),
        # low dose, noisy
        _case(
            "Case_2",
            dose=18.0,
            blur_px=1.0,
            gain=75.0,
            offset=45.0,
            read_noise=2.5,
            row_noise=2.0,
            drift=0.05,
            edge_gain=0.7,
            edge_length_nm=3.0,
            background=0.06,
            detector_tilt=0.25,
            detector_angle_deg=0.0,
            scan_lag=0.3,
            jitter=0.06,
        ),
        # high dose, soft probe, high gain
        _case(
            "Case_3",
            dose=140.0,
            blur_px=1.4,
            gain=95.0,
            offset=20.0,
            read_noise=1.0,
            row_noise=0.6,
            drift=0.02,
            edge_gain=1.0,
            edge_length_nm=3.5,
            background=0.04,
            detector_tilt=0.1,
            detector_angle_deg=225.0,
            scan_lag=0.0,
            jitter=0.05,
        ),
        # sharp probe, low contrast (high offset), strong scan lines and charging
        _case(
            "Case_4",
            dose=35.0,
            blur_px=0.6,
            gain=60.0,
            offset=65.0,
            read_noise=2.0,
            row_noise=3.0,
            drift=0.08,
            edge_gain=0.6,
            edge_length_nm=2.5,
            background=0.08,
            detector_tilt=0.3,
            detector_angle_deg=300.0,
            scan_lag=0.25,
            jitter=0.07,
        ),
    )
}


def case_names(cases: object = None) -> list[str]:
    """Normalise a case selection (None, ints 1..4, "1,3", "Case_2") to names in CASES."""
    if cases is None:
        return list(CASES)
    if isinstance(cases, str):
        items: list[object] = [c for c in cases.replace(" ", "").split(",") if c]
    elif isinstance(cases, int):
        items = [cases]
    else:
        items = list(cases)  # type: ignore[call-overload]
    names: list[str] = []
    for item in items:
        name = f"Case_{item}" if isinstance(item, int) or str(item).isdigit() else str(item)
        if name not in CASES:
            raise ValueError(f"unknown imaging case {item!r}; choose from {', '.join(CASES)}")
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("no imaging case selected")
    return names


def secant_yield(tan_theta: np.ndarray | float, cap: float = SECANT_CAP) -> np.ndarray:
    """SE yield relative to a flat surface: ``min(1/cos(theta), cap)`` from ``tan(theta)``."""
    t = np.asarray(tan_theta, dtype=np.float64)
    return np.minimum(np.sqrt(1.0 + t * t), cap)


def escape_fraction(depth_nm: np.ndarray | float, radius_nm: np.ndarray | float) -> np.ndarray:
    """Fraction of cosine-emitted electrons at ``depth`` escaping an opening of ``radius``.

    ``r^2 / (r^2 + d^2)``; 1 at the surface (d = 0). Where ``radius`` is 0 (no hole)
    the fraction is 1.
    """
    d = np.asarray(depth_nm, dtype=np.float64)
    r = np.asarray(radius_nm, dtype=np.float64)
    r2 = r * r
    denom = r2 + d * d
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(denom > 0, r2 / np.where(denom > 0, denom, 1.0), 1.0)
    return np.where(r > 0, f, 1.0)


def se_signal(
    height_nm: np.ndarray,
    depth_nm: np.ndarray,
    edge_nm: np.ndarray,
    open_nm: np.ndarray,
    *,
    pixel_size_nm: float,
    edge_gain: float,
    edge_length_nm: float,
    background: float,
    detector_tilt: float = 0.0,
    detector_angle_deg: float = 0.0,
) -> np.ndarray:
    """Noise-free emitted signal before blur (flat top = 1), float64, same shape.

    Works on one image ``(rows, cols)`` or a batch ``(n, rows, cols)``.
    ``height_nm``: surface height (nm, up positive); ``depth_nm``: depth below
    the hole's top surface; ``edge_nm``: distance from the rim; ``open_nm``:
    escape-opening radius (0 outside holes).
    """
    gy, gx = np.gradient(height_nm.astype(np.float64), pixel_size_nm, axis=(-2, -1))
    tan_theta = np.hypot(gx, gy)
    slope = secant_yield(tan_theta)
    if detector_tilt:
        # surfaces whose normal leans towards a side detector send it more electrons
        a = np.radians(detector_angle_deg)
        toward = -(gx * np.cos(a) - gy * np.sin(a)) / np.sqrt(1.0 + tan_theta * tan_theta)
        slope = slope * (1.0 + detector_tilt * toward)
    rim = edge_gain * np.exp(-edge_nm.astype(np.float64) / edge_length_nm)
    f = escape_fraction(depth_nm, open_nm)
    return (slope + rim) * (f + background * (1.0 - f))


def gaussian_blur(images: np.ndarray, sigma_px: np.ndarray | float) -> np.ndarray:
    """Gaussian blur of the last two axes with reflect padding, one sigma per image.

    ``images``: (rows, cols) or (n, rows, cols); ``sigma_px`` scalar or (n,).
    Done in the Fourier domain so a batch with different sigmas is one FFT.
    """
    arr = np.asarray(images, dtype=np.float64)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    sig = np.broadcast_to(np.asarray(sigma_px, dtype=np.float64), (arr.shape[0],))
    if float(sig.max(initial=0.0)) <= 0:
        return arr[0] if single else arr
    pad = min(int(np.ceil(3.0 * float(sig.max()))) + 1, min(arr.shape[-2:]) - 1)
    padded = np.pad(arr, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    rows, cols = padded.shape[-2:]
    ky = np.fft.fftfreq(rows)[:, None]
    kx = np.fft.rfftfreq(cols)[None, :]
    k2 = ky * ky + kx * kx
    transfer = np.exp(-2.0 * np.pi**2 * sig[:, None, None] ** 2 * k2[None])
    out = np.fft.irfft2(np.fft.rfft2(padded) * transfer, s=(rows, cols))
    out = out[:, pad : rows - pad, pad : cols - pad]
    return out[0] if single else out


@dataclass(frozen=True)
class StructureImaging:
    """Per-structure draw of one case's settings (jittered gain/offset/blur, drift ramp)."""

    gain: float
    offset: float
    blur_px: float
    drift_row: float
    drift_col: float


def draw_structure_imaging(rng: np.random.Generator, case: ImagingCase) -> StructureImaging:
    j = rng.standard_normal(5)
    return StructureImaging(
        gain=case.gain * float(1.0 + case.jitter * j[0]),
        offset=case.offset * float(1.0 + case.jitter * j[1]),
        blur_px=max(0.3, case.blur_px * float(1.0 + case.jitter * j[2])),
        drift_row=case.drift * float(j[3]),
        drift_col=0.3 * case.drift * float(j[4]),
    )


def drift_map(shape: tuple[int, int], s: StructureImaging) -> np.ndarray:
    """Charging drift: brightness ramps along the slow (rows) and fast (cols) scan axes."""
    r = np.linspace(-0.5, 0.5, shape[0])[:, None]
    c = np.linspace(-0.5, 0.5, shape[1])[None, :]
    return 1.0 + s.drift_row * r + s.drift_col * c


def scan_lag(x: np.ndarray, a: float) -> np.ndarray:
    """Detector bandwidth along the fast scan axis (last axis): ``y[j] = (1-a) x[j] + a y[j-1]``.

    Linear, so the mean of lagged shots is the lagged mean (the clean image).
    """
    if a <= 0:
        return x
    y = np.array(x, dtype=np.float64, copy=True)
    for j in range(1, y.shape[-1]):
        y[..., j] = (1.0 - a) * y[..., j] + a * y[..., j - 1]
    return y


def expected_signal(
    signal: np.ndarray, draws: list[StructureImaging], lag: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Blurred, drifted signal (flat top ~1) and the clean image in DN, for a batch.

    Returns ``(mean_signal (n,rows,cols), clean_dn (n,rows,cols))``; ``clean_dn`` is
    ``offset + gain * scan_lag(mean_signal, lag)``, what a noise-free detector shows
    (the expectation of :func:`noisy_shot`).
    """
    batch = signal if signal.ndim == 3 else signal[None]
    sig = np.array([d.blur_px for d in draws])
    blurred = gaussian_blur(batch, sig)
    shape = (batch.shape[-2], batch.shape[-1])
    drift = np.stack([drift_map(shape, d) for d in draws])
    mean = np.clip(blurred * drift, 0.0, None)
    gain = np.array([d.gain for d in draws])[:, None, None]
    offset = np.array([d.offset for d in draws])[:, None, None]
    return mean, offset + gain * scan_lag(mean, lag)


def noisy_shot(
    mean_signal: np.ndarray,
    draw: StructureImaging,
    case: ImagingCase,
    rng: np.random.Generator,
) -> np.ndarray:
    """One noisy 8-bit shot of one image from its mean signal (flat top ~1)."""
    counts = rng.poisson(case.dose * mean_signal)
    rows = mean_signal.shape[0]
    row_offsets = case.row_noise * rng.standard_normal((rows, 1))
    read = case.read_noise * rng.standard_normal(mean_signal.shape)
    analog = scan_lag(draw.gain * counts / case.dose + read, case.scan_lag)
    dn = draw.offset + analog + row_offsets
    return to_uint8(dn)


def to_uint8(dn: np.ndarray) -> np.ndarray:
    """Round and clip grey levels to 8-bit."""
    return np.clip(np.rint(dn), 0, 255).astype(np.uint8)
