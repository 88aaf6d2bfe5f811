"""Family-mode data sets: legacy output unchanged, determinism, records, layout and CLI."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main as cli_main
from core.synth import detector as det
from core.synth import render_crops, render_field, wide, write_dacon, write_fields
from core.synth.families import FAMILIES
from core.synth.records import COLUMNS, read_synth_images
from core.synth.streams import rng_for

ALL = ["analytic", "line-of-sight", "backscatter", "charging"]
CASES = ["Case_1", "Case_2", "Case_3", "Case_4"]


def _sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


# Reference digests computed with the simulator as it was before contrast families
# (main at 9988140, same numpy/Pillow as this venv): no family asked for -> same bytes.
LEGACY_CROPS = "c4096367cd4f16182a10dc8b65af080017347ecf65c4ba62f197a9090af516f3"
LEGACY_FIELD = "1a07f015dac24f5a2ff225b8e5a8bf4589be8df9627a6ead420705a58a82d805"
LEGACY_TREE = "542fd4786bea3b6d22e5d6b472bf5c087e6edde9f0c8ead3ded044ec7f9831da"
LEGACY_STRUCTURES_CSV = "e77c49557353790380ce989b2d80ced5eec4fb1d213547c818ab15ffdd7fee38"
ACCURACY_SEED = 20240917  # bench/accuracy.py's simulated benchmark


def test_legacy_output_is_bit_identical_to_before(tmp_path: Path) -> None:
    b = render_crops(ACCURACY_SEED, [0, 1, 2, 1234, 2399], CASES)
    sems = [b.sem[c] for c in sorted(b.sem)]
    cleans = [b.clean[c] for c in sorted(b.clean)]
    assert _sha(b.depth_du, *sems, *cleans) == LEGACY_CROPS
    f = render_field(3, 1, size=(150, 100), case="Case_2")
    assert _sha(f.depth_du, f.sem, f.clean) == LEGACY_FIELD
    root = tmp_path / "s"
    meta = write_dacon(root, 7, ACCURACY_SEED, workers=1, write_clean=True)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    assert h.hexdigest() == LEGACY_TREE
    assert hashlib.sha256((root / "synth_structures.csv").read_bytes()).hexdigest() == (
        LEGACY_STRUCTURES_CSV
    )
    assert meta["randomisation"] == "cases" and meta["families"] == ["analytic"]
    # the legacy images are recorded too, with their case's settings
    rows = read_synth_images(root)
    assert len(rows) == 7 * 4 * 2
    r = rows["simulation_data/SEM/Case_2/" + b.buckets[0] + "/syn20240917_000000_itr1.png"]
    assert r["family"] == "analytic" and r["dose"] == 18.0 and r["gamma"] == 1.0
    assert r["psf_tail_px"] is None and r["reemission"] is None


def test_family_sets_are_deterministic_across_workers(tmp_path: Path) -> None:
    n = 52  # two chunks
    write_dacon(tmp_path / "a", n, 5, families="all", workers=1, write_clean=True)
    write_dacon(tmp_path / "b", n, 5, families="all", workers=2, write_clean=True)

    def digest(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    da, db = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert da == db and len(da) == n * 4 * 4 + 3
    # a chunk rendered alone equals the same structures inside a bigger batch
    full = render_crops(5, list(range(6)), ["Case_3"], families=ALL)
    part = render_crops(5, [4, 5], ["Case_3"], families=ALL)
    np.testing.assert_array_equal(full.sem["Case_3"][4:], part.sem["Case_3"])
    np.testing.assert_array_equal(full.depth_du[4:], part.depth_du)
    # another seed: other images
    other = render_crops(6, [4, 5], ["Case_3"], families=ALL)
    assert not np.array_equal(other.sem["Case_3"], part.sem["Case_3"])


def test_recorded_parameters_are_the_rendered_ones(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write_dacon(root, 8, 11, families="all", cases=[1, 2], workers=1, write_clean=True)
    rows = read_synth_images(root)
    assert len(rows) == 8 * 2 * 2
    assert list(next(iter(rows.values()))) == COLUMNS
    batch = render_crops(11, list(range(8)), ["Case_1", "Case_2"], families=ALL)
    for case, c in (("Case_1", 1), ("Case_2", 2)):
        for k, name in enumerate(batch.names):
            rec = batch.records[case][k]
            for shot in range(2):
                rel = f"simulation_data/SEM/{case}/{batch.buckets[k]}/{name}_itr{shot}.png"
                row = rows[rel]
                assert row["structure"] == name and row["shot"] == shot and row["case"] == case
                assert row["family"] == rec["family"] == wide.family_for(k, c, ALL)
                for key, value in rec.items():
                    if isinstance(value, float):
                        assert row[key] == pytest.approx(value, abs=1e-6), key
                    elif key not in ("family",):
                        assert row[key] == value, key
                assert row["hole_depth_du"] == pytest.approx(batch.hole_depth_du[k], abs=1e-4)
                assert (root / row["depth"]).is_file()
            # re-render from the recorded (CSV) parameters: the noise-free image agrees
            # to the rounding of the CSV, the files to the bit with the exact parameters
            row = rows[f"simulation_data/SEM/{case}/{batch.buckets[k]}/{name}_itr0.png"]
            common = det.CommonParams(**{f: row[f] for f in det.CommonParams.__dataclass_fields__})
            fam = FAMILIES[row["family"]]
            fparams = {p: row[p] for p in fam.params}
            _, _, depth_du, scene, _ = wide.structure_scene(11, k)
            shots, clean = wide.render_image(
                scene, fam, common, fparams, [rng_for(11, wide.WIDE_STREAM, k, c, 1)]
            )
            on_disk = _png(
                root / "simulation_data/SEM_clean" / case / batch.buckets[k] / f"{name}.png"
            )
            assert np.abs(clean.astype(int) - on_disk).max() <= 1
            exact = det.CommonParams(**{f: rec[f] for f in det.CommonParams.__dataclass_fields__})
            shots, _ = wide.render_image(
                scene,
                fam,
                exact,
                {p: rec[p] for p in fam.params},
                [rng_for(11, wide.WIDE_STREAM, k, c, 1)],
            )
            np.testing.assert_array_equal(
                shots[0],
                _png(root / "simulation_data/SEM" / case / batch.buckets[k] / f"{name}_itr0.png"),
            )
            np.testing.assert_array_equal(depth_du, batch.depth_du[k])


def test_family_assignment_rotate_and_per_case() -> None:
    b = render_crops(2, list(range(8)), CASES, families=ALL)
    for case in CASES:  # every case folder holds every family in equal shares
        fams = [r["family"] for r in b.records[case]]
        assert sorted(fams) == sorted(ALL * 2)
    for k in range(8):  # every structure is seen under every family
        assert sorted(b.records[c][k]["family"] for c in CASES) == sorted(ALL)
    p = render_crops(2, list(range(3)), CASES, families=ALL, assign="per-case")
    for c, case in enumerate(CASES):
        assert {r["family"] for r in p.records[case]} == {ALL[c]}
    two = render_crops(2, [0, 1], CASES, families=["charging", "backscatter"], assign="per-case")
    assert [two.records[c][0]["family"] for c in CASES] == ["charging", "backscatter"] * 2
    with pytest.raises(ValueError, match="assignment"):
        wide.family_for(0, 1, ALL, "random")


def test_wide_sets_cover_depths_shapes_and_doses() -> None:
    b = render_crops(3, list(range(200)), ["Case_1"], families=["analytic"])
    assert b.depth_du.min() >= 0.0
    assert np.all((b.top_du >= 150) & (b.top_du <= 170))
    assert b.hole_depth_du.max() > 150  # bottoms near 0 DU, not only 25-145 DU below the top
    assert (b.top_du - b.hole_depth_du).min() < 10
    kinds = {p.kind for p in b.params}
    assert kinds == {"open", "shallow", "closed"}
    assert any(p.v_frac > 0 for p in b.params)  # V-shaped bottoms
    assert any(p.round_frac > 0.8 and p.v_frac == 0 for p in b.params)  # bowls
    aspects = [p.aspect for p in b.params]
    assert min(aspects) < 0.8 and max(aspects) > 1.4
    doses = [r["dose"] for r in b.records["Case_1"]]
    assert min(doses) < 8 and max(doses) > 70
    # some images saturate at their clip level
    sat = [
        np.any(b.sem["Case_1"][k] >= min(r["saturation_dn"], 255.0) - 0.5)
        for k, r in enumerate(b.records["Case_1"])
    ]
    assert 0 < sum(sat) < 200


def test_two_shots_differ_only_in_noise() -> None:
    b = render_crops(4, list(range(4)), ["Case_2"], families=ALL)
    shots = b.sem["Case_2"].astype(float)
    assert np.all(np.any(shots[:, 0] != shots[:, 1], axis=(1, 2)))
    for k in range(4):
        diff = shots[k, 0] - shots[k, 1]
        # zero-mean: within 4 standard errors (+ the row offsets, up to 3 DN per row)
        assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(diff.size) + 1.5
    # with the noise switched off (a huge dose, no read or row noise) both shots are the
    # noise-free image: nothing but noise tells them apart
    rec = b.records["Case_2"][0]
    fam = FAMILIES[rec["family"]]
    common = det.CommonParams(**{f: rec[f] for f in det.CommonParams.__dataclass_fields__})
    quiet = replace(common, dose=1e9, read_noise_dn=0.0, row_noise_dn=0.0)
    _, _, _, scene, _ = wide.structure_scene(4, 0)
    rngs = [rng_for(4, wide.WIDE_STREAM, 0, 2, 1 + s) for s in range(2)]
    two, clean0 = wide.render_image(scene, fam, quiet, {p: rec[p] for p in fam.params}, rngs)
    np.testing.assert_array_equal(clean0, b.clean["Case_2"][0])
    assert np.abs(two.astype(int) - clean0).max() <= 1


def test_held_out_family_set_and_grouping(tmp_path: Path) -> None:
    train, test = tmp_path / "train", tmp_path / "test"
    write_dacon(train, 4, 1, families="analytic,line-of-sight,backscatter", workers=1)
    write_dacon(test, 3, 2, families=["charging"], workers=1, cases=[1, 3])
    tr, te = read_synth_images(train), read_synth_images(test)
    assert {r["family"] for r in tr.values()} == {"analytic", "line-of-sight", "backscatter"}
    assert {r["family"] for r in te.values()} == {"charging"} and len(te) == 3 * 2 * 2
    meta = json.loads((test / "synth_meta.json").read_text())
    assert meta["families"] == ["charging"] and meta["randomisation"] == "wide"
    assert meta["family_counts"] == {"charging": 12}
    ranges = meta["parameter_ranges"]
    assert set(ranges) == {"common", "geometry", "charging"}
    assert ranges["common"]["dose"]["range"] == [5.0, 100.0]
    assert ranges["charging"]["params"]["charge_rate"]["range"] == [0.2, 1.5]
    for rel in te:  # every recorded path is a file of the set
        assert (test / rel).is_file()
    # every recorded value lies in the ranges the meta file declares
    for root, rows in ((train, tr), (test, te)):
        declared = json.loads((root / "synth_meta.json").read_text())["parameter_ranges"]
        for row in rows.values():
            for key, spec in declared["common"].items():
                lo, hi = spec["range"]
                assert lo <= row[key] <= hi, key
            for key, spec in declared[row["family"]]["params"].items():
                lo, hi = spec["range"]
                assert lo <= row[key] <= hi, key
            others = set(FAMILIES) - {row["family"]}
            foreign = {k for f in others for k in FAMILIES[f].params} - set(
                FAMILIES[row["family"]].params
            )
            assert all(row[k] is None for k in foreign)
    with pytest.raises(FileNotFoundError):
        read_synth_images(tmp_path)


def test_fields_with_families(tmp_path: Path) -> None:
    out = tmp_path / "f"
    meta = write_fields(out, 3, 4, size=(150, 100), families="backscatter,line-of-sight")
    rows = read_synth_images(out)
    fams = [rows[f"SEM/field_{k:04d}.png"]["family"] for k in range(3)]
    assert fams == ["backscatter", "line-of-sight", "backscatter"]
    assert meta["families"] == ["backscatter", "line-of-sight"]
    f = render_field(4, 1, size=(150, 100), family="line-of-sight")
    np.testing.assert_array_equal(_png(out / "SEM" / "field_0001.png"), f.sem)
    assert f.depth_du.min() >= 0 and len(f.holes) == 4
    for h in f.holes:  # the holes table agrees with the depth map
        r, c = round(h["row"]), round(h["col"])
        win = f.depth_du[max(r - 30, 0) : r + 31, max(c - 20, 0) : c + 21]
        assert float(win.min()) == pytest.approx(h["bottom_du"], abs=1e-3)
    with pytest.raises(ValueError, match="unknown contrast family"):
        render_field(4, 0, size=(150, 100), family="nope")


def test_cli_families_round_trip(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--structures", "3", "--seed", "9", "--workers", "1"]
    fam_args = ["--families", "backscatter,charging", "--family-assignment", "per-case"]
    assert cli_main([*args, *fam_args, "--cases", "1,2"]) == 0
    assert "families backscatter, charging" in capsys.readouterr().out
    rows = read_synth_images(out)
    assert {(r["case"], r["family"]) for r in rows.values()} == {
        ("Case_1", "backscatter"),
        ("Case_2", "charging"),
    }
    meta = json.loads((out / "synth_meta.json").read_text())
    assert meta["family_assignment"] == "per-case"
    # the same call again renders the same files (determinism through the CLI)
    again = tmp_path / "again"
    assert cli_main(["synth", "--out", str(again), *args[3:], *fam_args, "--cases", "1,2"]) == 0
    for rel in rows:
        assert (out / rel).read_bytes() == (again / rel).read_bytes()
    assert cli_main(["synth", "--out", str(tmp_path / "bad"), "--families", "optical"]) == 2
    assert "unknown contrast family 'optical'" in capsys.readouterr().err
    field = tmp_path / "field"
    assert (
        cli_main(
            [
                "synth",
                "--field",
                "--out",
                str(field),
                "--size",
                "80x100",
                "--count",
                "2",
                "--families",
                "all",
            ]
        )
        == 0
    )
    frows = read_synth_images(field)
    assert [frows[f"SEM/field_{k:04d}.png"]["family"] for k in range(2)] == ALL[:2]


def test_family_set_pairs_with_core_data(tmp_path: Path) -> None:
    data = pytest.importorskip("core.data")
    out = tmp_path / "set"
    write_dacon(out, 3, 1, cases=[1, 4], families="all", workers=1, write_clean=True)
    records = data.find_dacon_pairs(out)
    assert len(records) == 3 * 2 * 2  # SEM_clean and the CSV files are not paired
    rows = read_synth_images(out)
    for r in records:  # every paired SEM file has its row, with the paired depth map
        row = rows[Path(r.sem_path).relative_to(out).as_posix()]
        assert (out / row["depth"]).resolve() == Path(r.depth_path).resolve()
        assert (row["structure"], row["case"], row["shot"]) == (r.structure, r.case, r.shot)
