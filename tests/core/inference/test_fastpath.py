"""Fast paths: names, the automatic choice, and each runner against eager float32.

Tolerances (stated, on a float32 reference with outputs spanning ~0-300 DU):
channels-last max |diff| <= 1e-3 DU; bf16 RMS diff <= 2 % and max <= 5 % of the
reference's spread (std), with the head in float32 keeping sub-0.01-DU resolution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import core.inference.fastpath as fastpath
from core.device import bf16_autocast_supported
from core.inference import Predictor
from core.inference.fastpath import (
    OnnxRunner,
    TorchRunner,
    default_cache_dir,
    keep_head_fp32,
    make_runner,
    model_fingerprint,
    normalize_fast_path,
    resolve_fast_path,
)
from tests.core.inference.helpers import Times255, make_checkpoint, predictor_for

CPU = torch.device("cpu")


class TinyNet(nn.Module):
    """Two 3x3 convolutions and a 1x1 head, seeded weights: outputs spread over ~0-300 DU."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Conv2d(8, 1, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)) * 40.0 + 128.0


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 40, 32)).astype(np.float32)


def _needs_bf16() -> None:
    if not bf16_autocast_supported(CPU):
        pytest.skip("no bf16 autocast on this CPU's torch build")


# ----------------------------------------------------------------------------- names
def test_normalize_fast_path_aliases_and_errors() -> None:
    assert normalize_fast_path(None) == "auto"
    assert normalize_fast_path(" BF16-Channels-Last ") == "bf16"
    assert normalize_fast_path("channels_last") == "channels-last"
    assert normalize_fast_path("eager") == "fp32"
    assert normalize_fast_path("onnxruntime") == "onnx"
    assert normalize_fast_path("torch.compile") == "compile"
    with pytest.raises(ValueError, match="unknown fast path 'fp8'; choose one of auto, fp32"):
        normalize_fast_path("fp8")


# ----------------------------------------------------------------------------- the choice
@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "channels-last")])
def test_auto_on_the_cpu_follows_native_bf16(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: str
) -> None:
    monkeypatch.setattr(fastpath, "has_fast_bf16", lambda device: native)
    assert resolve_fast_path("auto", CPU, {}) == expected
    # a card asking for bf16 gets it only where it is native
    assert resolve_fast_path("auto", CPU, {"inference": {"fast_path": "bfloat16"}}) == expected


