"""What the window shows: queue rows, a bounded result cache, the displayed result.

Nothing here runs inference or touches files; the batch worker
(:class:`app.controllers.batch.BatchController`) produces :class:`core.batch.BatchItem`
objects and stores them here. The remembered settings live in :mod:`app.settings`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from .trust import domain_warning, format_depth, pixel_readout, trust_of
from .units import Units, format_length

MAX_CACHED_RESULTS = 200
MAX_CACHED_BYTES = 2 * 1024**3  # results' arrays kept in memory at most (2 GiB)

#: Row statuses in the batch queue.
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


# ----------------------------------------------------------------------------- display data


@dataclass
class DisplayData:
    """The arrays one result shows, in depth units (DU) on the model's 0-255 scale.

    ``error`` is prediction minus truth (DU) when a truth map of the same shape exists.
    ``sem_denoised`` is the Noise2Self-denoised SEM (same value range as ``sem``) when the
    prediction denoised its input first; ``show_denoised`` picks which of the two the SEM
    panel and the readout show (:attr:`shown_sem`). ``trust`` is the prediction's trust
    step (domain verdict, calibrated sigma, depth below the local top, hole metrology);
    ``holes`` its per-hole measurements (``trust.holes.holes``), or without a trust step
    field mode's detected holes.
    """

    source: Path | None
    sem: np.ndarray
    depth: np.ndarray
    uncertainty: np.ndarray | None
    truth: np.ndarray | None = None
    pixel_size_nm: float | None = None
    nm_per_depth_unit: float | None = None
    holes: list[Any] | None = None
    mode: str = "crop"
    model_id: str = ""
    row_id: int | None = None
    sem_denoised: np.ndarray | None = None
    show_denoised: bool = True
    sem_image: Any = None  # the core.io.SemImage read (metadata for File > Properties)
    domain_warning: str | None = None  # the engine's out-of-domain verdict, when it says so
    trust: Any = None  # the prediction's core.trust.assess.TrustResult (None: no trust step)
    error: np.ndarray | None = field(init=False, default=None)
    _truth_below_top: np.ndarray | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.set_truth(self.truth)

    def set_truth(self, truth: np.ndarray | None) -> None:
        """Attach (or remove) a ground-truth map; raises ValueError on a shape mismatch."""
        if truth is not None:
            truth = np.asarray(truth, dtype=np.float32)
            if truth.shape != self.depth.shape:
                raise ValueError(
                    f"ground truth shape {truth.shape[0]}x{truth.shape[1]} px does not match "
                    f"the prediction {self.depth.shape[0]}x{self.depth.shape[1]} px"
                )
        self.truth = truth
        self.error = None if truth is None else (self.depth - truth).astype(np.float32)
        self._truth_below_top = None

    @property
    def hole_table(self) -> Any:
        """The trust step's :class:`core.metrology.holes.HoleTable` (None without one)."""
        return getattr(self.trust, "holes", None)

    def truth_below_top(self) -> np.ndarray | None:
        """The true depth below the true map's own local top (the engine's estimator with
        the prediction's smoothing, so like compares with like), in the trust step's unit;
        None without truth or trust. Computed once, on first use."""
        if self.truth is None or self.trust is None:
            return None
        if self._truth_below_top is None:
            from core.metrology.surface import depth_below_top

            bt = self.trust.below_top
            true = depth_below_top(self.truth, smooth_px=bt.top.smooth_px)
            self._truth_below_top = (true.du * np.float32(bt.factor)).astype(np.float32)
        return self._truth_below_top

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.depth.shape[0]), int(self.depth.shape[1]))

    @property
    def sem_kind(self) -> str:
        """``"denoised"`` when the SEM panel shows the denoised image, else ``"raw"``."""
        return "denoised" if self.show_denoised and self.sem_denoised is not None else "raw"

    @property
    def shown_sem(self) -> np.ndarray:
        """The SEM image on display: the denoised one (when present and chosen) or the raw."""
        if self.sem_kind == "denoised":
            assert self.sem_denoised is not None
            return self.sem_denoised
        return self.sem

    @property
    def rmse(self) -> float | None:
        """Pooled RMSE (DU) of this image against its truth."""
        if self.error is None:
            return None
        return float(np.sqrt(np.mean(self.error.astype(np.float64) ** 2)))

    @classmethod
    def from_item(cls, item: Any, row_id: int | None = None) -> DisplayData:
        """Build from a :class:`core.batch.BatchItem` (needs ``item.result``)."""
        result = item.result
        if result is None:
            raise ValueError(f"{item.source}: no result to show ({item.status})")
        data = cls.from_result(result, source=Path(item.source), row_id=row_id)
        gt = getattr(item, "ground_truth", None)
        if gt is not None:
            try:
                data.set_truth(gt)
            except ValueError:
                data.set_truth(None)
        return data

    @classmethod
    def from_result(
        cls, result: Any, *, source: Path | None = None, row_id: int | None = None
    ) -> DisplayData:
        sem = result.sem
        denoised = getattr(result, "denoised", None)
        trust = trust_of(result)
        table = getattr(trust, "holes", None)
        return cls(
            source=source if source is not None else getattr(sem, "path", None),
            sem=np.asarray(sem.pixels),
            depth=np.asarray(result.depth),
            uncertainty=None if result.uncertainty is None else np.asarray(result.uncertainty),
            pixel_size_nm=getattr(sem, "pixel_size_nm", None),
            nm_per_depth_unit=getattr(result, "nm_per_depth_unit", None),
            holes=list(table.holes) if table is not None else getattr(result, "holes", None),
            mode=str(getattr(result, "mode", "crop")),
            model_id=str(getattr(result, "model_id", "")),
            row_id=row_id,
            sem_denoised=None if denoised is None else np.asarray(denoised),
            sem_image=sem,
            domain_warning=domain_warning(result),
            trust=trust,
        )

    # -------------------------------------------------------------- readout

    def readout_at(self, row: int, col: int) -> dict[str, Any]:
        """Values under pixel (row, col): position and every map's value.

        Keys: ``row``, ``col`` (px), ``x_nm``, ``y_nm`` (pixel origin in nm, None when the
        pixel size is unknown), ``sem`` (intensity of the SEM image on display, see
        :attr:`shown_sem`), ``sem_kind`` (``"raw"`` or ``"denoised"``), ``depth``,
        ``truth``, ``error``, ``uncertainty`` (DU; None when absent), ``depth_nm``,
        ``truth_nm``, ``error_nm``, ``uncertainty_nm`` (None unless the model card gives nm
        per depth unit) and ``inside`` (False, with every value None, outside the image).
        With a trust step also ``below_top`` (:func:`app.trust.pixel_readout`: the depth
        below the local top, its +-2 sigma, unit, ``in_domain``) and ``sigma`` (the
        calibrated sigma of the height map, DU; None uncalibrated).
        """
        rows, cols = self.shape
        inside = 0 <= row < rows and 0 <= col < cols
        out: dict[str, Any] = {"row": int(row), "col": int(col), "inside": inside}
        ps = self.pixel_size_nm
        out["x_nm"] = col * ps if ps else None
        out["y_nm"] = row * ps if ps else None

        def pick(arr: np.ndarray | None) -> float | None:
            if arr is None or not inside:
                return None
            return float(arr[row, col])

        out["sem"] = pick(self.shown_sem)
        out["sem_kind"] = self.sem_kind
        out["depth"] = pick(self.depth)
        out["truth"] = pick(self.truth)
        out["error"] = pick(self.error)
        out["uncertainty"] = pick(self.uncertainty)
        trust = self.trust
        out["sigma"] = pick(getattr(trust, "sigma", None))
        k = self.nm_per_depth_unit
        for key in ("depth", "truth", "error", "uncertainty", "sigma"):
            v = out[key]
            out[f"{key}_nm"] = v * k if (k and v is not None) else None
        out["below_top"] = pixel_readout(trust, row, col) if trust is not None and inside else None
        return out


