"""What a calibration is asked to do (:class:`CalibrationRequest`, built by the CLI, the GUI
or a script) and what it gives back (:class:`CalibrationResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.calibrate.errors import CalibrationError

MAX_FOLDS = 20
#: ``anchor`` values besides a comma-separated list of contrast families
ANCHOR_CHOICES = ("auto", "none", "legacy", "all")


@dataclass(frozen=True)
class CalibrationRequest:
    """Calibrate ``model`` to the SEM images under ``images`` and save ``out``
    (``.safetensors`` + card).

    ``averages_csv`` / ``references_csv``: the optional reference numbers
    (:mod:`core.calibrate.references`). ``budget_s``: the fine-tuning time, all stages
    together. ``folds``: k of the k-fold cross-validation (fewer when there are fewer
    reference groups). ``anchor``: the simulator data that keep the depth head anchored
    while the network adapts: ``"auto"`` (the contrast families the model card records,
    else all), ``"all"``, ``"legacy"`` (the simulator before contrast families), a
    comma-separated list of families, or ``"none"``. The work runs on the CPU.
    """

    model: Path
    images: Path
    out: Path
    averages_csv: Path | None = None
    references_csv: Path | None = None
    budget_s: float = 240.0
    folds: int = 5
    seed: int = 0
    anchor: str = "auto"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.budget_s, int | float) and math.isfinite(self.budget_s)):
            raise CalibrationError(f"budget {self.budget_s!r}: not a finite number of seconds")
        if self.budget_s <= 0:
            raise CalibrationError(f"budget {self.budget_s:g} s: must be > 0 s")
        if not 2 <= int(self.folds) <= MAX_FOLDS:
            raise CalibrationError(f"folds {self.folds}: must be 2..{MAX_FOLDS}")
        self.anchor_families()  # validates

    def anchor_families(self, card: dict[str, Any] | None = None) -> list[str] | str | None:
        """The anchor as ``"none"``, ``None`` (the legacy simulator) or a family list;
        ``card``'s ``training.data.families`` for ``"auto"`` when recorded."""
        from core.synth import family_names

        a = str(self.anchor).strip().lower()
        if a == "none":
            return "none"
        if a == "legacy":
            return None
        if a == "auto":
            data = ((card or {}).get("training") or {}).get("data") or {}
            recorded = data.get("families") if isinstance(data, dict) else None
            a = ",".join(recorded) if isinstance(recorded, list) and recorded else "all"
        try:
            return list(family_names(a))
        except ValueError as exc:
            raise CalibrationError(f"anchor {self.anchor!r}: {exc}") from None

    def check_paths(self) -> None:
        """:class:`CalibrationError` for a missing model, images or CSV file, or an output
        that exists (without ``overwrite``) or would replace the model."""
        from core.models.checkpoints import checkpoint_paths

        weights, _ = checkpoint_paths(self.model)
        if not weights.is_file():
            raise CalibrationError(f"{weights}: model not found")
        if not Path(self.images).exists():
            raise CalibrationError(f"{self.images}: no such file or folder (the images)")
        for csv in (self.averages_csv, self.references_csv):
            if csv is not None and not Path(csv).is_file():
                raise CalibrationError(f"{csv}: file not found")
        out_w, out_c = checkpoint_paths(self.out)
        if out_w.resolve() == weights.resolve():
            raise CalibrationError(f"{out_w}: the output would replace the model it calibrates")
        if not self.overwrite:
            for p in (out_w, out_c):
                if p.exists():
                    raise CalibrationError(f"{p}: exists (pass --overwrite to replace it)")


@dataclass(frozen=True)
class ReferenceResult:
    """One reference: its ``kind`` (``"average"`` in DU, ``"point"`` in nm), the given
    ``value``, the prediction ``before`` calibration and ``after`` it, held out (each
    from the calibration of the folds without it)."""

    kind: str
    key: str
    line: int
    value: float
    before: float
    after: float
    fold: int


@dataclass
class CalibrationResult:
    """The calibrated checkpoint ``out``, its ``card`` (``card["calibration"]`` is the
    section), each reference's before/after values and the loss history of every stage."""

    out: Path
    card: dict[str, Any]
    references: list[ReferenceResult] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def section(self) -> dict[str, Any]:
        return dict(self.card.get("calibration") or {})
