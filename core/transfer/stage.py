"""The transfer stage after supervised training: fine-tune a run's best model on
unlabeled images of a new imaging condition and save ``RUN/finetuned.safetensors``.

What to do is a typed :class:`TransferRequest` (``semdepth train --unlabeled ...`` builds
one from its flags; the GUI or a script can build one directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.transfer.objectives import OBJECTIVES, TransferError

FINETUNED_NAME = "finetuned"


class TransferSettingError(TransferError):
    """A bad setting of a :class:`TransferRequest`: ``setting`` (the field name) and
    ``detail`` (what is wrong), so a front end can name the setting its own way."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(f"{setting} {detail}")
        self.setting = setting
        self.detail = detail


def check_budget(budget_s: float) -> None:
    """:class:`TransferSettingError` unless the fine-tuning budget is > 0 s."""
    if not float(budget_s) > 0:
        raise TransferSettingError("budget_s", f"must be > 0 s, got {budget_s}")


@dataclass(frozen=True)
class TransferRequest:
    """Fine-tune on the SEM images under ``unlabeled`` (no depth maps), optionally weakly
    supervised by per-site ``average_depth_csv`` (DU). ``objective`` ``None`` picks
    ``"average-depth"`` when averages are given, else ``"masked"``; ``budget_s`` bounds the
    fine-tuning time; ``adapt_bn`` re-estimates batch-norm statistics on the images at the
    end."""

    unlabeled: Path
    average_depth_csv: Path | None = None
    objective: str | None = None
    budget_s: float = 120.0
    adapt_bn: bool = False

    def __post_init__(self) -> None:
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise TransferSettingError(
                "objective", f"must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            )
        check_budget(self.budget_s)

    def check_paths(self) -> None:
        """:class:`TransferSettingError` when the images or the averages file are missing."""
        if not Path(self.unlabeled).exists():
            raise TransferSettingError("unlabeled", f"{self.unlabeled}: no such file or folder")
        csv = self.average_depth_csv
        if csv is not None and not Path(csv).is_file():
            raise TransferSettingError("average_depth_csv", f"{csv}: file not found")

    def chosen_objective(self, have_averages: bool) -> str:
        return self.objective or ("average-depth" if have_averages else "masked")


def run_transfer_stage(
    request: TransferRequest,
    *,
    best_path: Path | None,
    run_dir: Path,
    source_data: Path,
    device: str = "auto",
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Fine-tune the run's best model (``best_path``) as ``request`` says, keeping the
    supervised loss on the labelled ``source_data`` it was trained on; save
    ``run_dir/finetuned.safetensors`` + card (the source card with ``training.transfer``).
    Returns the weights path.

    Raises :class:`TransferError` / ``DatasetError`` for bad inputs (the CLI prints them
    and exits 2)."""
    from core.data import find_records, find_unlabeled, load_average_depth_csv
    from core.device import resolve_device
    from core.models import load_checkpoint, save_checkpoint
    from core.models.card import derived_card
    from core.transfer.finetune import FinetuneConfig, finetune

    request.check_paths()
    if best_path is None:
        raise TransferError(f"{run_dir}: no best model to fine-tune")
    try:
        target = find_records(request.unlabeled)
    except ValueError:
        target = find_unlabeled(request.unlabeled)
    csv = request.average_depth_csv
    averages = load_average_depth_csv(csv) if csv is not None else None
    objective = request.chosen_objective(bool(averages))
    source = [r for r in find_records(source_data) if r.depth_path is not None]
    model, card = load_checkpoint(best_path, device="cpu")
    ft = finetune(
        model,
        target,
        source_records=source,
        average_depth=averages,
        config=FinetuneConfig(
            objective=objective,
            budget_s=float(request.budget_s),
            adapt_bn=bool(request.adapt_bn),
            seed=int(seed or 0),
            device=str(resolve_device(device or "auto")),
        ),
    )
    transfer = {
        "objective": objective,
        "unlabeled": str(Path(request.unlabeled).resolve()),
        "average_depth_csv": None if csv is None else str(Path(csv).resolve()),
        "n_target": ft.n_target,
        "steps": ft.steps,
        "seconds": round(ft.seconds, 3),
        "adapt_bn": bool(request.adapt_bn),
        "from": str(best_path),
    }
    out = Path(run_dir) / f"{FINETUNED_NAME}.safetensors"
    new_card = derived_card(card, training={"transfer": transfer})
    return save_checkpoint(out, ft.model.to("cpu"), new_card, overwrite=overwrite)
