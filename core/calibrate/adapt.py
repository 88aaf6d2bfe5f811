"""Adapting the network to the user's images: the fine-tuning loop of a calibration.

Loss per step (each term only when it has data and a weight > 0):

* ``anchor``: L1 (DU) on a batch of labelled crops rendered by the simulator (the model's
  teacher, :func:`render_anchor`): the self-supervised terms alone have trivial minima
  (a constant map is perfectly consistent), so the depth head stays tied to depth;
* ``masked``: masked reconstruction of the user's images from the network's last
  decoder features (:class:`core.transfer.MaskedReconstruction`) on random tiles;
* ``average``: ``|mean(map) - average|`` (DU) on whole images that have an average;
* ``point``: ``|predicted - given depth below the local top|`` (DU) at point references
  (:func:`core.calibrate.probe.probe_torch`), on a window around each point;
* ``keep``: L1 (DU) between the map and the starting model's map of the same random tiles
  of the user's images: what the references do not constrain stays as it was (a point
  gives a hole's depth below its top, not the level of the map around it).

At the end, batch-norm statistics are re-estimated on tiles of the user's images (AdaBN).
The loop runs for ``budget_s`` seconds of wall-clock time (or ``max_steps``), checks the
:class:`~core.progress.CancelToken` between steps and reports each step's losses to
``on_loss``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.calibrate.probe import Probe, make_probe, probe_torch
from core.models.noise2self import Masker
from core.progress import Cancelled, CancelToken, ProgressCallback
from core.transfer import MaskedReconstruction, adapt_batchnorm, average_depth_loss
from core.transfer.finetune import timed_steps

LossCallback = Callable[[dict[str, float]], None]
POINT_MARGIN_PX = 16  # context around a point's top window (the receptive field's edge)
ADABN_TILES = 2048  # at most this many tiles re-estimate the batch-norm statistics


@dataclass(frozen=True)
class AdaptConfig:
    """Weights of the loss terms (0 turns one off), optimiser and budget."""

    budget_s: float
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 32
    anchor_weight: float = 1.0
    masked_weight: float = 1.0
    average_weight: float = 1.0
    point_weight: float = 1.0
    keep_weight: float = 0.0
    adabn: bool = True
    seed: int = 0


@dataclass(frozen=True)
class PointTarget:
    """A point reference on one image: index, position (px, at the model's scale) and the
    given depth below the top in DU."""

    image: int
    x: float
    y: float
    depth_du: float


@dataclass
class TargetData:
    """The user's images (float32 0..1 at the model's pixel size; shapes may differ), the
    average (DU, NaN: none) of each, and the point references."""

    images: list[np.ndarray]
    averages: np.ndarray
    points: list[PointTarget] = field(default_factory=list)


@dataclass
class Anchor:
    """Labelled crops: ``sem`` (n, rows, cols) 0..1 and ``depth`` (n, rows, cols) DU."""

    sem: np.ndarray
    depth: np.ndarray


@dataclass
class AdaptResult:
    model: nn.Module
    steps: int
    seconds: float
    stopped: str  # "budget" | "max_steps"
    history: list[dict[str, float]]


def depth_of(output: torch.Tensor) -> torch.Tensor:
    """The depth channel (0) of a network's ``(N, C, H, W)`` output: a variance head adds
    a sigma channel after it."""
    return output[:, :1]


def render_anchor(
    n_structures: int,
    seed: int,
    families: Sequence[str] | None,
    shape: tuple[int, int],
    pixel_size_nm: float,
    cancel: CancelToken | None = None,
) -> Anchor:
    """``2 n_structures`` labelled crops (one imaging draw, two shots each) from the
    simulator: the legacy one when ``families`` is None, else those contrast families."""
    from core.synth import render_crops

    sems, depths = [], []
    for start in range(0, n_structures, 64):
        if cancel is not None:
            cancel.raise_if_cancelled()
        idx = list(range(start, min(n_structures, start + 64)))
        cb = render_crops(
            seed, idx, ["Case_1"], shape=shape, pixel_size_nm=pixel_size_nm,
            families=list(families) if families else None,
        )  # fmt: skip
        sem = cb.sem["Case_1"]  # (n, 2, rows, cols) uint8
        sems.append(sem.reshape(-1, *shape).astype(np.float32) / 255.0)
        depths.append(np.repeat(cb.depth_du.astype(np.float32), sem.shape[1], axis=0))
    return Anchor(np.concatenate(sems), np.concatenate(depths))


def tile_shape(images: Sequence[np.ndarray], input_size: tuple[int, int]) -> tuple[int, int]:
    """The common tile: the model's input size, cut down to the smallest image."""
    return (
        min(input_size[0], min(a.shape[0] for a in images)),
        min(input_size[1], min(a.shape[1] for a in images)),
    )


