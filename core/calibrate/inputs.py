"""Everything a calibration reads, checked and put in the model's terms: the images (at
the model's pixel size), the references matched to them (points moved to that scale and
converted to DU) and their cross-validation groups; and the reading of predicted maps at
the references (:func:`observe`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.calibrate.adapt import PointTarget, TargetData
from core.calibrate.agreement import Observations, group_references
from core.calibrate.errors import CalibrationError
from core.calibrate.images import CalibrationImage, find_images, images_hash, read_image01
from core.calibrate.probe import Probe, make_probe, probe_depth_du
from core.calibrate.references import (
    Reference,
    match_averages,
    match_points,
    read_averages,
    read_points,
)
from core.progress import CancelToken, ProgressCallback, report


@dataclass
class Inputs:
    """The checked inputs of one calibration."""

    root: Path
    images: list[CalibrationImage]
    arrays: list[np.ndarray]  # 0..1 at the model's pixel size
    scales: list[float]
    hash: str
    references: list[Reference]
    probes: dict[tuple[int, int], Probe]  # (reference, image) -> where to read a point
    nm_per_du: float | None
    groups: list[int]

    @property
    def n_groups(self) -> int:
        return len(set(self.groups))

    def ref_values_du(self) -> np.ndarray:
        """Every reference's given value in DU."""
        return np.array(
            [r.value / self.nm_per_du if r.kind == "point" else r.value for r in self.references]
            if self.nm_per_du
            else [r.value for r in self.references],
            dtype=np.float64,
        )

    def is_point(self) -> np.ndarray:
        return np.array([r.kind == "point" for r in self.references], dtype=bool)

    def target(self, keep: np.ndarray | None = None) -> TargetData:
        """The adaptation's data: every image, with the averages and points of the
        references in ``keep`` (a boolean mask; None: none)."""
        averages = np.full(len(self.images), math.nan, dtype=np.float32)
        points: list[PointTarget] = []
        for j, r in enumerate(self.references):
            if keep is None or not keep[j]:
                continue
            if r.kind == "average":
                averages[list(r.images)] = r.value
                continue
            assert self.nm_per_du is not None
            for i in r.images:
                x, y = _to_model(r.x, r.y, self.scales[i])
                points.append(PointTarget(i, x, y, r.value / self.nm_per_du))
        return TargetData(self.arrays, averages, points)


