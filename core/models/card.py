"""The model card: the JSON file beside every checkpoint's weights. This module is its one
owner: it knows the sections, builds them, extends a card for derived weights, and
validates a card read from disk before anything is built from it.

Sections (all optional but ``format`` and ``architecture``)::

    format           "semdepth-model/1" (:data:`CARD_FORMAT`)
    id               "<arch>-<12 hex of the weights>" (set by save_checkpoint)
    created          ISO time (UTC);  product_version: the semdepth version that wrote it
    task             absent for depth models, "denoise" for Noise2Self denoisers
    architecture     {name: a key of core.models.MODELS, config: its constructor kwargs}
    input            {normalization, size: [rows, cols] | null, pixel_size_nm}
    output           {range: [lo, hi], unit, convention, nm_per_depth_unit,
                     variance_head (models with a sigma channel, :func:`variance_head_section`)}
    training         provenance: preset, command, data {root, hash, n_*, seed, fractions},
                     epochs, seconds, loss, optimizer, ... and "transfer" for fine-tuned weights
    metrics          validation figures (DU for depth models)
    inference        {fast_path}
    denoiser         {method, masker {width, mode, pattern}} (denoisers only)
    calibration      ``semdepth calibrate``: source model, method, budget, images {count,
                     sha256}, references, cross-validation, correction, agreement
    domain           the domain check's references and thresholds; uncertainty: conformal
    uncertainty      scales of sigma (both by semdepth fit-trust, :mod:`core.models.card_trust`)

Validation (:func:`validate_card`) checks types, finite numbers and sane ranges, so a
hostile or broken card is refused with one line naming the file instead of allocating a
huge network or crashing a reader later.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from core import __version__
from core.models.calibration_fields import calibration_problem
from core.models.card_trust import trust_problem
from core.models.errors import CheckpointError
from core.models.registry import MODELS

CARD_FORMAT = "semdepth-model/1"
DENOISE_TASK = "denoise"
NORMALIZATION = "dtype-range-0-1"
INTENSITY_UNIT = "normalized intensity (0..1)"

MAX_CARD_BYTES = 4 * 2**20  # a real card is a few KB
MAX_NESTING = 32
MAX_SIDE = 65_536  # px, input.size
MAX_WIDTH = 4096  # channels of a network's widest layer

# top-level section -> the JSON type it must have when present
SECTION_TYPES: dict[str, type] = {
    "format": str,
    "id": str,
    "created": str,
    "product_version": str,
    "task": str,
    "architecture": dict,
    "input": dict,
    "output": dict,
    "training": dict,
    "metrics": dict,
    "inference": dict,
    "denoiser": dict,
    "calibration": dict,
    "domain": dict,
    "uncertainty": dict,
}

# architecture.config key -> (low, high) for integer settings
_CONFIG_INT_RANGES: dict[str, tuple[int, int]] = {
    "in_channels": (1, 64),
    "out_channels": (1, 64),
    "levels": (1, 8),
    "base_width": (1, MAX_WIDTH),
    "ndf": (1, MAX_WIDTH),
    "n_layers": (1, 8),
}
_CONFIG_STR_KEYS = ("norm", "head")


class CardError(CheckpointError):
    """A model card that fails validation; the one-line message names the file."""


# --------------------------------------------------------------------------- building
def arch_name(model: nn.Module) -> str:
    """The registered architecture name of ``model`` (refuses unregistered modules)."""
    name = getattr(model, "arch_name", None)
    if not isinstance(name, str) or name not in MODELS or not hasattr(model, "config"):
        raise CheckpointError(
            f"{type(model).__name__}: not a registered model (needs .arch_name in "
            f"{sorted(MODELS)} and .config)"
        )
    return name


def architecture_section(model: nn.Module) -> dict[str, Any]:
    return {"name": arch_name(model), "config": dict(model.config)}  # type: ignore[arg-type]


def base_card(model: nn.Module) -> dict[str, Any]:
    """The card fields every checkpoint has: format, product version, creation time and
    the architecture (name + config)."""
    return {
        "format": CARD_FORMAT,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "product_version": __version__,
        "architecture": architecture_section(model),
    }


def input_section(**fields: Any) -> dict[str, Any]:
    """``{"normalization": "dtype-range-0-1", **fields}`` (``size``, ``pixel_size_nm``)."""
    return {"normalization": NORMALIZATION, **fields}


def depth_output_section(**fields: Any) -> dict[str, Any]:
    """The depth convention: 0..255 DU, deeper = smaller (+ ``nm_per_depth_unit``)."""
    return {"range": [0, 255], "unit": "DU", "convention": "deeper = smaller", **fields}


def variance_head_section(beta: float) -> dict[str, Any]:
    """``output.variance_head`` of a depth model whose output channel 1 is a predicted
    per-pixel sigma (DU), trained with a beta-NLL that never changes the depth (channel 0).
    ``calibrated`` is false: a coverage scale is fitted after training, on held-out data."""
    return {
        "channel": 1,
        "quantity": "sigma",
        "unit": "DU",
        "loss": f"beta-NLL (beta {beta:g}) on the detached depth and detached features",
        "changes_depth": False,
        "calibrated": False,
    }


def intensity_output_section() -> dict[str, Any]:
    """A denoiser's output: 0..1 normalised intensity."""
    return {"range": [0.0, 1.0], "unit": INTENSITY_UNIT}


