"""Group split, data-set hash, DepthDataset and flip augmentation."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import (
    DatasetError,
    DepthDataset,
    SampleRecord,
    dataset_hash,
    find_dacon_pairs,
    find_paired_folder,
    flip_pair,
    split_by_structure,
)

from .helpers import H, W, make_dacon, pattern, save_gray


def _fake_records(n_structures: int, per: int = 8) -> list[SampleRecord]:
    return [
        SampleRecord(Path(f"s{i}_{k}.png"), Path(f"d{i}.png"), f"struct{i:03d}", f"Case_{k % 4}")
        for i in range(n_structures)
        for k in range(per)
    ]


def test_split_has_no_leak_and_respects_fractions() -> None:
    recs = _fake_records(50)
    split = split_by_structure(recs, val_fraction=0.2, test_fraction=0.1, seed=3)
    tr, va, te = (split.structures(p) for p in ("train", "val", "test"))
    assert tr & va == set() and tr & te == set() and va & te == set()
    assert len(split.train) + len(split.val) + len(split.test) == len(recs)
    # every file of a structure lands in one part
    for part in (split.train, split.val, split.test):
        for s in {r.structure for r in part}:
            assert sum(r.structure == s for r in part) == 8
    # within one structure (8 files) of the requested share
    assert abs(len(split.val) - 0.2 * len(recs)) <= 8
    assert abs(len(split.test) - 0.1 * len(recs)) <= 8


def test_split_is_deterministic_and_order_free() -> None:
    recs = _fake_records(30)
    a = split_by_structure(recs, val_fraction=0.25, seed=7)
    b = split_by_structure(list(reversed(recs)), val_fraction=0.25, seed=7)
    assert a.structures("val") == b.structures("val")
    assert a == split_by_structure(recs, val_fraction=0.25, seed=7)
    others = {
        frozenset(split_by_structure(recs, val_fraction=0.25, seed=s).structures("val"))
        for s in range(5)
    }
    assert len(others) > 1  # the seed matters


def test_split_uneven_groups_and_small_sets() -> None:
    recs = [
        SampleRecord(Path(f"g{i}_{k}.png"), None, f"g{i}")
        for i, n in enumerate([1, 9, 3, 5, 2, 7, 4, 6])
        for k in range(n)
    ]
    split = split_by_structure(recs, val_fraction=0.3, seed=0)
    assert split.structures("train").isdisjoint(split.structures("val"))
    assert abs(len(split.val) - 0.3 * len(recs)) <= 9
    # a tiny fraction still gets one structure
    small = split_by_structure(_fake_records(3), val_fraction=0.01, seed=0)
    assert len(small.structures("val")) == 1 and len(small.structures("train")) == 2
    with pytest.raises(DatasetError, match=r"cannot split 1 structure"):
        split_by_structure(_fake_records(1), val_fraction=0.1)
    with pytest.raises(ValueError, match=r"val_fraction"):
        split_by_structure(recs, val_fraction=1.2)
    assert split_by_structure(recs, val_fraction=0.0).train == recs


def test_split_of_real_dacon_tree_keeps_cases_and_shots_together(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=10)
    recs = find_dacon_pairs(tmp_path)
    split = split_by_structure(recs, val_fraction=0.2, seed=1)
    assert split.structures("train").isdisjoint(split.structures("val"))
    val_files = {r.sem_path.name for r in split.val}
    train_files = {r.sem_path.name for r in split.train}
    assert val_files.isdisjoint(train_files)  # same name never on both sides, any case
    assert len(split.val) == 16  # 2 structures x 4 cases x 2 shots


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dataset_hash_stable_and_content_sensitive(tmp_path: Path) -> None:
    make_dacon(tmp_path / "a", n_structures=2)
    recs = find_dacon_pairs(tmp_path / "a")
    h = dataset_hash(recs)
    # recomputed by hand: sorted lines of relative SEM path, its SHA-256, depth path, its SHA-256
    all_paths = [str(Path(p).resolve()) for r in recs for p in (r.sem_path, r.depth_path)]
    root = Path(os.path.commonpath(all_paths))
    lines = []
    for r in recs:
        sem, depth = Path(r.sem_path).resolve(), Path(r.depth_path).resolve()
        entry = [sem.relative_to(root).as_posix(), hashlib.sha256(sem.read_bytes()).hexdigest()]
        entry += [
            depth.relative_to(root).as_posix(),
            hashlib.sha256(depth.read_bytes()).hexdigest(),
        ]
        lines.append("\t".join(entry) + "\n")
    assert h == hashlib.sha256("".join(sorted(lines)).encode("utf-8")).hexdigest()
    assert dataset_hash(list(reversed(recs))) == h
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "b")
    assert dataset_hash(find_dacon_pairs(tmp_path / "elsewhere" / "b")) == h
    assert dataset_hash(recs[:-1]) != h
    target = recs[0].depth_path
    assert target is not None
    save_gray(target, pattern(99))
    assert dataset_hash(recs) != h


def test_dataset_tensors_and_preload(tmp_path: Path) -> None:
    make_dacon(tmp_path, n_structures=2)
    recs = find_dacon_pairs(tmp_path)
    ds = DepthDataset(recs, preload=True)
    assert ds.sem_array is not None and ds.depth_array is not None
    assert ds.sem_array.shape == (len(recs), H, W) and ds.sem_array.flags.c_contiguous
    assert ds.depth_array.shape == (len(recs) // 2, H, W)  # two shots share a depth map
    lazy = DepthDataset(recs, preload=False)
    assert lazy.sem_array is None
    for i in (0, 5, len(recs) - 1):
        a, b = ds[i], lazy[i]
        for key in ("sem", "depth"):
            assert a[key].dtype == torch.float32 and a[key].shape == (1, H, W)
            assert torch.equal(a[key], b[key])
        assert float(a["sem"].min()) >= 0.0 and float(a["sem"].max()) <= 1.0
        assert float(a["depth"][0, 0, 0]) == 200.0  # DU, not rescaled
        assert a["structure"] == recs[i].structure and a["case"] == recs[i].case
        assert a["index"] == i and a["shot"] == recs[i].shot
    batch = ds.batch([0, 3, 5], augment=False)
    assert batch["sem"].shape == (3, 1, H, W) and batch["depth"].shape == (3, 1, H, W)
    assert torch.equal(batch["sem"][1], ds[3]["sem"]) and torch.equal(
        batch["depth"][2], ds[5]["depth"]
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    first = next(iter(loader))
    assert first["sem"].shape == (4, 1, H, W) and len(first["case"]) == 4


def test_preload_refuses_mixed_sizes(tmp_path: Path) -> None:
    save_gray(tmp_path / "SEM" / "a.png", pattern(1))
    save_gray(tmp_path / "Depth" / "a.png", pattern(1))
    save_gray(tmp_path / "SEM" / "b.png", pattern(1, (10, 9)))
    save_gray(tmp_path / "Depth" / "b.png", pattern(1, (10, 9)))
    recs = find_paired_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"b.png: image is 10x9 px"):
        DepthDataset(recs, preload=True)
    assert DepthDataset(recs, preload=False)[1]["sem"].shape == (1, 10, 9)


def test_depth_sem_size_mismatch_named(tmp_path: Path) -> None:
    save_gray(tmp_path / "SEM" / "a.png", pattern(1))
    save_gray(tmp_path / "Depth" / "a.png", pattern(1, (10, 9)))
    with pytest.raises(DatasetError, match=r"a.png: depth map is 10x9 px"):
        DepthDataset(find_paired_folder(tmp_path), preload=False)[0]


def test_flip_pair_moves_sem_and_depth_together() -> None:
    sem = np.arange(12, dtype=np.float32).reshape(3, 4)  # asymmetric both ways
    depth = sem * 10
    h_sem, h_depth = flip_pair(sem, depth, hflip=True, vflip=False)
    assert h_sem[0].tolist() == [3, 2, 1, 0] and h_depth[0].tolist() == [30, 20, 10, 0]
    v_sem, v_depth = flip_pair(sem, depth, hflip=False, vflip=True)
    assert v_sem[:, 0].tolist() == [8, 4, 0] and v_depth[:, 0].tolist() == [80, 40, 0]
    b_sem, b_depth = flip_pair(sem, depth, hflip=True, vflip=True)
    assert np.array_equal(b_sem, sem[::-1, ::-1]) and np.array_equal(b_depth, depth[::-1, ::-1])


def test_augmented_items_flip_together(tmp_path: Path) -> None:
    # an asymmetric pair where depth = 255 - SEM * 255 pixel by pixel
    sem = (np.arange(H * W).reshape(H, W) * 2) % 256
    save_gray(tmp_path / "SEM" / "a.png", sem)
    save_gray(tmp_path / "Depth" / "a.png", 255 - sem)
    recs = find_paired_folder(tmp_path)
    torch.manual_seed(0)
    for ds in (DepthDataset(recs, augment=True), DepthDataset(recs, augment=True, preload=False)):
        seen = set()
        for _ in range(40):
            item = ds[0]
            s = item["sem"][0].numpy() * 255.0
            d = item["depth"][0].numpy()
            assert np.allclose(s + d, 255.0, atol=1e-3)  # still pixel-aligned
            seen.add(tuple(np.round(s[0, :2]).tolist()) + tuple(np.round(s[:2, 0]).tolist()))
        assert len(seen) == 4  # all four flip combinations happened
        b = ds.batch([0] * 32) if ds.preload else None
        if b is not None:
            assert torch.allclose(b["sem"] * 255.0 + b["depth"], torch.tensor(255.0), atol=1e-3)
            assert (
                len({tuple(x[0, 0, :2].tolist()) + tuple(x[0, :2, 0].tolist()) for x in b["sem"]})
                == 4
            )


def test_preload_reports_progress_and_cancels(tmp_path: Path) -> None:
    from core.progress import Cancelled, CancelToken, Progress

    make_dacon(tmp_path, n_structures=2)
    recs = find_dacon_pairs(tmp_path)
    seen: list[Progress] = []
    DepthDataset(recs, progress=seen.append)
    n_files = len(recs) + len(recs) // 2  # SEM images + distinct depth maps
    assert seen[-1].done == seen[-1].total == n_files
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        DepthDataset(recs, cancel=token)
