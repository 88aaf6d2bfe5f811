"""Image statistics for the domain check: a small vector per model-input-sized window.

Every statistic is computed on a 0..1 window at the model's pixel size (the predictor's
working grid), so a crop of the training data and a window of a field image are
comparable:

``p02, p50, p98``
    intensity percentiles (0..1);
``log_contrast``
    ``log(p98 - p02 + 1e-3)``;
``log_noise``
    log of the pixel noise: the RMS of the differences of horizontally adjacent pixels,
    the largest 10 % left out (edges), divided by sqrt(2);
``log_gradient``
    log of the mean squared gradient of the window smoothed with a 1-px Gaussian, per unit
    of contrast squared (how much structure there is, independent of gain);
``log_feature_px``
    log of the characteristic feature size: the smallest lag (px) at which the radially
    averaged autocorrelation of the window falls to 1/2 (a 20-36 px hole gives 5-12 px;
    pure noise 0.5-1 px);
``skew``
    the intensity skewness (dark holes on a bright top: negative to near 0);
``saturated``
    the share of pixels at 0 or 1 (clipped detector);
``corr_x``, ``corr_y``
    the lag-1 correlation of the fine residual (window minus its 2-px Gaussian blur)
    along rows and along columns: the detector's bandwidth (scan lag) and the probe blur
    leave their mark here.

Pure numpy + scipy.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

STAT_NAMES: tuple[str, ...] = (
    "p02",
    "p50",
    "p98",
    "log_contrast",
    "log_noise",
    "log_gradient",
    "log_feature_px",
    "skew",
    "saturated",
    "corr_x",
    "corr_y",
)

#: A window whose intensity range (p98 - p02) is below this is blank.
BLANK_CONTRAST = 2e-3
#: Pixels within this of 0 or 1 count as saturated.
SATURATION_EPS = 1.0 / 510.0


def _noise(win: np.ndarray) -> float:
    d = np.sort(np.abs(np.diff(win, axis=1).ravel()))
    if d.size == 0:
        return 0.0
    kept = d[: max(1, int(0.9 * d.size))]
    return float(np.sqrt(np.mean(kept * kept))) / math.sqrt(2.0)


def _lag1(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    return float(np.sum(a * b)) / den if den > 0 else 0.0


def feature_size_px(win: np.ndarray) -> float:
    """The lag (px, linearly interpolated) at which the radially averaged autocorrelation
    of ``win`` (mean removed, zero-padded to avoid wrap-around) first falls to 1/2; the
    largest lag measured when it never does, 0 for a constant window."""
    a = np.asarray(win, dtype=np.float64)
    a = a - a.mean()
    energy = float(np.sum(a * a))
    if energy <= 0.0:
        return 0.0
    h, w = a.shape
    f = np.fft.rfft2(a, s=(2 * h, 2 * w))
    acf = np.fft.irfft2(np.abs(f) ** 2, s=(2 * h, 2 * w))
    # unbiased by the overlap area, then normalised to 1 at lag 0
    ky = np.fft.fftfreq(2 * h, d=1.0 / (2 * h))
    kx = np.fft.fftfreq(2 * w, d=1.0 / (2 * w))
    overlap = (h - np.abs(ky))[:, None] * (w - np.abs(kx))[None, :]
    valid = overlap >= 0.25 * h * w
    acf = np.where(valid, acf / np.maximum(overlap, 1.0), 0.0)
    acf /= acf[0, 0]
    radius = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    max_r = int(min(h, w) // 2)
    bins = np.rint(radius).astype(np.int64)
    keep = valid & (bins <= max_r)
    sums = np.bincount(bins[keep], weights=acf[keep], minlength=max_r + 1)
    counts = np.bincount(bins[keep], minlength=max_r + 1)
    profile = sums / np.maximum(counts, 1)
    below = np.flatnonzero(profile[1:] <= 0.5)
    if below.size == 0:
        return float(max_r)
    k = int(below[0]) + 1
    hi, lo = profile[k - 1], profile[k]
    frac = (hi - 0.5) / (hi - lo) if hi != lo else 0.0
    return float(k - 1 + frac)


def saturated_fraction(image01: np.ndarray) -> float:
    """The share of pixels within :data:`SATURATION_EPS` of 0 or 1 (clipped by the detector
    or the file's range)."""
    a = np.asarray(image01)
    return float(np.mean((a <= SATURATION_EPS) | (a >= 1.0 - SATURATION_EPS)))


def window_stats(win: np.ndarray) -> np.ndarray:
    """The :data:`STAT_NAMES` vector (float64) of one 0..1 window."""
    a = np.asarray(win, dtype=np.float64)
    p02, p50, p98 = (float(v) for v in np.percentile(a, (2, 50, 98)))
    contrast = p98 - p02
    smooth = ndi.gaussian_filter(a, 1.0, mode="reflect")
    gy, gx = np.gradient(smooth)
    grad = float(np.mean(gy * gy + gx * gx)) / max(contrast, BLANK_CONTRAST) ** 2
    std = float(a.std())
    skew = float(np.mean((a - a.mean()) ** 3)) / std**3 if std > 1e-9 else 0.0
    saturated = saturated_fraction(a)
    fine = a - ndi.gaussian_filter(a, 2.0, mode="reflect")
    return np.array(
        [
            p02,
            p50,
            p98,
            math.log(contrast + 1e-3),
            math.log(_noise(a) + 1e-4),
            math.log(grad + 1e-6),
            math.log(feature_size_px(a) + 0.25),
            skew,
            saturated,
            _lag1(fine[:, 1:], fine[:, :-1]),
            _lag1(fine[1:, :], fine[:-1, :]),
        ]
    )


def stats_matrix(windows: np.ndarray) -> np.ndarray:
    """(N, len(STAT_NAMES)) statistics of a (N, H, W) stack of 0..1 windows."""
    return np.stack([window_stats(w) for w in np.asarray(windows)])


def sample_windows(
    image01: np.ndarray,
    size: tuple[int, int],
    *,
    centres: list[tuple[float, float]] | None = None,
    max_windows: int = 32,
) -> np.ndarray:
    """Up to ``max_windows`` windows of ``size`` from ``image01``: the image itself when it
    is no larger than ``size`` in either side (a crop), else windows centred on
    ``centres`` (field mode's holes, evenly sub-sampled) or on a regular grid. Windows that
    would leave the image are shifted inside it."""
    img = np.asarray(image01, dtype=np.float32)
    h, w = size
    rows, cols = img.shape
    if rows <= h or cols <= w:
        return img[None]
    if centres:
        step = max(1, math.ceil(len(centres) / max_windows))
        chosen = centres[::step][:max_windows]
        corners = [(round(r) - h // 2, round(c) - w // 2) for r, c in chosen]
    else:
        n_r = max(1, rows // h)
        n_c = max(1, cols // w)
        while n_r * n_c > max_windows:
            n_r, n_c = max(1, n_r - (n_r >= n_c)), max(1, n_c - (n_c > n_r))
        rs = np.linspace(0, rows - h, n_r).round().astype(int)
        cs = np.linspace(0, cols - w, n_c).round().astype(int)
        corners = [(int(r), int(c)) for r in rs for c in cs]
    out = []
    for r, c in corners:
        r = min(max(0, r), rows - h)
        c = min(max(0, c), cols - w)
        out.append(img[r : r + h, c : c + w])
    return np.stack(out)
