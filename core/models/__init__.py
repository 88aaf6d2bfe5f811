"""Depth models: U-Net generator, PatchGAN discriminator, losses, the report's presets and
safetensors checkpoints with JSON model cards."""

from core.models.checkpoints import (
    CARD_FORMAT,
    CheckpointError,
    base_card,
    checkpoint_paths,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
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
    "l1_term",
    "load_checkpoint",
    "read_card",
    "rmse_term",
    "save_checkpoint",
]
