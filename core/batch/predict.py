"""The prediction batch: :func:`run_batch` predicts every input with a
:class:`~core.inference.Predictor`, compares it with its ground truth when there is one,
writes its outputs (:mod:`core.batch.outputs`), a row of ``summary.csv``
(:mod:`core.batch.summary`) and a line of ``manifest.jsonl`` (:mod:`core.batch.manifest`),
through the shared loop (:func:`core.batch.runner.run_items`), in an output folder checked
and locked first (:mod:`core.batch.folder`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.folder import SUMMARY_NAME, OutputFolder, open_output_folder
from core.batch.ground_truth import forget_ground_truth_folders, match_ground_truth
from core.batch.inputs import scan_inputs
from core.batch.items import BatchItem, BatchSummary
from core.batch.manifest import ManifestWriter, batch_settings, file_sha256, source_key
from core.batch.outputs import check_formats, remove_outputs, write_outputs
from core.batch.runner import capture_failure, run_items
from core.batch.summary import SummaryWriter, result_stats, scale_stats, summary_row
from core.batch.trust_stats import truth_stats
from core.conventions import StemNamer
from core.progress import CancelToken, ItemProgress, ProgressCallback

if TYPE_CHECKING:
    from core.batch.ahead import Ahead, Source
    from core.inference import PredictionResult, Predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    """The settings every input of one batch shares."""

    predictor: Predictor
    folder: OutputFolder | None
    formats: tuple[str, ...]
    gt_dir: str | Path | None
    mode: str
    tta: bool | str
    scale_policy: Any
    cancel: CancelToken | None
    progress: ProgressCallback | None
    problems: dict[Path, str]
    total: int


def _resumed(job: _Job, index: int, path: Path, stem: str) -> BatchItem | None:
    """The item of an input an earlier run completed (``--resume``), or None."""
    folder = job.folder
    entry = folder.complete.get(source_key(path)) if folder is not None else None
    if folder is None or entry is None:
        return None
    item = BatchItem(index, path, "done", None, None, None, None, {}, 0.0)
    item.outputs = {k: folder.path / n for k, n in entry.outputs.items()}
    item.resumed, item.stored_row = True, entry.row
    item.notes.append("complete from an earlier run (resumed)")
    return item


def _process(job: _Job, index: int, path: Path, stem: str) -> BatchItem:
    """Predict one input and write its outputs; a failure becomes the item's error."""
    done = _resumed(job, index, path, stem)
    if done is not None:
        return done
    inner = ItemProgress(job.progress, index, job.total, path.name)

    def predict() -> PredictionResult:
        return job.predictor.predict(
            path,
            mode=job.mode,
            tta=job.tta,
            scale_policy=job.scale_policy,
            progress=inner,
            cancel=job.cancel,
        )

    return _complete(job, index, path, stem, predict, job.cancel)


def _complete(
    job: _Job,
    index: int,
    path: Path,
    stem: str,
    predict: Callable[[], PredictionResult],
    cancel: CancelToken | None,
) -> BatchItem:
    """The item of one input: ``predict()`` gives its result (or raises its failure), then
    its ground truth, its outputs written; never raises for a bad input. ``cancel`` is
    checked before writing."""
    from core.inference import ScaleSkipped

    item = BatchItem(index, path, "failed", None, None, None, None, {}, 0.0)
    folder = job.folder
    written: dict[str, Path] | None = None
    with capture_failure(item, path, log):
        if path in job.problems:
            raise OSError(job.problems[path])
        try:
            result = predict()
        except ScaleSkipped as exc:
            item.status, item.error = "skipped", str(exc)
            item.stats = scale_stats(exc.decision.record())
            return item
        item.result = result
        written = result.written
        item.stats = result_stats(result)
        item.notes.extend(result.notes)
        truth = match_ground_truth(path, result.depth, job.gt_dir)
        item.ground_truth_path, item.ground_truth, item.rmse = truth.path, truth.depth, truth.rmse
        item.notes.extend(truth.notes)
        if truth.depth is not None:
            item.stats.update(truth_stats(result, truth.depth))
        if result.in_domain is False:
            log.warning("%s: out of domain: %s", path, "; ".join(result.domain_reasons))
        if folder is not None:
            if cancel is not None:
                cancel.raise_if_cancelled()
            # a worker process wrote them (--predict-workers): recorded, or removed below
            # when the row does not end done; else written here, where the folder is ours
            # (checked and locked): a resumed or overwriting run replaces the partial sets
            # an earlier run left
            item.outputs = (
                dict(written)
                if written is not None
                else write_outputs(
                    result, folder.path, formats=job.formats, stem=stem, overwrite=True
                )
            )
        item.status = "done"
    if written is not None and item.status != "done":
        remove_outputs(written.values())  # no orphan set behind a row that is not done
    if item.status in ("cancelled", "skipped"):
        item.result = None
    return item


