"""Predictor: modes, stitching, TTA uncertainty, second shots, threads, checkpoint safety
(resampling: test_resample.py; fast paths: test_fastpath.py)."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.inference import NoHolesFoundError, Predictor
from core.io import SemImage
from core.progress import Cancelled, CancelToken, Progress
from tests.core.inference.helpers import (
    ShiftRight,
    Times255,
    hole_field,
    make_checkpoint,
    predictor_for,
)


def _rand_u8(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ----------------------------------------------------------------------------- crop
def test_crop_mode_keeps_shape_and_matches_the_model(tiny_predictor: Predictor) -> None:
    img = _rand_u8((70, 45))  # not a multiple of the U-Net's stride (4)
    res = tiny_predictor.predict(img, tta=False)
    assert res.mode == "crop"
    assert res.depth.shape == (70, 45) and res.depth.dtype == np.float32
    with torch.inference_mode():
        direct = tiny_predictor.model(torch.from_numpy(img / np.float32(255))[None, None])
    np.testing.assert_allclose(res.depth, direct[0, 0].numpy(), atol=1e-4)
    assert res.settings["predictions_per_pixel"] == 1
    assert np.all(res.uncertainty == 0)
    assert any("uncertainty not estimated" in n for n in res.notes)


def test_tta_mean_is_the_average_of_unflipped_flips(tiny_predictor: Predictor) -> None:
    img = _rand_u8((72, 48), seed=1)
    x = img.astype(np.float32) / 255
    res = tiny_predictor.predict(img, tta=True)
    outs = []
    for flip in ((), (-1,), (-2,), (-2, -1)):
        t = torch.from_numpy(x)[None, None]
        t = torch.flip(t, flip) if flip else t
        with torch.inference_mode():
            y = tiny_predictor.model(t)
        outs.append((torch.flip(y, flip) if flip else y)[0, 0].numpy())
    stack = np.stack(outs)
    np.testing.assert_allclose(res.depth, stack.mean(0), atol=1e-4)
    np.testing.assert_allclose(res.uncertainty, stack.std(0), atol=1e-4)


# ----------------------------------------------------------------------------- TTA
def test_tta_uncertainty_zero_for_flip_equivariant_model() -> None:
    pred = predictor_for(Times255())
    img = _rand_u8((72, 48), seed=2)
    res = pred.predict(img)
    assert float(res.uncertainty.max()) == 0.0
    np.testing.assert_allclose(res.depth, img.astype(np.float32), atol=1e-3)


def test_tta_uncertainty_positive_for_non_equivariant_model() -> None:
    pred = predictor_for(ShiftRight())
    img = _rand_u8((72, 48), seed=3)
    res = pred.predict(img)
    assert float(res.uncertainty.mean()) > 1.0


def test_second_shot_enters_mean_and_spread(tmp_path: Path) -> None:
    from PIL import Image

    a = _rand_u8((72, 48), seed=4)
    b = _rand_u8((72, 48), seed=5)
    Image.fromarray(a).save(tmp_path / "s_itr0.png")
    Image.fromarray(b).save(tmp_path / "s_itr1.png")
    pred = predictor_for(Times255())
    res = pred.predict(tmp_path / "s_itr0.png")  # second shot found beside it
    assert res.settings["second_shot"] == str(tmp_path / "s_itr1.png")
    assert res.settings["predictions_per_pixel"] == 8
    af, bf = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose(res.depth, (af + bf) / 2, atol=1e-3)
    np.testing.assert_allclose(res.uncertainty, np.abs(af - bf) / 2, atol=1e-3)
    alone = pred.predict(tmp_path / "s_itr0.png", second_shot=None)
    assert float(alone.uncertainty.max()) == 0.0
    given = pred.predict(a, second_shot=b)
    np.testing.assert_allclose(given.depth, res.depth, atol=1e-4)


# ----------------------------------------------------------------------------- tiled
def test_tiled_stitching_reproduces_a_known_function_exactly() -> None:
    pred = predictor_for(Times255())
    img = _rand_u8((700, 600), seed=6)
    res = pred.predict(img, mode="tiled", tta=False)
    assert res.mode == "tiled"
    assert res.depth.shape == (700, 600)
    tile = res.settings["tile"]
    assert tile[0] < 700 and tile[1] < 600  # several overlapping tiles were blended
    assert res.settings["tiles"] == 4
    np.testing.assert_allclose(res.depth, img.astype(np.float32), atol=2e-3)


def test_tiled_seams_cross_fade_between_tiles() -> None:
    """A model whose output is a constant per tile (its input mean): the stitched map
    must vary smoothly across seams (a raised-cosine cross-fade, never a jump)."""

    class TileMean(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(-2, -1), keepdim=True).expand_as(x) * 255.0

    pred = predictor_for(TileMean())
    ramp = np.tile(np.linspace(0, 255, 1200, dtype=np.float32), (300, 1))
    res = pred.predict(ramp.astype(np.uint8), mode="tiled", tta=False)
    jumps = np.abs(np.diff(res.depth, axis=1))
    fade = res.settings["tile_margin"]  # the cross-fade is as long as the margin
    n_cols = 1200 // res.settings["tile"][1] + 1
    tile_means_step = 255.0 * 1200 / n_cols / 1200 * 1.5  # neighbouring tile means differ less
    # a sin^2 cross-fade over ``fade`` px changes by at most pi / (2 fade) of the difference
    assert jumps.max() <= tile_means_step * np.pi / (2 * fade) + 1e-3


def test_auto_mode_is_tiled_for_plain_noise(tiny_predictor: Predictor) -> None:
    res = tiny_predictor.predict(_rand_u8((300, 200), seed=7), tta=False)
    assert res.mode == "tiled" and res.holes is None
    assert res.depth.shape == (300, 200)


# ----------------------------------------------------------------------------- field
def test_field_mode_finds_every_hole_within_2px() -> None:
    img, centres = hole_field()
    pred = predictor_for(Times255(), **{"output": {"nm_per_depth_unit": 2.0}})
    sem = SemImage.from_array(img, pixel_size_nm=1.5)
    res = pred.predict(sem, resample=False)
    assert res.mode == "field"
    assert res.depth.shape == img.shape and res.uncertainty.shape == img.shape
    assert res.holes is not None and len(res.holes) == len(centres)
    found = np.array([[h.row, h.col] for h in res.holes])
    for r, c in centres:
        assert np.hypot(found[:, 0] - r, found[:, 1] - c).min() < 2.0
    h = res.holes[0]
    assert [x.id for x in res.holes] == list(range(1, len(centres) + 1))
    assert h.diameter_nm == pytest.approx(h.diameter_px * 1.5)
    assert 18 < h.diameter_px < 26  # the dark core of an r = 11 px hole
    # Times255: the depth inside a hole is its pixel value (~40-70 DU), the bottom lower
    assert 30 < h.bottom_depth < h.mean_depth < 80
    assert res.depth_nm is not None
    np.testing.assert_allclose(res.depth_nm, res.depth * 2.0, rtol=1e-6)


def test_field_mode_forced_without_holes_fails_clearly(tiny_predictor: Predictor) -> None:
    flat = np.full((200, 300), 128, np.uint8)
    with pytest.raises(NoHolesFoundError, match="field mode found no holes"):
        tiny_predictor.predict(flat, mode="field")


# ----------------------------------------------------------------------------- progress
def test_cancel_and_progress(tiny_predictor: Predictor) -> None:
    seen: list[Progress] = []
    tiny_predictor.predict(_rand_u8((300, 200)), mode="tiled", tta=False, progress=seen.append)
    assert seen and seen[-1].done == seen[-1].total
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        tiny_predictor.predict(_rand_u8((300, 200)), mode="tiled", cancel=token)


def test_one_predictor_is_safe_from_several_threads(tiny_predictor: Predictor) -> None:
    images = [_rand_u8((72, 48), seed=s) for s in range(6)]
    serial = [tiny_predictor.predict(im).depth for im in images]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = tiny_predictor.predict(images[i]).depth

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        np.testing.assert_allclose(results[i], serial[i], atol=1e-5)


# ----------------------------------------------------------------------------- checkpoints
class _Touch:
    """Unpickling this creates the marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["evil.pt", "evil.pkl", "evil.safetensors", "evil.ckpt"])