def random_tiles(
    images: Sequence[np.ndarray], shape: tuple[int, int], n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` tiles of ``shape`` at random images and positions, (n, rows, cols)."""
    out = np.empty((n, *shape), dtype=np.float32)
    for k, i in enumerate(rng.integers(0, len(images), n)):
        a = images[int(i)]
        r = int(rng.integers(0, a.shape[0] - shape[0] + 1))
        c = int(rng.integers(0, a.shape[1] - shape[1] + 1))
        out[k] = a[r : r + shape[0], c : c + shape[1]]
    return out


def adabn_tiles(images: Sequence[np.ndarray], shape: tuple[int, int], seed: int) -> np.ndarray:
    """What the batch-norm statistics are re-estimated on: the images themselves when they
    all have the tile's shape (a random :data:`ADABN_TILES` of them when more), else
    random tiles (four per image, at most :data:`ADABN_TILES`)."""
    rng = np.random.default_rng(seed)
    if all(a.shape == shape for a in images):
        pick = np.sort(rng.permutation(len(images))[:ADABN_TILES])
        return np.stack([images[int(i)] for i in pick])
    return random_tiles(images, shape, min(ADABN_TILES, 4 * len(images)), rng)


@dataclass(frozen=True)
class _PointCrop:
    sem: np.ndarray
    probe: Probe
    target_du: float


def point_crops(target: TargetData, top_half_px: int) -> list[_PointCrop]:
    """Each point's window (its top window plus :data:`POINT_MARGIN_PX`) cut from its
    image, with the probe in the window's coordinates."""
    out = []
    for p in target.points:
        img = target.images[p.image]
        h, w = img.shape
        half = top_half_px + POINT_MARGIN_PX
        r0, r1 = max(0, round(p.y) - half), min(h, round(p.y) + half + 1)
        c0, c1 = max(0, round(p.x) - half), min(w, round(p.x) + half + 1)
        crop = img[r0:r1, c0:c1]
        probe = make_probe(crop.shape, p.x - c0, p.y - r0, top_half_px=top_half_px)
        out.append(_PointCrop(np.ascontiguousarray(crop), probe, p.depth_du))
    return out


def _groups_by_shape(arrays: Sequence[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    shapes: dict[tuple[int, ...], list[int]] = {}
    for i in np.flatnonzero(keep).tolist():
        shapes.setdefault(arrays[i].shape, []).append(i)
    return [np.array(v) for v in shapes.values()]


class _Batches:
    """Draws the batches of each loss term."""

    def __init__(
        self,
        target: TargetData,
        anchor: Anchor | None,
        cfg: AdaptConfig,
        input_size: tuple[int, int],
        top_half_px: int,
    ) -> None:
        self.t, self.anchor, self.cfg = target, anchor, cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.tile = tile_shape(target.images, input_size)
        self.pixels = cfg.batch_size * input_size[0] * input_size[1]
        known = np.isfinite(target.averages)
        self.avg_groups = _groups_by_shape(target.images, known)
        self.points = point_crops(target, top_half_px) if target.points else []
        self.point_groups = _groups_by_shape(
            [p.sem for p in self.points], np.ones(len(self.points), bool)
        )

    def _per_batch(self, shape: tuple[int, ...]) -> int:
        return max(1, min(self.cfg.batch_size, self.pixels // (shape[0] * shape[1])))

    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        if self.rng.random() < 0.5:
            x = x.flip(-1)
        return x.flip(-2) if self.rng.random() < 0.5 else x

    def anchor_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.anchor is not None
        i = self.rng.integers(0, len(self.anchor.sem), self.cfg.batch_size)
        x = torch.from_numpy(self.anchor.sem[i])[:, None]
        y = torch.from_numpy(self.anchor.depth[i])[:, None]
        if self.rng.random() < 0.5:  # the same flip for image and map
            x, y = x.flip(-1), y.flip(-1)
        return x, y

    def tiles(self) -> torch.Tensor:
        x = random_tiles(self.t.images, self.tile, self.cfg.batch_size, self.rng)
        return self._flip(torch.from_numpy(x)[:, None])

    def averages(self) -> tuple[torch.Tensor, torch.Tensor]:
        group = self.avg_groups[int(self.rng.integers(0, len(self.avg_groups)))]
        n = self._per_batch(self.t.images[int(group[0])].shape)
        pick = self.rng.choice(group, size=min(n, len(group)), replace=False)
        x = torch.from_numpy(np.stack([self.t.images[i] for i in pick]))[:, None]
        return self._flip(x), torch.from_numpy(self.t.averages[pick].astype(np.float32))

    def points_batch(self) -> tuple[torch.Tensor, list[Probe], torch.Tensor]:
        group = self.point_groups[int(self.rng.integers(0, len(self.point_groups)))]
        n = self._per_batch(self.points[group[0]].sem.shape)
        pick = self.rng.choice(group, size=min(n, len(group)), replace=False)
        crops = [self.points[i] for i in pick]
        x = torch.from_numpy(np.stack([c.sem for c in crops]))[:, None]
        y = torch.tensor([c.target_du for c in crops], dtype=torch.float32)
        return x, [c.probe for c in crops], y


class _Step:
    def __init__(self, model: nn.Module, batches: _Batches, cfg: AdaptConfig) -> None:
        self.model, self.b, self.cfg = model, batches, cfg
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.recon = MaskedReconstruction(model, Masker(4)) if cfg.masked_weight > 0 else None
        params = list(model.parameters())
        if self.recon is not None:
            params += list(self.recon.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg.lr)
        self.start: nn.Module | None = None
        if cfg.keep_weight > 0:  # the model as it starts, in the same (train) mode
            self.start = copy.deepcopy(model).requires_grad_(False)

    def terms(self) -> dict[str, torch.Tensor]:
        cfg, b, m = self.cfg, self.b, self.model
        out: dict[str, torch.Tensor] = {}
        if b.anchor is not None and cfg.anchor_weight > 0:
            x, y = b.anchor_batch()
            out["anchor"] = cfg.anchor_weight * (depth_of(m(x)) - y).abs().mean()
        if self.recon is not None:
            out["masked"] = cfg.masked_weight * self.recon.loss(m, b.tiles(), self.gen)
        if b.avg_groups and cfg.average_weight > 0:
            x, a = b.averages()
            out["average"] = cfg.average_weight * average_depth_loss(depth_of(m(x)), a)
        if b.points and cfg.point_weight > 0:
            x, probes, y = b.points_batch()
            pred = probe_torch(depth_of(m(x)), probes)
            out["point"] = cfg.point_weight * (pred - y).abs().mean()
        if self.start is not None:
            x = b.tiles()
            with torch.no_grad():
                was = depth_of(self.start(x))
            out["keep"] = cfg.keep_weight * (depth_of(m(x)) - was).abs().mean()
        return out

    def __call__(self) -> dict[str, float]:
        terms = self.terms()
        losses = {k: float(v.detach()) for k, v in terms.items()}
        if terms:
            total = torch.stack(list(terms.values())).sum()
            self.opt.zero_grad(set_to_none=True)
            total.backward()
            self.opt.step()
            losses["loss"] = float(total.detach())
        return losses

    def close(self) -> None:
        if self.recon is not None:
            self.recon.close()


def adapt(
    model: nn.Module,
    target: TargetData,
    cfg: AdaptConfig,
    *,
    input_size: tuple[int, int],
    top_half_px: int,
    anchor: Anchor | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_loss: LossCallback | None = None,
) -> AdaptResult:
    """A fine-tuned copy of ``model`` (see the module docstring), in ``eval()`` mode.
    ``Cancelled`` when ``cancel`` is set (the input model is never modified)."""
    model = copy.deepcopy(model).train()
    torch.manual_seed(cfg.seed)
    batches = _Batches(target, anchor, cfg, input_size, top_half_px)
    step_fn = _Step(model, batches, cfg)
    t0 = time.perf_counter()
    try:
        history, stopped = timed_steps(
            step_fn, cfg, label="calibration", progress=progress, cancel=cancel, on_step=on_loss
        )
    finally:
        step_fn.close()
    if stopped == "cancelled":
        raise Cancelled("cancelled by the user")
    if cfg.adabn:
        adapt_batchnorm(model, adabn_tiles(target.images, batches.tile, cfg.seed))
    model.eval()
    return AdaptResult(model, len(history), time.perf_counter() - t0, stopped, history)
