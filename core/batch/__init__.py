"""The one batch loop for the CLI (``semdepth predict``) and the GUI's batch worker.

``run_batch(inputs, predictor, out_dir)`` expands files, folders (recursively) and globs,
predicts each image, finds its ground truth when there is one, writes the outputs
atomically and a ``summary.csv``; a bad file becomes a failed row, never an exception.

Output names (in ``out_dir``, flat): each input's path relative to the deepest folder
common to all inputs, sub-folders joined with ``__`` and the suffix dropped, e.g.
``a/x.png`` and ``b/x.png`` -> ``a__x`` and ``b__x``; a remaining clash (``x.png`` and
``x.tif`` side by side) appends the extension (``x_tif``), then a counter
(:class:`~core.conventions.StemNamer`). Per input:

- ``<stem>_depth.tif``: float32 depth (DU), ImageJ-calibrated, JSON description;
  ``<stem>_uncertainty.tif`` beside it (format ``tiff``)
- ``<stem>_depth.csv`` (format ``csv``), ``<stem>_depth.png`` colour-mapped with a colour
  bar (format ``png``), ``<stem>_depth8.png`` DACON 8-bit (format ``dacon``)
- ``<stem>_holes.csv``: the per-hole table (field mode only)

Whether the predictor denoised its input first (``Predictor.set_denoiser``) is recorded in
every file's JSON description (``"denoised"``, ``"denoiser"``) and in the ``denoised``
column of the summary (``true``/``false``).

``summary.csv`` lists every processed input (with the scale decision: ``scale``,
``resample_factor``, ``scale_reason``); it is rewritten atomically every few seconds, after
every input that did not succeed and at the end, also on cancel. ``manifest.jsonl``
records the settings, the model's hash and each input's outputs as they are written, so
``resume=True`` (``--resume``) finishes a killed batch without redoing complete inputs. The
output folder is checked and locked before any work (:mod:`~core.batch.folder`): a file,
an unwritable or full folder, a folder another run holds, an earlier run with other
settings or existing outputs are refused up front, each message naming the ``--resume`` or
``--overwrite`` flag that applies.

Modules: :mod:`~core.batch.inputs` (which files), :mod:`~core.batch.ground_truth` (their
depth maps), :mod:`~core.batch.outputs` (the files written), :mod:`~core.batch.summary`
(``summary.csv``), :mod:`~core.batch.manifest` (``manifest.jsonl``),
:mod:`~core.batch.lock` (one run per folder), :mod:`~core.batch.folder` (the checks),
:mod:`~core.batch.runner` (the loop every batch shares, also ``semdepth denoise``'s),
:mod:`~core.batch.predict` (:func:`run_batch`), :mod:`~core.batch.items` (what it returns),
:mod:`~core.batch.ahead` (predictions made ahead of the loop, written by a pool of
threads, taken in order), :mod:`~core.batch.crossfile` (``batch_files > 1``: the crops of
many files per forward pass), :mod:`~core.batch.ray_engine` (``--engine ray``: the
predictions on a Ray cluster; imports Ray only when used).
"""

from core.batch.folder import OutputFolder, OutputFolderError, open_output_folder
from core.batch.ground_truth import (
    GroundTruthMatch,
    find_ground_truth,
    forget_ground_truth_folders,
    match_ground_truth,
)
from core.batch.inputs import expand_inputs, is_image, iter_inputs, scan_inputs
from core.batch.items import BatchItem, BatchSummary
from core.batch.lock import FolderBusyError, FolderLock
from core.batch.manifest import MANIFEST_NAME, batch_settings, file_sha256, read_manifest
from core.batch.outputs import (
    FORMATS,
    HOLE_COLUMNS,
    ColourPng,
    check_formats,
    planned_outputs,
    refuse_existing,
    remove_outputs,
    write_holes_csv,
    write_outputs,
)
from core.batch.predict import predictor_settings, run_batch
from core.batch.runner import (
    CANCELLED_MESSAGE,
    ItemRecord,
    ItemsRun,
    capture_failure,
    run_items,
)
from core.batch.summary import (
    SUMMARY_COLUMNS,
    SummaryWriter,
    read_summary,
    result_stats,
    summary_row,
)
from core.conventions import StemNamer

__all__ = [
    "CANCELLED_MESSAGE",
    "FORMATS",
    "HOLE_COLUMNS",
    "MANIFEST_NAME",
    "SUMMARY_COLUMNS",
    "BatchItem",
    "BatchSummary",
    "ColourPng",
    "FolderBusyError",
    "FolderLock",
    "GroundTruthMatch",
    "ItemRecord",
    "ItemsRun",
    "OutputFolder",
    "OutputFolderError",
    "StemNamer",
    "SummaryWriter",
    "batch_settings",
    "capture_failure",
    "check_formats",
    "expand_inputs",
    "file_sha256",
    "find_ground_truth",
    "forget_ground_truth_folders",
    "is_image",
    "iter_inputs",
    "match_ground_truth",
    "open_output_folder",
    "planned_outputs",
    "predictor_settings",
    "read_manifest",
    "read_summary",
    "refuse_existing",
    "remove_outputs",
    "result_stats",
    "run_batch",
    "run_items",
    "scan_inputs",
    "summary_row",
    "write_holes_csv",
    "write_outputs",
]
