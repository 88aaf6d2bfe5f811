"""Intensity augmentation (random detector changes of the SEM image only) and the choice of
contrast families in a simulated data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import (
    DatasetError,
    DepthDataset,
    find_records,
    jitter_intensity,
    record_families,
    select_families,
)

from .helpers import make_dacon


def test_jitter_stays_in_range_changes_images_and_repeats_with_a_seed() -> None:
    x = torch.rand(16, 1, 12, 8)
    a = jitter_intensity(x, torch.Generator().manual_seed(3))
    b = jitter_intensity(x, torch.Generator().manual_seed(3))
    c = jitter_intensity(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    # each image gets its own draw: the per-image mean changes by different amounts
    shift = (a - x).mean(dim=(1, 2, 3))
    assert float(shift.std()) > 1e-3


def test_jitter_keeps_the_order_of_grey_levels_without_noise_and_blur(monkeypatch) -> None:
    from core.data import augment

    monkeypatch.setitem(augment.INTENSITY_RANGES, "noise_std", (0.0, 0.0))
    monkeypatch.setattr(augment, "BLUR_PROBABILITY", 0.0)
    x = torch.linspace(0.05, 0.95, 96).view(1, 1, 12, 8).repeat(8, 1, 1, 1)
    y = jitter_intensity(x, torch.Generator().manual_seed(0)).flatten(1)
    assert bool((y[:, 1:] >= y[:, :-1]).all())  # monotone: gamma, gain, offset, clip


def test_dataset_batches_jitter_the_sem_only(tmp_path: Path) -> None:
    records = find_records(make_dacon(tmp_path, n_structures=2))
    plain = DepthDataset(records)
    jit = DepthDataset(records, intensity_augment=True)
    idx = list(range(len(records)))
    a = plain.batch(idx)
    b = jit.batch(idx, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a["depth"], b["depth"])
    assert not torch.equal(a["sem"], b["sem"])
    assert torch.equal(jit.batch(idx, augment=False)["sem"], a["sem"])  # validation


@pytest.fixture(scope="module")
def two_families(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.synth import write_dacon

    root = tmp_path_factory.mktemp("families")
    write_dacon(root, 3, seed=5, cases=[1, 2], workers=1, families="analytic,backscatter")
    return root


def test_record_families_read_synth_images(two_families: Path) -> None:
    from core.synth import read_synth_images

    records = find_records(two_families)
    fams = record_families(records, two_families)
    rows = read_synth_images(two_families)
    for r, f in zip(records, fams, strict=True):
        rel = Path(r.sem_path).resolve().relative_to(two_families.resolve()).as_posix()
        assert rows[rel]["family"] == f
    assert set(fams) == {"analytic", "backscatter"}
    chosen = select_families(records, two_families, ["backscatter"])
    assert 0 < len(chosen) < len(records)
    assert set(record_families(chosen, two_families)) == {"backscatter"}


def test_select_families_refuses_what_cannot_be_chosen(two_families: Path, tmp_path: Path) -> None:
    records = find_records(two_families)
    with pytest.raises(DatasetError, match="holds: analytic, backscatter"):
        select_families(records, two_families, ["charging"])
    plain = make_dacon(tmp_path / "plain", n_structures=2)
    with pytest.raises(DatasetError, match=r"synth_images\.csv"):
        select_families(find_records(plain), plain, ["analytic"])


def test_select_families_keeps_the_order(two_families: Path) -> None:
    records = find_records(two_families)
    chosen = select_families(records, two_families, ["analytic", "backscatter"])
    assert chosen == records
    assert np.all(np.diff([records.index(r) for r in chosen]) > 0)


def test_record_flippable_follows_the_detector_azimuth(two_families: Path, tmp_path: Path) -> None:
    from core.data import record_flippable
    from core.synth import read_synth_images, write_dacon

    # wide randomisation: every azimuth drawn, every image may be mirrored
    drawn = find_records(two_families)
    assert record_flippable(drawn, two_families) == [True] * len(drawn)
    assert {r["azimuth"] for r in read_synth_images(two_families).values()} == {"drawn"}
    # the legacy imaging cases: the side detector is fixed, no image may be mirrored
    legacy = tmp_path / "legacy"
    write_dacon(legacy, 2, seed=6, cases=[1, 2], workers=1)
    fixed = find_records(legacy)
    assert {r["azimuth"] for r in read_synth_images(legacy).values()} == {"case"}
    assert record_flippable(fixed, legacy) == [False] * len(fixed)
    # a legacy set written before the column: its meta's "randomisation" decides
    csv_path = legacy / "synth_images.csv"
    lines = csv_path.read_text().splitlines()
    col = lines[0].split(",").index("azimuth")
    csv_path.write_text(
        "\n".join(",".join(c for i, c in enumerate(x.split(",")) if i != col) for x in lines)
    )
    assert "azimuth" not in read_synth_images(legacy)[next(iter(read_synth_images(legacy)))]
    assert record_flippable(fixed, legacy) == [False] * len(fixed)
    # a folder that is not a simulated set: nothing says its detector is fixed
    plain = make_dacon(tmp_path / "plain", n_structures=2)
    assert all(record_flippable(find_records(plain), plain))


def test_dataset_flips_only_flippable_records(two_families: Path) -> None:
    records = find_records(two_families)  # noisy renders: no image is its own mirror
    n = len(records)
    flippable = [i % 2 == 0 for i in range(n)]
    plain = DepthDataset(records).batch(list(range(n)))["sem"]
    ds = DepthDataset(records, augment=True, flippable=flippable)
    changed = np.zeros(n, dtype=bool)
    for seed in range(8):
        sem = ds.batch(list(range(n)), generator=torch.Generator().manual_seed(seed))["sem"]
        changed |= (sem != plain).flatten(1).any(dim=1).numpy()
        for i in range(n):
            if not flippable[i]:
                assert torch.equal(sem[i], plain[i])
            assert int(ds[i]["index"]) == i
    assert changed[np.asarray(flippable)].all()  # the others were flipped at least once
    assert not changed[~np.asarray(flippable)].any()
    with pytest.raises(ValueError, match="flippable flags"):
        DepthDataset(records, flippable=[True])
