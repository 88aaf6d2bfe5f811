"""``summary.csv``: one row per processed input, rewritten atomically now and then.

The file is ``out_dir/summary.csv``, or without ``overwrite`` the first of
``summary_2.csv``, ``summary_3.csv``... that does not exist yet. The prediction batch's
columns are :data:`SUMMARY_COLUMNS` (:func:`summary_row`); other batches (denoising) give
their own columns and row function to :class:`SummaryWriter`.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.batch.items import BatchItem
from core.batch.trust_stats import TRUST_COLUMNS, fmt_trust, trust_stats

if TYPE_CHECKING:
    from core.inference import PredictionResult

SUMMARY_COLUMNS = (
    "file",
    "status",
    "error",
    "rows",
    "cols",
    "pixel_size_nm",
    "scale",
    "resample_factor",
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
    "scale_reason",
    "notes",
    *TRUST_COLUMNS,
)


def result_stats(result: PredictionResult) -> dict[str, Any]:
    """What the summary reports of one prediction (``BatchItem.stats``; survives dropping
    the arrays)."""
    d = result.depth
    return {
        "rows": int(d.shape[0]),
        "cols": int(d.shape[1]),
        "pixel_size_nm": result.sem.pixel_size_nm,
        **scale_stats(result.settings.get("scale")),
        "mode": result.mode,
        "fast_path": result.fast_path,
        "denoised": result.denoised is not None,
        "n_holes": None if result.holes is None else len(result.holes),
        "mean_depth": float(np.mean(d)),
        "min_depth": float(np.min(d)),
        "max_depth": float(np.max(d)),
        "mean_uncertainty": float(np.mean(result.uncertainty)),
        **trust_stats(result),
    }


def scale_stats(scale: Any) -> dict[str, Any]:
    """The summary's scale columns from a scale decision record (``settings["scale"]``,
    :meth:`~core.inference.ScaleDecision.record`)."""
    if not isinstance(scale, dict):
        return {}
    return {
        "scale": scale.get("action"),
        "resample_factor": scale.get("factor"),
        "scale_reason": scale.get("reason"),
    }


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def summary_row(item: BatchItem) -> list[str]:
    """One prediction's row, a string per :data:`SUMMARY_COLUMNS` entry (the row an
    earlier run stored for a resumed item, ``item.stored_row``, as it was)."""
    if item.stored_row is not None and len(item.stored_row) == len(SUMMARY_COLUMNS):
        return list(item.stored_row)
    s = item.stats
    return [
        str(item.source),
        item.status,
        item.error or "",
        _fmt(s.get("rows")),
        _fmt(s.get("cols")),
        _fmt(s.get("pixel_size_nm"), 6),
        _fmt(s.get("scale")),
        _fmt(s.get("resample_factor"), 4),
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
        _fmt(s.get("scale_reason")),
        " | ".join(item.notes),
        *fmt_trust(s),
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
    """The rows of a summary CSV as dicts (column -> string)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
