"""The training loop: :func:`train` and the epoch-by-epoch driver behind it.

One run: resolve the preset, join the process group (under ``torchrun``), claim the run
folder, load and split the data, build the networks, choose the speed settings, then for
each epoch: steps over this rank's share of the training split, validation on rank 0, the
run folder's per-epoch files, the callbacks. It stops after the last epoch, early stopping,
the time budget or a cancel; the last weights and the trainer state are saved first, so
``resume=True`` continues.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import torch

import core
from core.models import card as cards
from core.progress import CancelToken, ProgressCallback
from core.train.callbacks import (
    EpochMetrics,
    ProgressAdapter,
    StepInfo,
    TrainResult,
    call_all,
    start_info,
)
from core.train.config import (
    BASELINE_PRESET,
    TrainConfig,
    TrainError,
    default_command,
    fingerprint,
    jsonable,
    resolve_preset,
)
from core.train.data import TrainingData
from core.train.distributed import DistContext, broadcast_flag, init_distributed
from core.train.networks import Networks
from core.train.run_folder import RunFolder
from core.train.schedule import EarlyStopping, lr_factor
from core.train.speed import choose_speed
from core.train.state import capture_state, restore_state
from core.train.tally import Clock, Tally

log = logging.getLogger("core.train")

CONFIG_HEADER = "# semdepth train: effective configuration (CLI flags override --config)\n"
_CANCEL, _BUDGET = 1, 2  # why an epoch halted early (0: it did not)


def train(
    config: TrainConfig,
    *,
    callbacks: Sequence[Any] = (),
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train ``config.preset`` on ``config.data``; write the run folder ``config.out``.

    Returns after the last epoch, early stopping, the time budget or a cancel (the last
    weights and the trainer state are saved first, so ``resume=True`` continues).
    ``KeyboardInterrupt`` also saves ``last`` and the trainer state, then propagates.
    """
    callbacks = list(callbacks)
    if progress is not None:
        callbacks.append(ProgressAdapter(progress))
    if config.preset == BASELINE_PRESET:
        from core.train.baseline import train_baseline

        return train_baseline(config, callbacks, cancel)
    trainer = _Trainer(config, callbacks, cancel)
    try:
        return trainer.run()
    finally:
        trainer.close()