def format_readout(values: dict[str, Any], units: Units | None = None) -> str:
    """One short status-bar line for :meth:`DisplayData.readout_at` values: the position
    (px, and physical with a pixel size and nm chosen), the depth below the local top with
    its +-2 sigma in the trust step's unit ("uncalibrated" without a calibration), then the
    DACON height map and the other maps in the chosen depth unit (the Readout dock shows
    both units)."""
    if not values.get("inside"):
        return ""
    physical = units.physical_lengths if units is not None else True
    units = units or Units()
    parts = [f"x {values['col']}, y {values['row']} px"]
    if physical and values.get("x_nm") is not None:
        parts[0] += f" ({format_length(values['x_nm'])}, {format_length(values['y_nm'])})"
    label = "SEM (denoised)" if values.get("sem_kind") == "denoised" else "SEM"
    parts.append(f"{label} {_fmt(values['sem'])}")
    bt = values.get("below_top")
    if bt is not None:
        text = format_depth(bt["depth_below_top"], bt["plus_minus_2sigma"], bt["unit"])
        if bt["plus_minus_2sigma"] is not None:
            text += " (2σ)"
        parts.append(f"below top {text}" + ("" if bt["in_domain"] else " ⚠ out of domain"))
    for key, label in (
        ("depth", "height"),
        ("truth", "true height"),
        ("error", "error"),
        ("uncertainty", "spread"),
    ):
        v = values.get(key)
        if v is not None:
            parts.append(f"{label} {units.depth(v)}")
    return "   ".join(parts)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.4g}"


