"""Fixtures shared by the engine tests: a tiny depth checkpoint and its predictor."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    from tests.core.inference.helpers import make_checkpoint

    return make_checkpoint(tmp_path / "models")


@pytest.fixture
def tiny_predictor(tiny_checkpoint: Path):
    from core.inference import Predictor

    return Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