def _ahead(
    job: _Job,
    paths: list[Path],
    stems: dict[Path, str],
    source: Source,
    batch_files: int,
) -> tuple[Ahead, Callable[[int, Path], BatchItem]]:
    """Start ``source`` on the inputs left to predict (not resumed, readable) and the
    writer pool behind it (:mod:`core.batch.ahead`); returns the pool and the loop's
    ``process``, which takes each finished item in order."""
    from core.batch.ahead import Ahead, WritingWorkers

    folder = job.folder
    complete = folder.complete if folder is not None else {}
    todo = [
        (k, p)
        for k, p in enumerate(paths)
        if source_key(p) not in complete and p not in job.problems
    ]
    token = None if job.cancel is None else job.cancel.without_skip()

    def finish_item(index: int, path: Path, finish: Callable[[], PredictionResult]) -> BatchItem:
        return _complete(job, index, path, stems[path], finish, token)

    ahead = Ahead(finish_item, dict(todo), limit_items=4 * batch_files + 8, cancel=job.cancel)
    if isinstance(source, WritingWorkers):  # its workers may write: under these names
        source.stems = stems
    source.start(todo, ahead)

    def process(index: int, path: Path) -> BatchItem:
        if source_key(path) in complete or path in job.problems:
            return _process(job, index, path, stems[path])
        return ahead.take(index)

    return ahead, process


def _drop_arrays(item: BatchItem) -> None:
    item.result = None
    item.ground_truth = None


class _Records:
    """``summary.csv`` and ``manifest.jsonl`` kept together: the manifest line of an item
    is written at once (a killed run loses nothing it finished), the summary now and then
    and whenever an item did not succeed."""

    def __init__(self, folder: OutputFolder, namer: Callable[[Path], str]) -> None:
        self.summary = SummaryWriter(folder.path, overwrite=True)
        self.manifest = ManifestWriter(folder.path)
        self.path = self.summary.path
        self._stem = namer

    def add(self, item: BatchItem) -> None:
        row = summary_row(item)
        if not item.resumed and item.status != "cancelled":
            self.manifest.item(item.source, self._stem(item.source), item.status, item.outputs, row)
        self.summary.add(item)
        if item.status not in ("done", "cancelled"):
            self.summary.flush()

    def flush(self) -> None:
        self.summary.flush()