# ----------------------------------------------------------------------------- queue rows

SHORT_REASON_CHARS = 40


def short_reason(error: str, source: Path | None = None) -> str:
    """The gist of a failure for a table cell: without the file's path (reader errors
    begin with it), up to the first detail in brackets or after a semicolon, at most
    :data:`SHORT_REASON_CHARS` characters ("truncated file")."""
    text = error.strip()
    prefixes = [f"{source}: ", f"{Path(source).name}: "] if source is not None else []
    for prefix in prefixes:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    else:
        head, sep, rest = text.partition(": ")
        if sep and ("/" in head or "\\" in head):  # another path first
            text = rest
    for stop in (" (", "; ", ": "):
        cut = text.find(stop)
        if cut > 0:
            text = text[:cut]
    text = text.strip().rstrip(".")
    if len(text) > SHORT_REASON_CHARS:
        text = text[: SHORT_REASON_CHARS - 1].rstrip() + "…"
    return text or "failed"


@dataclass
class QueueRow:
    """One file in the batch queue."""

    row_id: int
    source: Path
    status: str = QUEUED
    error: str | None = None
    mean_depth: float | None = None
    rmse: float | None = None
    seconds: float | None = None
    nm_per_du: float | None = None  # the model card's depth scale, when it gives one
    domain_warning: str | None = None

    def update_from_item(self, item: Any) -> None:
        status = str(item.status)
        self.status = status if status in (DONE, FAILED, CANCELLED) else FAILED
        self.error = item.error
        self.seconds = float(item.seconds) if item.seconds is not None else None
        self.rmse = float(item.rmse) if item.rmse is not None else None
        if item.result is not None:
            self.mean_depth = float(np.mean(item.result.depth))
            self.nm_per_du = getattr(item.result, "nm_per_depth_unit", None)
            self.domain_warning = domain_warning(item.result)
        if self.status == DONE and item.result is None and self.error is None:
            self.error = None


def item_nbytes(item: Any) -> int:
    """Bytes of the arrays a batch item holds (depth, uncertainty, SEM pixels, truth)."""
    total = 0
    result = getattr(item, "result", None)
    arrays = [getattr(item, "ground_truth", None)]
    if result is not None:
        sem = getattr(result, "sem", None)
        arrays += [
            getattr(result, "depth", None),
            getattr(result, "uncertainty", None),
            getattr(result, "denoised", None),
            getattr(sem, "pixels", None),
        ]
    for a in arrays:
        if isinstance(a, np.ndarray):
            total += a.nbytes
    return total


class ResultCache:
    """The last ``capacity`` results' arrays, by row id (least recently used evicted first).

    Also bounded by ``max_bytes`` (large field images), always keeping the newest item.
    """

    def __init__(self, capacity: int = MAX_CACHED_RESULTS, max_bytes: int = MAX_CACHED_BYTES):
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, Any] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self.nbytes = 0

    def put(self, row_id: int, item: Any) -> None:
        if row_id in self._items:
            self.nbytes -= self._sizes.pop(row_id, 0)
        self._items[row_id] = item
        self._items.move_to_end(row_id)
        size = item_nbytes(item)
        self._sizes[row_id] = size
        self.nbytes += size
        while len(self._items) > self.capacity or (
            self.nbytes > self.max_bytes and len(self._items) > 1
        ):
            old, _ = self._items.popitem(last=False)
            self.nbytes -= self._sizes.pop(old, 0)

    def get(self, row_id: int) -> Any | None:
        item = self._items.get(row_id)
        if item is not None:
            self._items.move_to_end(row_id)
        return item

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self._sizes.clear()
        self.nbytes = 0


