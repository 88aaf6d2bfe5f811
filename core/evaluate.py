"""Depth-map metrics and evaluation reports; ``semdepth evaluate``.

Every RMSE is in depth units (DU, the 0-255 scale) and says how it was averaged:
``rmse_per_image`` is the RMSE of each image, then the mean over images (the
DACON metric); ``rmse_pooled`` is one RMSE over every pixel of every image.
The metric functions are pure numpy.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.progress import CancelToken, ProgressCallback, report

if TYPE_CHECKING:
    import torch

    from core.data import SampleRecord

log = logging.getLogger(__name__)

SPLITS = ("auto", "test", "val", "train", "all")


# --------------------------------------------------------------------------- metrics


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from target shape {t.shape}")
    if p.size == 0:
        raise ValueError("cannot compute a metric over zero pixels")
    return p, t


def _as_images(arrays: Any) -> list[np.ndarray]:
    """A ``(n, rows, cols)`` array or a sequence of 2-D arrays -> list of 2-D float64 arrays."""
    if isinstance(arrays, np.ndarray):
        if arrays.ndim == 2:
            return [arrays.astype(np.float64)]
        if arrays.ndim != 3:
            raise ValueError(f"expected (n, rows, cols) images, got shape {arrays.shape}")
        return [a.astype(np.float64) for a in arrays]
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def image_rmse(pred: Any, target: Any) -> float:
    """RMSE (DU) of one depth map: sqrt(mean((pred - target)^2)) over its pixels."""
    p, t = _pair(pred, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def image_mae(pred: Any, target: Any) -> float:
    """Mean absolute error (DU) of one depth map."""
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def rmse_per_image(preds: Any, targets: Any) -> np.ndarray:
    """The RMSE (DU) of each image, float64 array of length n."""
    ps, ts = _as_images(preds), _as_images(targets)
    if len(ps) != len(ts):
        raise ValueError(f"{len(ps)} predictions for {len(ts)} targets")
    return np.array([image_rmse(p, t) for p, t in zip(ps, ts, strict=True)])


def mean_rmse_per_image(preds: Any, targets: Any) -> float:
    """Per-image RMSE averaged over images (DU): the DACON metric."""
    per = rmse_per_image(preds, targets)
    if per.size == 0:
        raise ValueError("cannot compute a metric over zero images")
    return float(per.mean())


def pooled_rmse(preds: Any, targets: Any) -> float:
    """One RMSE (DU) over every pixel of every image (larger images weigh more)."""
    ps, ts = _as_images(preds), _as_images(targets)
    if len(ps) != len(ts):
        raise ValueError(f"{len(ps)} predictions for {len(ts)} targets")
    sq = 0.0
    n = 0
    for p, t in zip(ps, ts, strict=True):
        p, t = _pair(p, t)
        sq += float(np.sum((p - t) ** 2))
        n += p.size
    if n == 0:
        raise ValueError("cannot compute a metric over zero images")
    return math.sqrt(sq / n)


def pooled_mae(preds: Any, targets: Any) -> float:
    """Mean absolute error (DU) over every pixel of every image."""
    ps, ts = _as_images(preds), _as_images(targets)
    if len(ps) != len(ts):
        raise ValueError(f"{len(ps)} predictions for {len(ts)} targets")
    ab = 0.0
    n = 0
    for p, t in zip(ps, ts, strict=True):
        p, t = _pair(p, t)
        ab += float(np.sum(np.abs(p - t)))
        n += p.size
    if n == 0:
        raise ValueError("cannot compute a metric over zero images")
    return ab / n


@dataclass
class ImageResult:
    """The errors of one image (all in DU)."""

    index: int
    sem_path: str
    structure: str
    case: str | None
    bucket: str | None
    shot: int | None
    rmse: float
    mae: float
    n_pixels: int
    sum_sq: float
    sum_abs: float


@dataclass
class GroupMetrics:
    """Metrics of a group of images (DU): per-image-averaged RMSE, pooled RMSE, pooled MAE."""

    n_images: int
    rmse_per_image: float
    rmse_pooled: float
    mae: float

    @classmethod
    def of(cls, images: Sequence[ImageResult]) -> GroupMetrics:
        if not images:
            raise ValueError("cannot summarise zero images")
        n_pix = sum(r.n_pixels for r in images)
        return cls(
            n_images=len(images),
            rmse_per_image=float(np.mean([r.rmse for r in images])),
            rmse_pooled=math.sqrt(sum(r.sum_sq for r in images) / n_pix),
            mae=sum(r.sum_abs for r in images) / n_pix,
        )


class MetricAccumulator:
    """Collects per-image errors batch by batch; :meth:`summary` gives :class:`GroupMetrics`."""

    def __init__(self) -> None:
        self.images: list[ImageResult] = []

    def __len__(self) -> int:
        return len(self.images)

    def add(
        self,
        pred: Any,
        target: Any,
        records: Sequence[Any] | None = None,
        *,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Add one image ``(rows, cols)`` or a batch ``(n, rows, cols)`` (or ``(n, 1, r, c)``)
        with, optionally, their :class:`~core.data.SampleRecord` s for the per-case tables."""
        p, t = _pair(pred, target)
        if p.ndim == 4 and p.shape[1] == 1:
            p, t = p[:, 0], t[:, 0]
        if p.ndim == 2:
            p, t = p[None], t[None]
        if p.ndim != 3:
            raise ValueError(f"expected (n, rows, cols) depth maps, got shape {p.shape}")
        if records is not None and len(records) != len(p):
            raise ValueError(f"{len(records)} records for {len(p)} images")
        diff = p - t
        sum_sq = np.sum(diff**2, axis=(1, 2))
        sum_abs = np.sum(np.abs(diff), axis=(1, 2))
        n_pix = diff.shape[1] * diff.shape[2]
        for i in range(len(p)):
            rec = records[i] if records is not None else None
            idx = indices[i] if indices is not None else len(self.images)
            self.images.append(
                ImageResult(
                    index=int(idx),
                    sem_path=str(rec.sem_path) if rec is not None else "",
                    structure=str(rec.structure) if rec is not None else str(idx),
                    case=getattr(rec, "case", None),
                    bucket=getattr(rec, "bucket", None),
                    shot=getattr(rec, "shot", None),
                    rmse=math.sqrt(float(sum_sq[i]) / n_pix),
                    mae=float(sum_abs[i]) / n_pix,
                    n_pixels=int(n_pix),
                    sum_sq=float(sum_sq[i]),
                    sum_abs=float(sum_abs[i]),
                )
            )

    def summary(self) -> GroupMetrics:
        return GroupMetrics.of(self.images)

    def by(self, key: str) -> dict[str, GroupMetrics]:
        """Metrics per value of ``key`` (``"case"`` or ``"bucket"``), sorted by that value."""
        groups: dict[str, list[ImageResult]] = {}
        for r in self.images:
            value = getattr(r, key)
            groups.setdefault("-" if value is None else str(value), []).append(r)
        return {k: GroupMetrics.of(v) for k, v in sorted(groups.items())}

    def worst(self, n: int = 10) -> list[ImageResult]:
        return sorted(self.images, key=lambda r: r.rmse, reverse=True)[:n]


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


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint (.safetensors/.json card), run folder, or intensity-baseline JSON",
    )
    parser.add_argument("--data", required=True, help="labelled data folder (DACON or SEM/+Depth/)")
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="auto",
        help="which part of --data: the trainer's test/val/train split (from the model card), "
        "all, or auto (the trainer's held-out part if --data is its data set, else all)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument(
        "--average-shots",
        action="store_true",
        help="also report the mean prediction of each structure's two shots",
    )
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--worst", type=int, default=10, help="list the N worst images")
    parser.add_argument(
        "--per-image", action="store_true", help="include every image's errors in the JSON"
    )


