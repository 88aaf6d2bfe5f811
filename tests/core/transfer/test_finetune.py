"""Fine-tuning on unlabeled target images (core/transfer/finetune.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from core.data import DepthDataset, SampleRecord
from core.transfer import (
    FinetuneConfig,
    TransferError,
    attach_average_depth,
    finetune,
    shot_pairs,
)

from .conftest import split_cases, tiny


def test_attach_average_depth_and_shot_pairs(dacon: Path) -> None:
    _, target = split_cases(dacon)
    name = target[0].structure
    recs = attach_average_depth(target, {name.upper(): 88.5})
    got = {r.structure: r.average_depth for r in recs}
    assert got[name] == 88.5 and sum(v is not None for v in got.values()) == 1
    site = SampleRecord(Path("x/site_00003/a.png"), None, "site_00003", None, "Depth_110")
    assert attach_average_depth([site], {"depth_110_site_00003": 110.2})[0].average_depth == 110.2
    pairs = shot_pairs(target)
    assert len(pairs) == 6
    for a, b in pairs:
        assert target[a].structure == target[b].structure
        assert (target[a].shot, target[b].shot) == (0, 1)


@pytest.mark.parametrize("objective", ["none", "masked", "consistency", "average-depth", "adabn"])
def test_finetune_runs_each_objective(dacon: Path, objective: str) -> None:
    source, target = split_cases(dacon)
    model = tiny()
    averages = {r.structure: 120.0 for r in target}
    cfg = FinetuneConfig(objective=objective, budget_s=30, max_steps=2, batch_size=4)
    res = finetune(model, target, source_records=source, average_depth=averages, config=cfg)
    assert res.steps == (0 if objective == "adabn" else 2)
    assert not res.model.training
    changed = any(
        not torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), res.model.state_dict().values(), strict=True)
    )
    assert changed  # a copy was trained; the source model itself is untouched
    assert res.model is not model


def test_average_depth_objective_moves_the_mean_toward_the_given_average(dacon: Path) -> None:
    _, target = split_cases(dacon)
    model = tiny()
    ds = DepthDataset([dataclasses.replace(r, depth_path=None) for r in target])
    x = ds.batch(range(len(ds)))["sem"]
    with torch.no_grad():
        before = float(model.eval()(x).mean())
    goal = before - 10.0
    cfg = FinetuneConfig(
        objective="average-depth", budget_s=60, max_steps=12, lr=1e-2, batch_size=12
    )
    res = finetune(model, target, average_depth={r.structure: goal for r in target}, config=cfg)
    with torch.no_grad():
        after = float(res.model(x).mean())
    assert abs(after - goal) < 0.5 * abs(before - goal), (before, after, goal)


def test_finetune_errors(dacon: Path) -> None:
    _, target = split_cases(dacon)
    with pytest.raises(TransferError, match="no target image has an average"):
        finetune(tiny(), target, config=FinetuneConfig(objective="average-depth", max_steps=1))
    with pytest.raises(TransferError, match="give source_records"):
        finetune(tiny(), target, config=FinetuneConfig(objective="none"))
    with pytest.raises(TransferError, match="no target images"):
        finetune(tiny(), [], config=FinetuneConfig(objective="masked"))
    one_shot = [r for r in target if r.shot == 0]
    with pytest.raises(TransferError, match="two shots"):
        finetune(tiny(), one_shot, config=FinetuneConfig(objective="consistency"))
    with pytest.raises(TransferError, match="objective must be"):
        finetune(tiny(), target, config=FinetuneConfig(objective="magic"))


def test_the_loop_stops_for_a_cancel_the_budget_or_the_step_limit() -> None:
    import time

    from core.progress import CancelToken
    from core.transfer.finetune import _stop_reason

    cfg = FinetuneConfig(budget_s=60, max_steps=3)
    now = time.perf_counter()
    assert _stop_reason(cfg, 2, now, None) == ""
    assert _stop_reason(cfg, 3, now, None) == "max_steps"
    assert _stop_reason(cfg, 0, now - 61, None) == "budget"
    token = CancelToken()
    token.cancel()
    assert _stop_reason(cfg, 0, now - 61, token) == "cancelled"  # a cancel comes first
    assert _stop_reason(FinetuneConfig(budget_s=60), 10**6, now, None) == ""  # no step limit


def test_finetune_records_each_step(dacon: Path) -> None:
    source, target = split_cases(dacon)
    steps: list[dict[str, float]] = []
    cfg = FinetuneConfig(objective="masked", budget_s=30, max_steps=2, batch_size=4)
    res = finetune(tiny(), target, source_records=source, config=cfg, on_step=steps.append)
    assert res.stopped == "max_steps" and res.history == steps
    assert [s["step"] for s in steps] == [1.0, 2.0]
    for s in steps:  # the total is the source L1 plus weight x the objective
        assert s["loss"] == pytest.approx(s["source_l1"] + cfg.weight * s["masked"], rel=1e-5)
    assert res.n_target == len(target) and res.n_source == len(source)
