"""The imaging chain shared by every contrast family: probe, detector and noise.

Per image (drawn from :data:`COMMON_RANGES`, recorded in ``synth_images.csv``):

1. Top-surface texture: the yield of the flat top is multiplied by
   ``1 + grain_amp * g`` where ``g`` is a smooth unit-variance field (correlation
   ``grain_px``, one pattern per structure: the same material under every image).
2. Probe: a point-spread function with tails,
   ``PSF = (1 - tail_frac) * Gauss(psf_sigma_px) + tail_frac * Exp(psf_tail_px)``, the
   tail a normalised 2-D exponential kernel ``exp(-r / psf_tail_px)`` (electrons
   backscattered far from the probe, lens aberrations). Its energy beyond radius ``R``
   is ``(1 - tail_frac) exp(-R^2 / 2 sigma^2) + tail_frac (1 + R/l) exp(-R/l)``.
3. Slow drift: a brightness ramp ``1 + drift_row * y + drift_col * x`` (y, x in
   -0.5..0.5 of the frame).
4. Detection at ``dose`` electrons per pixel on the flat top: Poisson counts ``N``,
   analog ``a = N / dose`` (mean = the blurred signal ``m``).
5. Detector response ``v = offset_dn + gain_dn * a^gamma`` plus Gaussian read noise,
   the detector's bandwidth along the fast scan axis (``scan_lag``, an AR(1) filter),
   scan-line offsets (``row_noise_dn`` per row), then a hard clip at ``saturation_dn``
   (<= 255: bright rims saturate) and 8-bit rounding.

The noise-free image is ``offset_dn + gain_dn * scan_lag(m^gamma)`` with the same clip.
Two shots of one image share steps 1-3 and the response; they differ only in the
Poisson counts, the read noise and the row offsets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from core.synth.imaging import scan_lag, to_uint8

#: Ranges of the per-image draws (uniform unless noted), with units.
COMMON_RANGES: dict[str, dict[str, object]] = {
    "dose": {"range": [5.0, 100.0], "unit": "e-/px", "draw": "log-uniform"},
    "psf_sigma_px": {"range": [0.4, 1.8], "unit": "px", "note": "Gaussian core sigma"},
    "psf_tail_frac": {"range": [0.0, 0.35], "unit": "1", "note": "energy in the tail"},
    "psf_tail_px": {"range": [2.0, 10.0], "unit": "px", "note": "exponential tail length"},
    "offset_dn": {"range": [0.0, 70.0], "unit": "DN"},
    "gain_dn": {"range": [40.0, 150.0], "unit": "DN per flat-top yield"},
    "gamma": {"range": [0.7, 1.4], "unit": "1"},
    "saturation_dn": {
        "range": [180.0, 255.0],
        "unit": "DN",
        "draw": "255 with probability 0.7, else uniform 180-250",
    },
    "read_noise_dn": {"range": [0.5, 3.0], "unit": "DN"},
    "row_noise_dn": {"range": [0.0, 3.0], "unit": "DN"},
    "scan_lag": {"range": [0.0, 0.4], "unit": "1"},
    "drift_row": {"range": [-0.08, 0.08], "unit": "1 per frame"},
    "drift_col": {"range": [-0.02, 0.02], "unit": "1 per frame"},
    "grain_amp": {"range": [0.0, 0.12], "unit": "1", "note": "top-surface yield texture"},
    "grain_px": {"range": [0.7, 3.0], "unit": "px", "note": "per structure"},
}
_N_COMMON_DRAWS = 15  # uniforms drawn per image (fixed, so streams stay aligned)


@dataclass(frozen=True)
class CommonParams:
    """One image's probe, detector and noise settings (see the module docstring)."""

    dose: float
    psf_sigma_px: float
    psf_tail_frac: float
    psf_tail_px: float
    offset_dn: float
    gain_dn: float
    gamma: float
    saturation_dn: float
    read_noise_dn: float
    row_noise_dn: float
    scan_lag: float
    drift_row: float
    drift_col: float
    grain_amp: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def common_range(key: str) -> tuple[float, float]:
    """``(low, high)`` of one entry of :data:`COMMON_RANGES`."""
    pair: list[float] = COMMON_RANGES[key]["range"]  # type: ignore[assignment]
    return float(pair[0]), float(pair[1])


def _lin(u: float, key: str) -> float:
    lo, hi = common_range(key)
    return float(lo + (hi - lo) * u)


def draw_common(rng: np.random.Generator) -> CommonParams:
    """Draw one image's settings from :data:`COMMON_RANGES` (always 15 uniforms)."""
    u = rng.random(_N_COMMON_DRAWS)
    return CommonParams(
        dose=float(5.0 * (100.0 / 5.0) ** u[0]),
        psf_sigma_px=_lin(u[1], "psf_sigma_px"),
        psf_tail_frac=_lin(u[2], "psf_tail_frac"),
        psf_tail_px=_lin(u[3], "psf_tail_px"),
        offset_dn=_lin(u[4], "offset_dn"),
        gain_dn=_lin(u[5], "gain_dn"),
        gamma=_lin(u[6], "gamma"),
        saturation_dn=255.0 if u[7] < 0.7 else float(180.0 + 70.0 * (u[7] - 0.7) / 0.3),
        read_noise_dn=_lin(u[8], "read_noise_dn"),
        row_noise_dn=_lin(u[9], "row_noise_dn"),
        scan_lag=_lin(u[10], "scan_lag"),
        drift_row=_lin(u[11], "drift_row"),
        drift_col=_lin(u[12], "drift_col"),
        grain_amp=_lin(u[13], "grain_amp"),
    )


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], corr_px: float) -> np.ndarray:
    """A smooth Gaussian random field of unit standard deviation (correlation ``corr_px``)."""
    noise = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.fft.rfft2(noise) * np.exp(-2.0 * (np.pi * corr_px) ** 2 * (ky * ky + kx * kx))
    field = np.fft.irfft2(f, s=shape)
    std = float(field.std())
    return field / std if std > 0 else field


