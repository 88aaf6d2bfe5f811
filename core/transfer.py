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

import argparse
import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.conventions import split_shot
from core.data import DepthDataset, SampleRecord, site_key
from core.models.noise2self import Masker
from core.progress import CancelToken, ProgressCallback, report

log = logging.getLogger(__name__)

OBJECTIVES = ("none", "masked", "consistency", "average-depth", "adabn")


class TransferError(ValueError):
    """A fine-tuning set-up that cannot run (no target images, no averages, bad settings)."""


# --------------------------------------------------------------------------- losses
def average_depth_loss(
    pred_du: torch.Tensor, average_du: torch.Tensor, *, kind: str = "l1"
) -> torch.Tensor:
    """Weak supervision: ``|mean(pred map) - given average|`` per image, averaged over the
    images whose average is known (NaN = unknown; zero loss when none is).

    ``pred_du``: ``(N, 1, H, W)`` or ``(N, H, W)`` depth (DU); ``average_du``: ``(N,)`` DU.
    ``kind``: ``"l1"`` (DU) or ``"l2"`` (DU^2)."""
    if kind not in ("l1", "l2"):
        raise ValueError(f"kind must be 'l1' or 'l2', got {kind!r}")
    n = pred_du.shape[0]
    avg = torch.as_tensor(average_du, dtype=pred_du.dtype, device=pred_du.device).reshape(-1)
    if avg.shape[0] != n:
        raise ValueError(f"{avg.shape[0]} averages for {n} predicted maps")
    means = pred_du.reshape(n, -1).mean(dim=1)
    known = torch.isfinite(avg)
    if not bool(known.any()):
        return pred_du.sum() * 0.0
    diff = means[known] - avg[known]
    return diff.abs().mean() if kind == "l1" else (diff * diff).mean()


