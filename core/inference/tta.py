"""Test-time augmentation (TTA): the variants of a window stack the model sees, and the
mean and spread of its un-done answers.

Two kinds (:func:`tta_kind_for` picks one from the model card):

- ``"flips"``: identity, h-flip, v-flip, both (each flip is its own inverse);
- ``"shifts"``: identity and the four 1-px moves (border filled by reflection), for a model
  trained without flips: it never saw mirrored images (each imaging case has its detector
  on a fixed side), so its answers on them would be biased, not spread.

With a second shot of the same structure the variants of both shots enter the mean and
the standard deviation. The spread is a lower bound on the error, not a calibrated interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.inference.scale import ScaleDecision

#: The 1-px moves (dy, dx) of the ``"shifts"`` kind, identity first.
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))

#: ``tta`` settings: ``auto`` (the default) runs the variants on every image except one
#: predicted at its native scale although its known pixel size is outside the range the
#: scale policy resamples (out of the model's domain before any pixel is seen: one pass,
#: a quarter of the time, its depths marked unreliable either way); ``on``: always;
#: ``off``: never.
TTA_CHOICES = ("auto", "on", "off")


def tta_choice(tta: bool | str) -> str:
    """The :data:`TTA_CHOICES` name of ``tta`` (``True`` is ``on``, ``False`` ``off``);
    ``ValueError`` listing the choices for others."""
    if isinstance(tta, bool):
        return "on" if tta else "off"
    key = str(tta).strip().lower()
    if key not in TTA_CHOICES:
        raise ValueError(f"unknown TTA setting {tta!r}; choose one of {', '.join(TTA_CHOICES)}")
    return key


def resolve_tta(tta: bool | str, decision: ScaleDecision) -> tuple[bool, str | None]:
    """Whether this image gets the variants, and the note saying why not when ``auto``
    leaves them out (see :data:`TTA_CHOICES`)."""
    choice = tta_choice(tta)
    if choice != "auto":
        return choice == "on", None
    if decision.action == "native" and not decision.in_domain and decision.wanted is not None:
        return False, (
            "one pass without test-time flips: the image is out of the model's domain by its "
            "scale, so its depths are unreliable whatever the flips say (--tta on runs them)"
        )
    return True, None


def tta_kind_for(card: Mapping[str, Any]) -> str:
    """Which test-time augmentations suit the model: ``"flips"`` when it was trained with
    flips (or the card does not say), ``"shifts"`` (identity and 1-px moves) when its card
    records ``training.augment = false``: such a model never saw mirrored images (each
    imaging case has its detector on a fixed side), so their answers are biased, not spread.
    """
    training = card.get("training")
    if isinstance(training, Mapping) and training.get("augment") is False:
        return "shifts"
    return "flips"


def n_variants(kind: str) -> int:
    """How many variants of each window the kind makes (flips 4, shifts 5)."""
    return len(SHIFTS) if kind == "shifts" else 4


def flip_variants(x: np.ndarray) -> list[np.ndarray]:
    """Identity, h-flip, v-flip, both, of a (N, H, W) stack (each its own inverse)."""
    return [x, x[:, :, ::-1], x[:, ::-1, :], x[:, ::-1, ::-1]]


def shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` (N, H, W) moved by (dy, dx) px (|dy|, |dx| <= 1), the border filled by
    reflection."""
    h, w = x.shape[1:]
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    return pad[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def shift_variants(x: np.ndarray) -> list[np.ndarray]:
    """``x`` (N, H, W) moved by each of :data:`SHIFTS`."""
    return [shift(x, dy, dx) for dy, dx in SHIFTS]


def unshift_variant(x: np.ndarray, k: int) -> np.ndarray:
    """Undo the ``k``-th move of :data:`SHIFTS` (exact away from the 1-px border)."""
    dy, dx = SHIFTS[k]
    return shift(x, -dy, -dx)


def _undo(p: np.ndarray, j: int, tta: bool, kind: str) -> np.ndarray:
    """The answer to variant ``j`` brought back to the original window's frame."""
    if not tta:
        return p
    if kind == "shifts":
        return unshift_variant(p, j)
    return flip_variants(p)[j]  # each flip is its own inverse


def tta_mean_std(
    windows: np.ndarray,
    second: np.ndarray | None,
    run: Callable[[np.ndarray], np.ndarray | tuple[np.ndarray, np.ndarray]],
    *,
    tta: bool,
    kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (N, H, W) float32 of the model's answers for a window stack.

    ``run`` maps a (M, H, W) stack of 0..1 images to depth (M, H, W), or to (depth, log
    variance) for a model with a variance head; it is called once with every variant of
    ``windows`` (and of ``second``, the other shot's windows) concatenated. Without
    ``tta`` the only variants are the shots themselves; one answer gives a zero spread.
    The std is :func:`core.trust.uncertainty.combine_variants`'s: the spread over the
    variants and, with a variance head, the mean predicted variance (law of total
    variance).
    """
    from core.trust.uncertainty import combine_variants

    shots = [windows] if second is None else [windows, second]
    forward = shift_variants if kind == "shifts" else flip_variants
    variants: list[np.ndarray] = []
    for s in shots:
        variants.extend(forward(s) if tta else [s])
    stacked = np.concatenate([np.ascontiguousarray(v) for v in variants], axis=0)
    answer = run(stacked)
    preds, log_vars = answer if isinstance(answer, tuple) else (answer, None)
    n = windows.shape[0]
    per = len(variants) // len(shots)
    outs = [_undo(preds[k * n : (k + 1) * n], k % per, tta, kind) for k in range(len(variants))]
    logs = None
    if log_vars is not None:
        logs = np.stack(
            [_undo(log_vars[k * n : (k + 1) * n], k % per, tta, kind) for k in range(len(variants))]
        )
    return combine_variants(np.stack(outs, axis=0), logs)
