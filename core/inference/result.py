"""What a prediction returns: the depth map, its uncertainty, and the per-hole table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from core.io import SemImage
    from core.trust.assess import TrustResult


@dataclass
class HoleRecord:
    """One hole found in field mode, in the ORIGINAL image's pixel grid.

    ``row``/``col``: centre (px, sub-pixel). ``diameter_px``/``diameter_nm``: equivalent
    diameter of the dark region the detector found (nm when the pixel size is known).
    ``bottom_depth``: 5th percentile of the (1-px Gaussian) smoothed depth inside that
    region, DU (deeper = smaller). ``mean_depth``: mean depth inside it, DU.
    ``uncertainty``: mean of the uncertainty map inside it, DU.
    """

    id: int
    row: float
    col: float
    diameter_px: float
    diameter_nm: float | None
    bottom_depth: float
    mean_depth: float
    uncertainty: float

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "row_px": round(self.row, 3),
            "col_px": round(self.col, 3),
            "diameter_px": round(self.diameter_px, 3),
            "diameter_nm": "" if self.diameter_nm is None else round(self.diameter_nm, 3),
            "bottom_depth_du": round(self.bottom_depth, 4),
            "mean_depth_du": round(self.mean_depth, 4),
            "uncertainty_du": round(self.uncertainty, 4),
        }


@dataclass
class PredictionResult:
    """A depth map for one SEM image.

    ``depth``: float32 (rows, cols) in depth units (DU, 0-255 scale, deeper = smaller), on
    the image's own pixel grid. ``uncertainty``: float32 DU, the per-pixel standard
    deviation of the model's answers over test-time augmentations (identity, horizontal,
    vertical and both flips, un-flipped) and over a second shot of the same structure when
    one was given: the spread under changes that should not change the answer. It is a
    lower bound on the error, not a calibrated confidence interval; zero when neither TTA
    nor a second shot was used (see ``notes``). ``denoised``: the SEM image after the
    optional Noise2Self step (float32, in the SEM's original value range, like
    ``sem.pixels``), or None when the prediction did not denoise first.

    ``trust``: the :class:`~core.trust.assess.TrustResult` of the prediction: the domain
    verdict (also as :attr:`in_domain`, :attr:`domain_score`, :attr:`domain_reasons`), the
    calibrated sigma (:attr:`sigma`), the depth below the local top surface
    (:attr:`depth_below_top` in :attr:`depth_below_top_unit`) and the per-hole metrology.

    ``written``: the output files (kind -> path) a worker process already wrote for this
    result (``semdepth predict --predict-workers``), else None: the batch then records
    them instead of writing them again.
    """

    depth: np.ndarray
    uncertainty: np.ndarray
    sem: SemImage
    mode: str
    holes: list[HoleRecord] | None
    timings: dict[str, float]
    model_id: str
    nm_per_depth_unit: float | None
    fast_path: str = "fp32"
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    denoised: np.ndarray | None = None
    trust: TrustResult | None = None
    written: dict[str, Path] | None = None

    @property
    def in_domain(self) -> bool | None:
        """The domain verdict (None when no trust step ran)."""
        return None if self.trust is None else self.trust.domain.in_domain

    @property
    def domain_score(self) -> float | None:
        """Largest fitted signal over its threshold (> 1: unlike the calibration data)."""
        return None if self.trust is None else self.trust.domain.score

    @property
    def domain_reasons(self) -> list[str]:
        return [] if self.trust is None else list(self.trust.domain.reasons)

    @property
    def sigma(self) -> np.ndarray | None:
        """Calibrated per-pixel sigma of ``depth`` (float32 DU; +-2 sigma is the 95 %
        interval in domain), or None when the card has no calibration."""
        return None if self.trust is None else self.trust.sigma

    @property
    def depth_below_top(self) -> np.ndarray | None:
        """Depth below the local top surface (float32, positive down) in
        :attr:`depth_below_top_unit`."""
        return None if self.trust is None else self.trust.below_top.values

    @property
    def depth_below_top_unit(self) -> str | None:
        """``"nm"`` or ``"DU"`` (see ``trust.below_top.unit_note`` for why)."""
        return None if self.trust is None else self.trust.below_top.unit

    @property
    def depth_nm(self) -> np.ndarray | None:
        """Depth in nm (``depth * nm_per_depth_unit``, same convention: deeper = smaller),
        or None when the model card does not give the scale."""
        if self.nm_per_depth_unit is None:
            return None
        return (self.depth * np.float32(self.nm_per_depth_unit)).astype(np.float32)

    def description(self) -> dict[str, Any]:
        """The JSON-serialisable record written into output files' descriptions."""
        sem = self.sem
        return {
            "software": "SEM Depth Studio",
            "model_id": self.model_id,
            "fast_path": self.fast_path,
            "mode": self.mode,
            "source": str(sem.path) if sem.path is not None else None,
            "shape": [int(self.depth.shape[0]), int(self.depth.shape[1])],
            "pixel_size_nm": sem.pixel_size_nm,
            "pixel_size_source": getattr(sem, "pixel_size_source", None),
            "value_unit": "DU",
            "convention": "deeper = smaller",
            "nm_per_depth_unit": self.nm_per_depth_unit,
            "uncertainty": "std over test-time flips (and shots); a lower bound on the error",
            "n_holes": None if self.holes is None else len(self.holes),
            "denoised": self.denoised is not None,
            "denoiser": self.settings.get("denoiser") if self.denoised is not None else None,
            "settings": self.settings,
            "notes": list(self.notes),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "trust": None if self.trust is None else self.trust.as_dict(),
        }
