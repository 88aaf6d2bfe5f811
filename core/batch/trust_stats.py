"""The trust step's columns of ``summary.csv`` (:data:`TRUST_COLUMNS`, after the
prediction's own) and how one item fills them: the domain verdict, the depth below top's
unit, the hole metrology's means, the calibrated sigma and, with ground truth, the share
of pixels within +-2 sigma and the offset-free RMSE."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.inference import PredictionResult

TRUST_COLUMNS = (
    "in_domain",
    "domain_score",
    "domain_reasons",
    "depth_unit",
    "hole_depth_mean",
    "hole_depth_u_k2",
    "top_cd_nm_mean",
    "mean_sigma_du",
    "within_2sigma",
    "rmse_offset_free_du",
)


def trust_stats(result: PredictionResult) -> dict[str, Any]:
    """The trust columns of one prediction (no ground-truth columns)."""
    trust = result.trust
    if trust is None:
        return {}
    out: dict[str, Any] = {
        "in_domain": trust.domain.in_domain,
        "domain_score": trust.domain.score,
        "domain_reasons": list(trust.domain.reasons),
        "depth_unit": trust.below_top.unit,
        "mean_sigma_du": None if trust.sigma is None else float(np.mean(trust.sigma)),
    }
    if trust.holes is not None:
        us = [h.depth_u for h in trust.holes.holes if h.depth_u is not None]
        out["n_holes_measured"] = len(trust.holes.holes)
        out["hole_depth_mean"] = trust.holes.stats["depth"].mean
        out["hole_depth_u_k2"] = float(np.mean(us)) if us else None
        cds = [h.top_cd_nm for h in trust.holes.holes if h.top_cd_nm is not None]
        out["top_cd_nm_mean"] = float(np.mean(cds)) if cds else None
    return out


def truth_stats(result: PredictionResult, truth: np.ndarray) -> dict[str, Any]:
    """``within_2sigma`` (share of pixels with |prediction - truth| <= 2 sigma; None without
    a calibrated sigma) and ``rmse_offset_free_du`` (RMSE after removing the mean error)."""
    from core.metrics import image_rmse_offset_free
    from core.trust.uncertainty import coverage_of

    err = result.depth.astype(np.float64) - truth.astype(np.float64)
    sigma = result.sigma
    within = None if sigma is None else coverage_of(err, sigma)
    return {
        "within_2sigma": within,
        "rmse_offset_free_du": image_rmse_offset_free(result.depth, truth),
    }


def free_name(path: Path, *, overwrite: bool) -> Path:
    """``path``, or without ``overwrite`` the first of ``<stem>_2<suffix>``,
    ``<stem>_3<suffix>``... that does not exist (as summary.csv does)."""
    k = 2
    candidate = path
    while not overwrite and candidate.exists():
        candidate = path.with_name(f"{path.stem}_{k}{path.suffix}")
        k += 1
    return candidate


def batch_report_row(item: Any) -> dict[str, Any]:
    """One row of the batch report (:func:`core.report.write_batch_report`)."""
    s = item.stats
    report = item.outputs.get("report_html")
    return {
        "file": str(item.source),
        "status": item.status,
        "in_domain": s.get("in_domain"),
        "domain_score": s.get("domain_score"),
        "domain_reasons": " | ".join(s.get("domain_reasons") or []),
        "n_holes": s.get("n_holes_measured"),
        "hole_depth_mean": s.get("hole_depth_mean"),
        "depth_unit": s.get("depth_unit"),
        "mean_sigma_du": s.get("mean_sigma_du"),
        "rmse_du": item.rmse,
        "within_2sigma": s.get("within_2sigma"),
        "report": report.name if report is not None else None,
    }


def fmt_trust(stats: dict[str, Any]) -> list[str]:
    """The :data:`TRUST_COLUMNS` strings of one item's stats."""

    def f(v: Any, digits: int = 4) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.{digits}f}"
        if isinstance(v, list):
            return " | ".join(str(x) for x in v)
        return str(v)

    return [f(stats.get(c)) for c in TRUST_COLUMNS]
