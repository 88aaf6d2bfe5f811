"""The calibrated checkpoint: each reference's before/after values, the card's
``calibration`` section (built by :func:`core.models.card.calibration_section`) and the
saving of weights + card."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from core.calibrate import agreement as agr
from core.calibrate.errors import CalibrationError
from core.calibrate.inputs import Inputs
from core.calibrate.request import CalibrationRequest, ReferenceResult

UNITS = {"average": "DU", "point": "nm"}
KIND_NAMES = {"average": "averages", "point": "points"}


def reference_results(
    inputs: Inputs,
    before: agr.Observations | None,
    after_du: np.ndarray | None,
    folds: np.ndarray | None,
) -> list[ReferenceResult]:
    """Each reference's given value and its prediction before and after (held out), in
    the reference's own unit (DU for averages, nm for points)."""
    if before is None or after_du is None or folds is None:
        return []
    out = []
    for j, r in enumerate(inputs.references):
        k = inputs.nm_per_du if r.kind == "point" and inputs.nm_per_du else 1.0
        out.append(
            ReferenceResult(
                kind=r.kind, key=r.key, line=r.line, value=r.value,
                before=float(before.pred[j] * k), after=float(after_du[j] * k),
                fold=int(folds[j]),
            )
        )  # fmt: skip
    return out


def _figures(pred: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    fig = agr.agreement(pred, ref)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in fig.items()}


def agreement_section(results: list[ReferenceResult]) -> dict[str, Any]:
    """``{averages|points: {unit, before, after}}`` over the references of each kind."""
    out: dict[str, Any] = {}
    for kind, name in KIND_NAMES.items():
        rows = [r for r in results if r.kind == kind]
        if not rows:
            continue
        ref = np.array([r.value for r in rows])
        out[name] = {
            "unit": UNITS[kind],
            "before": _figures(np.array([r.before for r in rows]), ref),
            "after": _figures(np.array([r.after for r in rows]), ref),
        }
    return out


def _file_entry(path: Path | None, count: int, **extra: Any) -> dict[str, Any] | None:
    if path is None:
        return None
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"file": str(Path(path).resolve()), "sha256": digest, "count": count, **extra}


def method_text(anchor: Any, chosen: dict[str, Any]) -> str:
    """One line: what was done."""
    anchor_text = (
        "no simulator anchor"
        if anchor == "none"
        else "simulator anchor (" + ("legacy" if anchor is None else ", ".join(anchor)) + ")"
    )
    text = {
        "adapted": f"images: masked reconstruction + {anchor_text} + AdaBN",
        "AdaBN only": "images: AdaBN only (it agreed better with the references than "
        "the fine-tuned network)",
        "source": "images: not used (no adaptation agreed better with the references)",
    }[chosen.get("base", "adapted")]
    way = chosen.get("way", "none")
    if way == "correction":
        text += f"; references: output correction ({chosen['correction']['name']})"
    elif way == "fine-tune":
        text += "; references: fine-tuning on them"
        if chosen.get("keep_weight"):
            text += f" (maps kept near the start model's, weight {chosen['keep_weight']:g})"
    elif "heldout_rmse_du" in chosen:
        text += "; references: checked, nothing applied (no way beat the adapted model)"
    return text


def build_section(
    request: CalibrationRequest,
    card: dict[str, Any],
    inputs: Inputs,
    results: list[ReferenceResult],
    chosen: dict[str, Any],
    *,
    anchor: Any,
    steps: int,
    seconds: float,
    probe: dict[str, Any],
) -> dict[str, Any]:
    from core.models.card import calibration_section

    n_avg = sum(r.kind == "average" for r in inputs.references)
    n_pts = len(inputs.references) - n_avg
    avg_images = len({i for r in inputs.references if r.kind == "average" for i in r.images})
    crossval = None
    if inputs.references:
        crossval = {
            "folds": chosen["folds"], "groups": chosen["groups"], "seed": request.seed,
            "heldout_rmse_du": chosen["heldout_rmse_du"], "chosen": chosen["way"],
            "base": chosen.get("base", "adapted"), "base_rmse_du": chosen.get("base_rmse_du"),
            "note": chosen.get("note"), "keep_weight": chosen.get("keep_weight", 0.0),
        }  # fmt: skip
    correction = chosen.get("correction") or {
        "name": "none", "gain": 1.0, "offset_du": 0.0, "pivot_du": 0.0,
    }  # fmt: skip
    return calibration_section(
        method=method_text(anchor, chosen),
        source_model={"id": card.get("id"), "file": str(Path(request.model).resolve())},
        budget_s=float(request.budget_s),
        seconds=seconds,
        steps=steps,
        anchor="none" if anchor == "none" else ("legacy" if anchor is None else list(anchor)),
        images={
            "folder": str(Path(inputs.root).resolve()),
            "count": len(inputs.images),
            "sha256": inputs.hash,
        },
        averages=_file_entry(request.averages_csv, n_avg, images=avg_images),
        references=_file_entry(request.references_csv, n_pts),
        crossval=crossval,
        correction=correction,
        agreement=agreement_section(results),
        probe=probe,
    )


def save_calibrated(
    request: CalibrationRequest, model: nn.Module, card: dict[str, Any], section: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """Write the calibrated weights and card (the source card, without its id, plus
    ``calibration``); returns the weights path and the card as written."""
    from core.models import read_card, save_checkpoint
    from core.models.card import derived_card

    new_card = derived_card(card, calibration=section)
    new_card["calibration"] = section  # replace, never merge, an earlier calibration
    try:
        out = save_checkpoint(request.out, model.to("cpu"), new_card, overwrite=request.overwrite)
    except ValueError as exc:  # CheckpointError
        raise CalibrationError(str(exc)) from None
    return out, read_card(out)
