"""The one batch loop for the CLI (``semdepth predict``) and the GUI's batch worker.

``run_batch(inputs, predictor, out_dir)`` expands files, folders (recursively) and globs,
predicts each image, finds its ground truth when there is one, writes the outputs
atomically and a ``summary.csv``; a bad file becomes a failed row, never an exception.

Output names (in ``out_dir``, flat): each input's path relative to the deepest folder
common to all inputs, sub-folders joined with ``__`` and the suffix dropped, e.g.
``a/x.png`` and ``b/x.png`` -> ``a__x`` and ``b__x``; a remaining clash (``x.png`` and
``x.tif`` side by side) appends the extension (``x_tif``), then a counter. Per input:

- ``<stem>_depth.tif``: float32 depth (DU), ImageJ-calibrated, JSON description;
  ``<stem>_uncertainty.tif`` beside it (format ``tiff``)
- ``<stem>_depth.csv`` (format ``csv``), ``<stem>_depth.png`` colour-mapped with a colour
  bar (format ``png``), ``<stem>_depth8.png`` DACON 8-bit (format ``dacon``)
- ``<stem>_holes.csv``: the per-hole table (field mode only)

Whether the predictor denoised its input first (``Predictor.set_denoiser``) is recorded in
every file's JSON description (``"denoised"``, ``"denoiser"``) and in the ``denoised``
column of the summary (``true``/``false``).

``summary.csv`` (or ``summary_2.csv``... when one exists and ``overwrite`` is off) lists
every processed input; it is rewritten atomically every few seconds and at the end, also on
cancel. Existing outputs are never replaced unless ``overwrite=True``: the input fails with
a message naming the file.
"""

from __future__ import annotations

import csv
import glob
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from core.conventions import (
    DEPTH_DIR,
    DEPTH_SUFFIXES,
    IMAGE_SUFFIXES,
    NON_INPUT_DIRS,
    StemNamer,
    base_stems,
    depth_folder_for,
    is_output_stem,
    output_name,
)
from core.inference import PredictionResult, Predictor
from core.metrics import rmse
from core.progress import Cancelled, CancelToken, ProgressCallback, report

log = logging.getLogger(__name__)

FORMATS = ("tiff", "csv", "png", "dacon")
SUMMARY_COLUMNS = (
    "file",
    "status",
    "error",
    "rows",
    "cols",
    "pixel_size_nm",
    "mode",
    "fast_path",
    "denoised",
    "n_holes",
    "mean_depth_du",
    "min_depth_du",
    "max_depth_du",
    "mean_uncertainty_du",
    "rmse_du",
    "ground_truth",
    "seconds",
    "outputs",
    "notes",
)
HOLE_COLUMNS = (
    "id",
    "row_px",
    "col_px",
    "diameter_px",
    "diameter_nm",
    "bottom_depth_du",
    "mean_depth_du",
    "uncertainty_du",
)


@dataclass
class BatchItem:
    """One input's outcome. ``status``: ``done``, ``failed`` or ``cancelled``."""

    index: int
    source: Path
    status: str
    error: str | None
    result: PredictionResult | None
    ground_truth: np.ndarray | None
    rmse: float | None
    outputs: dict[str, Path]
    seconds: float
    ground_truth_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchSummary:
    items: list[BatchItem]
    n_done: int
    n_failed: int
    cancelled: bool
    summary_csv: Path | None


# --------------------------------------------------------------------------- inputs
def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


def _skipped_in_folder(p: Path) -> bool:
    return is_output_stem(p.stem)


