"""Reading and matching the reference CSVs (core/calibrate/references.py, images.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.calibrate.errors import CalibrationError
from core.calibrate.images import find_images
from core.calibrate.references import match_averages, match_points, read_averages, read_points

from .conftest import AVERAGES, POINTS, write_csv

RANGE = (0.0, 255.0)


def _matched(images: Path, tmp_path: Path, text: str) -> dict[str, list[str]]:
    imgs = find_images(images)
    rows = read_averages(write_csv(tmp_path / "avg.csv", text))
    refs = match_averages(rows, imgs, str(images), RANGE)
    return {r.key: sorted(imgs[i].rel for i in r.images) for r in refs}


def test_find_images_skips_depth_folders_and_outputs(images: Path) -> None:
    (images / "Depth").mkdir()
    (images / "Depth" / "a.png").write_bytes((images / "a_itr0.png").read_bytes())
    (images / "a_itr0_depth.png").write_bytes((images / "a_itr0.png").read_bytes())
    found = find_images(images)
    assert [im.rel for im in found] == [
        "a_itr0.png", "a_itr1.png", "b_itr0.png", "b_itr1.png",
        "site_1/c_itr0.png", "site_2/c_itr0.png",
    ]  # fmt: skip
    assert found[0].structure == "a" and found[0].shot == 0
    assert found[4].structure == "site_1/c"


def test_no_images_is_refused_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(CalibrationError, match=r"empty: no images found"):
        find_images(tmp_path / "empty")
    with pytest.raises(CalibrationError, match=r"nope: no such file or folder"):
        find_images(tmp_path / "nope")


def test_averages_keys_name_images_structures_sites_and_folders(
    images: Path, tmp_path: Path
) -> None:
    got = _matched(images, tmp_path, AVERAGES)
    assert got == {
        "a": ["a_itr0.png", "a_itr1.png"],  # both shots of the structure
        "b": ["b_itr0.png", "b_itr1.png"],
        "site_1": ["site_1/c_itr0.png"],  # a folder: every image in it
        "site_2/c_itr0.png": ["site_2/c_itr0.png"],  # a relative path
    }
    # a bare stem shared by two sub-folders gives both the value
    assert _matched(images, tmp_path, "image,average_depth_du\nC,120\n") == {
        "C": ["site_1/c_itr0.png", "site_2/c_itr0.png"]
    }


def test_dacon_average_depth_csv_is_accepted(tmp_path: Path) -> None:
    root = tmp_path / "train" / "SEM" / "Depth_110" / "site_00000"
    root.mkdir(parents=True)
    (root / "x.png").write_bytes(b"")  # matching needs names only
    imgs = find_images(tmp_path / "train" / "SEM")
    for text in ("0,1\ndepth_110_site_00000,110.5\n", "depth_110_site_00000,110.5\n"):
        rows = read_averages(write_csv(tmp_path / "average_depth.csv", text))
        refs = match_averages(rows, imgs, "train", RANGE)
        assert [(r.value, r.images) for r in refs] == [(110.5, (0,))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no rows"),
        ("image,average_depth_du\n", "no rows below the header"),
        ("image,depth\na,1\n", "line 1: no 'average_depth_du' column"),
        ("name,average_depth_du\na,1\n", "line 1: no 'image' column"),
        ("image,average_depth_du\na\n", "line 2: expected 2 columns"),
        ("image,average_depth_du\n,12\n", "line 2: empty image name"),
        ("image,average_depth_du\na,deep\n", "line 2: average_depth_du 'deep' is not a number"),
        ("image,average_depth_du\na,nan\n", "line 2: average_depth_du 'nan' is not a finite"),
        ("image,average_depth_du\na,inf\n", "not a finite number"),
        (
            "image,average_depth_du\na,1\n\n# note\nA,2\n",
            r"line 5: 'A' listed twice \(first on line 2\)",
        ),
    ],
)
def test_bad_averages_csv_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write_csv(tmp_path / "avg.csv", text)
    with pytest.raises(CalibrationError, match=message) as info:
        read_averages(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_not_a_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "avg.csv"
    path.write_bytes(b"\xff\xfe\x00\x81image")
    with pytest.raises(CalibrationError, match="not a text CSV"):
        read_averages(path)


def test_unmatched_keys_are_named(images: Path, tmp_path: Path) -> None:
    text = "image,average_depth_du\na,150\nzz1,1\nzz2,2\n" + "".join(f"q{k},3\n" for k in range(6))
    with pytest.raises(CalibrationError) as info:
        _matched(images, tmp_path, text)
    msg = str(info.value)
    assert "8 of 9 image names match no image under" in msg
    assert "'zz1' (line 3), 'zz2' (line 4), 'q0' (line 5)" in msg and "and 3 more" in msg


def test_an_image_named_by_two_rows_is_refused(images: Path, tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"line 3: image a_itr0.png .* line 2 \('a'\)"):
        _matched(images, tmp_path, "image,average_depth_du\na,150\na_itr0,140\n")


def test_average_outside_the_output_range_is_refused(images: Path, tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"line 2: average depth 300 DU is outside"):
        _matched(images, tmp_path, "image,average_depth_du\na,300\n")


def test_points_are_read_and_matched(images: Path, tmp_path: Path) -> None:
    imgs = find_images(images)
    rows = read_points(write_csv(tmp_path / "p.csv", POINTS))
    refs = match_points(rows, imgs, str(images))
    assert [(r.key, r.x, r.y, r.value) for r in refs] == [
        ("a_itr0.png", 24.0, 36.0, 20.0), ("b", 24.0, 36.0, 40.0),
        ("site_1/c", 24.0, 36.0, 30.0),
    ]  # fmt: skip
    assert [sorted(imgs[i].rel for i in r.images) for r in refs][1] == ["b_itr0.png", "b_itr1.png"]
    ambiguous = read_points(write_csv(tmp_path / "q.csv", "image,x_px,y_px,depth_nm\nc,1,1,5\n"))
    with pytest.raises(CalibrationError, match=r"line 2: 'c' names images of 2 structures"):
        match_points(ambiguous, imgs, str(images))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image,x_px,depth_nm\na,1,2\n", "line 1: no 'y_px' column"),
        ("image,x_px,y_px,depth_nm\na,1,2\n", "line 2: expected 4 columns"),
        ("image,x_px,y_px,depth_nm\na,1,two,3\n", "line 2: y_px 'two' is not a number"),
        ("image,x_px,y_px,depth_nm\na,1,2,-3\n", "line 2: depth_nm -3 is negative"),
        ("image,x_px,y_px,depth_nm\na,-1,2,3\n", "line 2: x_px -1 is negative"),
        ("image,x_px,y_px,depth_nm\na,1,2,3\nA,1,2,4\n", "line 3: this point listed twice"),
        ("a,1,2,3\n", "line 1: no 'image', 'x_px', 'y_px', 'depth_nm' column"),
    ],
)
def test_bad_points_csv_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        read_points(write_csv(tmp_path / "p.csv", text))
