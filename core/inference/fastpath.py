"""Fast inference paths for the depth model: how one batch of images goes through the network.

Every path takes a float32 array ``(N, 1, H, W)`` of 0..1 SEM pixels and returns float32
``(N, 1, H, W)`` depth in DU. ``"fp32"`` (plain eager PyTorch) is the reference; the
others trade nothing visible in accuracy for speed on CPUs (measured in
``bench/speed.py``, documented in ``docs/inference.md``):

- ``"fp32"``: eager float32, contiguous tensors (the reference).
- ``"channels-last"``: eager float32 with the model and input in ``channels_last``
  memory format (oneDNN picks faster convolution kernels); like ``bf16`` and ``compile``
  it folds each batch norm into the convolution before it (:func:`fold_batchnorm`).
- ``"bf16"``: ``torch.autocast`` bfloat16 + channels-last; output cast back to float32.
  Fast where the CPU has native bf16 (AVX-512 BF16 or AMX), slow emulation elsewhere.
- ``"onnx"``: the model exported to ONNX (one file per input shape, cached on disk) and
  run with ONNX Runtime (optional dependency ``onnxruntime``).
- ``"compile"``: ``torch.compile`` of the eager model (needs a C++ compiler on CPU).
- ``"auto"``: the model card's ``inference.fast_path`` if it names one usable here, else
  ``bf16`` on CPUs with native bf16, else ``channels-last`` (CPU); ``bf16`` on CUDA
  devices that support it, else ``fp32``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.device import has_fast_bf16

log = logging.getLogger(__name__)

FAST_PATHS = ("auto", "fp32", "channels-last", "bf16", "onnx", "compile")

# Names accepted as aliases (model cards may spell the bf16 path out).
_ALIASES = {
    "bf16-channels-last": "bf16",
    "bf16_channels_last": "bf16",
    "bfloat16": "bf16",
    "channels_last": "channels-last",
    "channelslast": "channels-last",
    "float32": "fp32",
    "eager": "fp32",
    "onnxruntime": "onnx",
    "torch.compile": "compile",
}


def normalize_fast_path(name: str | None) -> str:
    """Canonical fast-path name; raises ``ValueError`` listing the choices for unknown names."""
    key = (name or "auto").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FAST_PATHS:
        raise ValueError(f"unknown fast path {name!r}; choose one of {', '.join(FAST_PATHS)}")
    return key


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_fast_path(requested: str | None, device: torch.device, card: Mapping[str, Any]) -> str:
    """Turn ``requested`` (possibly ``"auto"``) into the fast path to use on ``device``."""
    name = normalize_fast_path(requested)
    if name != "auto":
        if name == "onnx" and not onnxruntime_available():
            raise ValueError("fast path 'onnx' needs the optional package onnxruntime")
        if name == "onnx" and device.type != "cpu":
            raise ValueError("fast path 'onnx' runs on the CPU only; use --device cpu")
        return name
    inference = card.get("inference") if isinstance(card.get("inference"), Mapping) else None
    from_card = inference.get("fast_path") if inference else None
    if isinstance(from_card, str):
        try:
            wanted = normalize_fast_path(from_card)
        except ValueError:
            log.warning("model card names an unknown fast path %r; choosing one", from_card)
        else:
            if wanted != "auto" and _usable(wanted, device):
                return wanted
    if has_fast_bf16(device):
        return "bf16"
    return "channels-last" if device.type == "cpu" else "fp32"


def _usable(name: str, device: torch.device) -> bool:
    if name == "bf16":
        return has_fast_bf16(device)
    if name == "onnx":
        return device.type == "cpu" and onnxruntime_available()
    if name == "channels-last":
        return device.type in ("cpu", "cuda")
    # "compile" is never chosen automatically (its first call compiles for minutes).
    return name != "compile"


Runner = Callable[[np.ndarray], np.ndarray]


class TorchRunner:
    """Eager PyTorch: fp32, channels-last, bf16 autocast (+ channels-last), or torch.compile."""

    def __init__(self, model: nn.Module, device: torch.device, fast_path: str) -> None:
        self.device = device
        self.channels_last = fast_path in ("channels-last", "bf16") and device.type != "mps"
        self.autocast = fast_path == "bf16"
        model = model.to(device).eval()
        if fast_path in ("channels-last", "bf16", "compile"):
            model = copy.deepcopy(model)  # the predictor keeps the model as loaded
            fold_batchnorm(model)
        if self.autocast:
            keep_head_fp32(model)
            split_variance_head(model)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.fused = 0
        if self.autocast and device.type == "cpu":
            model, self.fused = fused_if_identical(model, self._run)
        self.model: Callable[[torch.Tensor], torch.Tensor] = model
        if fast_path == "compile":
            self.model = torch.compile(model, dynamic=False)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._run(self.model, batch)

    def _run(self, model: Callable[[torch.Tensor], torch.Tensor], batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.autocast:
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
                    y = model(x)
            else:
                y = model(x)
            y = y.float().contiguous()
        return y.cpu().numpy()


class FusedConvReLU(nn.Module):
    """A 3x3 convolution and the ReLU after it as one oneDNN call with a ReLU post-op
    (``torch.ops.mkldnn._convolution_pointwise``, what ``torch.compile`` emits on x86 CPUs),
    in bf16: one pass over the activations instead of two. Used only where
    :func:`fused_if_identical` found it bit-identical to the separate layers."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.register_buffer(
            "weight",
            conv.weight.detach().to(torch.bfloat16).contiguous(memory_format=torch.channels_last),
        )
        bias = conv.bias.detach().to(torch.bfloat16) if conv.bias is not None else None
        self.register_buffer("bias", bias)
        self.padding = list(conv.padding)  # type: ignore[arg-type]
        self.stride = list(conv.stride)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = torch.ops.mkldnn._convolution_pointwise
        args = (self.padding, self.stride, self.dilation, self.groups)
        return op(x.to(torch.bfloat16), self.weight, self.bias, *args, "relu", [], "")