def _walk_folder(folder: Path, exclude: Sequence[Path]) -> Iterator[Path]:
    """Image files under ``folder``, sorted, depth-first; skips ``Depth/``-like folders,
    ground-truth/output-like files and anything under ``exclude``."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d.lower() not in NON_INPUT_DIRS and not _is_excluded(here / d, exclude)
        )
        for name in sorted(filenames):
            p = here / name
            if _is_image(p) and not _skipped_in_folder(p):
                yield p


def _is_excluded(p: Path, exclude: Sequence[Path]) -> bool:
    try:
        rp = p.resolve()
    except OSError:
        return False
    return any(rp == e or e in rp.parents for e in exclude)


def iter_inputs(
    inputs: Iterable[str | Path], *, exclude: Sequence[str | Path] = ()
) -> Iterator[Path]:
    """Lazily expand ``inputs`` (see :func:`expand_inputs`), without de-duplication."""
    excl = [Path(e).resolve() for e in exclude]
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            yield from _walk_folder(p, excl)
        elif p.exists() or not glob.has_magic(str(raw)):
            yield p  # an explicit file is kept as given: unreadable ones fail per file
        else:
            for m in sorted(glob.glob(str(raw), recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    yield from _walk_folder(mp, excl)
                elif _is_image(mp) and not _is_excluded(mp, excl):
                    yield mp


def expand_inputs(
    inputs: Sequence[str | Path], *, exclude: Sequence[str | Path] = ()
) -> list[Path]:
    """Files as given, folders recursively (image types only, sorted), globs (``*``, ``?``,
    ``[..]``, ``**``; image types only); duplicates removed, order kept.

    Folder expansion skips ``Depth``/``depth``/``SEM_clean`` folders and files whose stem
    ends in ``_depth``, ``_depth8`` or ``_uncertainty`` (ground truth and our own
    outputs), and anything under ``exclude`` (e.g. the output folder). A path that does
    not exist and matches no glob is kept, so the batch reports it as a failed input.
    """
    seen: set[str] = set()
    out: list[Path] = []
    for p in iter_inputs(inputs, exclude=exclude):
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# --------------------------------------------------------------------------- ground truth
def _gt_exts(sem_path: Path) -> list[str]:
    exts = [sem_path.suffix] if sem_path.suffix else []
    for e in DEPTH_SUFFIXES:
        if e not in exts:
            exts.append(e)
    return exts


def _first_file(candidates: Iterable[Path], sem_path: Path) -> Path | None:
    try:
        own = sem_path.resolve()
    except OSError:
        own = sem_path
    for c in candidates:
        if c.is_file():
            try:
                if c.resolve() == own:
                    continue
            except OSError:
                continue
            return c
    return None


@lru_cache(maxsize=8)
def _gt_index(folder: str) -> dict[str, list[Path]]:
    """Image files under ``folder`` by lower-case stem (built once per folder per batch)."""
    index: dict[str, list[Path]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            if _is_image(p):
                index.setdefault(p.stem.lower(), []).append(p)
    return index


def _suffix_match(a: Path, b: Path) -> int:
    """How many trailing parent-folder names ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(reversed(a.parent.parts), reversed(b.parent.parts), strict=False):
        if x.lower() != y.lower():
            break
        n += 1
    return n


def find_ground_truth(sem_path: str | Path, gt_dir: str | Path | None = None) -> Path | None:
    """The depth map belonging to ``sem_path``, or None. Shot suffixes (``_itr0``) are
    dropped from the stem. Rules, first hit wins:

    1. ``gt_dir`` given: a file under it with the same stem; when several, the one whose
       folders match the SEM file's relative path best (``gt_dir/Case_1/80/x.png`` for
       ``SEM/Case_1/80/x_itr0.png``). With ``gt_dir`` the other rules are not used.
    2. DACON layout: the last ``SEM`` folder in the path replaced by ``Depth``
       (``.../SEM/Case_1/80/x_itr0.png`` -> ``.../Depth/Case_1/80/x.png``).
    3. A ``Depth/`` or ``depth/`` folder beside the file, or beside its folder.
    4. ``<stem>_depth.<ext>`` beside the file.
    Extensions tried: the SEM file's own, then ``.png``, ``.tif``, ``.tiff``.
    """
    sem_path = Path(sem_path)
    stems = base_stems(sem_path.stem)
    exts = _gt_exts(sem_path)
    if gt_dir is not None:
        gt = Path(gt_dir)
        if not gt.is_dir():
            return None
        index = _gt_index(str(gt.resolve()))
        for s in stems:
            found = [p for p in index.get(s.lower(), []) if p.resolve() != sem_path.resolve()]
            if found:
                return max(found, key=lambda p: _suffix_match(p, sem_path))
        return None
    for depth_name in (DEPTH_DIR, DEPTH_DIR.lower()):
        base = depth_folder_for(sem_path, depth_name)
        if base is not None:
            hit = _first_file((base / f"{s}{e}" for s in reversed(stems) for e in exts), sem_path)
            if hit:
                return hit
    names = (DEPTH_DIR, DEPTH_DIR.lower())
    folders = [sem_path.parent / n for n in names]
    folders += [sem_path.parent.parent / n for n in names]
    hit = _first_file(
        (f / f"{s}{e}" for f in folders for s in reversed(stems) for e in exts), sem_path
    )
    if hit:
        return hit
    return _first_file(
        (sem_path.parent / f"{s}_depth{e}" for s in reversed(stems) for e in exts), sem_path
    )


