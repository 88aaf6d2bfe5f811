"""The data-bar heuristic: finds rendered info panels, leaves image content alone."""

from __future__ import annotations

import numpy as np

from core.io import read_sem
from core.io.databar import detect_databar

from .helpers import write_tiff


def _noise(rows: int = 200, cols: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (rows, cols)).astype(np.uint8)


def _with_panel(img: np.ndarray, start: int) -> np.ndarray:
    """A Zeiss-like data zone from row ``start``: black border line, white panel, black text,
    drawn as an inset box (2 image columns each side and 2 image rows below stay visible)."""
    out = img.copy()
    rows, cols = out.shape
    out[start, 2 : cols - 2] = 0
    out[start + 1 : rows - 2, 2 : cols - 2] = 255
    for k in range(6):  # "text": dark blocks, ~10 % of the panel
        out[start + 6 : start + 14, 10 + 40 * k : 26 + 40 * k] = 0
        out[start + 18 : start + 24, 14 + 40 * k : 30 + 40 * k] = 0
    return out


def test_finds_inset_panel():
    img = _with_panel(_noise(), 170)
    assert detect_databar(img) == 30


def test_full_width_panel_to_the_bottom():
    img = _noise()
    img[160] = 255
    img[161:] = 20
    img[170:180, 20:200] = 250
    assert detect_databar(img) == 40


def test_plain_images_are_not_cut():
    assert detect_databar(_noise()) == 0
    flat_bottom = _noise()
    flat_bottom[150:] = 0  # a dark, featureless region: not a panel
    assert detect_databar(flat_bottom) == 0
    void = _noise()
    void[140:] = 0
    rng = np.random.default_rng(1)
    for _ in range(40):  # noisy bright particles in a black void
        r, c = rng.integers(145, 195), rng.integers(5, 250)
        void[r : r + 3, c : c + 3] = rng.integers(150, 255, (3, 3))
    assert detect_databar(void) == 0
    assert detect_databar(np.zeros((200, 256))) == 0
    assert detect_databar(_noise(40, 40)) == 0  # too small to judge


def test_vendor_tiff_without_bar_metadata_uses_heuristic(tmp_path):
    img = _with_panel(_noise(), 170)
    blob = b"\xff\xd9PixelSizeX=2e-9\r\n"  # TESCAN tag without ImageStripSize
    path = write_tiff(tmp_path / "t.tif", img, extratags=[(50431, "B", len(blob), blob, True)])
    sem = read_sem(path)
    assert sem.vendor == "TESCAN" and sem.databar_height == 30 and sem.shape == (170, 256)
    assert sem.metadata["databar_source"] == "image heuristic (bottom rows)"
    np.testing.assert_array_equal(sem.pixels, img[:170])
    full = read_sem(path, strip_databar=False)
    assert full.shape == (200, 256) and full.metadata["databar_detected"] == 30


def test_same_pixels_without_vendor_are_never_cut(tmp_path):
    img = _with_panel(_noise(), 170)
    sem = read_sem(write_tiff(tmp_path / "plain.tif", img))
    assert sem.databar_height == 0 and sem.shape == (200, 256)
