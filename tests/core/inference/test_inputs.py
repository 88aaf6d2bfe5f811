"""What a prediction starts from: checkpoint files, the image, the second shot."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.inference.inputs import (
    as_sem,
    checkpoint_file,
    find_second_shot,
    input_notes,
    load_second_shot,
)
from core.io import SemImage, SemReadError
from core.models import CheckpointError


def _png(path: Path, value: int = 100, shape: tuple[int, int] = (16, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return path


def test_checkpoint_file(tmp_path: Path) -> None:
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"x")
    (tmp_path / "m.json").write_text("{}")
    assert checkpoint_file(weights) == weights
    assert checkpoint_file(tmp_path / "m.json") == weights  # the card names its weights
    with pytest.raises(CheckpointError, match=r"nope\.safetensors: denoiser file not found"):
        checkpoint_file(tmp_path / "nope.safetensors", "denoiser")
    with pytest.raises(CheckpointError, match="not a file"):
        checkpoint_file(tmp_path)


def test_as_sem(tmp_path: Path) -> None:
    sem = SemImage.from_array(np.zeros((10, 10), np.uint8))
    assert as_sem(sem) is sem
    read = as_sem(_png(tmp_path / "a.png", 7))
    assert read.path == tmp_path / "a.png" and float(read.pixels.max()) == 7.0
    assert as_sem(np.ones((9, 8), np.uint16)).shape == (9, 8)
    with pytest.raises(ValueError, match=r"2-D \(rows, cols\) image array"):
        as_sem(np.zeros((9, 8, 2)))
    with pytest.raises(TypeError, match="cannot predict from int"):
        as_sem(3)
    with pytest.raises(SemReadError):
        as_sem(tmp_path / "missing.png")


def test_find_second_shot(tmp_path: Path) -> None:
    s0 = _png(tmp_path / "x_itr0.png")
    assert find_second_shot(s0) is None
    s2 = _png(tmp_path / "x_itr2.png")
    s1 = _png(tmp_path / "x_itr1.png")
    _png(tmp_path / "x_itr1.tif")  # another extension is another file set
    assert find_second_shot(s0) == s1  # the lowest other shot
    assert find_second_shot(s2) == s0
    assert find_second_shot(_png(tmp_path / "plain.png")) is None
    assert find_second_shot(None) is None


def test_load_second_shot(tmp_path: Path) -> None:
    s0 = _png(tmp_path / "y_itr0.png", 10)
    s1 = _png(tmp_path / "y_itr1.png", 51)
    sem = as_sem(s0)
    notes: list[str] = []
    arr, path = load_second_shot(sem, "auto", notes)
    assert path == s1 and arr is not None and arr.dtype == np.float32
    np.testing.assert_allclose(arr, 51 / 255, rtol=1e-6)
    assert load_second_shot(sem, None, notes) == (None, None)
    assert load_second_shot(sem, False, notes) == (None, None)
    given, none_path = load_second_shot(sem, np.full((16, 12), 255, np.uint8), notes)
    assert none_path is None and given is not None and float(given.min()) == 1.0
    assert notes == []
    wrong = _png(tmp_path / "other.png", shape=(20, 12))
    assert load_second_shot(sem, wrong, notes) == (None, None)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    assert load_second_shot(sem, bad, notes) == (None, None)
    assert notes[0] == f"second shot {wrong} ignored: shape (20, 12) differs from (16, 12)"
    assert notes[1].startswith(f"second shot ignored: {bad}")
    with pytest.raises(TypeError, match="second_shot: unsupported type int"):
        load_second_shot(sem, 5, notes)
    assert load_second_shot(as_sem(np.zeros((16, 12))), "auto", notes) == (None, None)


# ----------------------------------------------------------------------------- input checks
def test_input_notes_blank_constant_clipped() -> None:
    blank = SemImage.from_array(np.zeros((40, 30), np.uint16))
    assert input_notes(blank) == [
        "blank image: every pixel is 0; nothing to measure, the depth map is the model's "
        "answer to a flat field"
    ]
    grey = SemImage.from_array(np.full((40, 30), 77, np.uint8))
    assert input_notes(grey)[0].startswith("constant image: every pixel is 77;")
    img = np.random.default_rng(0).integers(1, 255, (100, 100), dtype=np.uint8)
    assert input_notes(SemImage.from_array(img)) == []
    img[:10] = 255  # 10 % white
    img[10:11, :50] = 0  # 0.5 % black: under the 2 % threshold
    assert input_notes(SemImage.from_array(img)) == [
        "10.0 % of the pixels are clipped white (255): depths there are unreliable"
    ]
    floats = SemImage.from_array(np.linspace(0, 1, 1200, dtype=np.float32).reshape(40, 30))
    assert input_notes(floats) == []  # no fixed range: nothing is clipped


def test_a_multi_page_file_is_a_note_not_a_warning(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "three.tif"
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path) as tw:
        for _ in range(3):
            tw.write(rng.integers(0, 255, (40, 30), dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw warning would fail here
        sem = as_sem(path)
    assert input_notes(sem) == [
        "multi-page TIFF file with 3 pages: only the first page is predicted"
    ]


def test_an_all_zero_16_bit_image_is_predicted_with_a_note(tiny_predictor) -> None:  # type: ignore[no-untyped-def]
    res = tiny_predictor.predict(SemImage.from_array(np.zeros((72, 48), np.uint16)), tta=False)
    assert res.depth.shape == (72, 48) and np.isfinite(res.depth).all()
    assert any(n.startswith("blank image: every pixel is 0") for n in res.notes)