def run(args: argparse.Namespace) -> int:
    from core.data import DatasetError, find_records
    from core.device import resolve_device
    from core.io.atomic import atomic_write

    try:
        device = resolve_device(args.device)
        model, card = load_model_any(args.model, device=str(device))
        records = [r for r in find_records(args.data)]
        labelled = [r for r in records if r.depth_path is not None]
        if not labelled:
            raise ValueError(f"{args.data}: no labelled images (depth maps) to evaluate on")
        chosen, split = select_split(labelled, card, args.split)
    except (FileNotFoundError, ValueError, DatasetError) as exc:
        print(f"semdepth evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json is not None and args.json.exists() and not args.overwrite:
        print(f"semdepth evaluate: {args.json} exists (use --overwrite)", file=sys.stderr)
        return 2
    rep = evaluate_model(
        model,
        chosen,
        device=device,
        average_shots=args.average_shots,
        batch_size=args.batch_size,
        worst=args.worst,
    )
    rep.info.update(
        {
            "model": str(args.model),
            "model_id": card.get("id"),
            "architecture": (card.get("architecture") or {}).get("name"),
            "data": str(args.data),
            "split": split,
        }
    )
    print(f"model {args.model} on {args.data} (split: {split})")
    print(rep.format_text())
    if args.json is not None:
        text = json.dumps(rep.to_dict(include_images=args.per_image), indent=2)
        with atomic_write(args.json, overwrite=args.overwrite) as tmp:
            Path(tmp).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def summarize(images: Iterable[ImageResult]) -> GroupMetrics:
    """:class:`GroupMetrics` of any collection of :class:`ImageResult` s."""
    return GroupMetrics.of(list(images))
