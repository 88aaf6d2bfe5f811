"""The trainer end to end on tiny simulated data: run-folder files, resume, early stopping,
cancel, determinism, callbacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.progress import CancelToken
from core.train import (
    FunctionCallback,
    TrainError,
    load_trainer_state,
    read_metrics_csv,
    train,
)

from .conftest import tiny_config


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_deterministic_with_seed(tiny_dacon: Path, tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        train(
            tiny_config(tiny_dacon, tmp_path / name, seed=seed, preset="pix2pix-2level", d_every=1)
        )
        runs.append(_weights(tmp_path / name / "last.safetensors"))
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_resume_continues_the_epoch_counter_exactly(tiny_dacon: Path, tmp_path: Path) -> None:
    train(
        tiny_config(tiny_dacon, tmp_path / "straight", epochs=2, preset="pix2pix-2level", d_every=1)
    )
    first = train(
        tiny_config(tiny_dacon, tmp_path / "resumed", epochs=1, preset="pix2pix-2level", d_every=1)
    )
    assert first.epochs_completed == 1
    res = train(
        tiny_config(
            tiny_dacon,
            tmp_path / "resumed",
            epochs=2,
            resume=True,
            preset="pix2pix-2level",
            d_every=1,
        )
    )
    assert res.epochs_completed == 2
    rows = read_metrics_csv(tmp_path / "resumed" / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["global_step"] == 2 * rows[0]["global_step"]
    _, state = load_trainer_state(tmp_path / "resumed")
    assert state["epoch"] == 2
    # 1 epoch + resume for 1 more gives exactly the weights of 2 epochs in one go
    assert _same(
        _weights(tmp_path / "straight" / "last.safetensors"),
        _weights(tmp_path / "resumed" / "last.safetensors"),
    )
    straight = read_metrics_csv(tmp_path / "straight" / "metrics.csv")
    assert rows[1]["val_rmse_per_image"] == pytest.approx(straight[1]["val_rmse_per_image"])


def test_resume_refuses_other_settings_and_finished_runs(tiny_dacon: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(tiny_config(tiny_dacon, out))
    with pytest.raises(TrainError, match="batch_size"):
        train(tiny_config(tiny_dacon, out, epochs=2, batch_size=8, resume=True))
    with pytest.raises(TrainError, match="already trained 1 epoch"):
        train(tiny_config(tiny_dacon, out, epochs=1, resume=True))
    with pytest.raises(TrainError, match="no trainer state"):
        train(tiny_config(tiny_dacon, tmp_path / "empty", resume=True))


def test_existing_run_folder_needs_resume_or_overwrite(tiny_dacon: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(tiny_config(tiny_dacon, out))
    with pytest.raises(TrainError, match="already holds a run"):
        train(tiny_config(tiny_dacon, out))
    res = train(tiny_config(tiny_dacon, out, overwrite=True))
    assert res.epochs_completed == 1
    assert len(read_metrics_csv(out / "metrics.csv")) == 1


def test_early_stopping_triggers_on_a_flat_metric(tiny_dacon: Path, tmp_path: Path) -> None:
    # lr 0 and no normalisation: the weights never change, so the metric is flat
    cfg = tiny_config(
        tiny_dacon,
        tmp_path / "run",
        epochs=10,
        lr=0.0,
        early_stopping=2,
        generator={"base_width": 4, "norm": "none"},
    )
    res = train(cfg)
    assert res.stopped == "early_stopping"
    assert res.epochs_completed == 3 and res.best_epoch == 1
    vals = [r["val_rmse_per_image"] for r in read_metrics_csv(tmp_path / "run" / "metrics.csv")]
    assert len(vals) == 3 and vals[0] == vals[1] == vals[2]


def test_cancel_token_stops_after_saving_last(tiny_dacon: Path, tmp_path: Path) -> None:
    token = CancelToken()
    steps = []

    def on_step(step: object) -> None:
        steps.append(step)
        if len(steps) == 2:
            token.cancel()

    out = tmp_path / "run"
    res = train(
        tiny_config(tiny_dacon, out, epochs=3, batch_size=4),
        callbacks=[FunctionCallback(on_step=on_step)],
        cancel=token,
    )
    assert res.stopped == "cancelled" and len(steps) == 2
    assert res.epochs_completed == 0
    card = json.loads((out / "last.json").read_text())
    assert card["training"]["interrupted"] is True
    assert (out / "last.safetensors").is_file()
    # the cancelled run resumes from the start of its unfinished epoch
    res2 = train(tiny_config(tiny_dacon, out, epochs=1, batch_size=4, resume=True))
    assert res2.epochs_completed == 1 and res2.stopped == "completed"


def test_keyboard_interrupt_saves_last_then_propagates(tiny_dacon: Path, tmp_path: Path) -> None:
    def on_step(step: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_dacon, out), callbacks=[FunctionCallback(on_step=on_step)])
    assert (out / "last.safetensors").is_file() and (out / "trainer_state.json").is_file()
    assert json.loads((out / "last.json").read_text())["training"]["interrupted"] is True


def test_time_budget_stops_and_validates(tiny_dacon: Path, tmp_path: Path) -> None:
    res = train(
        tiny_config(tiny_dacon, tmp_path / "run", epochs=50, batch_size=4, time_budget_s=0.01)
    )
    assert res.stopped == "time_budget" and res.epochs_completed == 1
    assert res.best_val_rmse_per_image is not None and math.isfinite(res.best_val_rmse_per_image)


def test_callbacks_see_every_step_and_epoch(tiny_dacon: Path, tmp_path: Path) -> None:
    got: dict[str, list] = {"start": [], "step": [], "epoch": [], "end": []}
    cb = FunctionCallback(
        on_train_start=got["start"].append,
        on_step=got["step"].append,
        on_epoch_end=got["epoch"].append,
        on_train_end=got["end"].append,
    )
    res = train(tiny_config(tiny_dacon, tmp_path / "run", epochs=2, batch_size=16), callbacks=[cb])
    info = got["start"][0]
    assert len(got["step"]) == 2 * info["steps_per_epoch"] == res.history[-1].global_step
    assert [m.epoch for m in got["epoch"]] == [1, 2]
    assert got["end"] == [res]
    assert got["step"][0].losses["loss_l1"] > 0


def test_trainer_state_is_safetensors_plus_json(tiny_dacon: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(tiny_config(tiny_dacon, out, preset="pix2pix-2level"))
    tensors, scalars = load_trainer_state(out)
    assert any(k.startswith("optG.state.") for k in tensors)
    assert any(k.startswith("optD.state.") for k in tensors)
    assert any(k.startswith("D.") for k in tensors) and "rng.torch" in tensors
    assert scalars["epoch"] == 1 and scalars["opt_g"]["param_groups"][0]["lr"] == 2e-4
    # the pair is checked: a state JSON from another save is refused
    (out / "trainer_state.json").write_text(json.dumps({**scalars, "token": "x"}))
    with pytest.raises(TrainError, match="different saves"):
        load_trainer_state(out)


def test_bf16_autocast_trains_and_keeps_a_float32_head(tiny_dacon: Path, tmp_path: Path) -> None:
    from core.device import bf16_autocast_supported

    if not bf16_autocast_supported(torch.device("cpu")):
        pytest.skip("no bfloat16 on this CPU")
    res = train(tiny_config(tiny_dacon, tmp_path / "run", amp="bf16", channels_last="on"))
    assert res.amp == "bf16" and res.channels_last
    card = json.loads((tmp_path / "run" / "best.json").read_text())
    assert card["training"]["amp"] == "bf16"
    assert card["inference"]["fast_path"] == "auto"  # chosen at inference, not by training
    model = res.model
    assert model is not None
    model.train()  # training mode: the affine head's output is not clamped
    x = torch.rand(2, 1, 72, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    assert y.dtype == torch.float32
    # not rounded to bfloat16's 1-DU steps near the top surface
    assert not torch.equal(y, y.to(torch.bfloat16).float())
    assert np.isfinite(y.detach().numpy()).all()