def predictor_settings(
    predictor: Predictor, formats: Sequence[str], mode: str, tta: bool | str, scale_policy: Any
) -> dict[str, Any]:
    """The manifest settings of a batch run by ``predictor`` (model and denoiser hashed
    from their files when known)."""
    from core.inference import ScalePolicy
    from core.inference.fastpath import model_fingerprint

    def digest(model: Any, source: Path | None, card: Any = None) -> str:
        if source is not None:
            card_file = source.with_suffix(".json")
            return file_sha256(source, *([card_file] if card_file.is_file() else []))
        text = model_fingerprint(model) + json.dumps(card, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    denoiser = predictor.denoiser
    return batch_settings(
        model_sha256=digest(predictor.model, predictor.source, predictor.card),
        denoiser_sha256=None
        if denoiser is None
        else digest(denoiser.net, predictor.denoiser_source, denoiser.model_id),
        formats=formats,
        mode=mode,
        tta=tta,
        scale_policy=ScalePolicy.named(scale_policy or predictor.scale_policy).settings(),
        fast_path=predictor.fast_path_requested,
    )


def run_batch(
    inputs: Sequence[str | Path],
    predictor: Predictor,
    out_dir: Path | str | OutputFolder | None,
    *,
    formats: Sequence[str] = ("tiff", "csv", "png"),
    gt_dir: str | Path | None = None,
    mode: str = "auto",
    overwrite: bool = False,
    resume: bool = False,
    keep_results: bool = False,
    tta: bool | str = "auto",
    scale_policy: Any = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
    batch_files: int = 1,
    source: Source | None = None,
) -> BatchSummary:
    """Predict every input and write its outputs; never raises for a bad input.

    ``out_dir=None``: compute only (the GUI's interactive open), write nothing. A folder
    (path) is checked and locked first (:func:`~core.batch.folder.open_output_folder`:
    :class:`~core.batch.folder.OutputFolderError` or
    :class:`~core.batch.lock.FolderBusyError` before any work) and released at the end;
    an :class:`~core.batch.folder.OutputFolder` already opened (the CLI opens it before
    loading the model) is used as it is and left open. ``resume``: inputs an earlier run
    with the same settings completed are not predicted again; ``overwrite``: replace an
    earlier run's outputs. ``scale_policy``: see :mod:`core.inference.scale` (default: the
    predictor's). ``keep_results=False`` drops each item's arrays after ``on_item`` so
    memory stays flat over large batches. ``progress`` gets one report per input and,
    inside each, reports whose ``inner`` is the tiles or holes done (with ``eta_s``);
    ``cancel`` stops after the current input (or inside it: that input is then
    ``cancelled`` and writes nothing); ``cancel.skip_current()`` abandons only the input
    being predicted (``skipped``). Raises only for bad arguments (unknown format or mode)
    and an output folder that cannot take the batch.

    ``batch_files > 1``: the cross-file path (:mod:`core.batch.crossfile`): up to that many
    crop-mode files share forward passes, and reading, predicting and writing overlap
    (threads); the files and rows are the same, but there is no progress inside a file
    and ``cancel`` stops before the next file to be written. ``source``: predictions made
    elsewhere (the Ray engine, :mod:`core.batch.ray_engine`), written the same way.
    """
    from core.inference import MODES

    fmts = check_formats(formats)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    exclude = (
        [] if out_dir is None else [out_dir.path if isinstance(out_dir, OutputFolder) else out_dir]
    )
    paths, problems = scan_inputs(inputs, exclude=exclude)
    folder = out_dir if isinstance(out_dir, OutputFolder) else None
    if out_dir is not None and not isinstance(out_dir, OutputFolder):
        settings = predictor_settings(predictor, fmts, mode, tta, scale_policy)
        folder = open_output_folder(
            out_dir, settings, paths, fmts, resume=resume, overwrite=overwrite
        )
    job = _Job(
        predictor, folder, fmts, gt_dir, mode, tta, scale_policy, cancel, progress, problems,
        len(paths),
    )  # fmt: skip
    if source is None and batch_files > 1:
        from core.batch.crossfile import CrossFileSource

        source = CrossFileSource(
            predictor,
            files=batch_files,
            mode=mode,
            tta=tta,
            scale_policy=scale_policy,
            cancel=None if cancel is None else cancel.without_skip(),
        )
    try:
        return _run(job, paths, keep_results, on_item, source, max(1, batch_files))
    finally:
        if source is not None:
            source.close()  # also when the run never started it
        if folder is not None and not isinstance(out_dir, OutputFolder):
            folder.close()


def _run(
    job: _Job,
    paths: list[Path],
    keep_results: bool,
    on_item: Callable[[BatchItem], None] | None,
    source: Source | None = None,
    batch_files: int = 1,
) -> BatchSummary:
    forget_ground_truth_folders()
    folder, predictor = job.folder, job.predictor
    namer = folder.namer if folder is not None else StemNamer(paths)
    stems = {p: namer(p) for p in paths}
    records = None
    if folder is not None:
        info = {"fast_path_used": predictor.fast_path, "device": str(predictor.device)}
        info.update(getattr(source, "info", None) or {})
        try:
            records = _Records(folder, stems.__getitem__)
            records.manifest.start(
                folder.settings, paths, fresh=folder.fresh, resumed=not folder.fresh, info=info
            )
        except OSError as exc:  # the folder filled up since it was checked
            return BatchSummary([], 0, 0, False, None, stopped=str(exc))
    process: Callable[[int, Path], BatchItem] = lambda i, p: _process(job, i, p, stems[p])  # noqa: E731
    ahead = None
    if source is not None:
        ahead, process = _ahead(job, paths, stems, source, batch_files)
    from core.batch.ahead import WritingWorkers

    # a source whose workers write hears of each item taken, and after a stop says which
    # files no row will list: only files its workers wrote
    forget = source.forget if isinstance(source, WritingWorkers) else None

    def took(item: BatchItem) -> None:
        if forget is not None:
            forget(item.source)
        if on_item is not None:
            on_item(item)

    try:
        run = run_items(
            paths,
            process,
            progress=job.progress,
            cancel=job.cancel,
            on_item=took,
            release=None if keep_results else _drop_arrays,
            writer=records,
        )
    finally:
        if ahead is not None and source is not None:
            ahead.close()  # first: a source waiting to hand over is let go
            source.close()
            if isinstance(source, WritingWorkers):
                remove_outputs(source.unrecorded())
    if folder is not None and "report" in job.formats and run.items:
        from core.batch.trust_stats import batch_report_row, free_name
        from core.conventions import BATCH_REPORT_NAME
        from core.report import write_batch_report

        replace = folder.overwrite or not folder.fresh
        write_batch_report(
            [batch_report_row(item) for item in run.items],
            free_name(folder.path / BATCH_REPORT_NAME, overwrite=replace),
            title=f"Batch report: {len(run.items)} input(s), model {predictor.model_id}",
            overwrite=replace,
        )
    summary = BatchSummary(
        run.items,
        run.n_done,
        run.n_failed,
        run.cancelled,
        run.summary_csv,
        n_skipped=run.n_skipped,
        n_resumed=sum(1 for i in run.items if i.resumed),
        stopped=run.stopped,
        warnings=list(folder.warnings) if folder is not None else [],
    )
    return summary


__all__ = ["SUMMARY_NAME", "predictor_settings", "run_batch"]
