"""The intensity-to-depth baseline: today's industrial method, as a fitted regression.

Fabs estimate depth from how dark a hole looks in a top-down SEM image (fewer
secondary electrons escape from deeper bottoms). This baseline makes that
method as good as a least-squares fit can: per pixel, depth (DU) is a linear
function of polynomial features of the *smoothed* SEM intensity at one or more
scales, plus the pixel's distance from the hole centre. The coefficients are
fitted by ordinary least squares over every pixel of the training split and
saved as JSON (``semdepth-baseline/1``), which ``semdepth evaluate`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BASELINE_FORMAT = "semdepth-baseline/1"


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class BaselineConfig:
    """Which per-pixel features the regression uses.

    ``sigmas``: Gaussian smoothing scales (px) of the 0..1 intensity; 0 means unsmoothed.
    ``degree``: polynomial degree in each smoothed intensity.
    ``radial``: add the distance from the centre (r, r^2 and r * intensity).
    ``centre``: ``"image"`` (the crop's middle) or ``"hole"`` (the darkness-weighted centroid).
    """

    sigmas: tuple[float, ...] = (1.0, 3.0)
    degree: int = 3
    radial: bool = True
    centre: str = "hole"

    def __post_init__(self) -> None:
        if not self.sigmas:
            raise ValueError("BaselineConfig.sigmas must name at least one smoothing scale")
        if any(s < 0 for s in self.sigmas):
            raise ValueError(f"BaselineConfig.sigmas must be >= 0 px, got {self.sigmas}")
        if self.degree < 1:
            raise ValueError(f"BaselineConfig.degree must be >= 1, got {self.degree}")
        if self.centre not in ("image", "hole"):
            raise ValueError(
                f"BaselineConfig.centre must be 'image' or 'hole', got {self.centre!r}"
            )

    def feature_names(self) -> list[str]:
        names = ["1"]
        for s in self.sigmas:
            names += [f"I{s:g}^{k}" for k in range(1, self.degree + 1)]
        if self.radial:
            names += ["r", "r^2", f"r*I{self.sigmas[0]:g}"]
        return names


def gaussian_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (reflect borders) of a 2-D array; ``sigma`` in px, 0 = copy."""
    img = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return img.copy()
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    out = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(kernel):
            sl = [slice(None), slice(None)]
            sl[axis] = slice(i, i + n)
            acc += w * padded[tuple(sl)]
        out = acc
    return out


def _centre(sem01: np.ndarray, smoothed: np.ndarray, mode: str) -> tuple[float, float]:
    rows, cols = sem01.shape
    if mode == "image":
        return (rows - 1) / 2.0, (cols - 1) / 2.0
    # darkness-weighted centroid: pixels darker than the image mean pull the centre
    weight = np.clip(smoothed.mean() - smoothed, 0.0, None)
    total = weight.sum()
    if total <= 0:
        return (rows - 1) / 2.0, (cols - 1) / 2.0
    yy, xx = np.mgrid[0:rows, 0:cols]
    return float((weight * yy).sum() / total), float((weight * xx).sum() / total)


def features(sem01: np.ndarray, config: BaselineConfig) -> np.ndarray:
    """Per-pixel feature matrix ``(rows*cols, n_features)`` float64 of one 0..1 SEM image."""
    sem = np.asarray(sem01, dtype=np.float64)
    if sem.ndim != 2:
        raise ValueError(f"expected a 2-D SEM image, got shape {sem.shape}")
    smoothed = [gaussian_smooth(sem, s) for s in config.sigmas]
    cols_: list[np.ndarray] = [np.ones(sem.size)]
    for s in smoothed:
        flat = s.ravel()
        for k in range(1, config.degree + 1):
            cols_.append(flat**k)
    if config.radial:
        rows, cols = sem.shape
        cy, cx = _centre(sem, smoothed[-1], config.centre)
        yy, xx = np.mgrid[0:rows, 0:cols]
        r = np.hypot(yy - cy, xx - cx).ravel() / (min(rows, cols) / 2.0)
        cols_ += [r, r**2, r * smoothed[0].ravel()]
    return np.stack(cols_, axis=1)


@dataclass
class IntensityBaseline:
    """Per-pixel least-squares regression from smoothed SEM intensity (+ position) to depth (DU).

    Use :meth:`fit_arrays` (0..1 SEM images and DU depth maps) or :meth:`fit` (labelled
    :class:`core.data.SampleRecord` s); :meth:`predict` maps 0..1 images to DU, clipped to 0..255.
    """

    config: BaselineConfig = field(default_factory=BaselineConfig)
    coef: np.ndarray | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    arch_name = "intensity-baseline"

    @property
    def fitted(self) -> bool:
        return self.coef is not None

    def fit_arrays(
        self, sems01: Iterable[np.ndarray], depths: Iterable[np.ndarray]
    ) -> IntensityBaseline:
        """Fit on pairs of 0..1 SEM images and DU depth maps (ordinary least squares)."""
        n_feat = len(self.config.feature_names())
        xtx = np.zeros((n_feat, n_feat))
        xty = np.zeros(n_feat)
        n_pixels = 0
        for i, (sem, depth) in enumerate(zip(sems01, depths, strict=True)):
            sem = np.asarray(sem, dtype=np.float64)
            depth = np.asarray(depth, dtype=np.float64)
            if sem.shape != depth.shape:
                raise ValueError(
                    f"pair {i}: SEM shape {sem.shape} differs from depth shape {depth.shape}"
                )
            x = features(sem, self.config)
            y = depth.ravel()
            xtx += x.T @ x
            xty += x.T @ y
            n_pixels += y.size
        if n_pixels == 0:
            raise ValueError("cannot fit the intensity baseline on zero images")
        coef, *_ = np.linalg.lstsq(xtx, xty, rcond=None)
        self.coef = coef
        self.training = {**self.training, "n_pixels": int(n_pixels)}
        return self

    def fit(self, records: Sequence[Any]) -> IntensityBaseline:
        """Fit on labelled records (``core.data.SampleRecord`` with a depth map each)."""
        from core.data import DepthDataset

        unlabeled = [r for r in records if getattr(r, "depth_path", None) is None]
        if unlabeled:
            raise ValueError(
                f"{unlabeled[0].sem_path}: no depth map paired with this SEM image; "
                "the baseline needs labelled data"
            )
        ds = DepthDataset(list(records), augment=False, preload=False)
        items = (ds[i] for i in range(len(ds)))
        pairs = ((it["sem"][0].numpy(), it["depth"][0].numpy()) for it in items)
        sems, depths = _unzip(pairs)
        self.fit_arrays(sems, depths)
        self.training["n_train"] = len(records)
        return self

    def predict(self, sem01: np.ndarray) -> np.ndarray:
        """Depth (DU, float32, clipped 0..255) for one ``(rows, cols)`` or a ``(n, rows, cols)``
        stack of 0..1 SEM images."""
        if self.coef is None:
            raise RuntimeError("the intensity baseline is not fitted yet")
        arr = np.asarray(sem01)
        if arr.ndim == 3:
            return np.stack([self.predict(a) for a in arr])
        if arr.ndim != 2:
            raise ValueError(f"expected (rows, cols) or (n, rows, cols), got shape {arr.shape}")
        depth = features(arr, self.config) @ self.coef
        return np.clip(depth, 0.0, 255.0).reshape(arr.shape).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        if self.coef is None:
            raise RuntimeError("the intensity baseline is not fitted yet")
        cfg = asdict(self.config)
        cfg["sigmas"] = list(self.config.sigmas)
        return {
            "format": BASELINE_FORMAT,
            "architecture": {"name": self.arch_name, "config": cfg},
            "feature_names": self.config.feature_names(),
            "coef": [float(c) for c in self.coef],
            "input": {"normalization": "dtype-range-0-1"},
            "output": {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller"},
            "training": self.training,
            "metrics": self.metrics,
        }

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the fitted baseline as JSON (atomic; refuses to overwrite unless asked)."""
        from core.io.atomic import atomic_write_text

        text = json.dumps(self.to_dict(), indent=2, sort_keys=False)
        return atomic_write_text(Path(path), text + "\n", overwrite=overwrite)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> IntensityBaseline:
        if data.get("format") != BASELINE_FORMAT:
            raise BaselineError(
                f"{source}: not an intensity baseline (format {data.get('format')!r}, "
                f"expected {BASELINE_FORMAT!r})"
            )
        try:
            cfg = dict(data["architecture"]["config"])
            cfg["sigmas"] = tuple(float(s) for s in cfg["sigmas"])
            config = BaselineConfig(**cfg)
            coef = np.asarray([float(c) for c in data["coef"]], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"{source}: malformed baseline file ({exc})") from exc
        if coef.size != len(config.feature_names()):
            raise BaselineError(
                f"{source}: {coef.size} coefficients for {len(config.feature_names())} features"
            )
        return cls(
            config=config,
            coef=coef,
            training=dict(data.get("training", {})),
            metrics=dict(data.get("metrics", {})),
        )

    @classmethod
    def load(cls, path: str | Path) -> IntensityBaseline:
        path = Path(path)
        if not path.is_file():
            raise BaselineError(f"{path}: baseline file not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BaselineError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise BaselineError(f"{path}: expected a JSON object")
        return cls.from_dict(data, source=str(path))


def is_baseline_file(path: str | Path) -> bool:
    """True for a ``.json`` file whose ``format`` is the baseline's."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError):
        return False
    return isinstance(data, dict) and data.get("format") == BASELINE_FORMAT


def _unzip(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[list[np.ndarray], list]:
    sems: list[np.ndarray] = []
    depths: list[np.ndarray] = []
    for s, d in pairs:
        sems.append(s)
        depths.append(d)
    return sems, depths