def test_pickle_files_are_refused_and_never_unpickled(tmp_path: Path, name: str) -> None:
    from core.models import CheckpointError

    marker = tmp_path / "PWNED"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state": _Touch(marker)}, protocol=4))
    good = make_checkpoint(tmp_path, "good")
    path.with_suffix(".json").write_text(good.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError, match=r"pickle|refusing") as err:
        Predictor.from_checkpoint(path, device="cpu")
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_torch_save_zip_is_refused(tmp_path: Path) -> None:
    from core.models import CheckpointError

    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=str(path.name)):
        Predictor.from_checkpoint(path, device="cpu")


def test_missing_malformed_and_unknown_cards_are_refused(tmp_path: Path) -> None:
    from core.models import CheckpointError

    with pytest.raises(CheckpointError, match="not found"):
        Predictor.from_checkpoint(tmp_path / "nope.safetensors", device="cpu")
    p = make_checkpoint(tmp_path, "m")
    card = p.with_suffix(".json")
    text = card.read_text()
    card.unlink()
    with pytest.raises(CheckpointError, match=r"m\.json"):
        Predictor.from_checkpoint(p, device="cpu")
    card.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        Predictor.from_checkpoint(p, device="cpu")
    bad = json.loads(text)
    bad["architecture"]["name"] = "transformer-9000"
    card.write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="unknown architecture"):
        Predictor.from_checkpoint(p, device="cpu")
    nosize = json.loads(text)
    del nosize["input"]["size"]
    card.write_text(json.dumps(nosize))
    with pytest.raises(CheckpointError, match=r"input\.size"):
        Predictor.from_checkpoint(p, device="cpu")


