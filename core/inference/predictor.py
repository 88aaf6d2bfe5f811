"""The :class:`Predictor`: a depth model on a device, ready to turn SEM images into depth maps.

Modes (``mode="auto"`` picks one; any can be forced):

- ``crop``: an image near the model's input size (0.5x-1.5x the card's ``input.size`` on
  each side) is predicted whole; the U-Net pads to its stride and crops back internally.
- ``field``: a large image with holes (see :mod:`core.inference.holes`): one window of
  the model's input size centred on each hole (reflect-padded at the borders), predicted
  in batches and blended back into a full-field map (see :mod:`core.inference.stitch`),
  plus a per-hole table.
- ``tiled``: overlapping tiles (a multiple of the input size) with linearly blended seams.

``auto`` = crop if near the input size, field if at least 3 holes of one size class are
found, else tiled. When both the image's pixel size and the card's ``input.pixel_size_nm``
are known and differ by more than 5 %, the image is resampled to the model's pixel size
(anti-aliased), predicted, and the maps resampled back to the image's own grid.

Uncertainty: test-time augmentation (identity, h-flip, v-flip, both; un-flipped), plus the
same for a second shot of the structure when there is one (``<name>_itr1`` beside
``<name>_itr0``, or ``second_shot=``). Depth is the mean, uncertainty the per-pixel
standard deviation: the spread of the model's answers under changes that should not change
the answer. It is a lower bound on the error, not a calibrated interval.

Denoise first (optional): a Noise2Self denoiser attached with ``denoiser=`` (in
:meth:`Predictor.from_checkpoint`) or :meth:`Predictor.set_denoiser` cleans the normalised
SEM input (and a second shot) before resampling and the depth model; the result carries the
denoised image in the SEM's value range (``PredictionResult.denoised``) and its settings and
description record ``"denoised": true`` with the denoiser's id and file.

Thread safety: a predictor owns its model; all mutable state lives on the instance and the
model call is serialised by a lock, so one predictor per worker thread is safe (and
sharing one is safe too, only serialised).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi
from torch import nn

from core.conventions import shot_stem, split_shot
from core.device import resolve_device
from core.inference.denoising import denoiser_record, load_denoiser, to_sem_range
from core.inference.fastpath import Runner, TorchRunner, make_runner, resolve_fast_path
from core.inference.holes import HoleCandidate, detect_holes, plausible_field
from core.inference.result import HoleRecord, PredictionResult
from core.inference.stitch import (
    Accumulator,
    border_ring,
    fill_levels,
    tile_starts,
    tile_weight,
    window_weight,
)
from core.models import CheckpointError, load_checkpoint
from core.models.noise2self import Noise2SelfDenoiser
from core.progress import CancelToken, ProgressCallback, report

log = logging.getLogger(__name__)

MODES = ("auto", "crop", "field", "tiled")

# Resampling to the model's pixel size is skipped (with a note) outside these limits.
MAX_RESAMPLE_FACTOR = 8.0
MAX_RESAMPLED_PIXELS = 64_000_000

# Model-input-sized images per forward pass on the CPU, by fast path. The bf16 and
# channels-last kernels run fastest on small batches whose activations stay in cache
# (measured in bench/speed.py: bf16 at 16 per pass beats 64 per pass); the fp32 reference
# stays plain.
DEFAULT_BATCH = {"fp32": 64, "channels-last": 16, "bf16": 16, "onnx": 64, "compile": 16}


class NoHolesFoundError(ValueError):
    """Field mode was asked for but the image shows no holes the detector accepts."""


def _card_input_size(card: Mapping[str, Any], source: Path | str | None) -> tuple[int, int]:
    where = f"{source}: " if source else ""
    inp = card.get("input")
    size = inp.get("size") if isinstance(inp, Mapping) else None
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise CheckpointError(
            f"{where}model card has no valid input.size (expected [rows, cols], got {size!r})"
        )
    return int(size[0]), int(size[1])


def _positive_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _flip_variants(x: np.ndarray) -> list[np.ndarray]:
    """Identity, h-flip, v-flip, both, of a (N, H, W) stack (each its own inverse)."""
    return [x, x[:, :, ::-1], x[:, ::-1, :], x[:, ::-1, ::-1]]


_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` (N, H, W) moved by (dy, dx) px, the border filled by reflection."""
    h, w = x.shape[1:]
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    return pad[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def _shift_variants(x: np.ndarray) -> list[np.ndarray]:
    return [_shift(x, dy, dx) for dy, dx in _SHIFTS]


def _unshift_variant(x: np.ndarray, k: int) -> np.ndarray:
    dy, dx = _SHIFTS[k]
    return _shift(x, -dy, -dx)


def tta_kind_for(card: Mapping[str, Any]) -> str:
    """Which test-time augmentations suit the model: ``"flips"`` when it was trained with
    flips (or the card does not say), ``"shifts"`` (identity and 1-px moves) when its card
    records ``training.augment = false``: such a model never saw mirrored images (each
    imaging case has its detector on a fixed side), so their answers are biased, not spread.
    """
    training = card.get("training")
    if isinstance(training, Mapping) and training.get("augment") is False:
        return "shifts"
    return "flips"


class Predictor:
    """A depth model on a device with a fast path; see the module docstring for the modes.

    Build one with :meth:`from_checkpoint` (or directly from a model and its card).
    Attributes: ``card``, ``device``, ``fast_path`` (the path actually used),
    ``model_id``, ``input_size`` (rows, cols), ``input_pixel_size_nm``,
    ``nm_per_depth_unit``, ``denoiser`` / ``denoiser_source`` (the optional Noise2Self
    denoiser applied first, see :meth:`set_denoiser`).
    """

    def __init__(
        self,
        model: nn.Module,
        card: Mapping[str, Any],
        *,
        device: str | torch.device = "auto",
        fast_path: str = "auto",
        batch_size: int | None = None,
        cache_dir: Path | None = None,
        source: Path | None = None,
        denoiser: str | Path | Noise2SelfDenoiser | None = None,
    ) -> None:
        self.card: dict[str, Any] = dict(card)
        self.source = source
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.input_size = _card_input_size(self.card, source)
        inp = self.card.get("input", {})
        out = self.card.get("output") if isinstance(self.card.get("output"), Mapping) else {}
        self.input_pixel_size_nm = _positive_float(inp.get("pixel_size_nm"))
        self.nm_per_depth_unit = _positive_float((out or {}).get("nm_per_depth_unit"))
        self.model_id = str(self.card.get("id") or (source.stem if source else "unnamed-model"))
        self.model = model.eval()
        self.fast_path = resolve_fast_path(fast_path, self.device, self.card)
        self.tta_kind = tta_kind_for(self.card)
        self.n_tta = len(_SHIFTS) if self.tta_kind == "shifts" else 4
        if batch_size is None:
            batch_size = DEFAULT_BATCH.get(self.fast_path, 64) if self.device.type == "cpu" else 64
        self.batch_size = max(1, int(batch_size))
        self.fast_path_requested = fast_path
        self._cache_dir = cache_dir
        self._runner: Runner = make_runner(
            self.model, self.device, self.fast_path, cache_dir=cache_dir
        )
        self._lock = threading.Lock()
        self.fallback_note: str | None = None
        # (denoiser, its file) as ONE attribute, so a predict running in another thread
        # reads a consistent pair even while set_denoiser swaps it
        self._denoise: tuple[Noise2SelfDenoiser, Path | None] | None = None
        if denoiser is not None:
            self.set_denoiser(denoiser)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str | torch.device = "auto",
        fast_path: str = "auto",
        batch_size: int | None = None,
        cache_dir: Path | None = None,
        denoiser: str | Path | Noise2SelfDenoiser | None = None,
    ) -> Predictor:
        """Load ``path`` (``.safetensors`` + its ``.json`` card) through
        ``core.models.load_checkpoint``. Refuses, with an error naming the file, a missing
        file, any pickle-based file (never unpickled), and a card that is missing,
        malformed or names an unknown architecture. ``denoiser``: a Noise2Self denoiser
        (checkpoint path or loaded) to apply first, see :meth:`set_denoiser`."""
        path = Path(path)
        if path.suffix.lower() == ".json" and path.with_suffix(".safetensors").is_file():
            path = path.with_suffix(".safetensors")
        if not path.exists():
            raise CheckpointError(f"{path}: model file not found")
        if not path.is_file():
            raise CheckpointError(f"{path}: not a file")
        model, card = load_checkpoint(path, device="cpu")  # refuses pickles, bad cards
        if card.get("task", "depth") != "depth":
            raise CheckpointError(
                f"{path}: this is a {card.get('task')!r} model, not a depth model"
            )
        return cls(
            model,
            card,
            device=device,
            fast_path=fast_path,
            batch_size=batch_size,
            cache_dir=cache_dir,
            source=path,
            denoiser=denoiser,
        )

    # ------------------------------------------------------------------ denoise first
    def set_denoiser(
        self,
        denoiser: str | Path | Noise2SelfDenoiser | None,
        *,
        source: str | Path | None = None,
    ) -> Noise2SelfDenoiser | None:
        """Denoise every following prediction's input first (``None``: stop denoising).

        ``denoiser``: a denoiser checkpoint path (loaded on this predictor's device;
        :class:`~core.models.CheckpointError` naming the file when it is missing or not a
        denoiser checkpoint) or a loaded :class:`Noise2SelfDenoiser` (``source``: its file,
        recorded in the outputs). Returns the denoiser now in use."""
        if denoiser is None:
            self._denoise = None
            return None
        if isinstance(denoiser, str | Path):
            path = Path(denoiser)
            loaded = load_denoiser(path, device=self.device)
            self._denoise = (loaded, path)
            return loaded
        if not isinstance(denoiser, Noise2SelfDenoiser):
            raise TypeError(
                f"denoiser must be a checkpoint path, a Noise2SelfDenoiser or None; "
                f"got {type(denoiser).__name__}"
            )
        self._denoise = (denoiser, Path(source) if source is not None else None)
        return denoiser

    @property
    def denoiser(self) -> Noise2SelfDenoiser | None:
        """The Noise2Self denoiser applied before the depth model, or None."""
        pair = self._denoise
        return pair[0] if pair is not None else None

    @property
    def denoiser_source(self) -> Path | None:
        """The denoiser's checkpoint file when known."""
        pair = self._denoise
        return pair[1] if pair is not None else None

    def _run_denoiser(self, den: Noise2SelfDenoiser, img01: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(den.denoise(img01), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """What this predictor is (for logs, the CLI banner and output descriptions)."""
        return {
            "model_id": self.model_id,
            "model_file": str(self.source) if self.source else None,
            "device": str(self.device),
            "fast_path": self.fast_path,
            "input_size": list(self.input_size),
            "input_pixel_size_nm": self.input_pixel_size_nm,
            "nm_per_depth_unit": self.nm_per_depth_unit,
            "denoiser": None
            if self._denoise is None
            else denoiser_record(self._denoise[0], self._denoise[1]),
        }

    # ------------------------------------------------------------------ raw model calls
    def run_model(
        self,
        images01: np.ndarray,
        *,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """Depth (N, H, W) float32 DU for a stack (N, H, W) of 0..1 images, no TTA.

        Runs in forward passes of at most ``batch_size`` model-input-sized images' worth
        of pixels (default by fast path, :data:`DEFAULT_BATCH`); checks ``cancel``
        between them.
        """
        x = np.asarray(images01, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        n, h, w = x.shape
        per_forward = max(1, (self.batch_size * self.input_size[0] * self.input_size[1]) // (h * w))
        out = np.empty((n, h, w), dtype=np.float32)
        for start in range(0, n, per_forward):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = x[start : start + per_forward]
            out[start : start + len(chunk)] = self._forward(chunk[:, None])[:, 0]
        return out

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            try:
                return self._runner(batch)
            except Exception as exc:
                if self.fast_path not in ("onnx", "compile"):
                    raise
                # The optional paths fall back to pure torch rather than fail a batch.
                note = f"fast path {self.fast_path!r} failed ({exc}); using 'channels-last'"
                log.warning(note)
                self.fallback_note = note
                self.fast_path = "channels-last"
                self._runner = TorchRunner(self.model, self.device, "channels-last")
                return self._runner(batch)

    def _predict_stack(
        self,
        windows: np.ndarray,
        second: np.ndarray | None,
        tta: bool,
        cancel: CancelToken | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (N, H, W) over the TTA variants (flips or 1-px shifts, see
        :func:`tta_kind_for`) and the second shot, of a window stack."""
        shots = [windows] if second is None else [windows, second]
        forward = _shift_variants if self.tta_kind == "shifts" else _flip_variants
        variants: list[np.ndarray] = []
        for s in shots:
            variants.extend(forward(s) if tta else [s])
        stacked = np.concatenate([np.ascontiguousarray(v) for v in variants], axis=0)
        preds = self.run_model(stacked, cancel=cancel)
        n = windows.shape[0]
        per = len(variants) // len(shots)
        outs: list[np.ndarray] = []
        for k in range(len(variants)):
            p = preds[k * n : (k + 1) * n]
            j = k % per
            if not tta:
                outs.append(p)
            elif self.tta_kind == "shifts":
                outs.append(_unshift_variant(p, j))
            else:
                outs.append(_flip_variants(p)[j])  # each flip is its own inverse
        arr = np.stack(outs, axis=0).astype(np.float64)
        mean = arr.mean(axis=0).astype(np.float32)
        std = arr.std(axis=0).astype(np.float32) if len(outs) > 1 else np.zeros_like(mean)
        return mean, std

    # ------------------------------------------------------------------ public API
    def predict(
        self,
        image: Any,
        *,
        mode: str = "auto",
        tta: bool = True,
        second_shot: Any = "auto",
        resample: bool = True,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult:
        """Depth map (float32 DU) and uncertainty for one SEM image.

        ``image``: a :class:`~core.io.SemImage`, a 2-D array (uint8/uint16 scaled by their
        range, floats min-max) or a path (read with ``core.io.read_sem``).
        ``mode``: ``auto|crop|field|tiled``. ``tta``: flips for the uncertainty.
        ``second_shot``: another shot of the same structure (SemImage, array or path),
        ``None`` for none, ``"auto"`` to use ``<name>_itrM`` beside a ``<name>_itrN`` file.
        ``resample``: match the model's pixel size when both are known.
        Raises ``core.io.SemReadError`` for unreadable files, ``Cancelled`` on cancel,
        :class:`NoHolesFoundError` when ``mode="field"`` finds no holes.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        notes: list[str] = []
        if self.fallback_note:
            notes.append(self.fallback_note)
        denoise = self._denoise  # read once: set_denoiser may run in another thread
        sem = self._as_sem(image)
        timings["read"] = time.perf_counter() - t0
        img01 = np.asarray(sem.normalized(), dtype=np.float32)
        second01, second_path = self._second_shot(sem, second_shot, notes)

        # Denoise first (Noise2Self), on the image's own grid.
        denoised: np.ndarray | None = None
        if denoise is not None:
            t = time.perf_counter()
            if cancel is not None:
                cancel.raise_if_cancelled()
            img01 = self._run_denoiser(denoise[0], img01)
            denoised = to_sem_range(sem, img01)
            if second01 is not None:
                second01 = self._run_denoiser(denoise[0], second01)
            timings["denoise"] = time.perf_counter() - t

        # Resample to the model's pixel size.
        t = time.perf_counter()
        scale = self._resample_factor(sem, img01.shape, notes) if resample else 1.0
        work = _rescale(img01, scale)
        work2 = _rescale(second01, scale) if second01 is not None else None
        timings["resample"] = time.perf_counter() - t

        # Choose the mode.
        t = time.perf_counter()
        holes: list[HoleCandidate] | None = None
        chosen = mode
        if mode == "auto":
            if self._near_input_size(work.shape):
                chosen = "crop"
            else:
                holes = detect_holes(work, self.input_size)
                chosen = "field" if plausible_field(holes) else "tiled"
        elif mode == "field":
            holes = detect_holes(work, self.input_size)
            if not holes:
                where = f"{sem.path}: " if sem.path is not None else ""
                raise NoHolesFoundError(
                    f"{where}field mode found no holes (dark round regions of "
                    f"{0.08 * min(self.input_size):.0f}-{0.9 * min(self.input_size):.0f} px "
                    "after resampling); use mode 'tiled' or 'auto'"
                )
        timings["detect"] = time.perf_counter() - t

        t = time.perf_counter()
        settings: dict[str, Any] = {
            "tta": bool(tta),
            "tta_kind": self.tta_kind if tta else None,
            "second_shot": str(second_path) if second_path else None,
            "predictions_per_pixel": (self.n_tta if tta else 1)
            * (2 if second01 is not None else 1),
            "resample_factor": round(scale, 6),
            "model_input_size": list(self.input_size),
            "model_pixel_size_nm": self.input_pixel_size_nm,
            "device": str(self.device),
            "requested_mode": mode,
            "denoised": denoise is not None,
            "denoiser": None if denoise is None else denoiser_record(denoise[0], denoise[1]),
        }
        if chosen == "crop":
            mean, std = self._predict_stack(
                work[None], None if work2 is None else work2[None], tta, cancel
            )
            depth_w, unc_w = mean[0], std[0]
            report(progress, 1, 1, "crop")
        elif chosen == "field":
            assert holes is not None
            depth_w, unc_w = self._predict_field(work, work2, holes, tta, progress, cancel)
            settings["window"] = list(self.input_size)
        else:
            depth_w, unc_w, tile, overlap = self._predict_tiled(work, work2, tta, progress, cancel)
            settings["tile"] = list(tile)
            settings["overlap"] = list(overlap)
        timings["inference"] = time.perf_counter() - t

        t = time.perf_counter()
        records: list[HoleRecord] | None = None
        if chosen == "field":
            assert holes is not None
            records = self._hole_records(holes, depth_w, unc_w, scale, sem.pixel_size_nm)
        if scale != 1.0:
            depth = _resize(depth_w, img01.shape, down=scale > 1.0)
            unc = _resize(unc_w, img01.shape, down=scale > 1.0)
        else:
            depth, unc = depth_w, unc_w
        if not tta and second01 is None:
            notes.append("uncertainty not estimated (no test-time augmentation, no second shot)")
        timings["stitch"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return PredictionResult(
            depth=np.ascontiguousarray(depth, dtype=np.float32),
            uncertainty=np.ascontiguousarray(unc, dtype=np.float32),
            sem=sem,
            mode=chosen,
            holes=records,
            timings=timings,
            model_id=self.model_id,
            nm_per_depth_unit=self.nm_per_depth_unit,
            fast_path=self.fast_path,
            settings=settings,
            notes=notes,
            denoised=None if denoised is None else np.ascontiguousarray(denoised),
        )

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _as_sem(image: Any) -> Any:
        from core.io import SemImage, read_sem

        if isinstance(image, SemImage):
            return image
        if isinstance(image, str | Path):
            return read_sem(image)
        if isinstance(image, np.ndarray):
            if image.ndim != 2:
                raise ValueError(
                    f"expected a 2-D (rows, cols) image array, got shape {image.shape}"
                )
            return SemImage.from_array(image)
        raise TypeError(
            f"cannot predict from {type(image).__name__}; give a SemImage, array or path"
        )

    def _second_shot(
        self, sem: Any, second_shot: Any, notes: list[str]
    ) -> tuple[np.ndarray | None, Path | None]:
        from core.io import SemImage, SemReadError, read_sem

        if second_shot is None or second_shot is False:
            return None, None
        path: Path | None = None
        other: Any = None
        if isinstance(second_shot, str) and second_shot == "auto":
            path = find_second_shot(sem.path) if sem.path is not None else None
            if path is None:
                return None, None
        elif isinstance(second_shot, str | Path):
            path = Path(second_shot)
        elif isinstance(second_shot, SemImage):
            other = second_shot
            path = second_shot.path
        elif isinstance(second_shot, np.ndarray):
            other = SemImage.from_array(second_shot)
        else:
            raise TypeError(f"second_shot: unsupported type {type(second_shot).__name__}")
        if other is None:
            assert path is not None
            try:
                other = read_sem(path)
            except SemReadError as exc:
                notes.append(f"second shot ignored: {exc}")
                return None, None
        arr = np.asarray(other.normalized(), dtype=np.float32)
        if arr.shape != tuple(sem.shape):
            notes.append(
                f"second shot {path or ''} ignored: shape {arr.shape} differs from {sem.shape}"
            )
            return None, None
        return arr, path

    def _resample_factor(self, sem: Any, shape: tuple[int, ...], notes: list[str]) -> float:
        img_px = sem.pixel_size_nm
        model_px = self.input_pixel_size_nm
        if not img_px or not model_px:
            return 1.0
        factor = float(img_px) / float(model_px)
        if abs(factor - 1.0) <= 0.05:
            return 1.0
        new_pixels = shape[0] * shape[1] * factor * factor
        if not (1.0 / MAX_RESAMPLE_FACTOR <= factor <= MAX_RESAMPLE_FACTOR) or (
            new_pixels > MAX_RESAMPLED_PIXELS
        ):
            notes.append(
                f"pixel size {img_px:g} nm is {factor:.3g}x the model's {model_px:g} nm, "
                f"beyond the resampling limit ({1 / MAX_RESAMPLE_FACTOR:g}-"
                f"{MAX_RESAMPLE_FACTOR:g}x, {MAX_RESAMPLED_PIXELS / 1e6:g} Mpx): predicted "
                "at the image's own pixel size; depths are unreliable"
            )
            return 1.0
        return factor

    def _near_input_size(self, shape: tuple[int, ...]) -> bool:
        return all(0.5 * m <= s <= 1.5 * m for s, m in zip(shape[:2], self.input_size, strict=True))

    def _predict_field(
        self,
        work: np.ndarray,
        work2: np.ndarray | None,
        holes: list[HoleCandidate],
        tta: bool,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        wh, ww = self.input_size
        ph, pw = wh // 2 + 1, ww // 2 + 1
        padded = _reflect_pad(work, ph, pw)
        padded2 = _reflect_pad(work2, ph, pw) if work2 is not None else None
        weight = window_weight((wh, ww))
        acc = Accumulator(work.shape)
        centres: list[tuple[int, int]] = []
        levels: list[float] = []
        level_unc: list[float] = []
        n_var = (self.n_tta if tta else 1) * (2 if work2 is not None else 1)
        per_chunk = max(1, self.batch_size // n_var)
        total = len(holes)
        for start in range(0, total, per_chunk):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = holes[start : start + per_chunk]
            tops = [round(h.row) - wh // 2 for h in chunk]
            lefts = [round(h.col) - ww // 2 for h in chunk]
            win = np.stack(
                [
                    padded[t + ph : t + ph + wh, c + pw : c + pw + ww]
                    for t, c in zip(tops, lefts, strict=True)
                ]
            )
            win2 = None
            if padded2 is not None:
                win2 = np.stack(
                    [
                        padded2[t + ph : t + ph + wh, c + pw : c + pw + ww]
                        for t, c in zip(tops, lefts, strict=True)
                    ]
                )
            mean, std = self._predict_stack(win, win2, tta, cancel)
            for k, (t, c) in enumerate(zip(tops, lefts, strict=True)):
                acc.add(t, c, mean[k], std[k], weight)
                centres.append((t + wh // 2, c + ww // 2))
                levels.append(float(np.median(border_ring(mean[k]))))
                level_unc.append(float(np.median(border_ring(std[k]))))
            report(progress, min(total, start + len(chunk)), total, "holes")
        sigma = min(wh, ww) / 2.0
        bg = fill_levels(work.shape, centres, levels, sigma)
        bg_unc = fill_levels(work.shape, centres, level_unc, sigma)
        return acc.with_background(bg, bg_unc)

    def tile_geometry(self, shape: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """Tile size (4x the model input per side, at most the image) and overlap (half
        the model input per side) used by tiled mode."""
        ih, iw = self.input_size
        tile = (min(shape[0], 4 * ih), min(shape[1], 4 * iw))
        overlap = (min(ih // 2, tile[0] // 2), min(iw // 2, tile[1] // 2))
        return tile, overlap

    def _predict_tiled(
        self,
        work: np.ndarray,
        work2: np.ndarray | None,
        tta: bool,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]:
        shape = (int(work.shape[0]), int(work.shape[1]))
        tile, overlap = self.tile_geometry(shape)
        rows = tile_starts(shape[0], tile[0], overlap[0])
        cols = tile_starts(shape[1], tile[1], overlap[1])
        positions = [(r, c) for r in rows for c in cols]
        weight = tile_weight(tile, overlap)
        acc = Accumulator(shape)
        n_var = (self.n_tta if tta else 1) * (2 if work2 is not None else 1)
        budget = self.batch_size * self.input_size[0] * self.input_size[1]
        per_chunk = max(1, budget // (tile[0] * tile[1] * n_var))
        total = len(positions)
        for start in range(0, total, per_chunk):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = positions[start : start + per_chunk]
            win = np.stack([work[r : r + tile[0], c : c + tile[1]] for r, c in chunk])
            win2 = None
            if work2 is not None:
                win2 = np.stack([work2[r : r + tile[0], c : c + tile[1]] for r, c in chunk])
            mean, std = self._predict_stack(win, win2, tta, cancel)
            for k, (r, c) in enumerate(chunk):
                acc.add(r, c, mean[k], std[k], weight)
            report(progress, min(total, start + len(chunk)), total, "tiles")
        depth, unc = acc.normalized()
        return depth, unc, tile, overlap

    @staticmethod
    def _hole_records(
        holes: list[HoleCandidate],
        depth_w: np.ndarray,
        unc_w: np.ndarray,
        scale: float,
        pixel_size_nm: float | None,
    ) -> list[HoleRecord]:
        smooth = ndi.gaussian_filter(depth_w.astype(np.float64), sigma=1.0, mode="nearest")
        out: list[HoleRecord] = []
        for i, h in enumerate(holes, start=1):
            rr, cc = h.coords[:, 0], h.coords[:, 1]
            d_px = h.diameter_px / scale
            out.append(
                HoleRecord(
                    id=i,
                    row=(h.row + 0.5) / scale - 0.5,
                    col=(h.col + 0.5) / scale - 0.5,
                    diameter_px=float(d_px),
                    diameter_nm=float(d_px * pixel_size_nm) if pixel_size_nm else None,
                    bottom_depth=float(np.percentile(smooth[rr, cc], 5)),
                    mean_depth=float(depth_w[rr, cc].mean()),
                    uncertainty=float(unc_w[rr, cc].mean()),
                )
            )
        return out


def find_second_shot(path: Path | None) -> Path | None:
    """``<name>_itrM.<ext>`` beside ``<name>_itrN.<ext>`` (M != N, lowest M), or None."""
    if path is None:
        return None
    path = Path(path)
    name, shot = split_shot(path.stem)
    if shot is None:
        return None
    for k in range(0, 10):
        if k == shot:
            continue
        cand = path.with_name(f"{shot_stem(name, k)}{path.suffix}")
        if cand.is_file():
            return cand
    return None


def _reflect_pad(a: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Reflect-pad ``a`` by (ph, pw) px (numpy repeats the reflection for large pads)."""
    if a.shape[0] < 2 or a.shape[1] < 2:
        return np.pad(a, ((ph, ph), (pw, pw)), mode="edge")
    return np.pad(a, ((ph, ph), (pw, pw)), mode="reflect")


def _rescale(a: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return a
    from skimage.transform import rescale

    out = rescale(a, scale, order=1, anti_aliasing=scale < 1.0, preserve_range=True, mode="reflect")
    return np.asarray(out, dtype=np.float32)


def _resize(a: np.ndarray, shape: tuple[int, ...], *, down: bool) -> np.ndarray:
    from skimage.transform import resize

    out = resize(a, shape[:2], order=1, anti_aliasing=down, preserve_range=True, mode="reflect")
    return np.asarray(out, dtype=np.float32)


__all__ = [
    "MODES",
    "NoHolesFoundError",
    "Predictor",
    "find_second_shot",
]
