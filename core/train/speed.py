"""How fast to train: bf16 autocast and channels-last memory format, chosen per device.

``--amp auto`` on a CPU with bf16 kernels measures a few steps of each variant
(:func:`probe_speed`) on long runs and keeps bf16 only when it is clearly faster; on CUDA
bf16 is used where supported. Whether bf16 works at all is
:func:`core.device.bf16_autocast_supported`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from core.device import bf16_autocast_supported
from core.train.config import TrainConfig, TrainError

log = logging.getLogger("core.train")

# ``--amp auto`` probes only runs long enough to repay the probe
PROBE_MIN_BUDGET_S = 60.0
PROBE_MIN_SAMPLES = 20_000
BF16_MIN_GAIN = 1.15  # bf16 must be this much faster than the best float32 variant


def to_channels_last(module: nn.Module) -> None:
    module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def autocast(device: torch.device, amp: bool) -> Any:
    """bf16 autocast on ``device`` when ``amp``, else a context that disables autocast."""
    if not amp:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def probe_speed(
    generator: nn.Module,
    shape: tuple[int, int],
    batch: int,
    device: torch.device,
    variants: Sequence[tuple[bool, bool]],
    steps: int = 2,
) -> dict[str, float]:
    """Samples/s of a forward+backward of a copy of ``generator`` per (bf16, channels_last)."""
    g = torch.Generator().manual_seed(12345)
    x = torch.rand((batch, 1, *shape), generator=g)
    y = torch.rand((batch, 1, *shape), generator=g) * 255
    results: dict[str, float] = {}
    for amp, cl in variants:
        model = copy.deepcopy(generator).to(device).train()
        xx, yy = x.to(device), y.to(device)
        if cl:
            to_channels_last(model)
            xx = xx.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        times = []
        for k in range(steps + 1):
            t0 = time.perf_counter()
            with autocast(device, amp):
                out = model(xx)
            loss = (out.float() - yy).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if k:
                times.append(time.perf_counter() - t0)
        results[f"{'bf16' if amp else 'fp32'}{'-cl' if cl else ''}"] = batch / min(times)
    return results


@dataclass(frozen=True)
class SpeedChoice:
    """What the trainer runs with: bf16 autocast, channels-last, and the probe's
    samples/s per variant (empty when nothing was measured)."""

    amp: bool
    channels_last: bool
    probe: dict[str, float] = field(default_factory=dict)

    @property
    def amp_name(self) -> str:
        return "bf16" if self.amp else "off"


def choose_speed(
    config: TrainConfig,
    device: torch.device,
    generator: nn.Module,
    shape: tuple[int, int],
    n_train: int,
    batch_size: int,
) -> SpeedChoice:
    """Resolve ``config.amp`` and ``config.channels_last`` for ``device`` (probing the CPU's
    bf16 speed on long runs under ``--amp auto``). Raises :class:`TrainError` for
    ``--amp bf16`` where bfloat16 cannot run."""
    supported = bf16_autocast_supported(device)
    if config.amp == "bf16" and not supported:
        raise TrainError(f"--amp bf16: bfloat16 is not supported on this {device.type} device")
    cl_allowed = device.type in ("cpu", "cuda") and config.channels_last != "off"
    probe: dict[str, float] = {}
    if config.amp == "off":
        amp = False
    elif config.amp == "bf16":
        amp = True
    elif device.type == "cuda":
        amp = supported
    elif device.type != "cpu" or not supported:
        amp = False
    else:
        amp = False
        budget = config.time_budget_s if config.time_budget_s is not None else math.inf
        if budget >= PROBE_MIN_BUDGET_S and config.epochs * n_train >= PROBE_MIN_SAMPLES:
            variants = [(False, False), (True, cl_allowed)]
            if cl_allowed:
                variants.insert(1, (False, True))
            probe = probe_speed(generator, shape, min(batch_size, 32), device, variants)
            best_fp32 = max(v for k, v in probe.items() if k.startswith("fp32"))
            bf16 = max(v for k, v in probe.items() if k.startswith("bf16"))
            amp = bf16 >= BF16_MIN_GAIN * best_fp32
            log.info("speed probe (samples/s): %s -> amp %s", probe, amp)
    if config.channels_last == "on":
        channels_last = cl_allowed
    elif config.channels_last == "off" or not cl_allowed:
        channels_last = False
    elif probe and not amp:
        channels_last = probe.get("fp32-cl", 0) > probe["fp32"]
    else:
        channels_last = amp or device.type == "cuda"
    return SpeedChoice(amp, channels_last, probe)
