"""What each field of a model card's ``calibration`` section must hold (the section is
built and validated by :mod:`core.models.card`; this is its table)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any


def _int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


#: field kind -> (test, what it must be); a kind ending in "?" also allows null
KINDS: dict[str, tuple[Any, str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "obj": (lambda v: isinstance(v, dict), "an object"),
    "int0": (lambda v: _int(v, 0), "an integer >= 0"),
    "int1": (lambda v: _int(v, 1), "an integer >= 1"),
    "folds": (lambda v: _int(v, 2), "an integer >= 2"),
    "num": (_num, "a number"),
    "num0": (lambda v: _num(v) and v >= 0, "a number >= 0"),
    "pos": (lambda v: _num(v) and v > 0, "a number > 0"),
    "gain": (lambda v: _num(v) and 0.25 <= v <= 4.0, "a number 0.25..4"),
    "sha": (
        lambda v: isinstance(v, str) and bool(re.fullmatch("[0-9a-f]{64}", v)),
        "64 hex digits",
    ),
}
#: calibration field (dotted; checked when its parent object is present) -> kind
CALIBRATION_FIELDS = {
    "method": "str", "budget_s": "pos", "seconds": "num0", "steps": "int0",
    "source_model": "obj", "source_model.id": "str?", "images": "obj", "images.count": "int1",
    "images.sha256": "sha", "averages": "obj?", "averages.count": "int1", "references": "obj?",
    "references.count": "int1", "crossval": "obj?", "crossval.folds": "folds",
    "correction": "obj", "correction.name": "str", "correction.gain": "gain",
    "correction.offset_du": "num", "correction.pivot_du": "num", "agreement": "obj",
}  # fmt: skip
#: each kind of reference in ``agreement`` (averages, points), and its before/after figures
AGREEMENT_FIELDS = {"unit": "str", "before": "obj", "after": "obj"}
FIGURE_FIELDS = {"n": "int0", "rmse": "num0?", "bias": "num?", "slope": "num?"}

Problem = tuple[str, str, Any]  # (field, what it must be, the value found)


def field_problem(obj: Any, fields: Mapping[str, str], at: str) -> Problem | None:
    """The first field of ``obj`` that is not of its kind, or None."""
    if not isinstance(obj, dict):
        return at, "an object", obj
    for name, kind in fields.items():
        *parents, key = name.split(".")
        holder: Any = obj
        for p in parents:
            holder = holder.get(p) if isinstance(holder, dict) else None
        nullable = kind.endswith("?")
        if not isinstance(holder, dict) or (nullable and holder.get(key) is None):
            continue
        test, what = KINDS[kind.rstrip("?")]
        if not test(holder.get(key)):
            return f"{at}.{name}", what + (" or null" if nullable else ""), holder.get(key)
    return None


def calibration_problem(cal: Any) -> Problem | None:
    """The first problem of a ``calibration`` section (an empty one has none)."""
    if isinstance(cal, dict) and not cal:
        return None
    problem = field_problem(cal, CALIBRATION_FIELDS, "calibration")
    if problem is not None:
        return problem
    for kind, entry in cal["agreement"].items():
        at = f"calibration.agreement.{kind}"
        problem = field_problem(entry, AGREEMENT_FIELDS, at)
        for when in ("before", "after"):
            problem = problem or field_problem(entry[when], FIGURE_FIELDS, f"{at}.{when}")
        if problem is not None:
            return problem
    return None
