"""The prediction batch: :func:`run_batch` predicts every input with a
:class:`~core.inference.Predictor`, compares it with its ground truth when there is one,
writes its outputs (:mod:`core.batch.outputs`) and a row of ``summary.csv``
(:mod:`core.batch.summary`), through the shared loop (:func:`core.batch.runner.run_items`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.batch.ground_truth import forget_ground_truth_folders, match_ground_truth
from core.batch.inputs import expand_inputs
from core.batch.items import BatchItem, BatchSummary
from core.batch.outputs import check_formats, planned_outputs, refuse_existing, write_outputs
from core.batch.runner import capture_failure, run_items
from core.batch.summary import SummaryWriter, result_stats
from core.batch.trust_stats import truth_stats
from core.conventions import StemNamer
from core.progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from core.inference import Predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    """The settings every input of one batch shares."""

    predictor: Predictor
    out_dir: Path | None
    formats: tuple[str, ...]
    gt_dir: str | Path | None
    mode: str
    tta: bool
    overwrite: bool
    cancel: CancelToken | None


def _process(job: _Job, index: int, path: Path, stem: str) -> BatchItem:
    """Predict one input and write its outputs; a failure becomes the item's error."""
    item = BatchItem(index, path, "failed", None, None, None, None, {}, 0.0)
    out_dir, cancel = job.out_dir, job.cancel
    with capture_failure(item, path, log):
        if out_dir is not None and not job.overwrite:
            refuse_existing(planned_outputs(out_dir, stem, job.formats, holes=False).values())
        result = job.predictor.predict(path, mode=job.mode, tta=job.tta, cancel=cancel)
        item.result = result
        item.stats = result_stats(result)
        item.notes.extend(result.notes)
        truth = match_ground_truth(path, result.depth, job.gt_dir)
        item.ground_truth_path, item.ground_truth, item.rmse = truth.path, truth.depth, truth.rmse
        item.notes.extend(truth.notes)
        if truth.depth is not None:
            item.stats.update(truth_stats(result, truth.depth))
        if result.in_domain is False:
            log.warning("%s: out of domain: %s", path, "; ".join(result.domain_reasons))
        if out_dir is not None:
            if cancel is not None:
                cancel.raise_if_cancelled()
            item.outputs = write_outputs(
                result, out_dir, formats=job.formats, stem=stem, overwrite=job.overwrite
            )
        item.status = "done"
    if item.status == "cancelled":
        item.result = None
    return item


def _drop_arrays(item: BatchItem) -> None:
    item.result = None
    item.ground_truth = None


def run_batch(
    inputs: Sequence[str | Path],
    predictor: Predictor,
    out_dir: Path | str | None,
    *,
    formats: Sequence[str] = ("tiff", "csv", "png"),
    gt_dir: str | Path | None = None,
    mode: str = "auto",
    overwrite: bool = False,
    keep_results: bool = False,
    tta: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
) -> BatchSummary:
    """Predict every input and write its outputs; never raises for a bad input.

    ``out_dir=None``: compute only (the GUI's interactive open), write nothing.
    ``keep_results=False`` drops each item's arrays after ``on_item`` so memory stays flat
    over large batches. ``progress`` gets one report per input; ``cancel`` stops after the
    current input (or inside it: that input is then ``cancelled`` and writes nothing).
    Raises only for bad arguments (unknown format or mode).
    """
    from core.inference import MODES

    fmts = check_formats(formats)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    paths = expand_inputs(inputs, exclude=[out] if out is not None else [])
    forget_ground_truth_folders()
    namer = StemNamer(paths)
    job = _Job(predictor, out, fmts, gt_dir, mode, tta, overwrite, cancel)
    run = run_items(
        paths,
        lambda index, path: _process(job, index, path, namer(path)),
        progress=progress,
        cancel=cancel,
        on_item=on_item,
        release=None if keep_results else _drop_arrays,
        writer=SummaryWriter(out, overwrite=overwrite) if out is not None else None,
    )
    if out is not None and "report" in fmts and run.items:
        from core.batch.trust_stats import batch_report_row, free_name
        from core.conventions import BATCH_REPORT_NAME
        from core.report import write_batch_report

        write_batch_report(
            [batch_report_row(item) for item in run.items],
            free_name(out / BATCH_REPORT_NAME, overwrite=overwrite),
            title=f"Batch report: {len(run.items)} input(s), model {predictor.model_id}",
            overwrite=overwrite,
        )
    return BatchSummary(run.items, run.n_done, run.n_failed, run.cancelled, run.summary_csv)
