"""Running a model over labelled records: :func:`evaluate_model` (batches of one image
size, the metrics of :mod:`core.metrics`, optionally the two shots of a structure averaged)
and :func:`predict_fn`, the uniform batch predictor it calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.evaluate.loader import load_items
from core.evaluate.report import EvalReport, report_from
from core.metrics import GroupMetrics, MetricAccumulator
from core.progress import CancelToken, ProgressCallback, report

if TYPE_CHECKING:
    import torch

    from core.data import SampleRecord

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
    sems, depths = load_items(records)
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
