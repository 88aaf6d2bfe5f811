"""What a device can do in bfloat16 (core/device.py): autocast at all vs. fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import core.device as device_mod
from core.device import can_autocast_bf16, cpu_has_native_bf16, has_fast_bf16

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.fixture
def cpuinfo(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fake ``/proc/cpuinfo`` flags (the answer is cached: cleared around the test)."""
    flags: list[str] = []

    class FakePath:
        def __init__(self, *args: object) -> None:
            pass

        def read_text(self, errors: str = "strict") -> str:
            return "processor : 0\nflags : " + " ".join(flags) + "\n"

    monkeypatch.setattr(device_mod, "Path", FakePath)
    cpu_has_native_bf16.cache_clear()
    yield flags
    cpu_has_native_bf16.cache_clear()


def test_native_bf16_needs_avx512_bf16_or_amx(cpuinfo: list[str]) -> None:
    cpuinfo[:] = ["fpu", "avx2", "avx512f"]
    assert cpu_has_native_bf16() is False
    cpu_has_native_bf16.cache_clear()
    cpuinfo[:] = ["fpu", "avx512f", "avx512_bf16"]
    assert cpu_has_native_bf16() is True
    cpu_has_native_bf16.cache_clear()
    cpuinfo[:] = ["amx_tile"]
    assert cpu_has_native_bf16() is True and has_fast_bf16(CPU) is True


def test_autocast_on_a_cpu_without_native_bf16_is_possible_but_not_fast(
    cpuinfo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cpuinfo[:] = ["avx2"]
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert can_autocast_bf16(CPU) is True  # emulated bf16 kernels exist
    assert has_fast_bf16(CPU) is False  # ... but they are slower than float32
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert can_autocast_bf16(CPU) is False


def test_cuda_asks_torch_and_other_devices_say_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert can_autocast_bf16(CUDA) is True and has_fast_bf16(CUDA) is True
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert can_autocast_bf16(CUDA) is False and has_fast_bf16(CUDA) is False
    assert can_autocast_bf16(MPS) is False and has_fast_bf16(MPS) is False