class _Trainer:
    def __init__(
        self, config: TrainConfig, callbacks: Sequence[Any], cancel: CancelToken | None
    ) -> None:
        self.config = config
        self.callbacks = callbacks
        self.cancel = cancel
        self.dist = DistContext()
        self.folder = RunFolder(config.out)
        self.command = config.command or default_command()

    def close(self) -> None:
        self.dist.close()

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.config
        self.preset = resolve_preset(cfg)
        self.dist = init_distributed(cfg.device)
        self.device = self._device()
        self.folder.prepare(resume=cfg.resume, overwrite=cfg.overwrite, writer=self.dist.main)
        self.data = TrainingData.load(cfg)
        self._load_datasets()
        self.nets = Networks(self.preset, cfg, self.device, self.dist)
        self.speed = choose_speed(
            cfg, self.device, self.nets.G, self.shape, len(self.train_ds), self.preset.batch_size
        )
        self.nets.prepare(self.speed)
        per_rank = math.ceil(len(self.train_ds) / self.dist.world)
        self.steps_per_epoch = max(1, math.ceil(per_rank / self.preset.batch_size))
        self.start_epoch = 0
        self.global_step = 0
        self.seconds_before = 0.0
        self.history: list[EpochMetrics] = []
        self.best_value = math.inf
        self.best_epoch: int | None = None
        self.stopper = EarlyStopping(cfg.early_stopping) if cfg.early_stopping else None
        if cfg.resume:
            self._resume()
        elif self.dist.main:
            self._write_config()

    def _device(self) -> torch.device:
        from core.device import resolve_device

        d, name = self.dist, self.config.device
        if d.enabled and name in ("auto", "cuda") and torch.cuda.is_available():
            device = torch.device("cuda", d.local_rank)
            torch.cuda.set_device(device)
            return device
        return resolve_device(name)

    def _load_datasets(self) -> None:
        from core.data import DepthDataset, record_flippable

        cfg, split = self.config, self.data.split
        flippable = None
        if cfg.augment and not cfg.flip_fixed_detector:
            flippable = record_flippable(split.train, cfg.data)
        self.train_ds = DepthDataset(
            split.train,
            augment=cfg.augment,
            flippable=flippable,
            intensity_augment=cfg.intensity_augment,
            preload=True,
            cancel=self.cancel,
        )
        self.val_ds = DepthDataset(split.val, augment=False, preload=True, cancel=self.cancel)
        assert self.train_ds.sem_array is not None
        rows, cols = self.train_ds.sem_array.shape[1:3]
        self.shape = (int(rows), int(cols))

    def _write_config(self) -> None:
        cfg = self.config.to_dict()
        cfg["data"] = str(self.config.data.resolve())
        cfg["out"] = str(self.config.out.resolve())
        cfg["command"] = self.command
        p = self.preset
        cfg["resolved"] = {
            "generator": p.generator,
            "discriminator": p.discriminator if p.discriminator is not None else {},
            "gan_mode": p.gan_mode,
            "lambda_l1": p.lambda_l1,
            "rmse_mode": p.rmse_mode,
            "d_every": p.d_every,
            "lr": p.lr,
            "batch_size": p.batch_size,
            "amp": self.speed.amp_name,
            "channels_last": self.speed.channels_last,
            "device": str(self.device),
            "world_size": self.dist.world,
            "speed_probe_samples_per_s": self.speed.probe,
        }
        cfg["product_version"] = core.__version__
        self.folder.write_config(jsonable(cfg), header=CONFIG_HEADER)

    def _resume(self) -> None:
        cfg = self.config
        tensors, scalars = self.folder.load_state()
        want = jsonable(fingerprint(cfg, self.preset))
        have = scalars.get("fingerprint", {})
        diff = [k for k in want if want[k] != have.get(k)]
        if diff:
            raise TrainError(
                f"{cfg.out}: cannot resume with different settings: "
                + ", ".join(f"{k} {have.get(k)!r} -> {want[k]!r}" for k in diff)
            )
        if scalars.get("data_hash") != self.data.hash:
            raise TrainError(
                f"{cfg.out}: the data in {cfg.data} differ from the data this "
                "run was trained on (data-set hash changed); start a new run"
            )
        restore_state(tensors, scalars, self.nets.modules(), self.nets.optimizers())
        self.start_epoch = int(scalars["epoch"])
        self.global_step = int(scalars["global_step"])
        self.seconds_before = float(scalars["seconds"])
        self.history = [EpochMetrics(**h) for h in scalars.get("history", [])]
        self.best_value = float(scalars.get("best_value", math.inf))
        self.best_epoch = scalars.get("best_epoch")
        if self.stopper is not None:
            self.stopper.best = self.best_value
            self.stopper.bad_epochs = int(scalars.get("bad_epochs", 0))
        if self.start_epoch >= cfg.epochs:
            raise TrainError(
                f"{cfg.out}: already trained {self.start_epoch} epoch(s); "
                f"ask for more than that with --epochs to continue"
            )
        log.info("resuming %s after epoch %d", cfg.out, self.start_epoch)

    # ------------------------------------------------------------------ the loop
    def run(self) -> TrainResult:
        from torch.utils.data.distributed import DistributedSampler

        self._setup()
        cfg, d = self.config, self.dist
        call_all(self.callbacks, "on_train_start", self._start_info())
        sampler: DistributedSampler[Any] = DistributedSampler(
            self.train_ds, num_replicas=d.world, rank=d.rank, shuffle=True, seed=cfg.seed
        )
        self.clock = Clock(self.seconds_before)
        stopped = "completed"
        epochs_done = self.start_epoch
        self.nets.train_mode()
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                tally = self._train_epoch(epoch, sampler)
                if tally.halt == _CANCEL:
                    stopped = "cancelled"
                    break
                epochs_done = epoch + 1
                self._end_epoch(epoch + 1, tally)
                if tally.halt == _BUDGET:
                    stopped = "time_budget"
                    break
                if self._early_stop():
                    stopped = "early_stopping"
                    break
        except KeyboardInterrupt:
            if d.main:
                self._save_last(epochs_done)
            raise
        if stopped == "cancelled" and d.main:
            self._save_last(epochs_done)
        result = self._result(stopped, epochs_done)
        call_all(self.callbacks, "on_train_end", result)
        return result

    def _start_info(self) -> dict[str, Any]:
        return start_info(
            epochs=self.config.epochs,
            steps_per_epoch=self.steps_per_epoch,
            start_epoch=self.start_epoch,
            n_train=len(self.train_ds),
            n_val=len(self.val_ds),
            device=str(self.device),
            amp=self.speed.amp_name,
            channels_last=self.speed.channels_last,
            world_size=self.dist.world,
        )

    def _train_epoch(self, epoch: int, sampler: Any) -> Tally:
        """This rank's steps of one epoch (0-based ``epoch``); stops early on a cancel or
        the time budget (``halt``), agreed by every rank."""
        cfg, d, bs = self.config, self.dist, self.preset.batch_size
        sampler.set_epoch(epoch)
        order = list(sampler)
        flips = torch.Generator().manual_seed(
            (cfg.seed * 1_000_003 + epoch * 7919 + d.rank) % 2**63
        )
        tally = Tally(lr=self.preset.lr)
        t_epoch = time.perf_counter()
        for k in range(self.steps_per_epoch):
            idx = order[k * bs : (k + 1) * bs]
            if not idx:
                break
            tally.lr = self._set_lr()
            batch = self.train_ds.batch(idx, generator=flips)
            losses = self.nets.step(batch, self.global_step)
            self.global_step += 1
            tally.add(losses, len(idx))
            shown = {key: v for key, v in losses.items() if not key.startswith("_")}
            info = StepInfo(
                epoch + 1,
                cfg.epochs,
                k + 1,
                self.steps_per_epoch,
                self.global_step,
                shown,
                tally.lr,
                self.clock.elapsed(),
            )
            call_all(self.callbacks, "on_step", info)
            tally.halt = broadcast_flag(d, self._halt_reason())
            if tally.halt:
                break
        self.nets.sync_buffers()
        tally.seconds = time.perf_counter() - t_epoch
        return tally

    def _halt_reason(self) -> int:
        """Rank 0's reason to stop within the epoch (0: none)."""
        cfg = self.config
        if not self.dist.main:
            return 0
        if self.cancel is not None and self.cancel.cancelled:
            return _CANCEL
        if cfg.time_budget_s is not None and self.clock.session() >= cfg.time_budget_s:
            return _BUDGET
        return 0

    def _set_lr(self) -> float:
        cfg = self.config
        total = cfg.epochs * self.steps_per_epoch
        progress = self.global_step / max(total, 1)
        if cfg.time_budget_s is not None:
            progress = max(progress, self.clock.session() / cfg.time_budget_s)
        lr = self.preset.lr * lr_factor(cfg.schedule, progress, cfg.warmup_fraction)
        self.nets.set_lr(lr)
        return lr

    def _early_stop(self) -> bool:
        s = self.stopper
        stop = int(self.dist.main and s is not None and s.bad_epochs >= s.patience)
        return bool(broadcast_flag(self.dist, stop))

    def _end_epoch(self, epoch: int, tally: Tally) -> None:
        """Rank 0: validate, record the epoch, write the run folder, tell the callbacks."""
        if not self.dist.main:
            return
        seconds = self.clock.elapsed()
        s = self.nets.validate(self.val_ds, self.config.val_batch_size).summary()
        is_best = s.rmse_per_image < self.best_value
        if self.stopper is not None:
            self.stopper.update(s.rmse_per_image)
        if is_best:
            self.best_value = s.rmse_per_image
            self.best_epoch = epoch
        m = EpochMetrics(
            epoch=epoch,
            global_step=self.global_step,
            seconds=seconds,
            lr=tally.lr,
            loss_g=tally.mean("loss_g"),
            loss_l1=tally.mean("loss_l1"),
            loss_gan=tally.mean("loss_gan"),
            loss_rmse=tally.mean("loss_rmse"),
            loss_d=tally.mean("loss_d"),
            train_rmse=math.sqrt(tally.mean("_mse")) if tally.n_steps else math.nan,
            val_rmse_per_image=s.rmse_per_image,
            val_rmse_pooled=s.rmse_pooled,
            val_mae=s.mae,
            best=is_best,
            samples_per_s=(
                tally.n_samples * self.dist.world / tally.seconds if tally.seconds > 0 else math.nan
            ),
        )
        self.history.append(m)
        card = self._card(m, epoch, seconds)
        state = self._state(epoch, seconds)
        self.folder.write_epoch(
            self.nets.eval_model, card, best=is_best, state=state, history=self.history
        )
        call_all(self.callbacks, "on_epoch_end", m)

    def _save_last(self, epochs_done: int) -> None:
        """After a cancel or Ctrl+C: ``last`` (marked interrupted) and the trainer state."""
        seconds = self.clock.elapsed()
        last = self.history[-1] if self.history else None
        card = self._card(last, epochs_done, seconds, interrupted=True)
        self.folder.write_last(self.nets.eval_model, card, self._state(epochs_done, seconds))

    def _result(self, stopped: str, epochs_done: int) -> TrainResult:
        out = self.config.out
        return TrainResult(
            run_dir=out,
            best_path=(out / "best.safetensors") if self.best_epoch is not None else None,
            last_path=out / "last.safetensors",
            epochs_completed=epochs_done,
            best_epoch=self.best_epoch,
            best_val_rmse_per_image=(self.best_value if math.isfinite(self.best_value) else None),
            best_val_rmse_pooled=next(
                (m.val_rmse_pooled for m in self.history if m.epoch == self.best_epoch), None
            ),
            stopped=stopped,
            seconds=self.clock.elapsed(),
            history=list(self.history),
            amp=self.speed.amp_name,
            channels_last=self.speed.channels_last,
            model=self.nets.eval_model,
        )

    # ------------------------------------------------------------------ what is saved
    def _state(self, epochs_done: int, seconds: float) -> tuple[dict, dict]:
        counters = {
            "epoch": epochs_done,
            "global_step": self.global_step,
            "seconds": seconds,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.stopper.bad_epochs if self.stopper else 0,
            "history": [m.to_row() for m in self.history],
            "fingerprint": jsonable(fingerprint(self.config, self.preset)),
            "data_hash": self.data.hash,
        }
        tensors, scalars = capture_state(self.nets.modules(), self.nets.optimizers(), counters)
        return tensors, jsonable(scalars)

    def _card(
        self, last: EpochMetrics | None, epochs: int, seconds: float, interrupted: bool = False
    ) -> dict[str, Any]:
        cfg, p, meta = self.config, self.preset, self.data.synth_meta
        gan = p.discriminator is not None
        training = cards.depth_training_section(
            preset=cfg.preset,
            command=self.command,
            data=self.data.card_section(synth_seed=meta.get("seed")),
            epochs=epochs,
            seconds=seconds,
            interrupted=interrupted,
            loss={
                "gan_mode": p.gan_mode if gan else None,
                "lambda_l1": p.lambda_l1,
                "rmse_mode": p.rmse_mode,
                "d_every": p.d_every if gan else None,
            },
            discriminator=p.discriminator,
            optimizer={
                "name": cfg.optimizer,
                "lr": p.lr,
                "weight_decay": cfg.weight_decay,
                "betas": list(self.nets.betas),
                "schedule": cfg.schedule,
                "batch_size": p.batch_size,
                "world_size": self.dist.world,
                "ema": cfg.ema,
            },
            amp=self.speed.amp_name,
            channels_last=self.speed.channels_last,
            device=str(self.device),
            augment=cfg.augment,
        )
        training["intensity_augment"] = cfg.intensity_augment
        if cfg.augment:
            fixed = int((~self.train_ds.flippable).sum())
            training["flips"] = {
                "fixed_detector_flipped": cfg.flip_fixed_detector,
                "images_never_flipped": fixed,
            }
        if self.nets.variance_head:
            training["loss"]["nll_beta"] = cfg.nll_beta
        metrics = {} if last is None else {
            "val_rmse_per_image": last.val_rmse_per_image,
            "val_rmse_pooled": last.val_rmse_pooled,
            "val_mae": last.val_mae,
            "epoch": last.epoch,
            "n_val": len(self.data.split.val),
        }  # fmt: skip
        from core.models.normalization import CARD_NORMALIZATION

        extra_out = (
            {"variance_head": cards.variance_head_section(cfg.nll_beta)}
            if self.nets.variance_head
            else {}
        )
        return cards.depth_card(
            self.nets.eval_model,
            input=cards.input_section(
                size=list(self.shape),
                pixel_size_nm=meta.get("pixel_size_nm"),
                normalization=CARD_NORMALIZATION[p.generator.get("input_norm", "none")],
            ),
            output=cards.depth_output_section(
                nm_per_depth_unit=meta.get("nm_per_depth_unit"), **extra_out
            ),
            training=training,
            metrics=metrics,
        )