# --------------------------------------------------------------------------- outputs
def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated formats; ``ValueError`` naming unknown ones."""
    out: list[str] = []
    for f in formats:
        key = f.strip().lower()
        if key in ("tif",):
            key = "tiff"
        if key not in FORMATS:
            raise ValueError(f"unknown output format {f!r}; choose from {', '.join(FORMATS)}")
        if key not in out:
            out.append(key)
    return tuple(out)


def planned_outputs(
    out_dir: Path, stem: str, formats: Sequence[str], *, holes: bool
) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each file (kind -> path)."""
    kinds: list[str] = []
    if "tiff" in formats:
        kinds += ["depth_tiff", "uncertainty_tiff"]
    if "csv" in formats:
        kinds.append("depth_csv")
    if "png" in formats:
        kinds.append("depth_png")
    if "dacon" in formats:
        kinds.append("depth8_png")
    if holes:
        kinds.append("holes_csv")
    return {k: out_dir / output_name(stem, k) for k in kinds}


def refuse_existing(paths: Iterable[Path]) -> None:
    """``OutputExistsError`` naming the first of ``paths`` that exists."""
    from core.io.atomic import OutputExistsError

    for p in paths:
        if p.exists():
            raise OutputExistsError(p)


def write_outputs(
    item_or_result: BatchItem | PredictionResult,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("tiff", "csv", "png"),
    stem: str,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write one result's files (see the module docstring); returns kind -> final path.

    All files are written atomically. Without ``overwrite``, if any target exists nothing
    is written and ``OutputExistsError`` names the file.
    """
    from core import __version__
    from core.io import write_colormap_png, write_depth_csv, write_depth_png, write_depth_tiff

    result = item_or_result.result if isinstance(item_or_result, BatchItem) else item_or_result
    if result is None:
        raise ValueError("write_outputs: the batch item holds no result (failed or dropped)")
    fmts = check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = planned_outputs(out, stem, fmts, holes=result.holes is not None)
    if not overwrite:
        refuse_existing(plan.values())
    desc = result.description()
    desc["product_version"] = __version__
    px = result.sem.pixel_size_nm
    written: dict[str, Path] = {}
    for kind, path in plan.items():
        if kind == "depth_tiff":
            written[kind] = write_depth_tiff(
                path,
                result.depth,
                pixel_size_nm=px,
                value_unit="DU",
                description=desc,
                overwrite=overwrite,
            )
        elif kind == "uncertainty_tiff":
            udesc = dict(desc, quantity="uncertainty (std over TTA flips and shots)")
            written[kind] = write_depth_tiff(
                path,
                result.uncertainty,
                pixel_size_nm=px,
                value_unit="DU",
                description=udesc,
                overwrite=overwrite,
            )
        elif kind == "depth_csv":
            header = {
                k: desc[k]
                for k in (
                    "model_id",
                    "fast_path",
                    "mode",
                    "source",
                    "pixel_size_nm",
                    "value_unit",
                    "convention",
                )
            }
            written[kind] = write_depth_csv(
                path, result.depth, header=header, pixel_size_nm=px, overwrite=overwrite
            )
        elif kind == "depth_png":
            written[kind] = write_colormap_png(
                path, result.depth, cmap="viridis", label="depth (DU)", overwrite=overwrite
            )
        elif kind == "depth8_png":
            written[kind] = write_depth_png(path, result.depth, overwrite=overwrite)
        elif kind == "holes_csv":
            written[kind] = write_holes_csv(path, result, overwrite=overwrite)
    return written


def write_holes_csv(path: str | Path, result: PredictionResult, *, overwrite: bool = False) -> Path:
    """The per-hole table as CSV (units in the column names), atomically."""
    from core.io.atomic import atomic_write

    path = Path(path)
    with (
        atomic_write(path, overwrite=overwrite) as tmp,
        open(tmp, "w", newline="", encoding="utf-8") as fh,
    ):
        w = csv.DictWriter(fh, fieldnames=list(HOLE_COLUMNS))
        w.writeheader()
        for h in result.holes or []:
            w.writerow(h.as_row())
    return path


# --------------------------------------------------------------------------- summary
def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def summary_row(item: BatchItem) -> list[str]:
    s = item.stats
    return [
        str(item.source),
        item.status,
        item.error or "",
        _fmt(s.get("rows")),
        _fmt(s.get("cols")),
        _fmt(s.get("pixel_size_nm"), 6),
        _fmt(s.get("mode")),
        _fmt(s.get("fast_path")),
        "" if s.get("denoised") is None else str(bool(s["denoised"])).lower(),
        _fmt(s.get("n_holes")),
        _fmt(s.get("mean_depth")),
        _fmt(s.get("min_depth")),
        _fmt(s.get("max_depth")),
        _fmt(s.get("mean_uncertainty")),
        _fmt(item.rmse),
        str(item.ground_truth_path) if item.ground_truth_path else "",
        f"{item.seconds:.3f}",
        ";".join(p.name for p in item.outputs.values()),
        " | ".join(item.notes),
    ]


class SummaryWriter:
    """Keeps the summary rows (strings only) and rewrites the CSV atomically now and then.

    The file is ``out_dir/summary.csv``, or without ``overwrite`` the first of
    ``summary_2.csv``, ``summary_3.csv``... that does not exist yet; it is claimed (written
    with the header) at once. ``columns`` and ``row`` (item -> one string per column) default
    to the prediction summary's.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        overwrite: bool,
        interval_s: float = 5.0,
        columns: Sequence[str] = SUMMARY_COLUMNS,
        row: Callable[[Any], list[str]] = summary_row,
    ) -> None:
        from core.io.atomic import OutputExistsError

        self.rows: list[list[str]] = []
        self.interval_s = interval_s
        self.columns = tuple(columns)
        self._row = row
        self._last = 0.0
        name = out_dir / "summary.csv"
        k = 2
        while True:
            try:
                self.path = self._write(name, overwrite=overwrite)
                break
            except OutputExistsError:
                name = out_dir / f"summary_{k}.csv"
                k += 1

    def _write(self, path: Path, *, overwrite: bool) -> Path:
        from core.io.atomic import atomic_write

        with (
            atomic_write(path, overwrite=overwrite) as tmp,
            open(tmp, "w", newline="", encoding="utf-8") as fh,
        ):
            w = csv.writer(fh)
            w.writerow(self.columns)
            w.writerows(self.rows)
        self._last = time.monotonic()
        return path

    def add(self, item: Any) -> None:
        self.rows.append(self._row(item))
        if time.monotonic() - self._last >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        self._write(self.path, overwrite=True)


