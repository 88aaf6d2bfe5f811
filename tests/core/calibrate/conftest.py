"""A tiny U-Net checkpoint and a folder of small SEM-like images for the calibration tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.models import create_model, save_checkpoint
from core.models.card import depth_output_section, input_section

SHAPE = (72, 48)
#: relative path of each test image -> the hole depth below its top (DU) drawn on it
IMAGES = {
    "a_itr0.png": 40.0,
    "a_itr1.png": 40.0,
    "b_itr0.png": 80.0,
    "b_itr1.png": 80.0,
    "site_1/c_itr0.png": 60.0,
    "site_2/c_itr0.png": 100.0,
}


def hole_image(depth_du: float, seed: int) -> np.ndarray:
    """A bright top with a dark disk whose darkness grows with ``depth_du`` (uint8)."""
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    disk = np.hypot(rr - 36, cc - 24) <= 12
    img = np.full(SHAPE, 170.0)
    img[disk] = 170.0 - depth_du
    img += np.random.default_rng(seed).normal(0, 4, SHAPE)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_images(root: Path) -> Path:
    for k, (rel, depth) in enumerate(IMAGES.items()):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(hole_image(depth, k)).save(p)
    return root


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_images(tmp_path / "images")


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("unet", levels=1, base_width=4)


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    card = {
        "id": "unet-source000000",
        "input": input_section(size=list(SHAPE), pixel_size_nm=2.0),
        "output": depth_output_section(nm_per_depth_unit=0.5),
    }
    return save_checkpoint(tmp_path / "models" / "source", tiny_model(), card)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


AVERAGES = "image,average_depth_du\na,150\nb,140\nsite_1,145.5\nsite_2/c_itr0.png,130\n"
POINTS = "image,x_px,y_px,depth_nm\na_itr0.png,24,36,20\nb,24,36,40\nsite_1/c,24,36,30\n"
