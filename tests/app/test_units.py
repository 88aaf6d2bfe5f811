"""app.units: lengths with an SI prefix, round scale-bar lengths, and which unit each
number is shown in for a result."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.units import Units, format_length, length_unit, nice_length


@pytest.mark.parametrize(
    ("nm", "text"),
    [
        (218261.73, "218.3 µm"),
        (2.5e6, "2.5 mm"),
        (2.5, "2.5 nm"),
        (999.9, "999.9 nm"),
        (1000.0, "1 µm"),
        (0.25, "250 pm"),
        (0.0, "0 nm"),
        (-1500.0, "-1.5 µm"),
    ],
)
def test_format_length_picks_the_prefix(nm: float, text: str) -> None:
    assert format_length(nm) == text


def test_length_unit_and_nice_length() -> None:
    assert length_unit(5e5) == (1e3, "µm")
    assert nice_length(24.0) == 20.0
    assert nice_length(7.3e4) == 5e4
    assert nice_length(1.0) == 1.0
    assert nice_length(0.0) == 1.0


def test_units_follow_the_choice_and_what_is_known() -> None:
    both = SimpleNamespace(pixel_size_nm=2.5, nm_per_depth_unit=2.0)
    u = Units.for_data("nm", both)
    assert u.physical_lengths and u.nm_depths
    assert u.length(87304.692) == "218.3 µm"
    assert u.depth(10.0) == "20.00 nm"
    assert u.axis_scale == pytest.approx(2.5e-9) and u.length_symbol == "m"
    du = Units.for_data("DU", both)
    assert not du.physical_lengths and du.length(12) == "12 px" and du.depth(10) == "10.00 DU"
    # nm chosen, but the PNG has no pixel size and the card no depth scale: px and DU
    none = Units.for_data("nm", SimpleNamespace(pixel_size_nm=None, nm_per_depth_unit=None))
    assert none.length(3) == "3 px" and none.depth_unit == "DU" and none.length_symbol == "px"
    # nothing shown with nm remembered: the empty views say nm
    empty = Units.for_data("nm", None)
    assert empty.depth_unit == "nm" and empty.length_symbol == "m"
    assert Units.for_data("DU", None).depth_unit == "DU"


def test_hole_positions_take_the_unit_of_the_farthest_centre() -> None:
    """An 11 µm wide field of 400 nm holes: centres in µm ("11.35"), not "1.135e+04" nm."""
    from app.widgets.holes_panel import position_columns

    holes = [
        SimpleNamespace(row=20.0, col=30.0, top_cd_px=36.0),
        SimpleNamespace(row=300.0, col=1016.5, top_cd_px=40.0),
    ]
    cols = position_columns(Units("nm", 11.16, 0.5), holes)
    assert [title for title, _ in cols] == ["y (µm)", "x (µm)"]
    assert cols[1][1](holes[1]) == f"{1017.0 * 11.16 / 1000:.4g}"
    assert cols[0][1](holes[0]) == f"{20.5 * 11.16 / 1000:.4g}"
    px = position_columns(Units("DU", 11.16, 0.5), holes)
    assert [title for title, _ in px] == ["Row (px)", "Col (px)"]
