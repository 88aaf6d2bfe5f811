"""Depth models: U-Net generator, PatchGAN discriminator, losses, the report's presets and
safetensors checkpoints with JSON model cards (schema in :mod:`core.models.card`)."""

from core.models.card import CARD_FORMAT, CardError, base_card, validate_card
from core.models.checkpoints import (
    checkpoint_paths,
    inspect_checkpoint,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from core.models.errors import CheckpointError
from core.models.losses import (
    GANLoss,
    discriminator_loss,
    generator_loss,
    l1_term,
    rmse_term,
)
from core.models.patchgan import PatchGAN
from core.models.presets import PRESETS, Preset, get_preset
from core.models.registry import MODELS, UnknownModelError, create_model
from core.models.unet import UNet

__all__ = [
    "CARD_FORMAT",
    "MODELS",
    "PRESETS",
    "CardError",
    "CheckpointError",
    "GANLoss",
    "PatchGAN",
    "Preset",
    "UNet",
    "UnknownModelError",
    "base_card",
    "checkpoint_paths",
    "create_model",
    "discriminator_loss",
    "generator_loss",
    "get_preset",
    "inspect_checkpoint",
    "l1_term",
    "load_checkpoint",
    "read_card",
    "rmse_term",
    "save_checkpoint",
    "validate_card",
]