class AppState(QObject):
    """The queue, the cached results and the displayed result; emits when they change."""

    rowsAdded = Signal(int, int)  # first row index, count
    rowChanged = Signal(int)  # row index
    rowsCleared = Signal()
    currentChanged = Signal(object)  # DisplayData | None

    def __init__(self, cache_size: int = MAX_CACHED_RESULTS, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list[QueueRow] = []
        self.cache = ResultCache(cache_size)
        self.current: DisplayData | None = None
        self._next_id = 0

    # rows -------------------------------------------------------------
    def add_rows(self, sources: Iterable[Path], status: str = QUEUED) -> list[QueueRow]:
        new = []
        for s in sources:
            new.append(QueueRow(self._next_id, Path(s), status=status))
            self._next_id += 1
        if new:
            first = len(self.rows)
            self.rows.extend(new)
            self.rowsAdded.emit(first, len(new))
        return new

    def add_failed_row(self, source: Path, reason: str) -> QueueRow:
        row = QueueRow(self._next_id, Path(source), status=FAILED, error=reason)
        self._next_id += 1
        self.rows.append(row)
        self.rowsAdded.emit(len(self.rows) - 1, 1)
        return row

    def index_of(self, row_id: int) -> int:
        # row ids are increasing, so bisect
        lo, hi = 0, len(self.rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.rows[mid].row_id < row_id:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.rows) and self.rows[lo].row_id == row_id:
            return lo
        raise KeyError(row_id)

    def row(self, row_id: int) -> QueueRow:
        return self.rows[self.index_of(row_id)]

    def set_status(self, row_id: int, status: str, error: str | None = None) -> None:
        i = self.index_of(row_id)
        self.rows[i].status = status
        self.rows[i].error = error
        self.rowChanged.emit(i)

    def record_item(self, row_id: int, item: Any) -> None:
        """Store a finished item: update its row and cache its arrays."""
        i = self.index_of(row_id)
        self.rows[i].update_from_item(item)
        if item.result is not None:
            self.cache.put(row_id, item)
        self.rowChanged.emit(i)

    def queued_rows(self) -> list[QueueRow]:
        return [r for r in self.rows if r.status == QUEUED]

    def done_rows(self) -> list[QueueRow]:
        return [r for r in self.rows if r.status == DONE]

    def clear(self) -> None:
        self.rows.clear()
        self.cache.clear()
        self.rowsCleared.emit()
        self.set_current(None)

    def counts(self) -> dict[str, int]:
        out = {QUEUED: 0, RUNNING: 0, DONE: 0, FAILED: 0, CANCELLED: 0}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def depth_unit(self, choice: str) -> tuple[str, bool]:
        """The table's depth unit for the unit ``choice``: ``("nm", True)`` when nm is
        chosen and every row with a depth has the depth scale, else ``("DU", False)``."""
        with_depth = [r for r in self.rows if r.mean_depth is not None]
        if choice == "nm" and with_depth and all(r.nm_per_du for r in with_depth):
            return "nm", True
        return "DU", False

    def summary_text(self, choice: str = "DU") -> str:
        c = self.counts()
        text = (
            f"{len(self.rows)} files: {c[DONE]} done, {c[FAILED]} failed, "
            f"{c[QUEUED] + c[RUNNING]} to do"
        )
        if c[CANCELLED]:
            text += f", {c[CANCELLED]} cancelled"
        rmses = [r.rmse for r in self.rows if r.rmse is not None and math.isfinite(r.rmse)]
        if rmses:
            unit, nm = self.depth_unit(choice)
            if nm:
                rmses = [
                    r.rmse * r.nm_per_du for r in self.rows if r.rmse is not None and r.nm_per_du
                ]
            text += (
                f"; mean RMSE {float(np.mean(rmses)):.2f} {unit} "
                f"(per image, {len(rmses)} with truth)"
            )
        return text

    def __iter__(self) -> Iterator[QueueRow]:
        return iter(self.rows)

    # current ----------------------------------------------------------
    def set_current(self, data: DisplayData | None) -> None:
        self.current = data
        self.currentChanged.emit(data)
