"""What the window shows of a prediction's trust step (``PredictionResult.trust``, a
:class:`core.trust.assess.TrustResult`): the out-of-domain line of the banner and the batch
row, and the depth below the local top surface under the cursor, along a line and in a
rectangle, in the engine's own unit (nm when the model card gives nm per DU and the image
was predicted at the model's pixel size, else DU; ``below_top.unit_note`` says why).

Everything here reads the engine's numbers as they are; nothing is recomputed with other
definitions. The per-pixel and per-rectangle helpers read only the pixels they need (the
engine's ``readout``/``roi_stats`` scale the whole map first, too slow for a large field
at the mouse's rate) with the same float32 arithmetic, so their numbers equal the engine's
(the tests compare them). No Qt here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: What the banner adds to an out-of-domain verdict.
SIGN_OFF = "do not sign off on these numbers"


def domain_warning(result: Any) -> str | None:
    """The engine's out-of-domain verdict on a prediction as one line, or None (in domain,
    or no verdict: a result without a trust step). Read from ``result.in_domain``,
    ``result.domain_score`` and ``result.domain_reasons`` (:class:`PredictionResult`)."""
    if getattr(result, "in_domain", None) is not False:
        return None
    score = getattr(result, "domain_score", None)
    reasons = getattr(result, "domain_reasons", None) or []
    head = "Out of domain" + (f" (score {float(score):.2f})" if score is not None else "")
    return head + (": " + "; ".join(str(r) for r in reasons) if reasons else "") + f" - {SIGN_OFF}"


def trust_of(result: Any) -> Any:
    """``result.trust`` when it is a trust step's result (has ``below_top``), else None."""
    trust = getattr(result, "trust", None)
    return trust if getattr(trust, "below_top", None) is not None else None


def _f32(a: Any) -> np.float32:
    return np.float32(a)


def pixel_readout(trust: Any, row: int, col: int) -> dict[str, Any]:
    """The engine's :meth:`~core.trust.assess.TrustResult.readout` at (row, col), from that
    pixel alone: ``depth_below_top`` and ``plus_minus_2sigma`` (None uncalibrated) in
    ``unit``, ``in_domain``; plus ``depth_below_top_du`` and ``calibrated``."""
    bt = trust.below_top
    k = _f32(bt.factor)
    du = _f32(bt.du[row, col])
    sigma = None if bt.sigma_du is None else float(_f32(bt.sigma_du[row, col]) * k)
    return {
        "depth_below_top": float(du * k),
        "plus_minus_2sigma": None if sigma is None else 2.0 * sigma,
        "unit": bt.unit,
        "in_domain": trust.domain.in_domain,
        "depth_below_top_du": float(du),
        "calibrated": bt.sigma_du is not None,
    }


def region_stats(trust: Any, rows: slice, cols: slice) -> dict[str, Any]:
    """The engine's :meth:`~core.trust.assess.TrustResult.roi_stats` over the rectangle
    ``rows`` x ``cols`` (the same pixels as its mask): ``count``, ``mean``, ``min``,
    ``max`` (the deepest point), ``deepest_at`` (row, col), ``max_plus_minus_2sigma``
    (None uncalibrated) and ``unit``."""
    bt = trust.below_top
    block = bt.du[rows, cols]
    if block.size == 0:
        return {"count": 0, "unit": bt.unit}
    vals = (block * _f32(bt.factor)).astype(np.float32)
    flat = vals.ravel()
    i = int(np.argmax(flat))
    r, c = divmod(i, vals.shape[1])
    r, c = r + (rows.start or 0), c + (cols.start or 0)
    sigma = bt.sigma_du
    return {
        "count": int(flat.size),
        "mean": float(flat.mean()),
        "min": float(flat.min()),
        "max": float(flat[i]),
        "deepest_at": (r, c),
        "max_plus_minus_2sigma": None
        if sigma is None
        else 2.0 * float(_f32(sigma[r, c]) * _f32(bt.factor)),
        "unit": bt.unit,
    }


def format_depth(value: float | None, half: float | None, unit: str, digits: int = 2) -> str:
    """``"29.28 ± 3.10 nm"`` (value and its +-2 sigma half-width), ``"29.28 DU
    (uncalibrated)"`` without a half-width, ``"–"`` without a value."""
    if value is None or not math.isfinite(value):
        return "–"
    if half is None or not math.isfinite(half):
        return f"{value:.{digits}f} {unit} (uncalibrated)"
    return f"{value:.{digits}f} ± {half:.{digits}f} {unit}"