def fuse_conv_relu(model: nn.Module) -> int:
    """Replace each ``Conv2d`` (zero padding) followed, inside an ``nn.Sequential``, by
    ``Identity`` layers (folded batch norms) and a ``ReLU`` with a :class:`FusedConvReLU`;
    returns how many."""
    fused = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for i, name in enumerate(names):
            conv = module._modules[name]
            if not isinstance(conv, nn.Conv2d) or conv.padding_mode != "zeros":
                continue
            j = i + 1
            while j < len(names) and isinstance(module._modules[names[j]], nn.Identity):
                j += 1
            if j < len(names) and isinstance(module._modules[names[j]], nn.ReLU):
                module._modules[name] = FusedConvReLU(conv)
                module._modules[names[j]] = nn.Identity()
                fused += 1
    return fused


ModelFn = Callable[[torch.Tensor], torch.Tensor]


def fused_if_identical(
    model: nn.Module, run: Callable[[ModelFn, np.ndarray], np.ndarray]
) -> tuple[nn.Module, int]:
    """``model`` with its convolutions and ReLUs fused (:func:`fuse_conv_relu`) when this
    torch build has the fused oneDNN call and the fused model gives bit-identical answers
    to ``model`` on a probe batch through ``run``; else ``model`` unchanged and 0."""
    op = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
    if op is None:
        return model, 0
    candidate = copy.deepcopy(model)
    n = fuse_conv_relu(candidate)
    if n == 0:
        return model, 0
    probe = np.random.default_rng(0).random((2, 1, 40, 24), dtype=np.float32)
    try:
        same = np.array_equal(run(candidate, probe), run(model, probe))
    except Exception as exc:  # an op this build lacks or a changed signature
        log.debug("conv+ReLU fusion unavailable: %s", exc)
        return model, 0
    if not same:
        log.debug("conv+ReLU fusion not bit-identical on this build; not used")
        return model, 0
    return candidate, n


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` in an
    ``nn.Sequential`` into that convolution's weights and bias (the same function, one
    layer less: no normalisation pass over the activations, and under bf16 autocast no
    cast to float32 and back around it); returns how many were folded. The fast paths
    do this; the ``fp32`` reference keeps the model as trained."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in itertools.pairwise(names):
            conv, bn = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and not bn.training:
                module._modules[first] = fuse_conv_bn_eval(conv, bn)
                module._modules[second] = nn.Identity()
                folded += 1
    return folded


class _Fp32Head(nn.Module):
    """Runs the wrapped output layer in float32 even inside a bf16 autocast region."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.inner(x.float())


def keep_head_fp32(model: nn.Module) -> bool:
    """Make ``model.head`` (the U-Net's 1x1 output conv) run in float32 under autocast.

    In bf16 the output (0..255 DU) would be rounded to 8 significant bits: steps of 1 DU
    above 128 DU. With the head and the affine output scaling in float32, only the
    features are bf16 and the depth keeps sub-0.1-DU resolution. Returns False when the
    model has no ``head`` module (then the whole model runs in bf16).
    """
    head = getattr(model, "head", None)
    if isinstance(head, _Fp32Head):
        return True
    if not isinstance(head, nn.Module):
        return False
    model.head = _Fp32Head(head)
    return True


class SplitVarianceHead(nn.Module):
    """The U-Net's variance head for the bf16 path: its first 3x3 convolution split into
    the part that reads the decoder features and the part that reads the input image,
    summed, so the full-resolution float32 concatenation of the two (and its copy into the
    convolution's layout) is never made; the 3x3 stage runs in bf16 like the rest of the
    network, the last 1x1 layer in float32 (as the depth head: a bf16 log variance would
    keep 8 significant bits). The same function as the original head up to bf16 rounding
    of its hidden layer: on a simulated field the bundled model's sigma is 0.42 % from
    float32 on average (0.33 % with the float32 head: most of it is the bf16 decoder
    features); depth is untouched (``tests/core/inference/test_fastpath.py``)."""

    reads_parts = True

    def __init__(self, head: nn.Sequential, n_features: int, *, bf16: bool = True) -> None:
        super().__init__()
        self.bf16 = bf16  # False: the hidden layer in float32 (the original's function)
        first, last = head[0], head[-1]
        assert isinstance(first, nn.Conv2d) and isinstance(last, nn.Conv2d)
        w = first.weight.detach()
        n_in = w.shape[1] - n_features
        self.features = nn.Conv2d(n_features, w.shape[0], 3, padding=1, bias=True)
        self.image = nn.Conv2d(n_in, w.shape[0], 3, padding=1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(w[:, :n_features])
            bias = first.bias.detach() if first.bias is not None else torch.zeros(w.shape[0])
            assert self.features.bias is not None
            self.features.bias.copy_(bias)
            self.image.weight.copy_(w[:, n_features:])
        self.last = last

    def forward(self, feats: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        kind = feats.device.type
        with torch.autocast(device_type=kind, dtype=torch.bfloat16, enabled=self.bf16):
            if not self.bf16:
                feats, image = feats.float(), image.float()
            hidden = torch.relu_(self.features(feats) + self.image(image))
        with torch.autocast(device_type=kind, enabled=False):
            return self.last(hidden.float())


def split_variance_head(model: nn.Module, *, bf16: bool = True) -> bool:
    """Swap ``model.var_head`` (conv 3x3, ReLU, conv 1x1 over the decoder features and the
    input, concatenated) for a :class:`SplitVarianceHead` (hidden layer in bf16 or, with
    ``bf16=False``, float32); False when the model has no such head."""
    head = getattr(model, "var_head", None)
    if isinstance(head, SplitVarianceHead):
        return True
    if not isinstance(head, nn.Sequential) or len(head) != 3:
        return False
    first, act, last = head[0], head[1], head[2]
    config = getattr(model, "config", None)
    in_ch = config.get("in_channels") if isinstance(config, dict) else None
    if not (
        isinstance(first, nn.Conv2d)
        and isinstance(act, nn.ReLU)
        and isinstance(last, nn.Conv2d)
        and first.kernel_size == (3, 3)
        and first.padding == (1, 1)
        and isinstance(in_ch, int)
        and first.in_channels > in_ch
    ):
        return False
    model.var_head = SplitVarianceHead(head, first.in_channels - in_ch, bf16=bf16)
    return True


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of the model's weights and config (the ONNX cache key)."""
    h = hashlib.sha256()
    h.update(repr(getattr(model, "config", {})).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    env = os.environ.get("SEMDEPTH_CACHE_DIR")
    if env:
        return Path(env)
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("semdepth")) / "onnx"
    except Exception:  # pragma: no cover - platformdirs is a dependency
        return Path(tempfile.gettempdir()) / "semdepth-onnx"


class OnnxRunner:
    """ONNX Runtime on the CPU: one exported graph per input (H, W), batch size dynamic.

    Graphs are cached under ``cache_dir`` as ``<weights hash>_<H>x<W>.onnx`` so a model is
    exported once per shape and machine. The export runs the legacy TorchScript exporter
    (no ``onnxscript`` needed); its deprecation warnings are silenced.
    """

    def __init__(self, model: nn.Module, cache_dir: Path | None = None) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.model = model.to("cpu").eval()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.key = model_fingerprint(self.model)
        self._sessions: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def _session(self, h: int, w: int) -> Any:
        with self._lock:
            sess = self._sessions.get((h, w))
            if sess is not None:
                return sess
            path = self.cache_dir / f"{self.key}_{h}x{w}.onnx"
            data: bytes | None = None
            if path.is_file():
                data = path.read_bytes()
            else:
                data = self._export(h, w)
                try:
                    from core.io.atomic import atomic_write

                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_write(path, overwrite=True) as tmp:
                        Path(tmp).write_bytes(data)
                except OSError as exc:  # a read-only cache is not fatal
                    log.warning("could not cache the ONNX graph in %s: %s", path.parent, exc)
            opts = self._ort.SessionOptions()
            opts.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            sess = self._ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            self._sessions[(h, w)] = sess
            return sess

    def _export(self, h: int, w: int) -> bytes:
        buf = io.BytesIO()
        dummy = torch.zeros(2, 1, h, w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                self.model,
                (dummy,),
                buf,  # type: ignore[arg-type]
                dynamo=False,
                input_names=["sem"],
                output_names=["depth"],
                dynamic_axes={"sem": {0: "n"}, "depth": {0: "n"}},
                opset_version=17,
            )
        return buf.getvalue()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        sess = self._session(int(x.shape[2]), int(x.shape[3]))
        out = sess.run(None, {"sem": x})[0]
        return np.asarray(out, dtype=np.float32)


def make_runner(
    model: nn.Module, device: torch.device, fast_path: str, *, cache_dir: Path | None = None
) -> Runner:
    """Build the callable that runs one batch on ``fast_path`` (already resolved)."""
    if fast_path == "onnx":
        return OnnxRunner(model, cache_dir)
    return TorchRunner(model, device, fast_path)