@pytest.mark.parametrize(("supported", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_bf16_autocast(
    monkeypatch: pytest.MonkeyPatch, supported: bool, expected: str
) -> None:
    monkeypatch.setattr(fastpath, "has_fast_bf16", lambda device: supported)
    assert resolve_fast_path("auto", torch.device("cuda"), {}) == expected


def test_auto_uses_the_cards_choice_only_where_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "has_fast_bf16", lambda device: False)
    monkeypatch.setattr(fastpath, "onnxruntime_available", lambda: False)
    assert resolve_fast_path("auto", CPU, {"inference": {"fast_path": "fp32"}}) == "fp32"
    assert resolve_fast_path("auto", CPU, {"inference": {"fast_path": "onnx"}}) == "channels-last"
    # compile is never chosen automatically (its first call compiles for minutes)
    assert resolve_fast_path("auto", CPU, {"inference": {"fast_path": "compile"}}) == (
        "channels-last"
    )
    assert resolve_fast_path("auto", CPU, {"inference": {"fast_path": "warp"}}) == "channels-last"
    assert resolve_fast_path("auto", torch.device("mps"), {}) == "fp32"


def test_explicit_names_are_kept_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_fast_path("compile", CPU, {}) == "compile"
    assert resolve_fast_path("bf16", torch.device("mps"), {}) == "bf16"
    monkeypatch.setattr(fastpath, "onnxruntime_available", lambda: True)
    with pytest.raises(ValueError, match="runs on the CPU only"):
        resolve_fast_path("onnx", torch.device("cuda"), {})
    monkeypatch.setattr(fastpath, "onnxruntime_available", lambda: False)
    with pytest.raises(ValueError, match="needs the optional package onnxruntime"):
        resolve_fast_path("onnx", CPU, {})


# ----------------------------------------------------------------------------- runners
def test_fp32_runner_is_the_eager_model_exactly() -> None:
    x = _images()
    model = TinyNet().eval()
    with torch.inference_mode():
        eager = model(torch.from_numpy(x)).numpy()
    out = TorchRunner(TinyNet(), CPU, "fp32")(x)
    assert out.dtype == np.float32 and out.shape == (6, 1, 40, 32)
    assert np.array_equal(out, eager)
    assert float(eager.std()) > 20.0  # a reference worth comparing against


def test_channels_last_runner_within_1e_3_du() -> None:
    x = _images()
    ref = TorchRunner(TinyNet(), CPU, "fp32")(x)
    out = TorchRunner(TinyNet(), CPU, "channels-last")(x)
    assert out.dtype == np.float32
    assert float(np.abs(out - ref).max()) <= 1e-3


def test_bf16_runner_within_stated_tolerance() -> None:
    _needs_bf16()
    x = _images()
    ref = TorchRunner(TinyNet(), CPU, "fp32")(x).astype(np.float64)
    out = TorchRunner(TinyNet(), CPU, "bf16")(x)
    assert out.dtype == np.float32
    diff = out.astype(np.float64) - ref
    spread = float(ref.std())
    assert float(np.sqrt(np.mean(diff**2))) <= 0.02 * spread
    assert float(np.abs(diff).max()) <= 0.05 * spread
    assert float(np.abs(diff).max()) > 0.0  # it really ran in bf16


class _OffsetHead(nn.Module):
    """Features = input; head adds 200 DU: the output needs sub-DU resolution near 200."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(1, 1, 1, bias=False)
        self.head = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.body.weight.fill_(1.0)
            self.head.weight.fill_(1.0)
            self.head.bias.fill_(200.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_bf16_keeps_the_head_in_float32() -> None:
    _needs_bf16()
    x = _images(2)
    exact = x + np.float32(200.0)
    whole = _OffsetHead().eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = whole(torch.from_numpy(x)).float().numpy()
    assert float(np.abs(rounded - exact).max()) > 0.1  # bf16 near 200: steps of 1 DU
    out = TorchRunner(_OffsetHead(), CPU, "bf16")(x)
    assert float(np.abs(out - exact).max()) < 0.01


def test_keep_head_fp32_wraps_once_and_needs_a_head() -> None:
    model = _OffsetHead()
    inner = model.head
    assert keep_head_fp32(model) is True
    wrapped = model.head
    assert wrapped is not inner and wrapped.inner is inner  # type: ignore[union-attr]
    assert keep_head_fp32(model) is True and model.head is wrapped  # idempotent
    assert keep_head_fp32(Times255()) is False


def _variance_unet(seed: int = 0) -> nn.Module:
    from core.models import UNet

    torch.manual_seed(seed)
    net = UNet(levels=2, base_width=8, input_norm="percentile", variance_head=True).eval()
    with torch.no_grad():  # a head that varies over the image (its init is nearly flat)
        for p in net.var_head.parameters():  # type: ignore[union-attr]
            p.normal_(0.0, 0.3)
    return net


def test_split_variance_head_is_the_same_function_in_float32() -> None:
    from core.inference.fastpath import SplitVarianceHead, split_variance_head

    net = _variance_unet()
    x = torch.from_numpy(_images(3))
    with torch.inference_mode():
        ref = net(x)
    assert split_variance_head(net, bf16=False) is True
    assert isinstance(net.var_head, SplitVarianceHead)
    assert split_variance_head(net) is True  # idempotent
    with torch.inference_mode():
        out = net(x)  # no autocast: float32, only the summation order differs
    assert torch.equal(out[:, 0], ref[:, 0])  # the depth channel never reads the head
    assert torch.allclose(out[:, 1], ref[:, 1], rtol=1e-5)
    assert split_variance_head(TinyNet()) is False  # no variance head: nothing to split


def test_bf16_runner_splits_the_variance_head_within_tolerance() -> None:
    _needs_bf16()
    from core.inference.fastpath import SplitVarianceHead

    x = _images()
    ref = TorchRunner(_variance_unet(), CPU, "fp32")(x).astype(np.float64)
    runner = TorchRunner(_variance_unet(), CPU, "bf16")
    assert isinstance(runner.model.var_head, SplitVarianceHead)  # type: ignore[attr-defined]
    out = runner(x).astype(np.float64)
    rel = np.abs(out[:, 1] / ref[:, 1] - 1.0)
    assert float(rel.mean()) < 0.01 and float(rel.max()) < 0.1  # bf16 hidden layer
    assert float(rel.max()) > 0.0  # it really ran in bf16


def test_bf16_fuses_conv_and_relu_only_where_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_bf16()
    import core.inference.fastpath as fp

    if getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None) is None:
        pytest.skip("this torch build has no fused oneDNN convolution")
    from core.device import cpu_has_native_bf16

    x = np.random.default_rng(2).random((5, 1, 48, 40)).astype(np.float32)
    fused = TorchRunner(_variance_unet(), CPU, "bf16")
    if fused.fused == 0 and not cpu_has_native_bf16():
        # emulated bf16: oneDNN may take other kernels fused, and the check declines them
        pytest.skip("fusion declined on this CPU without native bf16 (not bit-identical)")
    assert fused.fused == 10  # 2 levels: inc, 2 down, 2 up DoubleConvs, 2 convs each
    with monkeypatch.context() as m:
        m.setattr(fp, "fused_if_identical", lambda model, run: (model, 0))
        plain = TorchRunner(_variance_unet(), CPU, "bf16")
    assert plain.fused == 0
    assert np.array_equal(fused(x), plain(x))

    def broken(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no such op on this build")

    monkeypatch.setattr(fp.FusedConvReLU, "forward", broken)
    fallback = TorchRunner(_variance_unet(), CPU, "bf16")
    assert fallback.fused == 0 and np.array_equal(fallback(x), plain(x))


def test_model_fingerprint_follows_the_weights() -> None:
    a, b = TinyNet(seed=0), TinyNet(seed=0)
    fa = model_fingerprint(a)
    assert len(fa) == 16 and set(fa) <= set("0123456789abcdef")
    assert model_fingerprint(b) == fa
    with torch.no_grad():
        b.head.bias.add_(1e-3)
    assert model_fingerprint(b) != fa


def test_make_runner_and_the_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert isinstance(make_runner(TinyNet(), CPU, "channels-last"), TorchRunner)
    monkeypatch.setenv("SEMDEPTH_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    pytest.importorskip("onnxruntime")
    runner = make_runner(TinyNet(), CPU, "onnx")
    assert isinstance(runner, OnnxRunner) and runner.cache_dir == tmp_path / "c"


def test_onnx_runner_matches_eager_and_caches_per_shape(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    x = _images(3)
    ref = TorchRunner(TinyNet(), CPU, "fp32")(x)
    runner = OnnxRunner(TinyNet(), tmp_path)
    np.testing.assert_allclose(runner(x), ref, atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == [f"{runner.key}_40x32.onnx"]
    again = OnnxRunner(TinyNet(), tmp_path)  # a new process would read the cached graph
    np.testing.assert_allclose(again(x[:1]), ref[:1], atol=1e-3)


def test_a_failing_optional_path_falls_back_to_channels_last() -> None:
    pred = predictor_for(Times255())
    calls: list[int] = []

    def broken(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        raise RuntimeError("onnxruntime exploded")

    pred.fast_path = "onnx"
    pred._runner = broken
    img = np.random.default_rng(1).random((72, 48)).astype(np.float32)
    out = pred.run_model(img)
    np.testing.assert_allclose(out[0], img * 255.0, atol=1e-3)
    assert calls == [1] and pred.fast_path == "channels-last"
    assert pred.fallback_note is not None and "onnxruntime exploded" in pred.fallback_note
    assert pred.fallback_note in pred.predict(img, tta=False).notes


def test_a_failing_reference_path_raises() -> None:
    pred = predictor_for(Times255())

    def broken(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("out of memory")

    pred._runner = broken
    with pytest.raises(RuntimeError, match="out of memory"):
        pred.run_model(np.zeros((72, 48), np.float32))
    assert pred.fast_path == "fp32" and pred.fallback_note is None


# ----------------------------------------------------------------------------- through Predictor
def _three_level_predictor(tmp_path: Path, fast_path: str) -> Predictor:
    from core.models import create_model, save_checkpoint

    path = tmp_path / "m3.safetensors"
    if not path.exists():
        torch.manual_seed(1)
        save_checkpoint(
            tmp_path / "m3",
            create_model("unet", levels=3, base_width=8),
            {"input": {"size": [72, 48]}},
        )
    return Predictor.from_checkpoint(
        path, device="cpu", fast_path=fast_path, cache_dir=tmp_path / "cache"
    )


def _batch(n: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = np.add.outer(np.linspace(0, 1, 72), np.linspace(0, 1, 48)) / 2
    return np.clip(base + 0.2 * rng.standard_normal((n, 72, 48)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("fast_path,tol", [("channels-last", 1e-3), ("bf16", 1.5)])
def test_fast_paths_close_to_fp32(tmp_path: Path, fast_path: str, tol: float) -> None:
    x = _batch()
    ref = _three_level_predictor(tmp_path, "fp32").run_model(x)
    fast = _three_level_predictor(tmp_path, fast_path)
    assert fast.fast_path == fast_path
    out = fast.run_model(x)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert float(np.abs(out - ref).max()) < tol
    assert float(np.sqrt(np.mean((out - ref) ** 2))) < tol / 3


def test_onnx_fast_path_matches_fp32(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    x = _batch(4)
    ref = _three_level_predictor(tmp_path, "fp32").run_model(x)
    onnx = _three_level_predictor(tmp_path, "onnx")
    np.testing.assert_allclose(onnx.run_model(x), ref, atol=1e-3)
    assert list((tmp_path / "cache").glob("*_72x48.onnx"))  # cached for the next run


def test_auto_fast_path_follows_the_card_then_the_cpu(tmp_path: Path) -> None:
    from core.device import cpu_has_native_bf16

    p = make_checkpoint(tmp_path, "carded", inference={"fast_path": "fp32"})
    assert Predictor.from_checkpoint(p, device="cpu").fast_path == "fp32"
    p2 = make_checkpoint(tmp_path, "plain")
    expect = "bf16" if cpu_has_native_bf16() else "channels-last"
    assert Predictor.from_checkpoint(p2, device="cpu").fast_path == expect
    with pytest.raises(ValueError, match="unknown fast path"):
        Predictor.from_checkpoint(p2, device="cpu", fast_path="warp-speed")


def test_fold_batchnorm_keeps_the_function_and_the_loaded_model() -> None:
    import copy

    import numpy as np
    import torch

    from core.inference.fastpath import TorchRunner, fold_batchnorm
    from core.models import create_model

    torch.manual_seed(0)
    model = create_model("unet", levels=2, base_width=4).eval()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(3, 1, 72, 48)
    folded = copy.deepcopy(model)
    assert fold_batchnorm(folded) == 2 * (2 * 2 + 1)  # two convs per block, 5 blocks
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.inference_mode():
        np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), atol=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    TorchRunner(model, torch.device("cpu"), "channels-last")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