class _FeatureTap:
    """Captures the input of ``model.head`` (the last decoder features) on each forward."""

    def __init__(self, model: nn.Module) -> None:
        head = getattr(model, "head", None)
        if not isinstance(head, nn.Conv2d):
            raise TransferError(
                f"{type(model).__name__}: masked reconstruction needs a U-Net with a 1x1 "
                "'head' convolution"
            )
        self.features: torch.Tensor | None = None
        self.channels = int(head.in_channels)
        self._handle = head.register_forward_hook(self._hook)

    def _hook(self, mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        self.features = inputs[0]

    def remove(self) -> None:
        self._handle.remove()


class MaskedReconstruction(nn.Module):
    """Noise2Self-style self-supervision on the depth network's shared features.

    A :class:`~core.models.noise2self.Masker` hides a grid of pixels of the target image; a
    1x1 convolution on the decoder features (the same features the depth head reads)
    predicts the hidden intensities. Loss: mean absolute error on the masked pixels, in
    grey levels (0..1 x 255, so it has the scale of an L1 in DU)."""

    def __init__(self, model: nn.Module, masker: Masker | None = None) -> None:
        super().__init__()
        self.tap = _FeatureTap(model)
        self.masker = masker if masker is not None else Masker(width=4)
        self.aux = nn.Conv2d(self.tap.channels, 1, 1)
        nn.init.zeros_(self.aux.weight)
        assert self.aux.bias is not None
        nn.init.constant_(self.aux.bias, 0.5)

    def loss(
        self, model: nn.Module, sem: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        i = int(torch.randint(0, self.masker.n_masks, (1,), generator=generator))
        xm, m = self.masker.apply(sem, i, generator=generator)
        model(xm)
        feats = self.tap.features
        if feats is None:
            raise TransferError("masked reconstruction: the model's head was not called")
        h, w = sem.shape[-2:]
        top = (feats.shape[-2] - h) // 2
        left = (feats.shape[-1] - w) // 2
        recon = self.aux(feats.float())[..., top : top + h, left : left + w]
        mm = m.expand_as(recon)
        return (torch.abs(recon - sem) * mm).sum() / mm.sum().clamp_min(1.0) * 255.0

    def close(self) -> None:
        self.tap.remove()


class ShotConsistency:
    """Two shots of one structure must give the same depth map (their noise is independent,
    the structure is the same), and a flipped image the flipped map. Loss in DU (L1)."""

    def __init__(self, flip_weight: float = 0.5) -> None:
        self.flip_weight = float(flip_weight)

    def loss(self, model: nn.Module, shot_a: torch.Tensor, shot_b: torch.Tensor) -> torch.Tensor:
        pa = model(shot_a)
        pb = model(shot_b)
        loss = (pa - pb).abs().mean()
        if self.flip_weight > 0:
            pf = model(torch.flip(shot_a, dims=(-1,)))
            loss = loss + self.flip_weight * (torch.flip(pf, dims=(-1,)) - pa).abs().mean()
        return loss


@torch.no_grad()
def adapt_batchnorm(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> int:
    """AdaBN: replace every BatchNorm's running mean/variance by the statistics of
    ``images`` (``(n, rows, cols)`` 0..1) as seen by the model; weights untouched. Returns
    the number of BatchNorm layers updated (0: nothing to adapt)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    x_all = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x_all.ndim != 3 or x_all.shape[0] == 0:
        raise TransferError(f"adapt_batchnorm expects (n, rows, cols) images, got {x_all.shape}")
    saved = [(bn.momentum, bn.training) for bn in bns]
    was_training = model.training
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
        bn.train()
    try:
        for i in range(0, x_all.shape[0], batch_size):
            model(x_all[i : i + batch_size, None].to(device))
    finally:
        for bn, (mom, tr) in zip(bns, saved, strict=True):
            bn.momentum = mom
            bn.train(tr)
        model.train(was_training)
    return len(bns)


# --------------------------------------------------------------------------- data helpers
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


# --------------------------------------------------------------------------- fine-tuning
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
    rng = np.random.default_rng(cfg.seed)

    t_records = list(target_records)
    if average_depth:
        t_records = attach_average_depth(t_records, average_depth)
    needs_target = cfg.objective != "none" or cfg.adapt_bn
    if needs_target and not t_records:
        raise TransferError(f"objective {cfg.objective!r}: no target images")
    unlabeled = [dataclasses.replace(r, depth_path=None) for r in t_records]
    t_ds: DepthDataset | None = None
    if needs_target:
        t_ds = target_dataset or DepthDataset(unlabeled, augment=False, preload=True, cancel=cancel)
    s_ds: DepthDataset | None = None
    if source_records:
        s_ds = source_dataset or DepthDataset(
            [r for r in source_records if r.depth_path is not None],
            augment=True,
            preload=True,
            cancel=cancel,
        )
    if cfg.objective == "none" and s_ds is None:
        raise TransferError("objective 'none' trains on the source data: give source_records")

    avg: np.ndarray | None = None
    pairs: list[tuple[int, int]] = []
    if cfg.objective == "average-depth":
        assert t_ds is not None
        avg = np.array(
            [math.nan if r.average_depth is None else r.average_depth for r in t_ds.records],
            dtype=np.float32,
        )
        if not np.isfinite(avg).any():
            raise TransferError(
                "objective 'average-depth': no target image has an average depth (pass an "
                "average-depth CSV whose keys match the structures or DACON site keys)"
            )
    if cfg.objective == "consistency":
        assert t_ds is not None
        pairs = shot_pairs(t_ds.records)
        if not pairs:
            raise TransferError(
                "objective 'consistency': no structure has two shots (<name>_itr0/_itr1)"
            )

    recon = (
        MaskedReconstruction(model, Masker(cfg.mask_width)) if cfg.objective == "masked" else None
    )
    if recon is not None:
        recon.to(device)
    consistency = ShotConsistency() if cfg.objective == "consistency" else None
    params = list(model.parameters()) + (list(recon.parameters()) if recon is not None else [])
    opt = torch.optim.Adam(params, lr=cfg.lr)

    t0 = time.perf_counter()
    step = 0
    history: list[dict[str, float]] = []
    stopped = "budget"
    bs = cfg.batch_size
    run_loop = cfg.objective != "adabn" and cfg.max_steps != 0
    model.train()
    try:
        while run_loop:
            if cancel is not None and cancel.cancelled:
                stopped = "cancelled"
                break
            elapsed = time.perf_counter() - t0
            if elapsed >= cfg.budget_s:
                stopped = "budget"
                break
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stopped = "max_steps"
                break
            losses: dict[str, float] = {}
            total = torch.zeros((), device=device)
            if s_ds is not None and cfg.source_weight > 0:
                idx = rng.integers(0, len(s_ds), size=min(bs, len(s_ds)))
                b = s_ds.batch(idx, generator=gen)
                pred = model(b["sem"].to(device))
                sup = (pred - b["depth"].to(device)).abs().mean()
                total = total + cfg.source_weight * sup
                losses["source_l1"] = float(sup.detach())
            if t_ds is not None and cfg.objective in ("masked", "average-depth"):
                idx = rng.integers(0, len(t_ds), size=min(bs, len(t_ds)))
                tb = t_ds.batch(idx, augment=True, generator=gen)
                x_t = tb["sem"].to(device)
                if recon is not None:
                    term = recon.loss(model, x_t, gen)
                else:
                    assert avg is not None
                    a = torch.from_numpy(avg[idx]).to(device)
                    term = average_depth_loss(model(x_t), a)
                total = total + cfg.weight * term
                losses[cfg.objective] = float(term.detach())
            if consistency is not None and t_ds is not None:
                pick = rng.integers(0, len(pairs), size=min(bs, len(pairs)))
                ia = [pairs[k][0] for k in pick]
                ib = [pairs[k][1] for k in pick]
                xa = t_ds.batch(ia, augment=False)["sem"].to(device)
                xb = t_ds.batch(ib, augment=False)["sem"].to(device)
                term = consistency.loss(model, xa, xb)
                total = total + cfg.weight * term
                losses["consistency"] = float(term.detach())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            step += 1
            losses["loss"] = float(total.detach())
            losses["step"] = float(step)
            losses["seconds"] = time.perf_counter() - t0
            history.append(losses)
            if on_step is not None:
                on_step(losses)
            frac = min(1.0, losses["seconds"] / cfg.budget_s)
            report(progress, int(1000 * frac), 1000, f"{cfg.objective}: loss {losses['loss']:.4f}")
    finally:
        if recon is not None:
            recon.close()
    if not run_loop:
        stopped = "no-steps"
    if cfg.objective == "adabn" or cfg.adapt_bn:
        assert t_ds is not None
        adapt_batchnorm(model, _stack_sem(t_ds), device=device)
    model.eval()
    report(progress, 1000, 1000, f"{cfg.objective}: done")
    return FinetuneResult(
        model=model,
        objective=cfg.objective,
        steps=step,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
        history=history,
        n_target=0 if t_ds is None else len(t_ds),
        n_source=0 if s_ds is None else len(s_ds),
    )


# --------------------------------------------------------------------------- semdepth train glue
def add_transfer_arguments(parser: argparse.ArgumentParser) -> None:
    """``semdepth train`` options for a second, transfer stage after supervised training."""
    g = parser.add_argument_group(
        "transfer to new imaging conditions (a second stage after supervised training)"
    )
    g.add_argument(
        "--unlabeled",
        type=Path,
        metavar="DIR",
        help="SEM images of the new condition without depth maps: fine-tune the best model "
        "on them and write finetuned.safetensors in the run folder",
    )
    g.add_argument(
        "--average-depth",
        type=Path,
        metavar="CSV",
        help="per-site average depths (DU) of the --unlabeled images (DACON "
        "average_depth.csv): weak supervision of the mean predicted depth",
    )
    g.add_argument(
        "--transfer-objective",
        choices=OBJECTIVES,
        help="fine-tuning objective [average-depth with --average-depth, else masked]",
    )
    g.add_argument(
        "--transfer-budget",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="fine-tuning time budget [120]",
    )
    g.add_argument(
        "--transfer-adabn",
        action="store_true",
        help="re-estimate batch-norm statistics on the --unlabeled images at the end",
    )


def check_transfer_arguments(args: argparse.Namespace) -> None:
    """Fail before training, not after it: ``--average-depth`` needs ``--unlabeled``, and
    both must exist. Raises :class:`TransferError` naming the path."""
    unlabeled_dir = getattr(args, "unlabeled", None)
    avg_csv = getattr(args, "average_depth", None)
    if avg_csv is not None and unlabeled_dir is None:
        raise TransferError("--average-depth needs --unlabeled DIR (the images it describes)")
    if unlabeled_dir is not None and not Path(unlabeled_dir).exists():
        raise TransferError(f"--unlabeled {unlabeled_dir}: no such file or folder")
    if avg_csv is not None and not Path(avg_csv).is_file():
        raise TransferError(f"--average-depth {avg_csv}: file not found")
    budget = getattr(args, "transfer_budget", 120.0)
    if budget is not None and not float(budget) > 0:
        raise TransferError(f"--transfer-budget must be > 0 s, got {budget}")


def run_transfer_stage(args: argparse.Namespace, config: Any, result: Any) -> Path | None:
    """After :func:`core.train.train`: when ``--unlabeled`` (or ``--average-depth``) was
    given, fine-tune ``result.best_path`` and save ``RUN/finetuned.safetensors`` + card.
    Returns the new weights path, or None when no transfer was asked.

    Raises :class:`TransferError` / ``DatasetError`` for bad inputs (the CLI prints them
    and exits 2)."""
    from core.data import find_records, find_unlabeled, load_average_depth_csv
    from core.models import load_checkpoint, save_checkpoint

    unlabeled_dir = getattr(args, "unlabeled", None)
    avg_csv = getattr(args, "average_depth", None)
    if unlabeled_dir is None and avg_csv is None:
        return None
    check_transfer_arguments(args)
    assert unlabeled_dir is not None
    if result.best_path is None:
        raise TransferError(f"{result.run_dir}: no best model to fine-tune")
    try:
        target = find_records(unlabeled_dir)
    except ValueError:
        target = find_unlabeled(unlabeled_dir)
    averages = load_average_depth_csv(avg_csv) if avg_csv is not None else None
    objective = args.transfer_objective or ("average-depth" if averages else "masked")
    source = [r for r in find_records(config.data) if r.depth_path is not None]
    model, card = load_checkpoint(result.best_path, device="cpu")
    from core.device import resolve_device

    device = str(resolve_device(getattr(config, "device", "auto") or "auto"))
    ft = finetune(
        model,
        target,
        source_records=source,
        average_depth=averages,
        config=FinetuneConfig(
            objective=objective,
            budget_s=float(args.transfer_budget),
            adapt_bn=bool(args.transfer_adabn),
            seed=int(getattr(config, "seed", 0) or 0),
            device=device,
        ),
    )
    card = dict(card)
    card.pop("id", None)
    card["training"] = dict(card.get("training", {}))
    card["training"]["transfer"] = {
        "objective": objective,
        "unlabeled": str(Path(unlabeled_dir).resolve()),
        "average_depth_csv": None if avg_csv is None else str(Path(avg_csv).resolve()),
        "n_target": ft.n_target,
        "steps": ft.steps,
        "seconds": round(ft.seconds, 3),
        "adapt_bn": bool(args.transfer_adabn),
        "from": str(result.best_path),
    }
    out = Path(result.run_dir) / "finetuned.safetensors"
    return save_checkpoint(out, ft.model.to("cpu"), card, overwrite=bool(config.overwrite))
