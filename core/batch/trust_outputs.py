"""The trust step's files of one prediction: depth below the local top surface (TIFF and
CSV, in nm or DU), the calibrated sigma (TIFF, DU) and the HTML report. Called by
:func:`core.batch.outputs.write_outputs` for the kinds it plans."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.inference import PredictionResult

BELOW_TOP_QUANTITY = "depth below the local top surface (positive down)"
SIGMA_QUANTITY = "calibrated sigma of the depth map (DU); +-2 sigma is the 95 % interval"


def write_trust_kind(
    kind: str, path: Path, result: PredictionResult, desc: dict[str, Any], *, overwrite: bool
) -> Path:
    """Write output ``kind`` (``depth_below_top_tiff``, ``depth_below_top_csv``,
    ``sigma_tiff``, ``report_html``) of ``result`` to ``path``."""
    from core.io import write_depth_csv, write_depth_tiff

    px = result.sem.pixel_size_nm
    if kind == "report_html":
        from core.report import write_report

        return write_report(result, path, overwrite=overwrite)
    trust = result.trust
    if trust is None:
        raise ValueError(f"{kind}: the result has no trust step")
    bt = trust.below_top
    if kind == "sigma_tiff":
        if trust.sigma is None:
            raise ValueError("sigma_tiff: the model card has no calibration")
        return write_depth_tiff(
            path,
            trust.sigma,
            pixel_size_nm=px,
            value_unit="DU",
            description=dict(desc, quantity=SIGMA_QUANTITY),
            overwrite=overwrite,
        )
    extra = {"quantity": BELOW_TOP_QUANTITY, "value_unit": bt.unit, "unit_note": bt.unit_note}
    if kind == "depth_below_top_tiff":
        return write_depth_tiff(
            path,
            bt.values,
            pixel_size_nm=px,
            value_unit=bt.unit,
            description=dict(desc, **extra),
            overwrite=overwrite,
        )
    if kind == "depth_below_top_csv":
        header = {
            "model_id": desc.get("model_id"),
            "source": desc.get("source"),
            "in_domain": desc.get("trust", {}).get("in_domain"),
            **extra,
        }
        return write_depth_csv(
            path, bt.values, header=header, pixel_size_nm=px, overwrite=overwrite
        )
    raise ValueError(f"unknown output kind {kind!r}")
