"""The trainer state without pickle: optimizers, RNGs, the torn-pair check
(core/train/state.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.train import TrainError, load_trainer_state, save_trainer_state
from core.train.state import (
    capture_state,
    flatten_optimizer,
    restore_state,
    unflatten_optimizer,
)


def _stepped(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.5, 0.9))
    for _ in range(3):
        loss = net(torch.randn(8, 3)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net, opt


def test_optimizer_state_round_trips_exactly() -> None:
    _, opt = _stepped(0)
    tensors, scalars = flatten_optimizer("optG", opt)
    assert all(k.startswith("optG.state.") for k in tensors)
    assert scalars["param_groups"][0]["betas"] == [0.5, 0.9]  # JSON-friendly
    json.dumps(scalars)
    _, opt2 = _stepped(1)
    unflatten_optimizer("optG", opt2, tensors, json.loads(json.dumps(scalars)))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for k in a["state"]:
        for name, v in a["state"][k].items():
            assert torch.equal(v, b["state"][k][name])


def test_capture_and_restore_networks_optimizers_and_rngs() -> None:
    g, opt = _stepped(0)
    torch.manual_seed(11)
    np.random.seed(12)
    random.seed(13)
    tensors, scalars = capture_state(
        {"G": g, "D": None}, {"optG": opt, "optD": None}, {"epoch": 3, "global_step": 9}
    )
    assert not any(k.startswith(("D.", "optD.")) for k in tensors)
    assert "opt_g" in scalars and "opt_d" not in scalars
    assert list(scalars)[:4] == ["opt_g", "format", "epoch", "global_step"]
    assert scalars["format"] == "semdepth-trainer-state/1"
    expected = (torch.rand(2), np.random.rand(), random.random())
    g2, opt2 = _stepped(5)
    restore_state(tensors, json.loads(json.dumps(scalars)), {"G": g2}, {"optG": opt2})
    for (k, v), v2 in zip(g.state_dict().items(), g2.state_dict().values(), strict=True):
        assert torch.equal(v, v2), k
    # the RNGs continue where they were when the state was captured
    assert torch.equal(torch.rand(2), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]


def test_save_and_load_check_the_pair(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="no trainer state to resume from"):
        load_trainer_state(tmp_path)
    save_trainer_state(tmp_path, {"w": torch.ones(2)}, {"epoch": 1, "global_step": 2})
    tensors, scalars = load_trainer_state(tmp_path)
    assert torch.equal(tensors["w"], torch.ones(2))
    assert scalars["epoch"] == 1 and scalars["token"].startswith("1-2-")
    (tmp_path / "trainer_state.json").write_text("{not json")
    with pytest.raises(TrainError, match=r"trainer_state\.json: unreadable trainer state"):
        load_trainer_state(tmp_path)
    (tmp_path / "trainer_state.json").write_text(json.dumps({**scalars, "token": "other"}))
    with pytest.raises(TrainError, match="different saves"):
        load_trainer_state(tmp_path)
