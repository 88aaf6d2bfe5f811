"""``semdepth synth --merge``: one data set made of a families set and a legacy set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.cli import main
from core.data import find_records, record_flippable
from core.synth import read_synth_images, write_dacon
from core.synth.merge import merge_datasets


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sets")
    fam, legacy = root / "fam", root / "legacy"
    write_dacon(fam, 2, seed=5, cases=[1, 2], workers=1, families="analytic,charging")
    write_dacon(legacy, 3, seed=6, cases=[1], workers=1)
    # a legacy set written before the azimuth column: its meta's randomisation decides
    table = legacy / "synth_images.csv"
    lines = table.read_text().splitlines()
    col = lines[0].split(",").index("azimuth")
    table.write_text(
        "\n".join(",".join(c for i, c in enumerate(x.split(",")) if i != col) for x in lines)
    )
    return fam, legacy


def test_merge_links_every_file_and_keeps_each_image_s_azimuth(
    two_sets: tuple[Path, Path], tmp_path: Path
) -> None:
    fam, legacy = two_sets
    out = tmp_path / "mix"
    meta = merge_datasets(out, [fam, legacy])
    records = find_records(out)
    assert len(records) == 2 * 2 * 2 + 3 * 1 * 2  # structures x cases x shots
    # hard links: the same file, no copy
    some = next(p for p in (legacy / "simulation_data").rglob("*.png"))
    twin = out / some.relative_to(legacy)
    assert os.path.samefile(some, twin)
    rows = read_synth_images(out)
    assert len(rows) == len(records)
    by_stem = {Path(k).stem.split("_itr")[0][:4]: v["azimuth"] for k, v in rows.items()}
    assert by_stem == {"syn5": "drawn", "syn6": "case"}
    flips = dict(zip((r.structure for r in records), record_flippable(records, out), strict=True))
    assert {k[:4]: v for k, v in flips.items()} == {"syn5": True, "syn6": False}
    assert meta["randomisation"] == "mixed" and meta["structures"] == 5
    assert meta["family_counts"]["legacy cases"] == 6
    assert [s["seed"] for s in meta["sources"]] == [5, 6]
    assert json.loads((out / "synth_meta.json").read_text())["kind"] == "merged"
    header = (out / "synth_structures.csv").read_text().splitlines()
    assert len(header) == 1 + 5 and "v_frac" in header[0]  # the union of the columns


def test_merge_refuses_what_it_cannot_merge(two_sets: tuple[Path, Path], tmp_path: Path) -> None:
    fam = two_sets[0]
    with pytest.raises(ValueError, match="at least two"):
        merge_datasets(tmp_path / "a", [fam])
    with pytest.raises(ValueError, match="named twice"):
        merge_datasets(tmp_path / "b", [fam, fam])
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ValueError, match="not a simulated data set"):
        merge_datasets(tmp_path / "c", [fam, plain])
    same_seed = tmp_path / "fam_again"
    write_dacon(same_seed, 2, seed=5, cases=[1], workers=1, families="analytic,charging")
    with pytest.raises(ValueError, match=r"in both .* other seeds"):
        merge_datasets(tmp_path / "d", [fam, same_seed])
    assert not (tmp_path / "d").exists()  # refused before anything was written


def test_cli_merge_and_its_refusals(
    two_sets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fam, legacy = two_sets
    out = tmp_path / "mix"
    assert main(["synth", "--merge", str(fam), str(legacy), "--out", str(out)]) == 0
    assert "merged 2 data sets (5 structures" in capsys.readouterr().out
    assert main(["synth", "--merge", str(fam), str(legacy), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["synth", "--merge", str(fam), "--out", str(tmp_path / "x")]) == 2
    assert "at least two" in capsys.readouterr().err
