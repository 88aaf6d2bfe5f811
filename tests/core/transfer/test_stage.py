"""The transfer stage after training: the typed request and ``semdepth train --unlabeled``
(core/transfer/stage.py, core/cli/train.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from core.cli.train import add_transfer_arguments, transfer_request
from core.models import load_checkpoint, save_checkpoint
from core.transfer import TransferError, TransferRequest, run_transfer_stage

from .conftest import split_cases, tiny


def test_train_cli_glue_writes_a_finetuned_checkpoint(dacon: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    best = save_checkpoint(run / "best", tiny(), {"training": {"preset": "unet-2level"}})
    _, target = split_cases(dacon)
    csv_path = tmp_path / "avg.csv"
    csv_path.write_text("0,1\n" + "".join(f"{r.structure},100.0\n" for r in target[::2]))
    target_dir = dacon / "simulation_data" / "SEM" / "Case_4"
    p = argparse.ArgumentParser()
    add_transfer_arguments(p)
    args = p.parse_args(
        ["--unlabeled", str(target_dir), "--average-depth", str(csv_path),
         "--transfer-budget", "0.5"]
    )  # fmt: skip
    # what semdepth train passes from its config and result
    run_context = {"best_path": best, "run_dir": run, "source_data": dacon, "device": "cpu"}

    def stage(request: TransferRequest | None) -> Path:
        assert request is not None
        return run_transfer_stage(request, **run_context, seed=0, overwrite=False)

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


def test_the_flags_are_checked_before_training(tmp_path: Path) -> None:
    p = argparse.ArgumentParser()
    add_transfer_arguments(p)
    with pytest.raises(TransferError, match=r"^--transfer-budget must be > 0 s, got -1\.0$"):
        transfer_request(p.parse_args(["--transfer-budget", "-1"]))  # even without --unlabeled
    with pytest.raises(TransferError, match=r"^--average-depth .*avg\.csv: file not found$"):
        transfer_request(
            p.parse_args(
                ["--unlabeled", str(tmp_path), "--average-depth", str(tmp_path / "avg.csv")]
            )
        )
    request = transfer_request(
        p.parse_args(["--unlabeled", str(tmp_path), "--transfer-objective", "adabn"])
    )
    assert request == TransferRequest(unlabeled=tmp_path, objective="adabn")