def read_summary(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- the loop
CANCELLED_MESSAGE = "cancelled before this file was finished"


class ItemRecord(Protocol):
    """What :func:`capture_failure` and :func:`run_items` need of a per-input item."""

    status: str
    error: str | None
    seconds: float


ItemT = TypeVar("ItemT", bound=ItemRecord)


@contextmanager
def capture_failure(item: ItemRecord, path: Path, logger: logging.Logger) -> Iterator[None]:
    """Run one input's work; turn its failure into ``item``'s status and error (a bad file
    must never stop the batch) and set ``item.seconds`` to the time spent.

    ``Cancelled`` -> status ``cancelled``; ``SemReadError``, ``FileExistsError``,
    ``ValueError``, ``OSError`` -> ``error = str(exc)``; any other ``Exception`` is logged
    on ``logger`` with its traceback -> ``error = "Type: message"``. Status is left as the
    work set it otherwise (items start as ``failed`` and the work sets ``done`` last).
    ``BaseException`` (``KeyboardInterrupt``) passes through.
    """
    from core.io import SemReadError

    t0 = time.perf_counter()
    try:
        yield
    except Cancelled:
        item.status, item.error = "cancelled", CANCELLED_MESSAGE
    except (SemReadError, FileExistsError, ValueError, OSError) as exc:
        item.error = str(exc)
    except Exception as exc:
        logger.exception("unexpected error on %s", path)
        item.error = f"{type(exc).__name__}: {exc}"
    item.seconds = time.perf_counter() - t0


@dataclass
class ItemsRun(Generic[ItemT]):
    """What :func:`run_items` did: the items in input order and their counts."""

    items: list[ItemT]
    n_done: int
    n_failed: int
    cancelled: bool


def run_items(
    paths: Sequence[Path],
    process: Callable[[int, Path], ItemT],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_item: Callable[[ItemT], None] | None = None,
    release: Callable[[ItemT], None] | None = None,
    writer: SummaryWriter | None = None,
) -> ItemsRun[ItemT]:
    """The batch loop shared by :func:`run_batch` and :func:`core.denoise.denoise_batch`.

    ``process(index, path)`` makes each item (never raising for a bad input); then
    ``on_item(item)``, ``release(item)`` (drop its arrays), the item goes to ``writer``
    and one progress report. Stops before the next input once ``cancel`` is set, and after
    an item that came back ``cancelled``. ``writer`` is flushed at the end, also on an
    exception.
    """
    run: ItemsRun[ItemT] = ItemsRun([], 0, 0, False)
    total = len(paths)
    report(progress, 0, total, "")
    try:
        for index, path in enumerate(paths):
            if cancel is not None and cancel.cancelled:
                run.cancelled = True
                break
            item = process(index, path)
            if item.status == "done":
                run.n_done += 1
            elif item.status == "failed":
                run.n_failed += 1
            if on_item is not None:
                on_item(item)
            if release is not None:
                release(item)
            run.items.append(item)
            if writer is not None:
                writer.add(item)
            report(progress, index + 1, total, path.name)
            if item.status == "cancelled":
                run.cancelled = True
                break
    finally:
        if writer is not None:
            writer.flush()
    return run


def _stats(result: PredictionResult) -> dict[str, Any]:
    d = result.depth
    return {
        "rows": int(d.shape[0]),
        "cols": int(d.shape[1]),
        "pixel_size_nm": result.sem.pixel_size_nm,
        "mode": result.mode,
        "fast_path": result.fast_path,
        "denoised": result.denoised is not None,
        "n_holes": None if result.holes is None else len(result.holes),
        "mean_depth": float(np.mean(d)),
        "min_depth": float(np.min(d)),
        "max_depth": float(np.max(d)),
        "mean_uncertainty": float(np.mean(result.uncertainty)),
    }


def _process(
    index: int,
    path: Path,
    predictor: Predictor,
    out_dir: Path | None,
    stem: str,
    *,
    formats: tuple[str, ...],
    gt_dir: str | Path | None,
    mode: str,
    tta: bool,
    overwrite: bool,
    cancel: CancelToken | None,
) -> BatchItem:
    from core.io import SemReadError, read_depth

    item = BatchItem(index, path, "failed", None, None, None, None, {}, 0.0)
    with capture_failure(item, path, log):
        if out_dir is not None and not overwrite:
            refuse_existing(planned_outputs(out_dir, stem, formats, holes=False).values())
        result = predictor.predict(path, mode=mode, tta=tta, cancel=cancel)
        item.result = result
        item.stats = _stats(result)
        item.notes.extend(result.notes)
        gt_path = find_ground_truth(path, gt_dir)
        if gt_path is not None:
            item.ground_truth_path = gt_path
            try:
                gt = read_depth(gt_path)
            except SemReadError as exc:
                item.notes.append(f"ground truth unreadable: {exc}")
            else:
                if gt.shape == result.depth.shape:
                    item.ground_truth = gt
                    diff = result.depth.astype(np.float64) - gt.astype(np.float64)
                    item.rmse = rmse(diff)
                else:
                    item.notes.append(
                        f"ground truth {gt_path} has shape {gt.shape}, "
                        f"prediction {result.depth.shape}: no RMSE"
                    )
        if out_dir is not None:
            if cancel is not None:
                cancel.raise_if_cancelled()
            item.outputs = write_outputs(
                result, out_dir, formats=formats, stem=stem, overwrite=overwrite
            )
        item.status = "done"
    if item.status == "cancelled":
        item.result = None
    return item


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
    from core.inference.predictor import MODES

    fmts = check_formats(formats)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    paths = expand_inputs(inputs, exclude=[out] if out is not None else [])
    _gt_index.cache_clear()
    namer = StemNamer(paths)
    writer = SummaryWriter(out, overwrite=overwrite) if out is not None else None

    def process(index: int, path: Path) -> BatchItem:
        return _process(
            index,
            path,
            predictor,
            out,
            namer(path),
            formats=fmts,
            gt_dir=gt_dir,
            mode=mode,
            tta=tta,
            overwrite=overwrite,
            cancel=cancel,
        )

    def release(item: BatchItem) -> None:
        item.result = None
        item.ground_truth = None

    run = run_items(
        paths,
        process,
        progress=progress,
        cancel=cancel,
        on_item=on_item,
        release=None if keep_results else release,
        writer=writer,
    )
    return BatchSummary(
        run.items, run.n_done, run.n_failed, run.cancelled, writer.path if writer else None
    )


def summary_counts(items: Sequence[BatchItem]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for it in items:
        counts[it.status] = counts.get(it.status, 0) + 1
    return counts
