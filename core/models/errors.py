"""The error of checkpoint and model-card handling (its own module so that
:mod:`core.models.card` and :mod:`core.models.checkpoints` share it without a loop)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or loaded; the message names the file."""
