"""bf16 autocast and channels-last, chosen per device (core/train/speed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.models import UNet
from core.train import TrainConfig, TrainError
from core.train import speed as speed_mod
from core.train.speed import SpeedChoice, autocast, choose_speed, probe_speed

CPU = torch.device("cpu")


def _cfg(**kw: object) -> TrainConfig:
    base: dict = {"preset": "unet-2level", "data": Path("d"), "out": Path("o")}
    return TrainConfig(**{**base, **kw})


def _choose(cfg: TrainConfig, device: torch.device = CPU, n_train: int = 100) -> SpeedChoice:
    return choose_speed(cfg, device, UNet(levels=1, base_width=4), (16, 8), n_train, 8)


def test_explicit_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speed_mod, "bf16_autocast_supported", lambda d: True)
    assert _choose(_cfg(amp="off", channels_last="off")) == SpeedChoice(False, False, {})
    assert _choose(_cfg(amp="bf16", channels_last="on")) == SpeedChoice(True, True, {})
    # auto channels-last follows bf16 on the CPU
    assert _choose(_cfg(amp="bf16")).channels_last is True
    assert _choose(_cfg(amp="off")).channels_last is False
    assert _choose(_cfg(amp="bf16")).amp_name == "bf16"
    monkeypatch.setattr(speed_mod, "bf16_autocast_supported", lambda d: False)
    with pytest.raises(TrainError, match="--amp bf16: bfloat16 is not supported on this cpu"):
        _choose(_cfg(amp="bf16"))
    # neither autocast nor channels-last on other devices
    mps = _choose(_cfg(channels_last="on"), torch.device("mps"))
    assert mps == SpeedChoice(False, False, {})


def test_auto_probes_long_cpu_runs_and_keeps_bf16_only_when_clearly_faster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(speed_mod, "bf16_autocast_supported", lambda d: True)
    calls: list[list[tuple[bool, bool]]] = []

    def fake_probe(measured: dict[str, float]):  # type: ignore[no-untyped-def]
        def probe(generator, shape, batch, device, variants):  # type: ignore[no-untyped-def]
            calls.append(list(variants))
            assert batch == 8 and shape == (16, 8)
            return measured

        return probe

    short = _cfg(epochs=1)  # 1 x 100 samples: not worth a probe
    assert _choose(short) == SpeedChoice(False, False, {})
    long = _cfg(epochs=200)  # 200 x 100 = 20,000 samples, no time budget
    monkeypatch.setattr(
        speed_mod, "probe_speed", fake_probe({"fp32": 100.0, "fp32-cl": 110.0, "bf16-cl": 127.0})
    )
    choice = _choose(long)
    assert choice.amp is True and choice.channels_last is True  # 127 >= 1.15 x 110 = 126.5
    assert calls[-1] == [(False, False), (False, True), (True, True)]
    monkeypatch.setattr(
        speed_mod, "probe_speed", fake_probe({"fp32": 100.0, "fp32-cl": 110.0, "bf16-cl": 126.0})
    )
    choice = _choose(long)
    assert choice.amp is False and choice.channels_last is True  # fp32-cl beat fp32
    assert choice.probe["bf16-cl"] == 126.0
    assert _choose(_cfg(epochs=200, time_budget_s=30)).probe == {}  # a short budget: no probe


def test_probe_measures_every_variant_on_a_copy() -> None:
    net = UNet(levels=1, base_width=4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rates = probe_speed(net, (16, 8), 2, CPU, [(False, False), (False, True)], steps=1)
    assert set(rates) == {"fp32", "fp32-cl"} and all(r > 0 for r in rates.values())
    for k, v in net.state_dict().items():  # the generator itself is untouched
        assert torch.equal(v, before[k])


def test_autocast_off_keeps_float32() -> None:
    with autocast(CPU, False):
        y = torch.nn.functional.linear(torch.ones(1, 2), torch.ones(3, 2))
    assert y.dtype == torch.float32
