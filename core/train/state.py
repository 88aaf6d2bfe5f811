"""The trainer state: everything ``--resume`` needs, without pickle.

``trainer_state.safetensors`` holds the tensors (weights of every network, optimizer
moments, the torch RNG states) and ``trainer_state.json`` the rest (counters, history,
optimizer hyper-parameters, the numpy and Python RNG states). The two carry the same
``token`` so that a torn pair (a crash between the two writes) is detected.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import core
from core.io.atomic import atomic_write_bytes, atomic_write_text
from core.train.config import TrainError

STATE_NAME = "trainer_state"
STATE_FORMAT = "semdepth-trainer-state/1"

#: tensor prefix of an optimizer -> its key in the JSON half
OPTIMIZER_KEYS = {"optG": "opt_g", "optD": "opt_d"}


# --------------------------------------------------------------------------- pieces
def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """``(tensors, scalars)`` of an optimizer's state dict (tensors keyed
    ``<prefix>.state.<param>.<name>``)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": [], "state": {}}
    for group in sd["param_groups"]:
        scalars["param_groups"].append(
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()}
        )
    for idx, st in sd["state"].items():
        plain: dict[str, Any] = {}
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{k}"] = v.detach().cpu().contiguous().clone()
            else:
                plain[k] = v
        scalars["state"][str(idx)] = plain
    return tensors, scalars


def unflatten_optimizer(
    prefix: str, opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], scalars: dict
) -> None:
    """Load what :func:`flatten_optimizer` produced back into ``opt``."""
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in scalars["state"].items()}
    pre = prefix + ".state."
    for key, t in tensors.items():
        if key.startswith(pre):
            idx, name = key[len(pre) :].split(".", 1)
            state.setdefault(int(idx), {})[name] = t
    groups = []
    for g in scalars["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.{k}": v.detach().cpu().contiguous().clone()
        for k, v in module.state_dict().items()
    }


def load_module(prefix: str, module: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    pre = prefix + "."
    sd = {k[len(pre) :]: v for k, v in tensors.items() if k.startswith(pre)}
    module.load_state_dict(sd, strict=True)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The torch (and CUDA) RNG states as tensors, numpy's and Python's as JSON."""
    tensors = {"rng.torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state().clone()
    np_state: Any = np.random.get_state()
    py_state = random.getstate()
    scalars = {
        "numpy": [np_state[0], np.asarray(np_state[1]).tolist(), *map(float, np_state[2:])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, scalars


def set_rng_state(tensors: Mapping[str, torch.Tensor], scalars: Mapping[str, Any]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    if "numpy" in scalars:
        n = scalars["numpy"]
        np.random.set_state(
            (n[0], np.asarray(n[1], dtype=np.uint32), int(n[2]), int(n[3]), float(n[4]))
        )
    if "python" in scalars:
        p = scalars["python"]
        random.setstate((p[0], tuple(p[1]), p[2]))


# --------------------------------------------------------------------------- the whole state
def capture_state(
    modules: Mapping[str, nn.Module | None],
    optimizers: Mapping[str, torch.optim.Optimizer | None],
    counters: Mapping[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, scalars)`` of the networks (by tensor prefix: ``G``, ``D``, ``EMA``),
    the optimizers (``optG``, ``optD``), the RNGs and the trainer's ``counters`` (epoch,
    global_step, history, ...). ``None`` entries are left out."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for prefix, module in modules.items():
        if module is not None:
            tensors.update(module_tensors(prefix, module))
    for prefix, opt in optimizers.items():
        if opt is not None:
            t, s = flatten_optimizer(prefix, opt)
            tensors.update(t)
            scalars[OPTIMIZER_KEYS[prefix]] = s
    rt, rs = rng_state()
    tensors.update(rt)
    scalars.update(
        {"format": STATE_FORMAT, **counters, "rng": rs, "product_version": core.__version__}
    )
    return tensors, scalars


def restore_state(
    tensors: Mapping[str, torch.Tensor],
    scalars: Mapping[str, Any],
    modules: Mapping[str, nn.Module | None],
    optimizers: Mapping[str, torch.optim.Optimizer | None],
) -> None:
    """Load what :func:`capture_state` saved into the networks, optimizers and RNGs."""
    for prefix, module in modules.items():
        if module is not None:
            load_module(prefix, module, tensors)
    for prefix, opt in optimizers.items():
        if opt is not None:
            unflatten_optimizer(prefix, opt, tensors, scalars[OPTIMIZER_KEYS[prefix]])
    set_rng_state(tensors, scalars.get("rng", {}))


# --------------------------------------------------------------------------- files
def save_trainer_state(
    run_dir: Path, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]
) -> None:
    """``trainer_state.safetensors`` (tensors) + ``trainer_state.json`` (the rest); the two
    carry the same ``token`` so a torn pair is detected."""
    from safetensors.torch import save

    token = f"{scalars['epoch']}-{scalars['global_step']}-{time.time_ns()}"
    scalars = {**scalars, "token": token}
    data = save(tensors, metadata={"token": token, "format": STATE_FORMAT})
    atomic_write_bytes(run_dir / f"{STATE_NAME}.safetensors", data, overwrite=True)
    text = json.dumps(scalars, indent=1) + "\n"
    atomic_write_text(run_dir / f"{STATE_NAME}.json", text, overwrite=True)


def load_trainer_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, scalars)`` of the run's trainer state; :class:`TrainError` when missing,
    unreadable, or the two halves come from different saves."""
    from safetensors import safe_open

    tpath = run_dir / f"{STATE_NAME}.safetensors"
    jpath = run_dir / f"{STATE_NAME}.json"
    for p in (tpath, jpath):
        if not p.is_file():
            raise TrainError(f"{p}: no trainer state to resume from (was this run started?)")
    try:
        scalars = json.loads(jpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainError(f"{jpath}: unreadable trainer state ({exc})") from exc
    try:
        with safe_open(str(tpath), framework="pt") as fh:  # type: ignore[no-untyped-call]
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types
        raise TrainError(f"{tpath}: unreadable trainer state ({exc})") from exc
    if meta.get("token") != scalars.get("token"):
        raise TrainError(
            f"{run_dir}: {tpath.name} and {jpath.name} are from different saves "
            "(interrupted while saving?)"
        )
    return tensors, scalars
