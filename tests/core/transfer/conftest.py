"""A small simulated DACON set (two imaging cases) and a tiny U-Net for the transfer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.data import SampleRecord, find_dacon_pairs
from core.models import UNet
from core.synth import write_dacon


@pytest.fixture(scope="session")
def dacon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dacon")
    write_dacon(root, 6, seed=5, cases=[1, 4], write_clean=True, workers=1)
    return root


def split_cases(root: Path) -> tuple[list[SampleRecord], list[SampleRecord]]:
    """(source: Case_1, target: Case_4) records."""
    recs = find_dacon_pairs(root)
    return [r for r in recs if r.case == "Case_1"], [r for r in recs if r.case == "Case_4"]


def tiny() -> UNet:
    torch.manual_seed(0)
    return UNet(levels=1, base_width=4)
