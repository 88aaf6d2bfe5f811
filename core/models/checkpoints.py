"""Checkpoints that can never execute code: safetensors weights + a JSON model card.

``x.safetensors`` holds the state dict; ``x.json`` beside it is the model card
(:mod:`core.models.card` owns its schema: format :data:`CARD_FORMAT`, the architecture
name and config, input/output conventions, training provenance, metrics). Loading never
unpickles: ``.pt/.pth/.pkl/.ckpt`` files and files whose bytes start like a pickle or a zip
(``torch.save``) are refused before any parsing, and the card is validated before the
network is built or the weights are read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save
from torch import nn

from core.io.atomic import atomic_write
from core.models.card import (
    CARD_FORMAT,
    arch_name,
    architecture_section,
    base_card,
    read_card_file,
    validate_card,
)
from core.models.errors import CheckpointError
from core.models.registry import create_model
from core.models.weights import TensorSpec, check_weights, expected_tensors, load_tensors

__all__ = [
    "CARD_FORMAT",
    "CheckpointError",
    "base_card",
    "checkpoint_paths",
    "inspect_checkpoint",
    "load_checkpoint",
    "read_card",
    "save_checkpoint",
]

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar", ".joblib"})
_HEAD_BYTES = 16


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, card)`` for ``x``, ``x.safetensors`` or ``x.json``."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix.lower() in (WEIGHTS_SUFFIX, CARD_SUFFIX) else path
    return base.with_name(base.name + WEIGHTS_SUFFIX), base.with_name(base.name + CARD_SUFFIX)


def save_checkpoint(
    path: str | Path, model: nn.Module, card: dict[str, Any], *, overwrite: bool = False
) -> Path:
    """Write ``path.safetensors`` and its card ``path.json`` atomically; returns the weights
    path. The card's ``format`` and ``architecture`` are set from the model; ``id``,
    ``created`` and ``product_version`` are filled in when absent. Refuses existing files
    unless ``overwrite``."""
    weights, card_path = checkpoint_paths(path)
    name = arch_name(model)
    if not overwrite:
        for p in (weights, card_path):
            if p.exists():
                raise CheckpointError(f"{p}: exists (pass overwrite=True to replace it)")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = st_save(state, metadata={"format": CARD_FORMAT, "architecture": name})
    full = base_card(model)
    full.update(card)
    full["format"] = CARD_FORMAT
    full["architecture"] = architecture_section(model)
    full.setdefault("id", f"{name}-{hashlib.sha256(blob).hexdigest()[:12]}")
    validate_card(full, card_path)  # never write a card that reading would refuse
    try:
        text = json.dumps(full, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{card_path}: model card is not JSON-serialisable ({exc})") from None
    weights.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(weights, overwrite=overwrite) as tmp:
            tmp.write_bytes(blob)
        # the card last: a card on disk implies complete weights beside it
        with atomic_write(card_path, overwrite=overwrite) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except FileExistsError as exc:
        raise CheckpointError(str(exc)) from None
    return weights


_PICKLE_MAGIC = (b"\x80",)  # protocol 2+ starts with PROTO
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _refuse_unsafe(weights: Path, head: bytes) -> None:
    if weights.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{weights}: refusing a {weights.suffix} file: pickle-based checkpoints can run "
            "code when loaded; convert it to .safetensors + .json"
        )
    if head.startswith(_ZIP_MAGIC):
        raise CheckpointError(
            f"{weights}: refusing a zip archive (a torch.save / pickle checkpoint renamed); "
            "only safetensors weights are loaded"
        )
    # A safetensors file starts with its header length (u64, little-endian) then "{": its
    # first byte may be 0x80 by chance, so it is a pickle only when the "{" is absent.
    is_safetensors = len(head) >= 9 and head[8:9] == b"{"
    if not is_safetensors and head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(
            f"{weights}: refusing a pickle (its bytes start like one); only safetensors "
            "weights are loaded"
        )
    if len(head) < 9 or head[8:9] != b"{":
        raise CheckpointError(f"{weights}: not a safetensors file (bad header)")


def read_card(path: str | Path) -> dict[str, Any]:
    """The model card of a checkpoint (``x``, ``x.safetensors`` or ``x.json``), validated
    by :func:`core.models.card.validate_card`."""
    _, card_path = checkpoint_paths(path)
    return read_card_file(card_path)


def inspect_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any], dict[str, TensorSpec]]:
    """Every check :func:`load_checkpoint` makes before it allocates anything: no pickle,
    the card valid, the card's network (built on the meta device) matching the weights'
    header and the file's size. Returns ``(weights file, card, expected tensors)``;
    :class:`CheckpointError` naming the file otherwise. Reads the card and the header
    only."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        _refuse_unsafe(path, b"")
    weights, card_path = checkpoint_paths(path)
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file not found")
    try:
        with weights.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise CheckpointError(f"{weights}: cannot read ({exc})") from None
    _refuse_unsafe(weights, head)
    card = read_card_file(card_path)  # validated before anything is built or read
    arch = card["architecture"]
    # the card's network on the meta device (nothing allocated) against the file's header
    # (nothing else read): a mismatch, a padded or truncated file is refused here
    expected = expected_tensors(arch["name"], arch.get("config", {}), card_path)
    check_weights(weights, expected, arch["name"])
    return weights, card, expected


def load_checkpoint(
    path: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the card's architecture, load the safetensors weights strictly, move to
    ``device`` and return ``(model in eval mode, card)``. Never unpickles anything; every
    refusal (:func:`inspect_checkpoint`) comes before anything is allocated, and the
    weights are memory-mapped, not read whole."""
    weights, card, expected = inspect_checkpoint(path)
    arch = card["architecture"]
    try:
        model = create_model(arch["name"], **arch.get("config", {}))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{weights}: cannot build {arch['name']!r}: {exc}") from None
    model.load_state_dict(load_tensors(weights, expected), strict=True)
    model.to(device)
    model.eval()
    return model, card
