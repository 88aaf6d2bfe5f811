"""core.device's two bf16 questions: can autocast run bf16 here, and is it native on the CPU."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import core.device as device_mod
from core.device import (
    bf16_autocast_supported,
    cpu_has_native_bf16,
    native_bf16_in_flags,
)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    cpu_has_native_bf16.cache_clear()
    yield
    cpu_has_native_bf16.cache_clear()


def _mkldnn(monkeypatch: pytest.MonkeyPatch, answer: bool | Exception) -> None:
    def probe() -> bool:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", probe, raising=False)


@pytest.mark.parametrize("answer", [True, False])
def test_autocast_on_cpu_follows_onednn(monkeypatch: pytest.MonkeyPatch, answer: bool) -> None:
    _mkldnn(monkeypatch, answer)
    assert bf16_autocast_supported(torch.device("cpu")) is answer
    assert bf16_autocast_supported("cpu") is answer


@pytest.mark.parametrize("error", [RuntimeError("no oneDNN"), AttributeError("no such op")])
def test_autocast_on_cpu_is_false_when_the_probe_fails(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    _mkldnn(monkeypatch, error)
    assert bf16_autocast_supported("cpu") is False


@pytest.mark.parametrize("answer", [True, False])
def test_autocast_on_cuda_follows_torch_cuda(monkeypatch: pytest.MonkeyPatch, answer: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: answer)
    assert bf16_autocast_supported("cuda") is answer
    assert bf16_autocast_supported(torch.device("cuda", 1)) is answer


def test_autocast_never_on_mps_or_meta(monkeypatch: pytest.MonkeyPatch) -> None:
    _mkldnn(monkeypatch, True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert bf16_autocast_supported("mps") is False
    assert bf16_autocast_supported("meta") is False


def test_autocast_answer_is_true_to_torch_on_this_cpu() -> None:
    """Where the answer is yes, a linear layer under autocast really computes in bf16."""
    if not bf16_autocast_supported("cpu"):
        pytest.skip("this CPU's torch build has no oneDNN bf16")
    layer = torch.nn.Linear(4, 3)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        y = layer(torch.ones(2, 4))
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags : fpu sse2 avx2 avx512f avx512_bf16 amx_tile", True),
        ("flags : fpu sse2 avx2 amx_bf16", True),
        ("flags : fpu sse2 avx2 amx_tile", True),
        ("flags : fpu sse2 avx2 avx512f avx512_vnni", False),
        ("flags : avx512_bf16x", False),  # whole flags only
        ("", False),
    ],
)
def test_native_bf16_from_cpuinfo_flags(flags: str, native: bool) -> None:
    assert native_bf16_in_flags(flags) is native


def test_native_bf16_reads_proc_cpuinfo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_cache: None
) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu avx2 avx512_bf16\n")
    monkeypatch.setattr(device_mod, "_CPUINFO", info)
    _mkldnn(monkeypatch, False)  # the flags decide on Linux, not oneDNN
    assert cpu_has_native_bf16() is True
    cpu_has_native_bf16.cache_clear()
    info.write_text("processor : 0\nflags : fpu avx2\n")
    _mkldnn(monkeypatch, True)  # emulated bf16 is not native
    assert cpu_has_native_bf16() is False


@pytest.mark.parametrize("answer", [True, False])
def test_native_bf16_without_cpuinfo_asks_onednn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_cache: None, answer: bool
) -> None:
    monkeypatch.setattr(device_mod, "_CPUINFO", tmp_path / "missing")
    _mkldnn(monkeypatch, answer)
    assert cpu_has_native_bf16() is answer


def test_native_bf16_is_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_cache: None
) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("flags : amx_bf16\n")
    monkeypatch.setattr(device_mod, "_CPUINFO", info)
    assert cpu_has_native_bf16() is True
    info.write_text("flags : sse2\n")
    assert cpu_has_native_bf16() is True  # read once per process


def test_native_bf16_implies_autocast_here() -> None:
    """A CPU that computes bf16 in hardware can also autocast to it."""
    if cpu_has_native_bf16():
        assert bf16_autocast_supported("cpu")


def test_fast_bf16_means_native_on_the_cpu_and_supported_on_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.device import has_fast_bf16

    _mkldnn(monkeypatch, True)  # emulated kernels exist ...
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    assert bf16_autocast_supported("cpu") is True
    assert has_fast_bf16("cpu") is False  # ... but they are slower than float32
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: True)
    assert has_fast_bf16(torch.device("cpu")) is True
    for answer in (True, False):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, answer=answer, **k: answer)
        assert has_fast_bf16("cuda") is answer
    assert has_fast_bf16("mps") is False
