"""Safetensors weights checked against the card before a byte of them is loaded.

:func:`expected_tensors` builds the card's architecture on PyTorch's ``meta`` device (no
memory: a card asking for a 100,000-wide network costs nothing) and lists the tensors it
needs. :func:`check_weights` reads only the safetensors header (its length bounded) and
refuses, with one line naming the file, a file whose size, tensor names, shapes, dtypes or
offsets do not match: a 2 GB file padded behind a 2 MB model, a card that declares another
width than the weights hold. :func:`load_tensors` then memory-maps the file
(``safetensors.safe_open``) instead of reading it whole.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.models.errors import CheckpointError
from core.models.registry import create_model

#: A real header is a few KB (one line per tensor); larger ones are refused unread.
MAX_HEADER_BYTES = 8 * 2**20
#: safetensors dtype name -> (torch dtype, bytes per element)
DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
_NAMES = {dtype: name for name, (dtype, _) in DTYPES.items()}


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPES[self.dtype][1]


def _mb(n: float) -> str:
    return f"{n / 1e9:.3g} GB" if n >= 1e9 else f"{n / 1e6:.3g} MB"


def expected_tensors(name: str, config: Mapping[str, Any], where: Path) -> dict[str, TensorSpec]:
    """The state-dict tensors of architecture ``name`` built with ``config``, from a build
    on the ``meta`` device (nothing allocated; remembered per architecture and config, so
    checking and then loading a checkpoint builds it once). :class:`CheckpointError`
    naming ``where`` when the architecture refuses the config."""
    try:
        key = json.dumps(dict(config), sort_keys=True)  # a card's config is JSON
        return dict(_meta_tensors(name, key))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{where}: cannot build {name!r}: {exc}") from None


@functools.lru_cache(maxsize=16)
def _meta_tensors(name: str, config_json: str) -> tuple[tuple[str, TensorSpec], ...]:
    with torch.device("meta"):
        model = create_model(name, **json.loads(config_json))
    return tuple(
        (k, TensorSpec(tuple(int(s) for s in v.shape), _NAMES.get(v.dtype, str(v.dtype))))
        for k, v in model.state_dict().items()
    )


def read_header(weights: Path) -> tuple[dict[str, Any], int, int]:
    """The safetensors header of ``weights`` (parsed JSON), its length and the file size;
    only the header's bytes are read, and at most :data:`MAX_HEADER_BYTES` of them."""
    try:
        size = weights.stat().st_size
        with weights.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{weights}: not a safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise CheckpointError(
                    f"{weights}: not a usable safetensors file (its header claims {n} bytes "
                    f"of a {size}-byte file; at most {MAX_HEADER_BYTES})"
                )
            raw = fh.read(n)
    except OSError as exc:
        raise CheckpointError(f"{weights}: cannot read ({exc.strerror or exc})") from None
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{weights}: corrupt safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{weights}: corrupt safetensors header (not an object)")
    return header, n, size


def _entry(weights: Path, key: str, value: Any) -> tuple[TensorSpec, int, int]:
    ok = (
        isinstance(value, dict)
        and value.get("dtype") in DTYPES
        and isinstance(value.get("shape"), list)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value["shape"])
        and isinstance(value.get("data_offsets"), list)
        and len(value["data_offsets"]) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in value["data_offsets"])
    )
    if not ok:
        raise CheckpointError(f"{weights}: corrupt safetensors header entry {key!r}")
    start, end = value["data_offsets"]
    return TensorSpec(tuple(value["shape"]), value["dtype"]), start, end


def check_weights(weights: Path, expected: Mapping[str, TensorSpec], arch: str) -> None:
    """Refuse ``weights`` unless its header holds exactly the ``expected`` tensors (names,
    shapes, dtypes), each of the declared size, packed without gaps, and the file is no
    longer than that. Only the header is read."""
    header, n, size = read_header(weights)
    found: dict[str, TensorSpec] = {}
    spans: list[tuple[int, int, str]] = []
    for key, value in header.items():
        if key == "__metadata__":
            continue
        spec, start, end = _entry(weights, key, value)
        if not 0 <= start <= end or end - start != spec.nbytes:
            raise CheckpointError(
                f"{weights}: tensor {key!r} {list(spec.shape)} {spec.dtype} needs "
                f"{spec.nbytes} bytes, its offsets give {end - start}"
            )
        found[key] = spec
        spans.append((start, end, key))
    need = sum(s.nbytes for s in expected.values())
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    wrong = [
        f"{k}: file {list(found[k].shape)} {found[k].dtype} vs card {list(v.shape)} {v.dtype}"
        for k, v in expected.items()
        if k in found and found[k] != v
    ]
    if wrong:
        problems.append("shape mismatch " + "; ".join(wrong[:3]))
    if problems:
        raise CheckpointError(
            f"{weights}: weights do not match the card's architecture {arch} "
            f"({_mb(need)} of tensors): " + "; ".join(problems)
        )
    spans.sort()
    pos = 0
    for start, end, key in spans:
        if start != pos:
            raise CheckpointError(f"{weights}: tensor {key!r} overlaps or leaves a gap")
        pos = end
    if 8 + n + pos != size:
        what = "truncated" if size < 8 + n + pos else "padded"
        raise CheckpointError(
            f"{weights}: corrupt safetensors file ({what}: the file has {size} bytes "
            f"({_mb(size)}), its header and the card's architecture {arch} account for "
            f"{8 + n + pos} ({_mb(need)} of tensors))"
        )


def load_tensors(weights: Path, expected: Mapping[str, TensorSpec]) -> dict[str, torch.Tensor]:
    """The tensors of a checked file, read through a memory map (``safe_open``)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in expected}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights}: corrupt safetensors file ({exc})") from None
