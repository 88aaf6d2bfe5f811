"""The :class:`Predictor`: a depth model on a device, ready to turn SEM images into depth maps.

``predict`` runs these steps, each in its own module (cut into prepare -> infer -> finish
in :mod:`core.inference.stages`, so that :meth:`Predictor.predict_many` can stack the
crop-mode images of many files into shared forward passes, :mod:`core.inference.many`):

1. the input (:mod:`core.inference.inputs`): a SemImage, array or path, and a second shot
   of the same structure when there is one (``<name>_itr1`` beside ``<name>_itr0``);
2. denoise first (optional, :mod:`core.inference.denoising`): a Noise2Self denoiser
   attached with ``denoiser=`` (in :meth:`Predictor.from_checkpoint`) or
   :meth:`Predictor.set_denoiser` cleans the normalised SEM input (and a second shot); the
   result carries the denoised image in the SEM's value range
   (``PredictionResult.denoised``) and its settings and description record
   ``"denoised": true`` with the denoiser's id and file;
3. the scale policy (:mod:`core.inference.scale`): resample to the model's pixel size,
   predict at native scale with an out-of-domain note, or skip, decided from the pixel
   size (or the holes found) before any inference; the input checks
   (:func:`~core.inference.inputs.input_notes`: blank, constant, clipped, multi-page) add
   their notes;
4. the mode, ``auto|crop|field|tiled`` (:mod:`core.inference.modes`), and its runner;
5. test-time augmentation inside every forward pass (:mod:`core.inference.tta`): depth is
   the mean over flips (or 1-px shifts) and shots, uncertainty the per-pixel standard
   deviation: the spread of the model's answers under changes that should not change the
   answer. It is a lower bound on the error, not a calibrated interval;
6. the forward pass itself on the chosen fast path (:mod:`core.inference.fastpath`);
7. back to the image's own grid, with the per-hole table in field mode;
8. trust (:mod:`core.trust.assess`): the domain verdict, the calibrated sigma, the depth
   below the local top surface and the per-hole metrology (``PredictionResult.trust``).
   A model whose card has a variance head (output channel 1 = sigma, DU) adds its
   predicted variance to the spread of step 5.

Thread safety: a predictor owns its model; all mutable state lives on the instance and the
model call is serialised by a lock, so one predictor per worker thread is safe (and
sharing one is safe too, only serialised).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from torch import nn

from core.device import resolve_device
from core.inference import stages
from core.inference.denoising import denoiser_record, load_denoiser
from core.inference.fastpath import Runner, TorchRunner, make_runner, resolve_fast_path
from core.inference.inputs import check_depth_model, find_second_shot
from core.inference.modes import DEFAULT_BORDER, MODES, NoHolesFoundError, tile_geometry
from core.inference.result import PredictionResult
from core.inference.scale import ScalePolicy
from core.inference.stitch import TileLayout
from core.inference.tta import n_variants, tta_choice, tta_kind_for, tta_mean_std
from core.models import CheckpointError, load_checkpoint
from core.models.noise2self import Noise2SelfDenoiser
from core.progress import CancelToken, ProgressCallback
from core.trust.assess import TrustModel
from core.trust.features import extract_features
from core.trust.uncertainty import has_variance_head

log = logging.getLogger(__name__)

# Model-input-sized images per forward pass on the CPU, by fast path. The bf16 and
# channels-last kernels run fastest on small batches whose activations stay in cache
# (measured in bench/speed.py: bf16 at 16 per pass beats 64 per pass); the fp32 reference
# stays plain.
DEFAULT_BATCH = {"fp32": 64, "channels-last": 16, "bf16": 16, "onnx": 64, "compile": 16}


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
        self.variance_head = has_variance_head(self.card)
        self.trust = TrustModel.from_card(self.card)
        self.n_tta = n_variants(self.tta_kind)
        if batch_size is None:
            batch_size = DEFAULT_BATCH.get(self.fast_path, 64) if self.device.type == "cpu" else 64
        self.batch_size = max(1, int(batch_size))
        self.fast_path_requested = fast_path
        # the network pads to a multiple of its stride; its zero padding reaches about
        # 4 strides in (measured: tens of DU at a tile edge, < 1 DU 32 px in for 3 levels)
        multiple = getattr(self.model, "multiple", None)
        self.stride = multiple if isinstance(multiple, int) and multiple > 0 else 8
        self.tile_border = min(4 * self.stride, 128) if multiple else DEFAULT_BORDER
        self._runner: Runner = make_runner(
            self.model, self.device, self.fast_path, cache_dir=cache_dir
        )
        self._lock = threading.Lock()
        self.fallback_note: str | None = None
        #: the default scale policy of :meth:`predict` (a name or a ScalePolicy)
        self.scale_policy: str | ScalePolicy = "auto"
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
        ``core.models.load_checkpoint``. Refuses, with one line naming the file and before
        anything is allocated (:func:`~core.inference.inputs.check_depth_model`), a missing
        file, any pickle-based file (never unpickled), a card that is missing, malformed,
        hostile (non-finite numbers, deep nesting, wrong types) or beyond the depth model's
        limits (1-6 levels, <= 512 channels), and weights whose header or size do not
        match the card's network; the weights are memory-mapped. ``denoiser``: a Noise2Self denoiser
        (checkpoint path or loaded) to apply first, see :meth:`set_denoiser`."""
        path = check_depth_model(path)  # every refusal before anything is allocated
        model, card = load_checkpoint(path, device="cpu")
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
    @property
    def has_sigma(self) -> bool:
        """The model has a variance head (card ``output.variance_head``): its output channel
        1 is a predicted per-pixel sigma in DU, see :meth:`run_model` ``with_sigma``."""
        return bool(getattr(self.model, "has_variance_head", False))

    @overload
    def run_model(
        self,
        images01: np.ndarray,
        *,
        cancel: CancelToken | None = ...,
        with_sigma: Literal[False] = ...,
    ) -> np.ndarray: ...

    @overload
    def run_model(
        self, images01: np.ndarray, *, cancel: CancelToken | None = ..., with_sigma: Literal[True]
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def run_model(
        self,
        images01: np.ndarray,
        *,
        cancel: CancelToken | None = None,
        with_sigma: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Depth (N, H, W) float32 DU for a stack (N, H, W) of 0..1 images, no TTA.

        Runs in forward passes of at most ``batch_size`` model-input-sized images' worth
        of pixels (default by fast path, :data:`DEFAULT_BATCH`); checks ``cancel``
        between them. ``with_sigma=True`` returns ``(depth, sigma)``: the same depth and
        the variance head's predicted per-pixel standard deviation (N, H, W) float32 DU,
        raw (not calibrated: a coverage scale is fitted on held-out data);
        ``ValueError`` for a model without a variance head (see :attr:`has_sigma`).
        """
        if with_sigma and not self.has_sigma:
            raise ValueError(f"model {self.model_id} has no variance head (no sigma output)")
        if not with_sigma:
            return self._run_channels(images01, 1, cancel)[:, 0]
        out = self._run_channels(images01, 2, cancel)
        return out[:, 0], out[:, 1]

    def run_model_with_variance(
        self, images01: np.ndarray, *, cancel: CancelToken | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Depth and log variance (DU^2), each (N, H, W), of a model with a variance head
        (its output channel 1 is sigma in DU), no TTA: what the trust step combines over
        the TTA variants (:func:`core.trust.uncertainty.combine_variants`)."""
        depth, sigma = self.run_model(images01, cancel=cancel, with_sigma=True)
        return depth, (2.0 * np.log(np.maximum(sigma, 1e-6))).astype(np.float32)

    def _run_channels(
        self, images01: np.ndarray, channels: int, cancel: CancelToken | None
    ) -> np.ndarray:
        x = np.asarray(images01, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        n, h, w = x.shape
        per_forward = max(1, (self.batch_size * self.input_size[0] * self.input_size[1]) // (h * w))
        out = np.empty((n, channels, h, w), dtype=np.float32)
        for start in range(0, n, per_forward):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = x[start : start + per_forward]
            out[start : start + len(chunk)] = self._forward(chunk[:, None])[:, :channels]
        return out

    def features(self, windows01: np.ndarray) -> np.ndarray | None:
        """Pooled encoder features (N, D) of a window stack for the domain check (one eager
        float32 pass with forward hooks, :mod:`core.trust.features`), or None."""
        return extract_features(self.model, windows01, device=self.device, lock=self._lock)

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
        :func:`~core.inference.tta.tta_kind_for`) and the second shot, of a window stack."""
        run = self.run_model_with_variance if self.variance_head else self.run_model
        return tta_mean_std(
            windows, second, lambda stack: run(stack, cancel=cancel), tta=tta, kind=self.tta_kind
        )

    # ------------------------------------------------------------------ public API
    def predict(
        self,
        image: Any,
        *,
        mode: str = "auto",
        tta: bool | str = "auto",
        second_shot: Any = "auto",
        resample: bool = True,
        scale_policy: str | ScalePolicy | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PredictionResult:
        """Depth map (float32 DU) and uncertainty for one SEM image.

        ``image``: a :class:`~core.io.SemImage`, a 2-D array (uint8/uint16 scaled by their
        range, floats min-max) or a path (read with ``core.io.read_sem``).
        ``mode``: ``auto|crop|field|tiled``. ``tta``: test-time variants for the
        uncertainty, ``auto|on|off`` (or a bool; ``auto`` leaves them out of an image out of
        the model's domain by its known scale: :data:`~core.inference.tta.TTA_CHOICES`).
        ``second_shot``: another shot of the same structure (SemImage, array or path),
        ``None`` for none, ``"auto"`` to use ``<name>_itrM`` beside a ``<name>_itrN`` file.
        ``scale_policy``: ``auto|model|native|skip`` or a
        :class:`~core.inference.scale.ScalePolicy` (default: ``self.scale_policy``, see
        :mod:`core.inference.scale`); ``resample=False`` is the ``native`` policy. The
        decision is in ``settings["scale"]`` (and a note unless the image is already at
        the model's scale).
        ``progress`` gets ``Progress(k, n, "tiles"|"holes"|"crop")`` inside the image.
        Raises ``core.io.SemReadError`` for unreadable files, ``Cancelled`` on cancel
        (:class:`~core.progress.Skipped` when the token skips this image),
        :class:`NoHolesFoundError` when ``mode="field"`` finds no holes,
        :class:`~core.inference.scale.ScaleSkipped` when the ``skip`` policy refuses it.
        """
        tta_choice(tta)  # an unknown setting is refused before any work
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        policy = ScalePolicy.named("native" if not resample else scale_policy or self.scale_policy)
        prep = stages.prepare(
            self, image, mode=mode, tta=tta, second_shot=second_shot, policy=policy, cancel=cancel
        )
        depth_w, unc_w = stages.infer(self, prep, progress, cancel)
        return stages.finish(self, prep, depth_w, unc_w)

    def predict_many(
        self,
        images: Sequence[Any],
        *,
        mode: str = "auto",
        tta: bool | str = "auto",
        scale_policy: str | ScalePolicy | None = None,
        cancel: CancelToken | None = None,
    ) -> list[PredictionResult | Exception]:
        """:meth:`predict` for many images, the crop-mode ones stacked into shared forward
        passes (:mod:`core.inference.many`): one result per image, in order, or the
        exception :meth:`predict` would have raised for it (a bad image never stops the
        others). The results equal :meth:`predict`'s (bit for bit on the bf16 path; within
        1e-3 DU on fp32, where the kernels may change with the pass size). Raises
        ``Cancelled`` when ``cancel`` is set, ``ValueError`` for an unknown mode."""
        from core.inference.many import predict_many

        return predict_many(
            self, images, mode=mode, tta=tta, scale_policy=scale_policy, cancel=cancel
        )

    def tile_geometry(self, shape: tuple[int, int]) -> TileLayout:
        """The tiles tiled mode cuts an image of ``shape`` into (see
        :func:`~core.inference.modes.tile_geometry`)."""
        return tile_geometry(shape, self.tile_border, self.stride)


__all__ = [
    "DEFAULT_BATCH",
    "MODES",
    "NoHolesFoundError",
    "Predictor",
    "find_second_shot",
    "tta_kind_for",
]