def _wrapped_radius(rows: int, cols: int) -> np.ndarray:
    """Distance (px) of each grid point from (0, 0) on a periodic ``rows x cols`` grid."""
    y = np.minimum(np.arange(rows), rows - np.arange(rows))[:, None]
    x = np.minimum(np.arange(cols), cols - np.arange(cols))[None, :]
    return np.sqrt(y * y + x * x)


def psf_transfer(
    shape: tuple[int, int], sigma_px: float, tail_frac: float, tail_px: float
) -> np.ndarray:
    """The PSF's transfer function on a periodic grid of ``shape`` (for ``rfft2``).

    Gaussian core analytic (``exp(-2 pi^2 sigma^2 k^2)``), the exponential tail sampled
    on the grid and normalised to unit sum, so the tail holds exactly ``tail_frac`` of
    the energy and the whole PSF sums to 1.
    """
    rows, cols = shape
    ky = np.fft.fftfreq(rows)[:, None]
    kx = np.fft.rfftfreq(cols)[None, :]
    gauss = np.exp(-2.0 * np.pi**2 * sigma_px**2 * (ky * ky + kx * kx))
    transfer: np.ndarray = (1.0 - tail_frac) * gauss.astype(np.complex128)
    if tail_frac > 0:
        kernel = np.exp(-_wrapped_radius(rows, cols) / tail_px)
        transfer = transfer + tail_frac * np.fft.rfft2(kernel / kernel.sum())
    return transfer


def psf_blur(image: np.ndarray, sigma_px: float, tail_frac: float, tail_px: float) -> np.ndarray:
    """Convolve one image with the tailed PSF (reflect padding wide enough for the tail)."""
    arr = np.asarray(image, dtype=np.float64)
    reach = 4.0 * sigma_px + (4.0 * tail_px if tail_frac > 0 else 0.0)
    pad = min(int(np.ceil(reach)) + 1, min(arr.shape) - 1)
    padded = np.pad(arr, pad, mode="reflect")
    transfer = psf_transfer(padded.shape, sigma_px, tail_frac, tail_px)
    out = np.fft.irfft2(np.fft.rfft2(padded) * transfer, s=padded.shape)
    return out[pad : pad + arr.shape[0], pad : pad + arr.shape[1]]


def drift_ramp(shape: tuple[int, int], c: CommonParams) -> np.ndarray:
    r = np.linspace(-0.5, 0.5, shape[0])[:, None]
    col = np.linspace(-0.5, 0.5, shape[1])[None, :]
    return 1.0 + c.drift_row * r + c.drift_col * col


def mean_signal(
    signal: np.ndarray, c: CommonParams, grain: np.ndarray | None, top: np.ndarray | None
) -> np.ndarray:
    """Steps 1-3: texture on the top surface (``top`` mask), PSF, drift; clipped at 0."""
    s = np.asarray(signal, dtype=np.float64)
    if grain is not None and top is not None and c.grain_amp > 0:
        s = s * (1.0 + c.grain_amp * grain * top)
    blurred = psf_blur(s, c.psf_sigma_px, c.psf_tail_frac, c.psf_tail_px)
    return np.clip(blurred * drift_ramp(s.shape, c), 0.0, None)  # type: ignore[arg-type]


def respond(analog: np.ndarray, c: CommonParams) -> np.ndarray:
    """Detector response without noise: ``gain_dn * a^gamma`` (DN above the offset)."""
    return c.gain_dn * np.power(np.clip(analog, 0.0, None), c.gamma)


def shots_and_clean(
    mean: np.ndarray, c: CommonParams, rngs: list[np.random.Generator]
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 4-5 for ``len(rngs)`` shots and the noise-free image, 8-bit.

    Returns ``(shots (len(rngs), rows, cols) uint8, clean (rows, cols) uint8)``.
    """
    rows = mean.shape[0]
    stack = np.empty((len(rngs) + 1, *mean.shape))
    offsets = np.zeros((len(rngs) + 1, rows, 1))
    for s, rng in enumerate(rngs):
        counts = rng.poisson(c.dose * mean)
        read = c.read_noise_dn * rng.standard_normal(mean.shape)
        offsets[s] = c.row_noise_dn * rng.standard_normal((rows, 1))
        stack[s] = respond(counts / c.dose, c) + read
    stack[-1] = respond(mean, c)
    dn = c.offset_dn + scan_lag(stack, c.scan_lag) + offsets
    dn = np.minimum(dn, c.saturation_dn)
    out = to_uint8(dn)
    return out[:-1], out[-1]


def psf_energy_outside(radius_px: float, c: CommonParams) -> float:
    """Closed-form PSF energy beyond ``radius_px`` (continuous kernels; see the docstring)."""
    core = (1.0 - c.psf_tail_frac) * np.exp(-(radius_px**2) / (2.0 * c.psf_sigma_px**2))
    x = radius_px / c.psf_tail_px
    return float(core + c.psf_tail_frac * (1.0 + x) * np.exp(-x))
