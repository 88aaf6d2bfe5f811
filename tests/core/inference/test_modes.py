"""Mode choice and the crop/field/tiled runners with a stand-in model (a ``stack``
function), so chunking, geometry, progress and cancel are checked without a network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.inference.holes import detect_holes
from core.inference.modes import (
    FIELD_PASSES_PER_CALL,
    ModeRun,
    NoHolesFoundError,
    choose_mode,
    hole_records,
    near_input_size,
    predict_field,
    predict_tiled,
    reflect_pad,
    run_mode,
    tile_geometry,
)
from core.progress import Cancelled, CancelToken, Progress
from tests.core.inference.helpers import INPUT_SIZE, hole_field


class Echo:
    """A stand-in model: depth = 255 x image, spread = 1, counting the windows it sees."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(
        self, windows: np.ndarray, second: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(len(windows))
        return windows * np.float32(255.0), np.ones_like(windows)


def _noise(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_near_input_size_is_half_to_one_and_a_half() -> None:
    assert near_input_size((36, 24), INPUT_SIZE) and near_input_size((108, 72), INPUT_SIZE)
    assert not near_input_size((35, 48), INPUT_SIZE)
    assert not near_input_size((72, 73), INPUT_SIZE)


def test_choose_mode() -> None:
    assert choose_mode("auto", _noise((80, 50)), INPUT_SIZE) == ("crop", None)
    chosen, holes = choose_mode("auto", _noise((300, 200)), INPUT_SIZE)
    assert chosen == "tiled" and holes is not None  # it looked, found no field
    img, centres = hole_field()
    chosen, holes = choose_mode("auto", img / np.float32(255), INPUT_SIZE)
    assert chosen == "field" and holes is not None and len(holes) == len(centres)
    assert choose_mode("tiled", img / np.float32(255), INPUT_SIZE) == ("tiled", None)
    assert choose_mode("crop", _noise((300, 200)), INPUT_SIZE) == ("crop", None)
    with pytest.raises(NoHolesFoundError, match=r"^a/b\.png: field mode found no holes"):
        choose_mode("field", np.full((200, 300), 0.5, np.float32), INPUT_SIZE, Path("a/b.png"))


def test_tile_geometry_by_hand() -> None:
    lay = tile_geometry((1000, 1000), border=32)
    # 3 tiles of (1000 + 2 * 96) / 3 = 398 -> 400 px (a multiple of 8) per side, overlap 96
    assert (lay.tile, lay.rows, lay.overlap) == ((400, 400), (0, 300, 600), 96)
    small = tile_geometry((100, 30))
    assert (small.tile, small.positions()) == ((100, 30), [(0, 0)])


def test_reflect_pad() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert reflect_pad(a, 1, 1)[0].tolist() == [4.0, 3.0, 4.0, 5.0, 4.0]
    assert reflect_pad(np.ones((1, 3)), 2, 0).shape == (5, 3)  # too thin to reflect: edge


def test_tiled_chunks_and_reproduces_the_image() -> None:
    work = _noise((700, 600))
    echo = Echo()
    seen: list[Progress] = []
    run = ModeRun(echo, INPUT_SIZE, batch_size=4, n_var=1, progress=seen.append, border=16)
    depth, unc, layout = predict_tiled(work, None, run)
    # 2 x 2 tiles (<= 512 px, overlap 48); 4 model inputs of 72 x 48 px per pass < 1 tile
    assert (len(layout.rows), len(layout.cols), layout.overlap) == (2, 2, 48)
    assert echo.calls == [1, 1, 1, 1]
    np.testing.assert_allclose(depth, work * 255.0, rtol=1e-5)
    np.testing.assert_allclose(unc, 1.0, rtol=1e-6)
    assert [(p.done, p.total, p.message) for p in seen] == [(k, 4, "tiles") for k in (1, 2, 3, 4)]


def test_tiled_packs_several_small_tiles_per_pass() -> None:
    from core.inference.stitch import tile_layout

    work = _noise((1200, 1100))
    lay = tile_layout(work.shape, (512, 512), 8, 8)
    n_tiles = len(lay.positions())
    per = (16384 * 8 * 8) // (lay.tile[0] * lay.tile[1])  # 16384 inputs of 8 x 8 px / pass
    echo = Echo()
    predict_tiled(work, None, ModeRun(echo, (8, 8), batch_size=16384, n_var=1, border=8))
    rest = [n_tiles % per] if n_tiles % per else []
    assert per >= 2 and echo.calls == [per] * (n_tiles // per) + rest
    many = Echo()
    predict_tiled(work, None, ModeRun(many, (8, 8), batch_size=16384, n_var=4 * per, border=8))
    assert many.calls == [1] * n_tiles


def test_cancel_before_the_first_pass() -> None:
    token = CancelToken()
    token.cancel()
    echo = Echo()
    with pytest.raises(Cancelled):
        predict_tiled(_noise((300, 200)), None, ModeRun(echo, INPUT_SIZE, 4, 1, cancel=token))
    assert echo.calls == []


def test_field_windows_sit_on_the_holes() -> None:
    img, _ = hole_field()
    work = img / np.float32(255)
    holes = detect_holes(work, INPUT_SIZE)
    echo = Echo()
    run = ModeRun(echo, INPUT_SIZE, batch_size=1, n_var=1)
    depth, unc = predict_field(work, None, holes, run)
    per = FIELD_PASSES_PER_CALL  # windows per call: that many forward passes of 1
    assert len(holes) > per
    assert echo.calls == [per] * (len(holes) // per) + (
        [len(holes) % per] if len(holes) % per else []
    )
    for h in holes:  # each window's centre has weight 1: the model's answer itself
        r, c = round(h.row), round(h.col)
        assert depth[r, c] == pytest.approx(255.0 * work[r, c], rel=1e-5)
        assert unc[r, c] == pytest.approx(1.0)


def test_run_mode_reports_the_geometry() -> None:
    work = _noise((80, 50))
    run = ModeRun(Echo(), INPUT_SIZE, 16, 1)
    depth, unc, geometry = run_mode("crop", work, None, None, run)
    assert geometry == {} and np.allclose(depth, work * 255.0) and np.all(unc == 1.0)
    _, _, geometry = run_mode("tiled", _noise((300, 200)), None, None, run)
    assert geometry == {"tile": [300, 200], "overlap": 96, "tile_margin": 32, "tiles": 1}
    img, _ = hole_field()
    holes = detect_holes(img / np.float32(255), INPUT_SIZE)
    _, _, geometry = run_mode("field", img / np.float32(255), None, holes, run)
    assert geometry == {"window": [72, 48]}


def test_hole_records_map_back_to_the_original_grid() -> None:
    img, _ = hole_field()
    work = img / np.float32(255)
    holes = detect_holes(work, INPUT_SIZE)
    depth = work * np.float32(255)
    unc = np.full_like(depth, 0.5)
    same = hole_records(holes, depth, unc, 1.0, 2.0)
    h, rec = holes[0], same[0]
    assert (rec.id, rec.row, rec.col) == (1, pytest.approx(h.row), pytest.approx(h.col))
    assert rec.diameter_nm == pytest.approx(2.0 * h.diameter_px)
    inside = depth[h.coords[:, 0], h.coords[:, 1]]
    assert rec.mean_depth == pytest.approx(float(inside.mean()), rel=1e-6)
    assert rec.bottom_depth < rec.mean_depth and rec.uncertainty == pytest.approx(0.5)
    half = hole_records(holes, depth, unc, 2.0, None)[0]  # the work grid was enlarged 2x
    assert half.row == pytest.approx((h.row + 0.5) / 2 - 0.5)
    assert half.diameter_px == pytest.approx(h.diameter_px / 2) and half.diameter_nm is None
