"""Transfer of a depth model to a new imaging condition without depth maps.

The situation: a depth model trained with labels on some imaging conditions, and SEM
images of a new condition (other beam, detector or dose) that have no depth maps, at most
one average depth per site (the DACON ``train/average_depth.csv``). The objectives here
use those target images; :func:`finetune` runs one of them from a source model for a time
budget, always keeping the supervised loss on the labelled source data as an anchor (a
self-supervised objective alone has trivial minima, e.g. a constant map is perfectly
shot-consistent).

Objectives (``objective=``):

* ``"none"``: supervised training on the source data only (the control with the same
  budget; with a fresh model, plain supervised training).
* ``"masked"`` (the report's idea, Noise2Self-style): masked reconstruction of the target
  SEM image from the U-Net's last decoder features through a 1x1 auxiliary head
  (:class:`MaskedReconstruction`): the shared encoder/decoder must model the target
  images, the depth head is shared and stays anchored by the source labels.
* ``"consistency"``: the two shots of one target structure (``_itr0``/``_itr1``, same
  structure, independent noise) must give the same depth map, and a flipped image the
  flipped map (:class:`ShotConsistency`).
* ``"average-depth"`` (weak supervision): the mean of the predicted map of a target image
  is tied to its site's given average depth (:func:`average_depth_loss`).
* ``"adabn"``: no gradient step at all: batch-norm statistics re-estimated on the target
  images (:func:`adapt_batchnorm`, Li et al. 2016 "AdaBN"). ``adapt_bn=True`` applies it
  after any other objective too.

Depth is in DU (0-255, deeper = smaller); SEM images are 0..1.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from core.conventions import split_shot
from core.data import DepthDataset, SampleRecord, site_key
from core.models.noise2self import Masker
from core.progress import CancelToken, ProgressCallback, report
from core.transfer import objectives as obj
from core.transfer.objectives import OBJECTIVES, TransferError


def attach_average_depth(
    records: Sequence[SampleRecord], averages: Mapping[str, float]
) -> list[SampleRecord]:
    """Records with ``average_depth`` set from ``averages``, looked up by structure, by the
    DACON site key (``depth_110_site_00000`` from bucket + structure) or by the image stem
    (case-insensitive). Records already carrying an average keep it."""
    lower = {str(k).lower(): float(v) for k, v in averages.items()}
    out = []
    for r in records:
        if r.average_depth is not None:
            out.append(r)
            continue
        keys = [r.structure]
        if r.bucket:
            keys.append(site_key(r.bucket, r.structure))
        keys.append(split_shot(Path(r.sem_path).stem)[0])
        keys.append(Path(r.sem_path).stem)
        value = next((lower[k.lower()] for k in keys if k.lower() in lower), None)
        out.append(dataclasses.replace(r, average_depth=value))
    return out


def shot_pairs(records: Sequence[SampleRecord]) -> list[tuple[int, int]]:
    """Index pairs of two shots of one structure (same structure, case and bucket)."""
    groups: dict[tuple[str, str | None, str | None], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault((r.structure, r.case, r.bucket), []).append(i)
    pairs = []
    for idx in groups.values():
        if len(idx) >= 2:
            idx = sorted(idx, key=lambda k: (records[k].shot is None, records[k].shot or 0, k))
            pairs.append((idx[0], idx[1]))
    return pairs


def _stack_sem(ds: DepthDataset) -> np.ndarray:
    assert ds.sem_array is not None
    a = ds.sem_array
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)


@dataclass
class FinetuneConfig:
    """Settings of :func:`finetune`. Loss = ``source_weight * L1(source, DU)`` +
    ``weight * objective``; ``budget_s`` bounds the wall-clock time of the loop (data
    loading excluded), ``max_steps`` the steps."""

    objective: str = "masked"
    budget_s: float = 60.0
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 32
    weight: float = 1.0
    source_weight: float = 1.0
    adapt_bn: bool = False
    mask_width: int = 4
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise TransferError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            )
        if not self.budget_s > 0:
            raise TransferError(f"budget must be > 0 s, got {self.budget_s}")
        if self.max_steps is not None and self.max_steps < 0:
            raise TransferError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.batch_size < 1:
            raise TransferError(f"batch size must be >= 1, got {self.batch_size}")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise TransferError(f"lr must be a finite number >= 0, got {self.lr}")


@dataclass
class FinetuneResult:
    model: nn.Module
    objective: str
    steps: int
    seconds: float
    stopped: str  # "budget" | "max_steps" | "cancelled" | "no-steps"
    history: list[dict[str, float]] = field(default_factory=list)
    n_target: int = 0
    n_source: int = 0


def _load_source(source: nn.Module | str | Path, device: str) -> tuple[nn.Module, dict[str, Any]]:
    if isinstance(source, nn.Module):
        return copy.deepcopy(source).to(device), {}
    from core.models import load_checkpoint

    model, card = load_checkpoint(source, device=device)
    return model, card


@dataclass
class _Data:
    """The datasets of one fine-tuning run and what the objective needs of them."""

    target: DepthDataset | None
    source: DepthDataset | None
    averages: np.ndarray | None = None  # per target image, DU (NaN: unknown)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # two shots per structure


def _prepare_data(
    cfg: FinetuneConfig,
    target_records: Sequence[SampleRecord],
    source_records: Sequence[SampleRecord] | None,
    average_depth: Mapping[str, float] | None,
    target_dataset: DepthDataset | None,
    source_dataset: DepthDataset | None,
    cancel: CancelToken | None,
) -> _Data:
    """Load the target (never its depth maps) and labelled source images; check that the
    objective has what it needs (:class:`TransferError` otherwise)."""
    t_records = list(target_records)
    if average_depth:
        t_records = attach_average_depth(t_records, average_depth)
    needs_target = cfg.objective != "none" or cfg.adapt_bn
    if needs_target and not t_records:
        raise TransferError(f"objective {cfg.objective!r}: no target images")
    unlabeled = [dataclasses.replace(r, depth_path=None) for r in t_records]
    data = _Data(None, None)
    if needs_target:
        data.target = target_dataset or DepthDataset(
            unlabeled, augment=False, preload=True, cancel=cancel
        )
    if source_records:
        data.source = source_dataset or DepthDataset(
            [r for r in source_records if r.depth_path is not None],
            augment=True,
            preload=True,
            cancel=cancel,
        )
    if cfg.objective == "none" and data.source is None:
        raise TransferError("objective 'none' trains on the source data: give source_records")
    if cfg.objective == "average-depth":
        assert data.target is not None
        data.averages = np.array(
            [math.nan if r.average_depth is None else r.average_depth for r in data.target.records],
            dtype=np.float32,
        )
        if not np.isfinite(data.averages).any():
            raise TransferError(
                "objective 'average-depth': no target image has an average depth (pass an "
                "average-depth CSV whose keys match the structures or DACON site keys)"
            )
    if cfg.objective == "consistency":
        assert data.target is not None
        data.pairs = shot_pairs(data.target.records)
        if not data.pairs:
            raise TransferError(
                "objective 'consistency': no structure has two shots (<name>_itr0/_itr1)"
            )
    return data


class _Step:
    """One fine-tuning step: the supervised L1 on a source batch plus ``weight`` x the
    objective on a target batch."""

    def __init__(
        self, model: nn.Module, cfg: FinetuneConfig, data: _Data, seed_gen: torch.Generator
    ) -> None:
        self.model, self.cfg, self.data, self.gen = model, cfg, data, seed_gen
        self.device = str(cfg.device)
        self.rng = np.random.default_rng(cfg.seed)
        self.recon = (
            obj.MaskedReconstruction(model, Masker(cfg.mask_width))
            if cfg.objective == "masked"
            else None
        )
        if self.recon is not None:
            self.recon.to(self.device)
        self.consistency = obj.ShotConsistency() if cfg.objective == "consistency" else None
        params = list(model.parameters())
        if self.recon is not None:
            params += list(self.recon.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg.lr)

    def close(self) -> None:
        if self.recon is not None:
            self.recon.close()

    def _source_term(self, losses: dict[str, float]) -> torch.Tensor | None:
        s_ds, cfg = self.data.source, self.cfg
        if s_ds is None or cfg.source_weight <= 0:
            return None
        idx = self.rng.integers(0, len(s_ds), size=min(cfg.batch_size, len(s_ds)))
        b = s_ds.batch(idx, generator=self.gen)
        pred = self.model(b["sem"].to(self.device))
        sup = (pred - b["depth"].to(self.device)).abs().mean()
        losses["source_l1"] = float(sup.detach())
        return cfg.source_weight * sup

    def _target_term(self, losses: dict[str, float]) -> torch.Tensor | None:
        t_ds, cfg = self.data.target, self.cfg
        if t_ds is None or cfg.objective not in ("masked", "average-depth"):
            return None
        idx = self.rng.integers(0, len(t_ds), size=min(cfg.batch_size, len(t_ds)))
        tb = t_ds.batch(idx, augment=True, generator=self.gen)
        x_t = tb["sem"].to(self.device)
        if self.recon is not None:
            term = self.recon.loss(self.model, x_t, self.gen)
        else:
            assert self.data.averages is not None
            a = torch.from_numpy(self.data.averages[idx]).to(self.device)
            term = obj.average_depth_loss(self.model(x_t), a)
        losses[cfg.objective] = float(term.detach())
        return cfg.weight * term

    def _consistency_term(self, losses: dict[str, float]) -> torch.Tensor | None:
        t_ds, pairs = self.data.target, self.data.pairs
        if self.consistency is None or t_ds is None:
            return None
        pick = self.rng.integers(0, len(pairs), size=min(self.cfg.batch_size, len(pairs)))
        xa = t_ds.batch([pairs[k][0] for k in pick], augment=False)["sem"].to(self.device)
        xb = t_ds.batch([pairs[k][1] for k in pick], augment=False)["sem"].to(self.device)
        term = self.consistency.loss(self.model, xa, xb)
        losses["consistency"] = float(term.detach())
        return self.cfg.weight * term

    def __call__(self) -> dict[str, float]:
        losses: dict[str, float] = {}
        total = torch.zeros((), device=self.device)
        for term in (self._source_term, self._target_term, self._consistency_term):
            value = term(losses)
            if value is not None:
                total = total + value
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        losses["loss"] = float(total.detach())
        return losses


class _Budget(Protocol):
    @property
    def budget_s(self) -> float: ...

    @property
    def max_steps(self) -> int | None: ...


def _stop_reason(cfg: _Budget, step: int, t0: float, cancel: CancelToken | None) -> str:
    """Why the loop stops before step ``step + 1`` ("" to go on)."""
    if cancel is not None and cancel.cancelled:
        return "cancelled"
    if time.perf_counter() - t0 >= cfg.budget_s:
        return "budget"
    if cfg.max_steps is not None and step >= cfg.max_steps:
        return "max_steps"
    return ""


def timed_steps(
    step_fn: Callable[[], dict[str, float]],
    cfg: _Budget,
    *,
    label: str,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> tuple[list[dict[str, float]], str]:
    """Call ``step_fn`` (one optimiser step, returning its losses) until ``cfg.budget_s``
    seconds, ``cfg.max_steps`` steps or a cancel: ``(history, why it stopped)``. Each
    step's losses get ``step`` and ``seconds`` and go to ``on_step``; progress is the share
    of the time budget."""
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    while True:
        stopped = _stop_reason(cfg, len(history), t0, cancel)
        if stopped:
            return history, stopped
        losses = step_fn()
        losses["step"] = float(len(history) + 1)
        losses["seconds"] = time.perf_counter() - t0
        history.append(losses)
        if on_step is not None:
            on_step(losses)
        frac = min(1.0, losses["seconds"] / cfg.budget_s)
        report(progress, int(1000 * frac), 1000, f"{label}: loss {losses.get('loss', 0.0):.4f}")


def finetune(
    source: nn.Module | str | Path,
    target_records: Sequence[SampleRecord],
    *,
    source_records: Sequence[SampleRecord] | None = None,
    average_depth: Mapping[str, float] | None = None,
    config: FinetuneConfig | None = None,
    target_dataset: DepthDataset | None = None,
    source_dataset: DepthDataset | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``source`` (a model or a checkpoint path) on unlabeled
    ``target_records`` with ``config.objective``, keeping the supervised L1 on
    ``source_records`` (labelled) when given. Depth maps of target records are never read.

    ``average_depth`` maps structure / site keys to DU (see :func:`attach_average_depth`);
    needed for ``"average-depth"``. Pre-loaded ``target_dataset`` / ``source_dataset``
    skip reading the files again. Returns the fine-tuned model in ``eval()`` mode.
    """
    cfg = config or FinetuneConfig()
    cfg.validate()
    device = str(cfg.device)
    model, _ = _load_source(source, device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = _prepare_data(
        cfg, target_records, source_records, average_depth, target_dataset, source_dataset, cancel
    )
    step_fn = _Step(model, cfg, data, gen)
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    stopped = "budget"
    run_loop = cfg.objective != "adabn" and cfg.max_steps != 0
    model.train()
    try:
        if run_loop:
            history, stopped = timed_steps(
                step_fn, cfg, label=cfg.objective, progress=progress, cancel=cancel,
                on_step=on_step,
            )  # fmt: skip
    finally:
        step_fn.close()
    step = len(history)
    if not run_loop:
        stopped = "no-steps"
    if cfg.objective == "adabn" or cfg.adapt_bn:
        assert data.target is not None
        obj.adapt_batchnorm(model, _stack_sem(data.target), device=device)
    model.eval()
    report(progress, 1000, 1000, f"{cfg.objective}: done")
    return FinetuneResult(
        model=model,
        objective=cfg.objective,
        steps=step,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
        history=history,
        n_target=0 if data.target is None else len(data.target),
        n_source=0 if data.source is None else len(data.source),
    )