def _to_model(x: float, y: float, scale: float) -> tuple[float, float]:
    """File pixel coordinates (pixel centres) -> the model-scale image's."""
    return (x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5


def nm_per_du_of(card: dict[str, Any]) -> float | None:
    out = card.get("output") if isinstance(card.get("output"), dict) else {}
    v = (out or {}).get("nm_per_depth_unit")
    return float(v) if isinstance(v, int | float) and v > 0 else None


def gather(
    images_root: Path,
    averages_csv: Path | None,
    references_csv: Path | None,
    card: dict[str, Any],
    *,
    top_half_px: int,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Inputs:
    """Find and read the images, read and match the CSVs, and check that the references
    can be cross-validated (at least two groups); :class:`CalibrationError` otherwise."""
    root = Path(images_root)
    images = find_images(root)
    inp = card.get("input") if isinstance(card.get("input"), dict) else {}
    px = (inp or {}).get("pixel_size_nm")
    model_px = float(px) if isinstance(px, int | float) and px > 0 else None
    rng = card.get("output", {}).get("range", [0.0, 255.0])
    avg_rows = read_averages(averages_csv) if averages_csv is not None else []
    pt_rows = read_points(references_csv) if references_csv is not None else []
    nm_per_du = nm_per_du_of(card)
    if pt_rows and nm_per_du is None:
        raise CalibrationError(
            f"{references_csv}: the model card has no output.nm_per_depth_unit, so depths "
            "in nm cannot be compared with its depth maps"
        )
    refs = match_averages(avg_rows, images, str(root), (float(rng[0]), float(rng[1])))
    refs += match_points(pt_rows, images, str(root))
    arrays, scales = [], []
    for k, im in enumerate(images):
        if cancel is not None:
            cancel.raise_if_cancelled()
        a, s = read_image01(im, model_px)
        arrays.append(a)
        scales.append(s)
        report(progress, k + 1, len(images), "reading images")
    probes: dict[tuple[int, int], Probe] = {}
    for j, r in enumerate(refs):
        if r.kind != "point":
            continue
        for i in r.images:
            h0 = round(arrays[i].shape[0] / scales[i])
            w0 = round(arrays[i].shape[1] / scales[i])
            if not (-0.5 <= r.x <= w0 - 0.5 and -0.5 <= r.y <= h0 - 0.5):
                raise CalibrationError(
                    f"{references_csv}: line {r.line}: point ({r.x:g}, {r.y:g}) is outside "
                    f"the {w0}x{h0} px image {images[i].rel}"
                )
            x, y = _to_model(r.x, r.y, scales[i])
            x = min(max(x, -0.5), arrays[i].shape[1] - 0.5)
            y = min(max(y, -0.5), arrays[i].shape[0] - 0.5)
            probes[(j, i)] = make_probe(arrays[i].shape, x, y, top_half_px=top_half_px)
    groups = group_references([r.images for r in refs]) if refs else []
    if refs and len(set(groups)) < 2:
        where = averages_csv if avg_rows else references_csv
        what = "a single reference" if len(refs) == 1 else "references on a single image or site"
        raise CalibrationError(
            f"{where}: {what} cannot be checked by cross-validation; give at least two "
            "(on different images or sites)"
        )
    return Inputs(
        root, images, arrays, scales, images_hash(images), refs, probes, nm_per_du, groups
    )


@torch.inference_mode()
def predict_maps(
    model: nn.Module,
    arrays: Sequence[np.ndarray],
    indices: Sequence[int],
    *,
    pixels_per_batch: int = 32 * 72 * 48,
    cancel: CancelToken | None = None,
) -> dict[int, np.ndarray]:
    """Depth maps (DU) of ``arrays[indices]``: one forward pass per image in ``eval()``
    mode, images of one shape batched together."""
    model.eval()
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i in sorted(set(indices)):
        by_shape.setdefault(arrays[i].shape, []).append(i)
    out: dict[int, np.ndarray] = {}
    for shape, idx in by_shape.items():
        n = max(1, pixels_per_batch // (shape[0] * shape[1]))
        for s in range(0, len(idx), n):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = idx[s : s + n]
            x = torch.from_numpy(np.stack([arrays[i] for i in chunk]))[:, None]
            y = model(x).float()[:, 0].numpy()
            out.update(zip(chunk, y, strict=True))
    return out


def observe(
    model: nn.Module,
    inputs: Inputs,
    which: np.ndarray | None = None,
    cancel: CancelToken | None = None,
) -> Observations:
    """The model's predictions at the references (``which``: a boolean mask, None: all;
    the others are NaN), in DU: an average's mean map, a point's depth below the local top
    (both averaged over the reference's images)."""
    refs = inputs.references
    mask = np.ones(len(refs), bool) if which is None else np.asarray(which, bool)
    needed = [i for j, r in enumerate(refs) if mask[j] for i in r.images]
    maps = predict_maps(model, inputs.arrays, needed, cancel=cancel)
    pred = np.full(len(refs), math.nan)
    for j, r in enumerate(refs):
        if not mask[j]:
            continue
        if r.kind == "average":
            pred[j] = float(np.mean([maps[i].mean(dtype=np.float64) for i in r.images]))
        else:
            pred[j] = float(
                np.mean([probe_depth_du(maps[i], inputs.probes[(j, i)]) for i in r.images])
            )
    return Observations.of(pred, inputs.ref_values_du(), inputs.is_point())


def local_top(model_maps: dict[int, np.ndarray], inputs: Inputs) -> float:
    """The correction's pivot: the mean predicted top level (the 80th percentile of each
    reference image's map), DU."""
    tops = [float(np.percentile(m, 80.0)) for m in model_maps.values()]
    return float(np.mean(tops)) if tops else 0.0
