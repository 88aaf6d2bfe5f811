"""find_ground_truth (the four rules) and match_ground_truth (RMSE or a note)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import find_ground_truth, forget_ground_truth_folders, match_ground_truth
from tests.core.batch.helpers import png as _png


def test_ground_truth_dacon_layout(tmp_path: Path) -> None:
    sem = _png(tmp_path / "simulation_data" / "SEM" / "Case_2" / "81" / "s_itr1.png")
    gt = _png(tmp_path / "simulation_data" / "Depth" / "Case_2" / "81" / "s.png")
    assert find_ground_truth(sem) == gt


def test_ground_truth_sibling_depth_folder(tmp_path: Path) -> None:
    sem = _png(tmp_path / "run" / "a.png")
    gt = _png(tmp_path / "run" / "depth" / "a.png")
    assert find_ground_truth(sem) == gt
    sem2 = _png(tmp_path / "run2" / "images" / "b.png")
    gt2 = _png(tmp_path / "run2" / "Depth" / "b.tif")
    assert find_ground_truth(sem2) == gt2


def test_ground_truth_stem_depth_beside(tmp_path: Path) -> None:
    sem = _png(tmp_path / "c.png")
    assert find_ground_truth(sem) is None
    gt = _png(tmp_path / "c_depth.png")
    assert find_ground_truth(sem) == gt


def test_ground_truth_gt_dir_override(tmp_path: Path) -> None:
    sem = _png(tmp_path / "in" / "Case_1" / "80" / "h_itr0.png")
    _png(tmp_path / "in" / "h_depth.png")  # would match rule 4: gt_dir wins
    other = _png(tmp_path / "gt" / "Case_2" / "80" / "h.png")
    right = _png(tmp_path / "gt" / "Case_1" / "80" / "h.png")
    assert find_ground_truth(sem, tmp_path / "gt") == right
    other_sem = tmp_path / "in" / "Case_2" / "80" / "h_itr0.png"
    assert find_ground_truth(other_sem, tmp_path / "gt") == other
    assert find_ground_truth(_png(tmp_path / "in" / "zz.png"), tmp_path / "gt") is None


def test_ground_truth_prefers_the_sem_files_own_extension(tmp_path: Path) -> None:
    sem = _png(tmp_path / "SEM" / "s.tif")
    _png(tmp_path / "Depth" / "s.png")
    own = _png(tmp_path / "Depth" / "s.tif")
    assert find_ground_truth(sem) == own


def test_ground_truth_never_the_file_itself(tmp_path: Path) -> None:
    sem = _png(tmp_path / "gt" / "k.png")
    assert find_ground_truth(sem, tmp_path / "gt") is None
    assert find_ground_truth(sem, tmp_path / "no-such-folder") is None


def test_gt_dir_listing_is_cached_until_forgotten(tmp_path: Path) -> None:
    forget_ground_truth_folders()
    sem = _png(tmp_path / "in" / "late.png")
    (tmp_path / "gt").mkdir()
    assert find_ground_truth(sem, tmp_path / "gt") is None
    late = _png(tmp_path / "gt" / "late.png")
    assert find_ground_truth(sem, tmp_path / "gt") is None  # the folder's listing is cached
    forget_ground_truth_folders()  # what run_batch does at its start
    assert find_ground_truth(sem, tmp_path / "gt") == late


def _save(path: Path, values: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8)).save(path)
    return path


def test_match_gives_the_rmse_against_the_truth(tmp_path: Path) -> None:
    sem = _png(tmp_path / "SEM" / "m.png")
    truth = np.array([[10, 20], [30, 40]] * 4, dtype=np.uint8).repeat(4, axis=1)  # 8 x 8
    gt_path = _save(tmp_path / "Depth" / "m.png", truth)
    depth = truth.astype(np.float32) + np.float32(3.0)
    depth[0, 0] -= 8.0  # one pixel 5 DU below the truth, the other 63 pixels 3 DU above
    match = match_ground_truth(sem, depth)
    assert match.path == gt_path and match.notes == []
    assert match.depth is not None and np.array_equal(match.depth, truth.astype(np.float32))
    assert match.rmse == pytest.approx(np.sqrt((63 * 9 + 25) / 64), rel=1e-12)


def test_match_without_truth_is_empty(tmp_path: Path) -> None:
    match = match_ground_truth(_png(tmp_path / "lonely.png"), np.zeros((72, 48), np.float32))
    assert (match.path, match.depth, match.rmse, match.notes) == (None, None, None, [])


def test_match_notes_a_shape_mismatch(tmp_path: Path) -> None:
    sem = _png(tmp_path / "s.png")
    gt_path = _save(tmp_path / "s_depth.png", np.zeros((10, 12)))
    match = match_ground_truth(sem, np.zeros((72, 48), np.float32))
    assert match.path == gt_path and match.rmse is None and match.depth is None
    assert match.notes == [
        f"ground truth {gt_path} has shape (10, 12), prediction (72, 48): no RMSE"
    ]


def test_match_notes_an_unreadable_truth(tmp_path: Path) -> None:
    sem = _png(tmp_path / "u.png")
    bad = tmp_path / "u_depth.png"
    bad.write_bytes(b"not a png at all")
    match = match_ground_truth(sem, np.zeros((72, 48), np.float32))
    assert match.path == bad and match.rmse is None
    assert len(match.notes) == 1 and match.notes[0].startswith(f"ground truth unreadable: {bad}")
