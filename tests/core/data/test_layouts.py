"""Finding and pairing files in the DACON, paired-folder and unlabeled layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data import (
    DatasetError,
    DepthDataset,
    detect_layout,
    find_dacon_pairs,
    find_dacon_train,
    find_paired_folder,
    find_records,
    find_unlabeled,
    load_average_depth_csv,
    read_synth_meta,
)

from .helpers import H, W, make_dacon, pattern, save_gray


def test_dacon_pairs_every_case_bucket_and_shot(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=3)
    recs = find_dacon_pairs(tmp_path)
    assert len(recs) == 3 * 4 * 2
    assert {r.case for r in recs} == {"Case_1", "Case_2", "Case_3", "Case_4"}
    assert {r.bucket for r in recs} == {"80", "81"}
    assert {r.shot for r in recs} == {0, 1}
    assert {r.structure for r in recs} == {"struct000", "struct001", "struct002"}
    for r in recs:
        assert r.depth_path is not None
        # same case, bucket and name on both sides
        assert r.sem_path.parent.name == r.depth_path.parent.name == r.bucket
        assert r.sem_path.parent.parent.name == r.depth_path.parent.parent.name == r.case
        assert r.sem_path.stem == f"{r.depth_path.stem}_itr{r.shot}"
    # the pixel codes line up: SEM = depth + shot + 1 (away from the marker pixel)
    ds = DepthDataset(recs, preload=True)
    for i, r in enumerate(recs):
        item = ds[i]
        sem_du = float(item["sem"][0, 5, 5]) * 255.0
        depth_du = float(item["depth"][0, 5, 5])
        assert sem_du == pytest.approx(depth_du + r.shot + 1, abs=1e-3)
    # simulation_data itself works as the root, and find_records detects the layout
    assert find_dacon_pairs(tmp_path / "simulation_data") == recs
    assert detect_layout(tmp_path) == "dacon"
    assert find_records(tmp_path) == recs


def test_missing_depth_is_listed(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=2)
    gone = tmp_path / "simulation_data" / "Depth" / "Case_2" / "81" / "struct001.png"
    gone.unlink()
    with pytest.raises(DatasetError) as err:
        find_dacon_pairs(tmp_path)
    msg = str(err.value)
    assert "2 SEM image(s) have no depth map" in msg
    assert (
        str(gone.parent.parent.parent.parent / "SEM" / "Case_2" / "81" / "struct001_itr0.png")
        in msg
    )
    assert "struct001_itr1.png" in msg


def test_missing_depth_list_is_capped_at_20(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=4)
    for p in (tmp_path / "simulation_data" / "Depth").rglob("*.png"):
        p.unlink()
    with pytest.raises(DatasetError) as err:
        find_dacon_pairs(tmp_path)
    msg = str(err.value)
    assert "32 SEM image(s) have no depth map" in msg
    assert "... and 12 more" in msg
    assert msg.count("_itr0.png") + msg.count("_itr1.png") == 20


def test_depth_without_sem_is_listed(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=2)
    extra = save_gray(
        tmp_path / "simulation_data" / "Depth" / "Case_1" / "80" / "orphan.png", pattern(1)
    )
    with pytest.raises(DatasetError, match=r"1 depth map\(s\) have no SEM image") as err:
        find_dacon_pairs(tmp_path)
    assert str(extra) in str(err.value)


def test_no_simulation_data(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no DACON simulation data"):
        find_dacon_pairs(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"no images found"):
        find_records(tmp_path / "empty")


def test_paired_folder(tmp_path: Path) -> None:
    for stem in ("a", "b", "sub/c"):
        save_gray(tmp_path / "SEM" / f"{stem}.png", pattern(1))
        save_gray(tmp_path / "Depth" / f"{stem}.png", pattern(2))
    recs = find_paired_folder(tmp_path)
    assert [r.structure for r in recs] == ["a", "b", "sub/c"]
    assert all(r.depth_path is not None and r.depth_path.stem == r.sem_path.stem for r in recs)
    assert detect_layout(tmp_path) == "paired"
    assert find_records(tmp_path) == recs
    (tmp_path / "Depth" / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"1 SEM image\(s\) have no depth map") as err:
        find_paired_folder(tmp_path)
    assert str(tmp_path / "SEM" / "b.png") in str(err.value)


def test_paired_folder_needs_depth(tmp_path: Path) -> None:
    save_gray(tmp_path / "SEM" / "a.png", pattern(1))
    with pytest.raises(DatasetError, match=r"no Depth/ folder"):
        find_paired_folder(tmp_path)


def test_unlabeled_folder(tmp_path: Path) -> None:
    save_gray(tmp_path / "x" / "one.png", pattern(1))
    save_gray(tmp_path / "x" / "deep" / "two_itr1.png", pattern(2))
    (tmp_path / "x" / "notes.txt").write_text("not an image")
    recs = find_unlabeled(tmp_path / "x")
    assert [r.sem_path.name for r in recs] == ["two_itr1.png", "one.png"]
    assert [r.structure for r in recs] == ["deep/two", "one"]
    assert all(r.depth_path is None for r in recs)
    assert recs[0].shot == 1
    ds = DepthDataset(recs, preload=True)
    item = ds[1]
    assert "depth" not in item
    assert item["sem"].shape == (1, H, W)
    assert np.allclose(item["sem"][0].numpy() * 255.0, pattern(1), atol=1e-3)
    # a single file, and the test/SEM folder of a DACON download
    assert len(find_unlabeled(tmp_path / "x" / "one.png")) == 1
    save_gray(tmp_path / "test" / "SEM" / "000.png", pattern(3))
    assert detect_layout(tmp_path / "test") == "unlabeled"
    assert [r.sem_path.name for r in find_records(tmp_path / "test")] == ["000.png"]


def test_average_depth_csv(tmp_path: Path) -> None:
    csv = tmp_path / "average_depth.csv"
    csv.write_text("0,1\ndepth_110_site_00000,140.5\ndepth_120_site_00001,131.25\n")
    assert load_average_depth_csv(csv) == {
        "depth_110_site_00000": 140.5,
        "depth_120_site_00001": 131.25,
    }
    csv.write_text("0,1\ndepth_110_site_00000,deep\n")
    with pytest.raises(DatasetError, match=r"line 2: depth 'deep' is not a number") as err:
        load_average_depth_csv(csv)
    assert str(csv) in str(err.value)
    csv.write_text("depth_110_site_00000\n")
    with pytest.raises(DatasetError, match=r"expected 2 columns"):
        load_average_depth_csv(csv)
    with pytest.raises(DatasetError, match=r"not found"):
        load_average_depth_csv(tmp_path / "nope.csv")


def test_dacon_real_train_records(tmp_path: Path) -> None:
    train = tmp_path / "train"
    for bucket, site in (("Depth_110", "site_00000"), ("Depth_120", "site_00001")):
        for k in range(2):
            save_gray(train / "SEM" / bucket / site / f"img{k}.png", pattern(k))
    (train / "average_depth.csv").write_text(
        "0,1\ndepth_110_site_00000,140.5\ndepth_120_site_00001,131.25\n"
    )
    assert detect_layout(tmp_path) == "dacon-train"
    recs = find_dacon_train(tmp_path)
    assert find_records(tmp_path) == recs
    assert len(recs) == 4
    assert all(r.depth_path is None for r in recs)
    assert [r.structure for r in recs] == ["site_00000"] * 2 + ["site_00001"] * 2
    assert [r.average_depth for r in recs] == [140.5, 140.5, 131.25, 131.25]
    assert [r.bucket for r in recs] == ["Depth_110"] * 2 + ["Depth_120"] * 2
    item = DepthDataset(recs)[0]
    assert item["average_depth"] == 140.5 and "depth" not in item
    # a full DACON download (simulation_data/ beside train/): the labelled pairs win
    make_dacon(tmp_path, n_structures=1)
    assert detect_layout(tmp_path) == "dacon"
    assert all(r.depth_path is not None for r in find_records(tmp_path))
    assert find_dacon_train(tmp_path) == recs


def test_rgb_equal_channel_png_reads_as_gray(tmp_path: Path) -> None:
    gray = pattern(7)
    save_gray(tmp_path / "SEM" / "a.png", gray, mode="RGB")
    save_gray(tmp_path / "Depth" / "a.png", pattern(8), mode="RGB")
    recs = find_paired_folder(tmp_path)
    for preload in (True, False):
        item = DepthDataset(recs, preload=preload)[0]
        assert item["sem"].shape == (1, H, W) and item["sem"].dtype.is_floating_point
        assert np.allclose(item["sem"][0].numpy() * 255.0, gray, atol=1e-3)
        assert np.array_equal(item["depth"][0].numpy(), pattern(8).astype(np.float32))


def test_read_synth_meta(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=1)
    assert read_synth_meta(tmp_path) is None
    (tmp_path / "synth_meta.json").write_text('{"pixel_size_nm": 2.5, "seed": 3}')
    assert read_synth_meta(tmp_path) == {"pixel_size_nm": 2.5, "seed": 3}
    assert read_synth_meta(tmp_path / "simulation_data") == {"pixel_size_nm": 2.5, "seed": 3}
    (tmp_path / "synth_meta.json").write_text("{broken")
    with pytest.raises(DatasetError, match=r"synth_meta.json"):
        read_synth_meta(tmp_path)
