"""Depth-map metrics and evaluation reports; ``semdepth evaluate``.

Every RMSE is in depth units (DU, the 0-255 scale) and says how it was averaged:
``rmse_per_image`` is the RMSE of each image, then the mean over images (the
DACON metric); ``rmse_pooled`` is one RMSE over every pixel of every image.
The metric functions are pure numpy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.metrics import GroupMetrics, ImageResult, MetricAccumulator
from core.progress import CancelToken, ProgressCallback, report

if TYPE_CHECKING:
    import torch

    from core.data import SampleRecord

log = logging.getLogger(__name__)

SPLITS = ("auto", "test", "val", "train", "all")


# --------------------------------------------------------------------------- reports


@dataclass
class EvalReport:
    """What :func:`evaluate_model` found; ``to_dict()`` is the ``--json`` output."""

    n_images: int
    rmse_per_image: float
    rmse_pooled: float
    mae: float
    per_case: dict[str, GroupMetrics]
    per_bucket: dict[str, GroupMetrics]
    worst: list[ImageResult]
    shots_averaged: GroupMetrics | None = None
    images: list[ImageResult] = field(default_factory=list, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_images: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unit": "DU (0-255 depth units)",
            "n_images": self.n_images,
            "rmse_per_image": self.rmse_per_image,
            "rmse_pooled": self.rmse_pooled,
            "mae": self.mae,
            "per_case": {k: asdict(v) for k, v in self.per_case.items()},
            "per_bucket": {k: asdict(v) for k, v in self.per_bucket.items()},
            "worst": [_image_dict(r) for r in self.worst],
            "shots_averaged": None if self.shots_averaged is None else asdict(self.shots_averaged),
            **self.info,
        }
        if include_images:
            out["images"] = [_image_dict(r) for r in self.images]
        return out

    def format_text(self) -> str:
        """A human-readable summary (the CLI prints it)."""
        lines = [
            f"images: {self.n_images}",
            f"RMSE per image (mean): {self.rmse_per_image:.4f} DU",
            f"RMSE pooled:           {self.rmse_pooled:.4f} DU",
            f"MAE:                   {self.mae:.4f} DU",
        ]
        if self.shots_averaged is not None:
            s = self.shots_averaged
            lines.append(
                f"two shots averaged ({s.n_images} structures): RMSE per image "
                f"{s.rmse_per_image:.4f} DU, pooled {s.rmse_pooled:.4f} DU"
            )
        for title, table in (("case", self.per_case), ("bucket", self.per_bucket)):
            if len(table) > 1 or (table and "-" not in table):
                lines.append(f"per {title}:  n  RMSE/image  RMSE pooled  MAE")
                for k, g in table.items():
                    lines.append(
                        f"  {k:<12} {g.n_images:>5}  {g.rmse_per_image:9.4f}  "
                        f"{g.rmse_pooled:10.4f}  {g.mae:7.4f}"
                    )
        if self.worst:
            lines.append(f"worst {len(self.worst)} images (RMSE DU):")
            lines += [f"  {r.rmse:8.4f}  {r.sem_path}" for r in self.worst]
        return "\n".join(lines)


def _image_dict(r: ImageResult) -> dict[str, Any]:
    d = asdict(r)
    d.pop("sum_sq")
    d.pop("sum_abs")
    return d


def report_from(
    acc: MetricAccumulator,
    *,
    worst: int = 10,
    shots_averaged: GroupMetrics | None = None,
    info: Mapping[str, Any] | None = None,
) -> EvalReport:
    s = acc.summary()
    return EvalReport(
        n_images=s.n_images,
        rmse_per_image=s.rmse_per_image,
        rmse_pooled=s.rmse_pooled,
        mae=s.mae,
        per_case=acc.by("case"),
        per_bucket=acc.by("bucket"),
        worst=acc.worst(worst),
        shots_averaged=shots_averaged,
        images=list(acc.images),
        info=dict(info or {}),
    )


# --------------------------------------------------------------------------- prediction

#: A batch predictor: (n, rows, cols) float32 0..1 SEM -> (n, rows, cols) float32 DU.
BatchPredictFn = Callable[[np.ndarray], np.ndarray]


def predict_fn(model: Any, *, device: str | torch.device = "cpu") -> BatchPredictFn:
    """A uniform batch predictor for a torch module, an :class:`IntensityBaseline`, or any
    callable mapping ``(n, rows, cols)`` 0..1 float32 arrays to depth in DU."""
    import torch

    from core.baseline import IntensityBaseline

    if isinstance(model, IntensityBaseline):
        return model.predict
    if isinstance(model, torch.nn.Module):
        dev = torch.device(device) if not isinstance(device, torch.device) else device
        model = model.to(dev).eval()

        def run(sem01: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(sem01, dtype=np.float32))[:, None]
                y = model(x.to(dev)).float()
            return y[:, 0].cpu().numpy()

        return run
    if callable(model):
        return model
    raise TypeError(
        f"cannot evaluate a {type(model).__name__}: pass a torch module, an IntensityBaseline "
        "or a callable on (n, rows, cols) 0..1 arrays"
    )


def _load_items(records: Sequence[SampleRecord]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from core.data import DepthDataset

    unlabeled = [r for r in records if r.depth_path is None]
    if unlabeled:
        raise ValueError(
            f"{unlabeled[0].sem_path}: no depth map for this SEM image "
            f"({len(unlabeled)} unlabeled of {len(records)}); evaluation needs labelled data"
        )
    ds = DepthDataset(list(records), augment=False, preload=False)
    sems, depths = [], []
    for i in range(len(ds)):
        item = ds[i]
        sems.append(item["sem"][0].numpy())
        depths.append(item["depth"][0].numpy())
    return sems, depths


def evaluate_model(
    model_or_predictor: Any,
    records: Sequence[SampleRecord],
    *,
    device: str | torch.device = "cpu",
    average_shots: bool = False,
    batch_size: int = 128,
    worst: int = 10,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> EvalReport:
    """Predict every labelled record and measure the errors against its depth map.

    ``model_or_predictor``: a torch module (input ``(n,1,rows,cols)`` 0..1, output DU), an
    :class:`~core.baseline.IntensityBaseline`, or a batch callable (see :func:`predict_fn`).
    ``average_shots`` adds the metrics of the mean prediction of each structure's shots
    (``_itr0``/``_itr1`` of one case and bucket) against their shared depth map.
    """
    if not records:
        raise ValueError("no records to evaluate")
    fn = predict_fn(model_or_predictor, device=device)
    t0 = time.perf_counter()
    sems, depths = _load_items(records)
    acc = MetricAccumulator()
    preds: list[np.ndarray] = [np.empty(0, np.float32)] * len(records)
    i = 0
    total = len(records)
    while i < total:
        if cancel is not None:
            cancel.raise_if_cancelled()
        # a batch of consecutive images of one shape
        j = i + 1
        while j < total and j - i < batch_size and sems[j].shape == sems[i].shape:
            j += 1
        batch = np.stack(sems[i:j]).astype(np.float32)
        out = np.asarray(fn(batch), dtype=np.float32)
        if out.shape != batch.shape:
            raise ValueError(f"the model returned shape {out.shape} for input {batch.shape}")
        acc.add(out, np.stack(depths[i:j]), records[i:j], indices=range(i, j))
        for k in range(i, j):
            preds[k] = out[k - i]
        i = j
        report(progress, i, total, "evaluating")
    shots = _shots_averaged(records, preds, depths) if average_shots else None
    return report_from(
        acc,
        worst=worst,
        shots_averaged=shots,
        info={"seconds": time.perf_counter() - t0},
    )


def _shots_averaged(
    records: Sequence[SampleRecord], preds: Sequence[np.ndarray], depths: Sequence[np.ndarray]
) -> GroupMetrics | None:
    groups: dict[tuple[Any, ...], list[int]] = {}
    for k, r in enumerate(records):
        groups.setdefault((r.case, r.bucket, r.structure, str(r.depth_path)), []).append(k)
    acc = MetricAccumulator()
    for members in groups.values():
        mean_pred = np.mean([preds[k] for k in members], axis=0)
        acc.add(mean_pred, depths[members[0]], [records[members[0]]])
    return acc.summary() if len(acc) else None


# --------------------------------------------------------------------------- model files


def load_model_any(path: str | Path, *, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """A model and its card from a checkpoint (``.safetensors`` or its ``.json`` card), a run
    folder (its ``best`` checkpoint) or an intensity-baseline JSON."""
    from core.baseline import IntensityBaseline, is_baseline_file

    path = Path(path)
    if path.is_dir():
        cand = path / "best.safetensors"
        if not cand.is_file():
            raise FileNotFoundError(f"{path}: a folder without best.safetensors (not a run?)")
        path = cand
    if is_baseline_file(path):
        base = IntensityBaseline.load(path)
        return base, base.to_dict()
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found")
    from core.models import load_checkpoint

    if path.suffix.lower() == ".json":
        path = path.with_suffix(".safetensors")
    model, card = load_checkpoint(path, device=device)
    return model, card


def select_split(
    records: Sequence[SampleRecord], card: Mapping[str, Any], split: str
) -> tuple[list[SampleRecord], str]:
    """The records of ``split`` as the model's trainer made it (from the card's data seed and
    fractions); ``"auto"``: the trainer's test part (else validation part) when the data set
    is the one it was trained on, else all records. Returns the records and the split used."""
    from core.data import dataset_hash, split_by_structure

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "all":
        return list(records), "all"
    data = dict(card.get("training", {}).get("data", {}) or {})
    fractions_known = "seed" in data and "val_fraction" in data
    if split == "auto":
        same = fractions_known and data.get("hash") == dataset_hash(records)
        if not same:
            return list(records), "all"
        split = "test" if float(data.get("test_fraction", 0.0)) > 0 else "val"
    if not fractions_known:
        raise ValueError(
            f"the model card does not record how its data were split (training.data.seed / "
            f"val_fraction); cannot select the {split!r} split: use --split all"
        )
    parts = split_by_structure(
        records,
        val_fraction=float(data["val_fraction"]),
        test_fraction=float(data.get("test_fraction", 0.0)),
        seed=int(data["seed"]),
    )
    chosen = list(getattr(parts, split))
    if not chosen:
        raise ValueError(f"the {split!r} split is empty for this data set")
    return chosen, split