def data_section(
    *,
    root: str,
    hash: str,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    **extra: Any,
) -> dict[str, Any]:
    """``training.data``: where the data were, their hash and how they were split (what
    ``semdepth evaluate --split`` needs to rebuild the split), then ``extra``."""
    return {
        "root": root,
        "hash": hash,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        **extra,
    }


def depth_training_section(
    *,
    preset: str,
    command: str,
    data: dict[str, Any],
    epochs: int,
    seconds: float,
    interrupted: bool,
    loss: dict[str, Any],
    discriminator: dict[str, Any] | None,
    optimizer: dict[str, Any],
    amp: str,
    channels_last: bool,
    device: str,
    augment: bool,
) -> dict[str, Any]:
    """``training`` of a trained depth model, in the order the trainer always wrote it."""
    return {
        "preset": preset,
        "command": command,
        "data": data,
        "epochs": epochs,
        "seconds": round(seconds, 3),
        "interrupted": interrupted,
        "loss": loss,
        "discriminator": discriminator,
        "optimizer": optimizer,
        "amp": amp,
        "channels_last": channels_last,
        "device": device,
        "augment": augment,
    }


def denoiser_training_section(
    *,
    method: str,
    command: str | None,
    data_root: str | None,
    n_images: int,
    config: dict[str, Any],
    steps: int,
    seconds: float,
    stopped: str,
) -> dict[str, Any]:
    """``training`` of a denoiser (``interrupted``: it was cancelled)."""
    return {
        "method": method,
        "command": command,
        "data": {"root": data_root, "n_images": n_images},
        "config": config,
        "steps": steps,
        "seconds": round(seconds, 3),
        "stopped": stopped,
        "interrupted": stopped == "cancelled",
    }


def depth_card(
    model: nn.Module,
    *,
    input: dict[str, Any],
    output: dict[str, Any],
    training: dict[str, Any],
    metrics: Mapping[str, Any],
) -> dict[str, Any]:
    """A depth model's card. The inference fast path is an inference-time measurement
    (bench/speed.py), not the training precision: ``"auto"`` lets the Predictor pick for
    the machine it runs on."""
    return {
        **base_card(model),
        "input": input,
        "output": output,
        "training": training,
        "metrics": _jsonable(dict(metrics)),
        "inference": {"fast_path": "auto"},
    }


