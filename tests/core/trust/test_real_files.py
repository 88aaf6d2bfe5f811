"""The cheap checks on the real SEM files beside the checkout: every file with a pixel
size is off the default model's scale (micrometre-scale images of other structures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.trust.domain import DomainInputs, DomainModel


def test_real_files_with_a_pixel_size_are_flagged_by_scale(real_sem_dir: Path) -> None:
    from core.batch import expand_inputs
    from core.inference.resample import rescale
    from core.inference.scale import ScalePolicy, decide_scale
    from core.io import SemReadError, read_sem
    from core.models import read_card
    from core.resources import default_model_path

    card = read_card(default_model_path())
    model = DomainModel.from_card({k: v for k, v in card.items() if k != "domain"})
    model_px = card["input"]["pixel_size_nm"]
    checked = 0
    for path in expand_inputs([real_sem_dir]):
        try:
            sem = read_sem(path)
        except SemReadError:
            continue  # the deliberately damaged file
        if sem.pixel_size_nm is None:
            continue
        img = np.asarray(sem.normalized(), dtype=np.float32)
        decision = decide_scale(
            sem.pixel_size_nm, model_px, img.shape, ScalePolicy(), input_size=(72, 48)
        )
        scale = decision.factor  # what semdepth predict does (auto policy)
        small = rescale(img[:256, :256], min(scale, 1.0))
        v = model.check(
            DomainInputs(img, small, (72, 48), sem.pixel_size_nm, model_px, scale=scale)
        )
        assert not v.in_domain, path
        assert v.checks["pixel_size"]["ok"] is False, path
        checked += 1
    assert checked >= 10
