"""expand_inputs / iter_inputs: files, folders, globs; ground truth and outputs skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.batch import expand_inputs, iter_inputs
from tests.core.batch.helpers import png as _png


def test_expand_inputs_files_folders_globs_and_skips(tmp_path: Path) -> None:
    root = tmp_path / "data"
    a = _png(root / "SEM" / "Case_1" / "80" / "x_itr0.png")
    b = _png(root / "SEM" / "Case_1" / "80" / "x_itr1.png")
    _png(root / "Depth" / "Case_1" / "80" / "x.png")  # ground truth: skipped
    _png(root / "imgs" / "y.tif")
    _png(root / "imgs" / "y_depth.png")  # ground truth by name: skipped
    (root / "imgs" / "notes.txt").write_text("not an image")
    got = expand_inputs([root])
    assert got == [root / "SEM" / "Case_1" / "80" / "x_itr0.png", b, root / "imgs" / "y.tif"]
    assert expand_inputs([str(root / "SEM" / "**" / "*_itr0.png")]) == [a]
    # explicit files are kept as given (even missing ones: they fail per file), no dups
    missing = tmp_path / "missing.png"
    assert expand_inputs([a, missing, a, root / "imgs"]) == [a, missing, root / "imgs" / "y.tif"]


def test_iter_inputs_keeps_duplicates_and_order(tmp_path: Path) -> None:
    a = _png(tmp_path / "a.png")
    b = _png(tmp_path / "b.png")
    assert list(iter_inputs([b, a, b])) == [b, a, b]
    assert expand_inputs([b, a, b]) == [b, a]


def test_folders_skip_output_folder_and_non_input_folders(tmp_path: Path) -> None:
    root = tmp_path / "data"
    keep = _png(root / "x.png")
    _png(root / "out" / "x_depth.png")
    _png(root / "out" / "other.png")  # under the excluded output folder
    _png(root / "SEM_clean" / "x.png")  # noise-free renderings are never input
    _png(root / "depth" / "x.png")
    _png(root / "x_uncertainty.tif")
    _png(root / "x_depth8.png")
    assert expand_inputs([root], exclude=[root / "out"]) == [keep]
    assert expand_inputs([root]) == [keep, root / "out" / "other.png"]


def test_glob_keeps_images_only_and_honours_exclude(tmp_path: Path) -> None:
    a = _png(tmp_path / "a.png")
    c = _png(tmp_path / "c.bmp")
    (tmp_path / "b.txt").write_text("x")
    d = _png(tmp_path / "out" / "d.png")
    assert expand_inputs([str(tmp_path / "*.*")]) == [a, c]
    assert expand_inputs([str(tmp_path / "?.png")]) == [a]
    assert expand_inputs([str(tmp_path / "**" / "*.png")]) == [a, d]
    assert expand_inputs([str(tmp_path / "**" / "*.png")], exclude=[tmp_path / "out"]) == [a]
    # a glob matching nothing gives nothing (a missing plain path is kept: it fails per file)
    assert expand_inputs([str(tmp_path / "*.jpg")]) == []


def test_folder_walk_is_sorted_depth_first(tmp_path: Path) -> None:
    b2 = _png(tmp_path / "b" / "2.png")
    a9 = _png(tmp_path / "a" / "9.png")
    top = _png(tmp_path / "z.png")
    a1 = _png(tmp_path / "a" / "1.PNG")  # suffixes are case-insensitive
    assert expand_inputs([tmp_path]) == [top, a1, a9, b2]


def test_hidden_files_never_count_in_folders_globs_or_ground_truth(tmp_path: Path) -> None:
    """macOS copies leave ``._name.png`` resource forks beside each image: junk bytes that
    a folder scan must not queue as inputs (an explicit file is kept as given)."""
    from core.batch.ground_truth import match_ground_truth

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.png").write_bytes(b"png")
    (src / "._a.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    assert expand_inputs([src]) == [src / "a.png"]
    assert expand_inputs([str(src / "*.png")]) == [src / "a.png"]
    assert expand_inputs([src / "._a.png"]) == [src / "._a.png"]
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "._a.png").write_bytes(b"junk")
    truth = match_ground_truth(src / "a.png", np.zeros((2, 2), np.float32), gt)
    assert truth.path is None
