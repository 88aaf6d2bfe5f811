from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.inference.helpers import make_checkpoint


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "models")


@pytest.fixture
def tiny_predictor(tiny_checkpoint: Path):
    from core.inference import Predictor

    return Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