def merge_sections(card: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """``card`` with ``extra`` laid over it, one level deep: a dict section of ``extra``
    updates the same section of ``card`` key by key; anything else replaces."""
    out = dict(card)
    for key, value in (extra or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def derived_card(card: Mapping[str, Any], **sections: Mapping[str, Any]) -> dict[str, Any]:
    """The card of weights derived from ``card``'s (fine-tuning): its sections extended by
    ``sections`` (see :func:`merge_sections`) and without its ``id`` (new weights, new id)."""
    out = merge_sections(card, sections)
    out.pop("id", None)
    return out


def denoiser_card(
    method: str, masker: Mapping[str, Any], extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A denoiser's card sections: task, denoiser (method and masker settings), input and
    output, with ``extra`` merged in; task, method and masker always win over ``extra``."""
    card = merge_sections(
        {
            "task": DENOISE_TASK,
            "denoiser": {"method": method, "masker": dict(masker)},
            "input": input_section(),
            "output": intensity_output_section(),
        },
        extra,
    )
    card["task"] = DENOISE_TASK
    card["denoiser"] = {**card["denoiser"], "method": method, "masker": dict(masker)}
    return card


def calibration_section(**fields: Any) -> dict[str, Any]:
    """The ``calibration`` section of calibrated weights (its fields:
    :mod:`core.models.calibration_fields`), checked as a card read from disk would be."""
    section = _jsonable(fields)
    problem = calibration_problem(section)
    if problem is not None:
        raise _bad("calibration_section()", *problem)
    return section


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


# --------------------------------------------------------------------------- reading
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def read_card_file(card_path: Path) -> dict[str, Any]:
    """Read and validate the card at ``card_path``; :class:`CheckpointError` naming the file
    when it is missing, too large, not JSON, or fails :func:`validate_card`."""
    if not card_path.is_file():
        raise CheckpointError(
            f"{card_path}: model card not found (every checkpoint needs its .json)"
        )
    try:
        size = card_path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise CardError(
                f"{card_path}: model card is {size} bytes; a card holds at most "
                f"{MAX_CARD_BYTES} bytes"
            )
        text = card_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{card_path}: cannot read the model card ({exc})") from None
    try:
        card = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{card_path}: model card is not valid JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, huge ints, deep nesting
        raise CardError(f"{card_path}: model card is not valid JSON ({exc})") from None
    return validate_card(card, card_path)


# --------------------------------------------------------------------------- validation
def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_tree(value: Any, where: str, path: str, depth: int = 0) -> None:
    """Every number finite, nesting bounded, keys strings (JSON from elsewhere may not
    have come through :func:`json.loads`)."""
    if depth > MAX_NESTING:
        raise CardError(f"{where}: model card nests deeper than {MAX_NESTING} levels at {path}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CardError(f"{where}: model card has a non-finite number at {path}")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CardError(f"{where}: model card has a non-string key {_show(k)} at {path}")
            _check_tree(v, where, f"{path}.{k}" if path else k, depth + 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_tree(v, where, f"{path}[{i}]", depth + 1)
    elif not (value is None or isinstance(value, str | int | float)):
        raise CardError(f"{where}: model card holds a {type(value).__name__} at {path}")


def _bad(where: str, field: str, expected: str, value: Any) -> CardError:
    return CardError(f"{where}: model card {field} must be {expected}, got {_show(value)}")


def _optional_positive(where: str, section: Mapping[str, Any], field: str, key: str) -> None:
    v = section.get(key)
    if v is not None and not (_is_number(v) and v > 0):
        raise _bad(where, f"{field}.{key}", "a number > 0 or null", v)


def _check_strings(
    where: str, section: Mapping[str, Any], field: str, keys: tuple[str, ...]
) -> None:
    for key in keys:
        if key in section and not isinstance(section[key], str):
            raise _bad(where, f"{field}.{key}", "a string", section[key])


def _check_architecture(where: str, arch: Any) -> None:
    if not isinstance(arch, dict) or not isinstance(arch.get("config", {}), dict):
        raise CardError(f"{where}: model card has no architecture {{name, config}}")
    if arch.get("name") not in MODELS:
        raise CardError(
            f"{where}: unknown architecture {_show(arch.get('name'))} "
            f"(known: {', '.join(sorted(MODELS))})"
        )
    config = arch.get("config", {})
    for key, (lo, hi) in _CONFIG_INT_RANGES.items():
        if key in config:
            v = config[key]
            if not (_is_int(v) and lo <= v <= hi):
                raise _bad(where, f"architecture.config.{key}", f"an integer {lo}..{hi}", v)
    _check_strings(where, config, "architecture.config", _CONFIG_STR_KEYS)
    widest = config.get("base_width", 0) * 2 ** config.get("levels", 0)
    widest = max(widest, config.get("ndf", 0) * 8)
    if widest > MAX_WIDTH:
        raise CardError(
            f"{where}: model card architecture.config asks for {widest} channels in one "
            f"layer (at most {MAX_WIDTH})"
        )
    if "out_range" in config:
        _check_range(where, "architecture.config.out_range", config["out_range"])


def _check_range(where: str, field: str, value: Any) -> None:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_number(v) for v in value)
        and value[1] > value[0]
    )
    if not ok:
        raise _bad(where, field, "[low, high] with high > low", value)


def _check_input(where: str, inp: Mapping[str, Any]) -> None:
    size = inp.get("size")
    if size is not None and not (
        isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)
        and all(1 <= v <= MAX_SIDE for v in size)
    ):  # fmt: skip
        raise CardError(
            f"{where}: model card has no valid input.size (expected [rows, cols] of 1.."
            f"{MAX_SIDE} px, got {_show(size)})"
        )
    _optional_positive(where, inp, "input", "pixel_size_nm")
    _check_strings(where, inp, "input", ("normalization",))


def _check_output(where: str, out: Mapping[str, Any]) -> None:
    if "range" in out:
        _check_range(where, "output.range", out["range"])
    _optional_positive(where, out, "output", "nm_per_depth_unit")
    _check_strings(where, out, "output", ("unit", "convention"))


def _check_denoiser(where: str, den: Mapping[str, Any]) -> None:
    _check_strings(where, den, "denoiser", ("method",))
    masker = den.get("masker", {})
    if not isinstance(masker, dict):
        raise _bad(where, "denoiser.masker", "an object", masker)
    width = masker.get("width", 4)
    if not (_is_int(width) and 2 <= width <= 256):
        raise _bad(where, "denoiser.masker.width", "an integer 2..256", width)
    _check_strings(where, masker, "denoiser.masker", ("mode", "pattern"))


def validate_card(card: Any, source: str | Path) -> dict[str, Any]:
    """``card`` if it is a valid model card, else :class:`CardError` with one line naming
    ``source``: a JSON object of the known format, each known section of its type, every
    number finite, the architecture registered with sane sizes, input size, output range,
    pixel sizes and masker settings in range. Unknown sections and keys are allowed (newer
    writers may add them) but must be plain finite JSON too."""
    where = str(source)
    if not isinstance(card, dict):
        raise CardError(f"{where}: model card is not a JSON object")
    if card.get("format") != CARD_FORMAT:
        raise CardError(
            f"{where}: unknown model card format {_show(card.get('format'))} "
            f"(this version reads {CARD_FORMAT!r})"
        )
    _check_tree(card, where, "")
    for name, kind in SECTION_TYPES.items():
        if name in card and not isinstance(card[name], kind):
            expected = "an object" if kind is dict else "a string"
            if name == "architecture":
                raise CardError(f"{where}: model card has no architecture {{name, config}}")
            raise _bad(where, name, expected, card[name])
    _check_architecture(where, card.get("architecture"))
    _check_input(where, card.get("input", {}))
    _check_output(where, card.get("output", {}))
    _check_strings(where, card.get("inference", {}), "inference", ("fast_path",))
    _check_denoiser(where, card.get("denoiser", {}))
    problem = calibration_problem(card.get("calibration", {}))
    if problem is not None:
        raise _bad(where, *problem)
    trust = trust_problem(card)
    if trust:
        raise CardError(f"{where}: model card {trust}")
    return card
