"""The run folder: claiming it once, every per-epoch file (core/train/run_folder.py)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
import torch

from core.models import UNet, load_checkpoint
from core.train import METRIC_COLUMNS, EpochMetrics, RunFolder, TrainError, read_metrics_csv
from core.train.run_folder import CONFIG_NAME, CURVES_NAME, RUN_FILES, write_metrics_csv


def _row(epoch: int, best: bool) -> EpochMetrics:
    return EpochMetrics(
        epoch=epoch,
        global_step=3 * epoch,
        seconds=1.5 * epoch,
        lr=1e-3,
        loss_g=2.0,
        loss_l1=0.25,
        loss_gan=0.0,
        loss_rmse=1.0 / 3.0,
        loss_d=math.nan,
        train_rmse=4.0,
        val_rmse_per_image=5.0 - epoch,
        val_rmse_pooled=5.5 - epoch,
        val_mae=3.0,
        best=best,
        samples_per_s=100.0,
    )


def test_metrics_csv_round_trips_six_digits(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    write_metrics_csv(path, [_row(1, True), _row(2, False)])
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(METRIC_COLUMNS)
    assert lines[1].split(",")[7] == "0.333333"  # loss_rmse, 6 significant digits
    rows = read_metrics_csv(path)
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    assert [r["best"] for r in rows] == [1.0, 0.0]
    assert math.isnan(rows[0]["loss_d"]) and rows[1]["val_rmse_per_image"] == 3.0


def test_prepare_claims_the_folder_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    RunFolder(out).prepare(resume=False, overwrite=False)
    assert out.is_dir()
    for name in (*RUN_FILES, CURVES_NAME, CONFIG_NAME, "notes.txt"):
        (out / name).write_text("old")
    with pytest.raises(TrainError, match=r"already holds a run \(best.safetensors, best.json"):
        RunFolder(out).prepare(resume=False, overwrite=False)
    RunFolder(out).prepare(resume=True, overwrite=False)  # resume: the files stay
    assert (out / "last.json").read_text() == "old"
    # a rank that does not write only checks
    RunFolder(out).prepare(resume=False, overwrite=True, writer=False)
    assert (out / "best.json").exists()
    RunFolder(out).prepare(resume=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # not the run's: kept
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainError, match="file: exists and is not a folder"):
        RunFolder(tmp_path / "file").prepare(resume=True, overwrite=False)


def test_write_epoch_writes_best_only_when_best(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.prepare(resume=False, overwrite=False)
    torch.manual_seed(0)
    net = UNet(levels=1, base_width=4)
    state = ({"x": torch.arange(3.0)}, {"epoch": 1, "global_step": 3})
    card = {"training": {"epochs": 1}}
    folder.write_epoch(net, card, best=True, state=state, history=[_row(1, True)])
    best_bytes = (folder.path / "best.safetensors").read_bytes()
    with torch.no_grad():
        net.head.bias.fill_(1.0)  # type: ignore[union-attr]
    card2 = {"training": {"epochs": 2}}
    state2 = ({"x": torch.arange(4.0)}, {"epoch": 2, "global_step": 6})
    history = [_row(1, True), _row(2, False)]
    folder.write_epoch(net, card2, best=False, state=state2, history=history)
    assert (folder.path / "best.safetensors").read_bytes() == best_bytes
    _, best_card = load_checkpoint(folder.path / "best.safetensors")
    last, last_card = load_checkpoint(folder.path / "last.safetensors")
    assert best_card["training"]["epochs"] == 1 and last_card["training"]["epochs"] == 2
    assert float(last.head.bias.detach()[0]) == 1.0  # type: ignore[union-attr]
    tensors, scalars = folder.load_state()
    assert torch.equal(tensors["x"], torch.arange(4.0)) and scalars["epoch"] == 2
    assert len(read_metrics_csv(folder.path / "metrics.csv")) == 2
    assert (folder.path / CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(folder.path.glob(".*.tmp"))


def test_write_config_puts_the_header_first(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.write_config({"epochs": 2, "resolved": {"lr": 0.5}}, header="# hello\n")
    text = (tmp_path / CONFIG_NAME).read_text()
    assert text.startswith("# hello\nepochs = 2\n")
    assert tomllib.loads(text) == {"epochs": 2, "resolved": {"lr": 0.5}}
