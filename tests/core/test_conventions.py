"""core.conventions: the one home of file-name conventions."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.conventions import (
    OUTPUT_SUFFIXES,
    StemNamer,
    base_stems,
    depth_folder_for,
    is_image_name,
    is_output_stem,
    output_name,
    safe_piece,
    shot_stem,
    split_shot,
)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("abc_itr1", ("abc", 1)),
        ("abc_itr12", ("abc", 12)),
        ("a_itr0_itr3", ("a_itr0", 3)),
        ("abc", ("abc", None)),
        ("abc_itr", ("abc_itr", None)),
        ("_itr1", ("_itr1", None)),  # no name before the suffix
        ("abc_itrx", ("abc_itrx", None)),
    ],
)
def test_split_shot(stem: str, expected: tuple[str, int | None]) -> None:
    assert split_shot(stem) == expected


def test_shot_stem_round_trips_and_base_stems() -> None:
    assert shot_stem("x", 1) == "x_itr1"
    assert split_shot(shot_stem("x_y", 7)) == ("x_y", 7)
    assert base_stems("x_itr0") == ["x_itr0", "x"]
    assert base_stems("x") == ["x"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.png", True),
        ("a.TIFF", True),
        ("a.jpeg", True),
        ("a.bmp", True),
        ("a.txt", False),
        (".hidden.png", False),
        ("a", False),
        ("dir/b.Tif", True),
    ],
)
def test_is_image_name(name: str, expected: bool) -> None:
    assert is_image_name(name) is expected


def test_depth_folder_for_replaces_the_last_sem_folder() -> None:
    p = Path("data") / "SEM" / "x" / "SEM" / "Case_1" / "80" / "s_itr0.png"
    assert depth_folder_for(p) == Path("data") / "SEM" / "x" / "Depth" / "Case_1" / "80"
    assert depth_folder_for(Path("sem") / "a.png", "depth") == Path("depth")
    assert depth_folder_for(Path("images") / "a.png") is None
    # a file named SEM is not a folder of the path
    assert depth_folder_for(Path("x") / "SEM") is None


def test_output_names_and_output_stems() -> None:
    assert output_name("a__b", "depth_tiff") == "a__b_depth.tif"
    assert output_name("a", "uncertainty_tiff") == "a_uncertainty.tif"
    assert output_name("a", "depth8_png") == "a_depth8.png"
    with pytest.raises(ValueError, match="unknown output kind 'x'"):
        output_name("a", "x")
    for suffix in OUTPUT_SUFFIXES.values():
        stem = Path("s" + suffix).stem
        if is_image_name("s" + suffix):  # an image output must never be read as input
            assert is_output_stem(stem), suffix
    assert is_output_stem("X_DEPTH")
    assert not is_output_stem("depth_map") and not is_output_stem("hole_1")


def test_safe_piece() -> None:
    assert safe_piece('a<b>:c"d|e?f*g') == "a_b__c_d_e_f_g"
    assert safe_piece("tab\there") == "tab_here"


def test_stem_namer_rules(tmp_path: Path) -> None:
    paths = [
        tmp_path / "a" / "x.png",
        tmp_path / "b" / "x.png",
        tmp_path / "a" / "y.png",
        tmp_path / "a" / "y.tif",
        tmp_path / "a" / "Y.bmp",
    ]
    namer = StemNamer(paths)
    assert [namer(p) for p in paths] == ["a__x", "b__x", "a__y", "a__y_tif", "a__Y_bmp"]
    # a further clash after the extension gets a counter
    assert namer(tmp_path / "a" / "y.tif") == "a__y_tif_2"


def test_stem_namer_single_folder_uses_bare_stems(tmp_path: Path) -> None:
    paths = [tmp_path / "x.png", tmp_path / "z.tif"]
    namer = StemNamer(paths)
    assert [namer(p) for p in paths] == ["x", "z"]
