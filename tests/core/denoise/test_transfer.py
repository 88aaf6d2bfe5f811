"""Transfer objectives: average-depth weak supervision, masked reconstruction, shot
consistency, AdaBN, ``finetune`` and the ``semdepth train`` glue."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from core.cli.train import add_transfer_arguments, transfer_request
from core.data import DepthDataset, SampleRecord, find_dacon_pairs
from core.models import UNet, load_checkpoint, save_checkpoint
from core.synth import write_dacon
from core.transfer import (
    FinetuneConfig,
    MaskedReconstruction,
    TransferError,
    TransferRequest,
    adapt_batchnorm,
    attach_average_depth,
    average_depth_loss,
    finetune,
    run_transfer_stage,
    shot_pairs,
)


@pytest.fixture(scope="module")
def dacon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dacon")
    write_dacon(root, 6, seed=5, cases=[1, 4], write_clean=True, workers=1)
    return root


def _split(root: Path) -> tuple[list[SampleRecord], list[SampleRecord]]:
    recs = find_dacon_pairs(root)
    return [r for r in recs if r.case == "Case_1"], [r for r in recs if r.case == "Case_4"]


def _tiny() -> UNet:
    torch.manual_seed(0)
    return UNet(levels=1, base_width=4)


def test_average_depth_loss_by_hand() -> None:
    pred = torch.tensor([[[[1.0, 3.0]]], [[[10.0, 10.0]]], [[[0.0, 4.0]]]])  # means 2, 10, 2
    avg = torch.tensor([4.0, 7.0, math.nan])
    assert float(average_depth_loss(pred, avg)) == pytest.approx((2 + 3) / 2)
    assert float(average_depth_loss(pred, avg, kind="l2")) == pytest.approx((4 + 9) / 2)
    none = average_depth_loss(pred, torch.full((3,), math.nan))
    assert float(none) == 0.0
    with pytest.raises(ValueError, match="2 averages for 3"):
        average_depth_loss(pred, avg[:2])
    # the gradient pulls each map's mean toward its average
    p = pred.clone().requires_grad_(True)
    average_depth_loss(p, avg).backward()
    assert p.grad is not None
    assert float(p.grad[0].sum()) < 0 < float(p.grad[1].sum()) and float(p.grad[2].sum()) == 0


def test_attach_average_depth_and_shot_pairs(dacon: Path) -> None:
    _, target = _split(dacon)
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


def test_adabn_sets_running_stats_to_the_target_statistics() -> None:
    model = nn.Sequential(nn.BatchNorm2d(1))
    imgs = np.random.default_rng(0).random((10, 6, 5)).astype(np.float32) * 0.3 + 0.6
    assert adapt_batchnorm(model, imgs, batch_size=5) == 1
    bn = model[0]
    # cumulative average over the two batches of 5 images of their mean / unbiased variance
    assert float(bn.running_mean[0]) == pytest.approx(float(imgs.mean()), abs=1e-5)
    var = np.mean([imgs[:5].var(ddof=1), imgs[5:].var(ddof=1)])
    assert float(bn.running_var[0]) == pytest.approx(float(var), rel=1e-4)
    assert bn.momentum == 0.1 and model.training  # settings and mode restored


def test_masked_reconstruction_is_blind_to_the_masked_pixels(dacon: Path) -> None:
    model = _tiny().eval()
    recon = MaskedReconstruction(model)
    x = torch.rand(2, 1, 12, 8)
    x2 = x.clone()
    x2[:, :, 0, 0] = 1.0 - x2[:, :, 0, 0]  # set 0 of the grid contains (0, 0)
    masker = recon.masker
    xm, _ = masker.apply(x, 0)
    xm2, _ = masker.apply(x2, 0)
    assert torch.equal(xm, xm2)  # what the network sees does not contain those pixels
    g = torch.Generator().manual_seed(0)
    loss = recon.loss(model, x, g)
    assert loss.ndim == 0 and float(loss.detach()) > 0
    loss.backward()
    assert recon.aux.weight.grad is not None and model.inc[0].weight.grad is not None
    recon.close()


@pytest.mark.parametrize("objective", ["none", "masked", "consistency", "average-depth", "adabn"])
def test_finetune_runs_each_objective(dacon: Path, objective: str) -> None:
    source, target = _split(dacon)
    model = _tiny()
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
    _, target = _split(dacon)
    model = _tiny()
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
    _, target = _split(dacon)
    with pytest.raises(TransferError, match="no target image has an average"):
        finetune(_tiny(), target, config=FinetuneConfig(objective="average-depth", max_steps=1))
    with pytest.raises(TransferError, match="give source_records"):
        finetune(_tiny(), target, config=FinetuneConfig(objective="none"))
    with pytest.raises(TransferError, match="no target images"):
        finetune(_tiny(), [], config=FinetuneConfig(objective="masked"))
    one_shot = [r for r in target if r.shot == 0]
    with pytest.raises(TransferError, match="two shots"):
        finetune(_tiny(), one_shot, config=FinetuneConfig(objective="consistency"))
    with pytest.raises(TransferError, match="objective must be"):
        finetune(_tiny(), target, config=FinetuneConfig(objective="magic"))


def test_train_cli_glue_writes_a_finetuned_checkpoint(dacon: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    best = save_checkpoint(run / "best", _tiny(), {"training": {"preset": "unet-2level"}})
    _, target = _split(dacon)
    csv_path = tmp_path / "avg.csv"
    csv_path.write_text("0,1\n" + "".join(f"{r.structure},100.0\n" for r in target[::2]))
    target_dir = dacon / "simulation_data" / "SEM" / "Case_4"
    p = argparse.ArgumentParser()
    add_transfer_arguments(p)
    args = p.parse_args(
        ["--unlabeled", str(target_dir), "--average-depth", str(csv_path),
         "--transfer-budget", "0.5"]
    )  # fmt: skip
    config = SimpleNamespace(data=dacon, overwrite=False, device="cpu", seed=0)
    result = SimpleNamespace(best_path=best, run_dir=run)

    def stage(request: TransferRequest | None) -> Path:
        assert request is not None
        return run_transfer_stage(
            request,
            best_path=result.best_path,
            run_dir=result.run_dir,
            source_data=config.data,
            device=config.device,
            seed=config.seed,
            overwrite=config.overwrite,
        )

    out = stage(transfer_request(args))
    assert out == run / "finetuned.safetensors" and out.is_file()
    _, card = load_checkpoint(out)
    info = card["training"]["transfer"]
    assert info["objective"] == "average-depth" and info["n_target"] == 12
    assert card["training"]["preset"] == "unet-2level"
    assert (
        json.loads((run / "finetuned.json").read_text())["id"]
        != json.loads((run / "best.json").read_text())["id"]
    )
    # nothing asked -> nothing done; averages without images -> error
    assert transfer_request(p.parse_args([])) is None
    with pytest.raises(TransferError, match="needs --unlabeled"):
        stage(transfer_request(p.parse_args(["--average-depth", str(csv_path)])))
    with pytest.raises(TransferError, match="no such file"):
        transfer_request(p.parse_args(["--unlabeled", str(tmp_path / "nope")]))
    bad_budget = ["--unlabeled", str(target_dir), "--transfer-budget", "0"]
    with pytest.raises(TransferError, match="budget"):
        transfer_request(p.parse_args(bad_budget))


def test_transfer_request_checks_its_settings(dacon: Path, tmp_path: Path) -> None:
    from core.transfer import TransferSettingError

    images = dacon / "simulation_data" / "SEM" / "Case_4"
    req = TransferRequest(unlabeled=images)
    assert req.chosen_objective(have_averages=False) == "masked"
    assert req.chosen_objective(have_averages=True) == "average-depth"
    assert TransferRequest(images, objective="adabn").chosen_objective(True) == "adabn"
    req.check_paths()  # both exist (no CSV asked)
    with pytest.raises(TransferSettingError, match=r"budget_s must be > 0 s, got -1") as err:
        TransferRequest(images, budget_s=-1)
    assert err.value.setting == "budget_s" and err.value.detail == "must be > 0 s, got -1"
    with pytest.raises(TransferSettingError, match="objective must be one of") as err:
        TransferRequest(images, objective="magic")
    assert err.value.setting == "objective"
    with pytest.raises(TransferSettingError, match="no such file or folder") as err:
        TransferRequest(tmp_path / "nope").check_paths()
    assert err.value.setting == "unlabeled"
    with pytest.raises(TransferSettingError, match="file not found") as err:
        TransferRequest(images, average_depth_csv=tmp_path / "avg.csv").check_paths()
    assert err.value.setting == "average_depth_csv"


def test_transfer_stage_needs_a_best_model(dacon: Path, tmp_path: Path) -> None:
    images = dacon / "simulation_data" / "SEM" / "Case_4"
    with pytest.raises(TransferError, match="no best model to fine-tune"):
        run_transfer_stage(
            TransferRequest(images), best_path=None, run_dir=tmp_path, source_data=dacon
        )
    assert not (tmp_path / "finetuned.safetensors").exists()
