"""A tiny simulated data set (two imaging cases) for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def eval_dacon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 simulated structures x 2 cases x 2 shots (24 SEM images, 12 depth maps)."""
    from core.synth import write_dacon

    root = tmp_path_factory.mktemp("eval_dacon")
    write_dacon(root, n_structures=6, seed=11, cases=[1, 2], workers=1)
    return root
