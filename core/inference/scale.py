"""The scale policy: at which pixel size an image is predicted, decided per image before
any inference.

The model was trained at one pixel size (the card's ``input.pixel_size_nm``, 2 nm for the
bundled model). An image whose pixel size is known is brought to it by resampling when the
factor (image pixel size / model pixel size) lies in the supported range and the resampled
frame stays within a pixel budget; otherwise it is predicted at its own (native) pixel size
with an out-of-domain note, or skipped, as the policy says. Without a pixel size the holes
found decide: the model saw holes of about :data:`HOLE_FRACTION` of its input's short side
(27 px of 48 for the bundled model), so the median hole diameter gives the factor.

Policies (:data:`SCALE_POLICIES`, ``--scale-policy`` in the CLI):

- ``auto`` (default): resample when the factor is within :attr:`ScalePolicy.min_factor` -
  :attr:`ScalePolicy.max_factor` (0.25-4x) and the result within
  :attr:`ScalePolicy.max_pixels` (16 Mpx); else native with a note.
- ``model``: resample whenever the hard limits allow (1/8-8x, 64 Mpx); else native.
- ``native``: never resample; a note says when the image is out of the model's domain.
- ``skip``: like ``auto``, but an image that ``auto`` would predict out of domain is skipped
  (:class:`ScaleSkipped`) with the reason.

Every decision (:class:`ScaleDecision`) carries the action, the factor applied, the factor
that would match the model, what it was based on and the true reason in one sentence; the
predictor puts it in the result's settings and notes, the batch in ``summary.csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from core.inference.holes import HoleCandidate, detect_holes, plausible_field

SCALE_POLICIES = ("auto", "model", "native", "skip")
#: Pixel sizes within this relative difference count as equal (no resampling).
SAME_PIXEL_SIZE = 0.05
#: Hard limits of the ``model`` policy (and of any policy's settings).
HARD_MIN_FACTOR, HARD_MAX_FACTOR = 0.125, 8.0
HARD_MAX_PIXELS = 64_000_000
#: The holes the model saw: median detected diameter / the input's short side (27 / 48
#: px on simulated fields at the model's scale), and the spread taken as a match.
HOLE_FRACTION = 0.56
HOLE_TOLERANCE = 0.25


class ScaleSkipped(ValueError):
    """The scale policy ``skip`` refused an image; ``decision`` says why."""

    def __init__(self, message: str, decision: ScaleDecision) -> None:
        super().__init__(message)
        self.decision = decision


@dataclass(frozen=True)
class ScalePolicy:
    """How far the predictor may resample an image to the model's pixel size."""

    name: str = "auto"
    min_factor: float = 0.25
    max_factor: float = 4.0
    max_pixels: int = 16_000_000

    @classmethod
    def named(cls, policy: str | ScalePolicy) -> ScalePolicy:
        """The policy of that name (``ValueError`` listing the names for others)."""
        if isinstance(policy, ScalePolicy):
            return policy
        key = str(policy).strip().lower()
        if key not in SCALE_POLICIES:
            raise ValueError(
                f"unknown scale policy {policy!r}; choose one of {', '.join(SCALE_POLICIES)}"
            )
        if key == "model":
            return cls(key, HARD_MIN_FACTOR, HARD_MAX_FACTOR, HARD_MAX_PIXELS)
        return replace(cls(), name=key)

    def settings(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScaleDecision:
    """What the policy decided for one image.

    ``action``: ``"model"`` (resampled to the model's pixel size), ``"native"`` or
    ``"skip"``. ``factor``: the resample factor applied (> 1 enlarges; 1.0 unless
    ``"model"``). ``wanted``: the factor that would match the model (None when unknown).
    ``basis``: ``"pixel size"``, ``"holes"``, ``"input size"`` or ``"none"``.
    ``in_domain``: whether the image is predicted at (about) the model's scale.
    ``reason``: the true reason, one sentence.
    """

    action: str
    factor: float
    wanted: float | None
    basis: str
    in_domain: bool
    reason: str

    @property
    def noteworthy(self) -> bool:
        """Whether the reason belongs in the result's notes (anything but an image
        already at the model's scale)."""
        return self.action != "native" or not self.in_domain

    def record(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "factor": round(self.factor, 6),
            "wanted": None if self.wanted is None else round(self.wanted, 6),
            "basis": self.basis,
            "in_domain": self.in_domain,
            "reason": self.reason,
        }


def _mpx(pixels: float) -> str:
    return f"{pixels / 1e6:.3g} Mpx"


def _size(shape: Sequence[int], factor: float) -> tuple[int, int]:
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def _choose(
    wanted: float,
    what: str,
    basis: str,
    shape: Sequence[int],
    policy: ScalePolicy,
) -> ScaleDecision:
    """The decision once the factor to the model's scale is known; ``what`` describes
    where it came from (``"pixel size 11.2 nm is 5.58x the model's 2 nm"``)."""
    if abs(wanted - 1.0) <= SAME_PIXEL_SIZE:
        return ScaleDecision("native", 1.0, wanted, basis, True, f"{what}: native scale")
    native_why = ""
    rows, cols = _size(shape, wanted)
    if policy.name == "native":
        native_why = "the scale policy is 'native'"
    elif not policy.min_factor <= wanted <= policy.max_factor:
        native_why = (
            f"outside the supported {policy.min_factor:g}-{policy.max_factor:g}x "
            f"(scale policy '{policy.name}')"
        )
    elif rows * cols > policy.max_pixels:
        native_why = (
            f"resampling would make {shape[0]} x {shape[1]} px into {rows} x {cols} px "
            f"({_mpx(rows * cols)}), above the {_mpx(policy.max_pixels)} limit "
            f"(scale policy '{policy.name}')"
        )
    if not native_why:
        reason = f"{what}: resampled {wanted:.3g}x to {rows} x {cols} px at the model's scale"
        return ScaleDecision("model", float(wanted), wanted, basis, True, reason)
    if policy.name == "skip":
        return ScaleDecision("skip", 1.0, wanted, basis, False, f"skipped: {what}, {native_why}")
    reason = (
        f"{what}, {native_why}: predicted at native scale, out of the model's domain; "
        "depths are unreliable"
    )
    return ScaleDecision("native", 1.0, wanted, basis, False, reason)


def decide_scale(
    pixel_size_nm: float | None,
    model_pixel_size_nm: float | None,
    shape: Sequence[int],
    policy: ScalePolicy,
    *,
    input_size: tuple[int, int],
    hole_diameters: Callable[[], list[float]] | None = None,
) -> ScaleDecision:
    """The scale decision for an image of ``shape`` (rows, cols) and ``pixel_size_nm``.

    ``hole_diameters``: called only when the pixel size is unknown (or the model's is) and
    the image is larger than the model's input: the diameters (px) of a plausible hole
    array at native scale, or ``[]`` when none was found.
    """
    if pixel_size_nm and model_pixel_size_nm:
        wanted = float(pixel_size_nm) / float(model_pixel_size_nm)
        what = (
            f"pixel size {pixel_size_nm:g} nm is {wanted:.3g}x the model's "
            f"{model_pixel_size_nm:g} nm"
        )
        return _choose(wanted, what, "pixel size", shape, policy)
    near = all(0.5 * m <= s <= 1.5 * m for s, m in zip(shape[:2], input_size, strict=True))
    if near:
        reason = (
            f"no pixel size; the image is about the model's input size "
            f"({input_size[0]} x {input_size[1]} px): taken as a crop at the model's scale"
        )
        return ScaleDecision("native", 1.0, None, "input size", True, reason)
    diameters = hole_diameters() if hole_diameters is not None else []
    if diameters:
        median = float(np.median(diameters))
        typical = HOLE_FRACTION * min(input_size)
        wanted = typical / median
        what = (
            f"no pixel size; the {len(diameters)} holes found have a median diameter of "
            f"{median:.1f} px, the model's about {typical:.0f} px"
        )
        if abs(wanted - 1.0) <= HOLE_TOLERANCE:
            return ScaleDecision("native", 1.0, wanted, "holes", True, f"{what}: native scale")
        return _choose(wanted, what, "holes", shape, policy)
    what = "no pixel size and no hole array found: the scale is unknown"
    if policy.name == "skip":
        return ScaleDecision("skip", 1.0, None, "none", False, f"skipped: {what}")
    reason = (
        f"{what}, predicted at native scale; depths are unreliable unless the pixel size "
        f"is near the model's{f' {model_pixel_size_nm:g} nm' if model_pixel_size_nm else ''}"
    )
    return ScaleDecision("native", 1.0, None, "none", False, reason)


def scale_for_image(
    pixel_size_nm: float | None,
    model_pixel_size_nm: float | None,
    image01: np.ndarray,
    policy: ScalePolicy,
    input_size: tuple[int, int],
) -> tuple[ScaleDecision, list[HoleCandidate] | None]:
    """:func:`decide_scale` for a 0..1 image, looking for holes at native scale when it
    has to; returns the decision and the holes found (None when it did not look), which
    the mode choice reuses when the image is not resampled."""
    found: list[list[HoleCandidate]] = []

    def diameters() -> list[float]:
        holes = detect_holes(image01, input_size)
        found.append(holes)
        return [h.diameter_px for h in holes] if plausible_field(holes) else []

    decision = decide_scale(
        pixel_size_nm,
        model_pixel_size_nm,
        image01.shape,
        policy,
        input_size=input_size,
        hole_diameters=diameters,
    )
    return decision, (found[0] if found else None)
