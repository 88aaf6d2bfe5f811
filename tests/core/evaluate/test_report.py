"""The evaluation report (core/evaluate/report.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data import SampleRecord
from core.evaluate import report_from
from core.metrics import MetricAccumulator


def _acc() -> MetricAccumulator:
    acc = MetricAccumulator()
    recs = [
        SampleRecord(Path(f"s{k}.png"), Path(f"d{k}.png"), f"s{k}", "Case_1", "040", k % 2)
        for k in range(3)
    ]
    target = np.zeros((3, 2, 2), np.float32)
    pred = target + np.array([1.0, 2.0, 4.0], np.float32)[:, None, None]
    acc.add(pred, target, recs, indices=range(3))
    return acc


def test_report_numbers_and_json_form() -> None:
    rep = report_from(_acc(), worst=2, info={"seconds": 0.5})
    assert rep.n_images == 3
    assert abs(rep.rmse_per_image - 7 / 3) < 1e-12  # (1 + 2 + 4) / 3
    assert abs(rep.rmse_pooled - np.sqrt((1 + 4 + 16) / 3)) < 1e-12
    assert [r.rmse for r in rep.worst] == [4.0, 2.0]
    assert rep.rmse_offset_free_per_image == 0.0  # every error is a constant offset
    d = rep.to_dict()
    assert d["unit"] == "DU (0-255 depth units)" and d["seconds"] == 0.5
    assert d["per_case"]["Case_1"]["n_images"] == 3 and "images" not in d
    assert "sum_sq" not in d["worst"][0]
    assert len(rep.to_dict(include_images=True)["images"]) == 3


def test_report_text() -> None:
    lines = report_from(_acc(), worst=1).format_text().splitlines()
    assert lines[:4] == [
        "images: 3",
        "RMSE per image (mean): 2.3333 DU",
        "RMSE pooled:           2.6458 DU",
        "MAE:                   2.3333 DU",
    ]
    assert lines[4] == "RMSE offset-free (per image, mean error removed): 0.0000 DU"
    assert "per case:  n  RMSE/image  RMSE pooled  MAE  offset-free" in lines
    assert lines[-2:] == ["worst 1 images (RMSE DU):", "    4.0000  s2.png"]
