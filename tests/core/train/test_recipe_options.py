"""The recipe's training options: contrast families, AdamW, intensity augmentation, the
input normalisation and the variance head, end to end on tiny data, and their cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.train import TrainConfig, TrainError, train

from .conftest import tiny_config


@pytest.fixture(scope="module")
def tiny_families(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 structures x 2 cases x 2 shots; the cases rotate through two families."""
    from core.synth import write_dacon

    root = tmp_path_factory.mktemp("tiny_families")
    write_dacon(root, 8, seed=4, cases=[1, 2], workers=1, families="analytic,charging")
    return root


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("optimizer", "sgd", "optimizer"),
        ("families", [], "families"),
        ("nll_beta", 1.5, "nll_beta"),
        ("weight_decay", -1.0, "weight_decay"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, field: str, value: object, match: str) -> None:
    with pytest.raises(TrainError, match=match):
        TrainConfig(preset="unet-2level", data=tmp_path, out=tmp_path / "o", **{field: value})


def test_a_run_with_every_recipe_option_writes_them_in_its_card(
    tiny_families: Path, tmp_path: Path
) -> None:
    from core.data import find_records
    from core.inference import Predictor

    cfg = tiny_config(
        tiny_families,
        tmp_path / "run",
        epochs=2,
        families=["charging"],
        optimizer="adamw",
        weight_decay=1e-3,
        intensity_augment=True,
        augment=False,
        generator={"base_width": 4, "input_norm": "percentile", "variance_head": True},
    )
    res = train(cfg)
    card = json.loads((tmp_path / "run" / "best.json").read_text(encoding="utf-8"))
    assert card["architecture"]["config"]["variance_head"] is True
    assert card["output"]["variance_head"]["channel"] == 1
    assert card["output"]["variance_head"]["changes_depth"] is False
    assert card["input"]["normalization"].startswith("dtype-range-0-1, then per image")
    tr = card["training"]
    assert tr["data"]["families"] == ["charging"]
    assert tr["data"]["n_train"] + tr["data"]["n_val"] == len(find_records(tiny_families)) // 2
    assert tr["optimizer"]["name"] == "adamw" and tr["optimizer"]["weight_decay"] == 1e-3
    assert tr["intensity_augment"] is True and tr["loss"]["nll_beta"] == 0.5
    assert res.best_path is not None
    pred = Predictor.from_checkpoint(res.best_path, device="cpu", fast_path="fp32")
    assert pred.has_sigma


def test_families_that_match_nothing_are_refused(tiny_families: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="no images of the families backscatter"):
        train(tiny_config(tiny_families, tmp_path / "run", families=["backscatter"]))


def test_adamw_decays_only_the_convolution_weights(tiny_dacon: Path, tmp_path: Path) -> None:
    from core.train.config import resolve_preset
    from core.train.distributed import DistContext
    from core.train.networks import Networks
    from core.train.speed import SpeedChoice

    cfg = tiny_config(tiny_dacon, tmp_path / "o", optimizer="adamw", weight_decay=0.1)
    nets = Networks(resolve_preset(cfg), cfg, torch.device("cpu"), DistContext())
    nets.prepare(SpeedChoice(amp=False, channels_last=False))
    assert isinstance(nets.opt_g, torch.optim.AdamW)
    decayed, plain = nets.opt_g.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim < 2 for p in plain["params"])
    n = sum(1 for _ in nets.G.parameters())
    assert len(decayed["params"]) + len(plain["params"]) == n


@pytest.mark.parametrize("flip_fixed", [False, True])
def test_flips_skip_the_images_of_a_fixed_detector(
    tiny_dacon: Path, tmp_path: Path, flip_fixed: bool
) -> None:
    # the legacy imaging cases fix the side detector: a mirrored image is not one of them
    cfg = tiny_config(
        tiny_dacon, tmp_path / "run", epochs=1, augment=True, flip_fixed_detector=flip_fixed
    )
    train(cfg)
    card = json.loads((tmp_path / "run" / "best.json").read_text(encoding="utf-8"))
    flips = card["training"]["flips"]
    n_train = card["training"]["data"]["n_train"]
    assert flips["fixed_detector_flipped"] is flip_fixed
    assert flips["images_never_flipped"] == (0 if flip_fixed else n_train)
