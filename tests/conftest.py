"""Shared fixtures: tiny synthetic data and the real SEM files shipped beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _find_real_sem() -> Path | None:
    env = os.environ.get("SEMDEPTH_REAL_SEM")
    candidates = [Path(env)] if env else []
    candidates += [
        REPO_ROOT / "shared" / "data" / "real_sem",
        REPO_ROOT.parent / "shared" / "data" / "real_sem",
    ]
    for c in candidates:
        if (c / "SOURCES.md").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def real_sem_dir() -> Path:
    """``shared/data/real_sem`` (beside the checkout, as in CI); read-only."""
    found = _find_real_sem()
    if found is None:
        pytest.skip("shared/data/real_sem not found beside the checkout")
    return found