def test_describe_reports_the_choices(tiny_predictor: Predictor) -> None:
    d = tiny_predictor.describe()
    assert d["fast_path"] == "fp32" and d["device"] == "cpu"
    assert d["input_size"] == [72, 48] and d["model_id"] == "tiny-test-unet"


def test_refuses_a_denoiser_checkpoint_as_depth_model(tmp_path) -> None:
    from core.inference import Predictor
    from core.models import CheckpointError
    from tests.core.inference.helpers import make_checkpoint

    path = make_checkpoint(tmp_path, "denoiser", task="denoise")
    with pytest.raises(CheckpointError, match="'denoise' model, not a depth model"):
        Predictor.from_checkpoint(path, device="cpu")


def test_model_trained_without_flips_gets_shift_tta() -> None:
    """No mirrored images for a model that never saw any: 1-px shifts instead."""
    from core.inference.tta import tta_kind_for

    assert tta_kind_for({}) == "flips"
    assert tta_kind_for({"training": {"augment": True}}) == "flips"
    assert tta_kind_for({"training": {"augment": False}}) == "shifts"

    rng = np.random.default_rng(3)
    img = rng.random((72, 48)).astype(np.float32)
    pred = predictor_for(Times255(), training={"augment": False})
    sem = SemImage.from_array(img)
    res = pred.predict(sem, mode="crop", tta=True)
    assert res.settings["tta_kind"] == "shifts"
    assert res.settings["predictions_per_pixel"] == 5
    # a pointwise model is shift-equivariant: away from the 1-px reflected border the
    # five un-shifted answers agree exactly, so the mean is the input and the spread 0
    inner = (slice(1, -1), slice(1, -1))
    expected = sem.normalized() * 255.0  # float input: min-max to 0..1
    np.testing.assert_allclose(res.depth[inner], expected[inner], rtol=1e-6, atol=1e-3)
    assert float(np.abs(res.uncertainty[inner]).max()) < 1e-3
    # a model whose answer depends on the absolute column is not: the spread is positive

    class ColumnWeighted(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 255.0 * torch.linspace(0.0, 1.0, x.shape[-1])

    res2 = predictor_for(ColumnWeighted(), training={"augment": False}).predict(
        sem, mode="crop", tta=True
    )
    assert float(res2.uncertainty[inner].mean()) > 0.5


def test_tile_seams_on_a_simulated_field_are_invisible(tiny_predictor: Predictor) -> None:
    """The seam figure of bench/speed.py with a looser bound: on a simulated hole field,
    steps across tile borders are at most 1.5x the steps elsewhere (a real network with
    zero padding: the tiny U-Net)."""
    from core.inference.stitch import seam_steps
    from core.synth.field import render_field

    field = render_field(2, 0, size=(640, 1100))
    res = tiny_predictor.predict(SemImage.from_array(field.sem), mode="tiled", tta=False)
    layout = tiny_predictor.tile_geometry(res.depth.shape)
    assert len(layout.rows) * len(layout.cols) >= 4
    steps = seam_steps(res.depth, layout)
    assert steps["edges_ratio"] <= 1.5 and steps["zones_ratio"] <= 1.5, steps
