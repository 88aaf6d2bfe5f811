"""``DepthDataset``: SEM images (0..1) and depth maps (DU) as float32 tensors.

With ``preload=True`` every SEM image sits in one contiguous ``(N, rows, cols)`` array
(uint8 when every file is 8-bit, else float32 in 0..1) and every distinct depth map in
another (two shots share one depth map), so an epoch reads no files and
:meth:`DepthDataset.batch` can slice a whole batch at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from core.data.augment import flip_batch, jitter_intensity, random_flip_pair
from core.data.records import DatasetError, SampleRecord
from core.io import SemReadError, read_depth, read_sem
from core.progress import CancelToken, ProgressCallback, report


def _is_u8(a: np.ndarray) -> bool:
    """Exactly representable as uint8 (integral values in 0..255)."""
    if a.dtype == np.uint8:
        return True
    if a.size == 0:
        return False
    return bool(np.all(a >= 0) and np.all(a <= 255) and np.array_equal(a, np.round(a)))


def read_sem_array(path: Path) -> tuple[np.ndarray, bool]:
    """A SEM file as float32 0..1 (the dtype's range), and whether it was 8-bit.

    No data-bar removal: training crops must stay pixel-aligned with their depth maps."""
    try:
        img = read_sem(path, strip_databar=False)
    except SemReadError as exc:
        raise DatasetError(str(exc)) from exc
    return img.normalized().astype(np.float32, copy=False), img.dtype == "uint8"


def read_depth_array(path: Path) -> np.ndarray:
    """A depth map as float32 DU."""
    try:
        depth = read_depth(path)
    except SemReadError as exc:
        raise DatasetError(str(exc)) from exc
    return np.asarray(depth, dtype=np.float32)


class DepthDataset(Dataset[dict[str, Any]]):
    """Items: ``{"sem": (1,H,W) float32 0..1, "depth": (1,H,W) float32 DU (labelled records
    only), "index": int, "structure": str, "case": str, "bucket": str, "shot": int,
    "average_depth": float}``; a missing case/bucket is ``""``, a missing shot ``-1``, a
    missing average depth NaN (so the default collate works).

    ``augment=True`` applies the same random horizontal/vertical flips to SEM and depth
    (only to the records whose ``flippable`` entry is true, when given);
    ``intensity_augment=True`` makes :meth:`batch` change each SEM image's gamma, gain,
    offset, blur and noise at random (:func:`~core.data.augment.jitter_intensity`).
    """

    def __init__(
        self,
        records: Sequence[SampleRecord],
        *,
        augment: bool = False,
        flippable: Sequence[bool] | None = None,
        intensity_augment: bool = False,
        preload: bool = True,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.records = list(records)
        if not self.records:
            raise DatasetError("DepthDataset: no records")
        self.augment = augment
        self.flippable = np.ones(len(self.records), dtype=bool)
        if flippable is not None:
            if len(flippable) != len(self.records):
                n = len(self.records)
                raise ValueError(f"DepthDataset: {len(flippable)} flippable flags for {n} records")
            self.flippable = np.asarray(flippable, dtype=bool)
        self.intensity_augment = intensity_augment
        self.preload = preload
        self.sem_array: np.ndarray | None = None
        self.depth_array: np.ndarray | None = None
        # record index -> row of depth_array, -1 when unlabelled
        self.depth_index = np.full(len(self.records), -1, dtype=np.int64)
        if preload:
            self._preload(workers, progress, cancel)

    # ------------------------------------------------------------------ loading
    def _preload(
        self,
        workers: int | None,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        n = len(self.records)
        depth_paths: list[Path] = []
        depth_row: dict[Path, int] = {}
        for i, r in enumerate(self.records):
            if r.depth_path is not None:
                p = Path(r.depth_path)
                if p not in depth_row:
                    depth_row[p] = len(depth_paths)
                    depth_paths.append(p)
                self.depth_index[i] = depth_row[p]
        jobs: list[tuple[str, Path]] = [("sem", Path(r.sem_path)) for r in self.records]
        jobs += [("depth", p) for p in depth_paths]
        total = len(jobs)
        shape: tuple[int, int] | None = None
        first_path: Path | None = None
        sem_arr: np.ndarray | None = None
        depth_arr: np.ndarray | None = None

        def load(job: tuple[str, Path]) -> tuple[np.ndarray, bool]:
            kind, path = job
            if kind == "sem":
                return read_sem_array(path)
            d = read_depth_array(path)
            return d, _is_u8(d)

        n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        step = max(1, total // 100)

        def loaded(pool: ThreadPoolExecutor) -> Iterator[tuple[str, Path, np.ndarray, bool]]:
            chunk = 1024  # bounded look-ahead, so a cancel does not wait for every file
            for start in range(0, total, chunk):
                part = jobs[start : start + chunk]
                for (kind, path), (arr, is8) in zip(part, pool.map(load, part), strict=True):
                    yield kind, path, arr, is8

        with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
            for k, (kind, path, arr, is8) in enumerate(loaded(pool)):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if shape is None:
                    shape, first_path = arr.shape, path
                    sem_arr = np.zeros((n, *shape), dtype=np.uint8)
                    depth_arr = np.zeros((len(depth_paths), *shape), dtype=np.uint8)
                elif arr.shape != shape:
                    raise DatasetError(
                        f"{path}: image is {arr.shape[0]}x{arr.shape[1]} px but {first_path} is "
                        f"{shape[0]}x{shape[1]} px; preload=True needs one size "
                        "(use preload=False for mixed sizes, batch size 1)"
                    )
                assert sem_arr is not None and depth_arr is not None
                if kind == "sem":
                    if is8 and sem_arr.dtype == np.uint8:
                        sem_arr[k] = np.round(arr * 255.0).astype(np.uint8)
                    else:
                        if sem_arr.dtype == np.uint8:
                            sem_arr = sem_arr.astype(np.float32) / np.float32(255.0)
                        sem_arr[k] = arr
                else:
                    row = k - n
                    if is8 and depth_arr.dtype == np.uint8:
                        depth_arr[row] = arr.astype(np.uint8)
                    else:
                        if depth_arr.dtype == np.uint8:
                            depth_arr = depth_arr.astype(np.float32)
                        depth_arr[row] = arr
                if progress is not None and (k % step == 0 or k == total - 1):
                    report(progress, k + 1, total, "loading images")
        self.sem_array = np.ascontiguousarray(sem_arr)
        self.depth_array = np.ascontiguousarray(depth_arr)

    def _sem(self, i: int) -> np.ndarray:
        if self.sem_array is not None:
            a = self.sem_array[i]
            if a.dtype == np.uint8:
                return a.astype(np.float32) / np.float32(255.0)
            return a
        return read_sem_array(Path(self.records[i].sem_path))[0]

    def _depth(self, i: int) -> np.ndarray | None:
        r = self.records[i]
        if r.depth_path is None:
            return None
        if self.depth_array is not None:
            return self.depth_array[self.depth_index[i]].astype(np.float32)
        return read_depth_array(Path(r.depth_path))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.records)

    @property
    def labelled(self) -> bool:
        """Every record has a depth map."""
        return all(r.depth_path is not None for r in self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        index = index % len(self)
        r = self.records[index]
        sem = self._sem(index)
        depth = self._depth(index)
        if depth is not None and depth.shape != sem.shape:
            raise DatasetError(
                f"{r.depth_path}: depth map is {depth.shape[0]}x{depth.shape[1]} px but its SEM "
                f"image {r.sem_path} is {sem.shape[0]}x{sem.shape[1]} px"
            )
        if self.augment and self.flippable[index]:
            sem, depth = random_flip_pair(sem, depth)
        item: dict[str, Any] = {
            "sem": torch.from_numpy(np.ascontiguousarray(sem, dtype=np.float32))[None],
            "index": index,
            "structure": r.structure,
            "case": r.case or "",
            "bucket": r.bucket or "",
            "shot": -1 if r.shot is None else r.shot,
            "average_depth": math.nan if r.average_depth is None else float(r.average_depth),
        }
        if depth is not None:
            item["depth"] = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None]
        return item

    def batch(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        augment: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """A whole batch sliced from the preloaded arrays (no per-item Python work):
        ``{"sem": (B,1,H,W) float32 0..1, "depth": (B,1,H,W) float32 DU, "index": (B,)}``;
        ``depth`` only when every chosen record is labelled. Flips per sample when
        ``augment`` (default: the data set's setting), then random intensity changes when
        the data set has ``intensity_augment`` unless ``augment=False``."""
        if self.sem_array is None or self.depth_array is None:
            raise RuntimeError("DepthDataset.batch needs preload=True")
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        sem_np = self.sem_array[idx.numpy()]
        sem = torch.from_numpy(sem_np).unsqueeze(1)
        sem = sem.float() / 255.0 if sem_np.dtype == np.uint8 else sem.float()
        rows = self.depth_index[idx.numpy()]
        depth: torch.Tensor | None = None
        if len(rows) and np.all(rows >= 0):
            depth = torch.from_numpy(self.depth_array[rows]).unsqueeze(1).float()
        if self.augment if augment is None else augment:
            flips = torch.randint(0, 2, (2, len(idx)), generator=generator).bool()
            flips &= torch.from_numpy(self.flippable[idx.numpy()])
            sem, depth = flip_batch(sem, depth, flips[0], flips[1])
        if self.intensity_augment and augment is not False:
            sem = jitter_intensity(sem, generator)
        out = {"sem": sem.contiguous(), "index": idx}
        if depth is not None:
            out["depth"] = depth.contiguous()
        return out
