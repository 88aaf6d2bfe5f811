"""detect_holes on simulated fields with known centres and diameters; plausible_field.

Stated accuracy on these fields (noise sigma 4 grey levels of 255): every hole found, no
extra one, centres within 0.5 px, diameters within 2 px of the drawn disk's."""

from __future__ import annotations

import numpy as np
import pytest

from core.inference.holes import HoleCandidate, detect_holes, plausible_field

WINDOW = (72, 48)  # the model's input size: holes of 0.2-0.9 x 48 px diameter qualify


def _field(
    radius: float, *, rim: bool, seed: int = 1, shape: tuple[int, int] = (200, 260)
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """0..1 image: dark disks (50/255) of ``radius`` px on a grey top (140/255), optionally
    ringed by a 2-px bright rim, on a 60-px grid jittered by up to 4 px; plus the centres."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    img = np.full(shape, 140.0)
    centres: list[tuple[float, float]] = []
    for r0 in np.arange(40, shape[0] - 30, 60):
        for c0 in np.arange(40, shape[1] - 30, 60):
            r, c = r0 + rng.uniform(-4, 4), c0 + rng.uniform(-4, 4)
            centres.append((r, c))
            d = np.hypot(yy - r, xx - c)
            img[d < radius] = 50.0
            if rim:
                img[(d >= radius) & (d < radius + 2)] = 210.0
    img += rng.normal(0, 4.0, shape)
    return np.clip(img, 0, 255) / 255.0, centres


@pytest.mark.parametrize("rim", [False, True])
@pytest.mark.parametrize("radius", [7.0, 9.0, 12.0])
def test_every_hole_found_at_its_centre_and_size(radius: float, rim: bool) -> None:
    img, centres = _field(radius, rim=rim)
    holes = detect_holes(img, WINDOW)
    assert len(holes) == len(centres) == 12
    found = np.array([[h.row, h.col] for h in holes])
    for r, c in centres:
        assert np.hypot(found[:, 0] - r, found[:, 1] - c).min() < 0.5
    for h in holes:
        assert abs(h.diameter_px - 2 * radius) < 2.0
        assert h.area_px == len(h.coords)
        assert h.contrast >= 3.0 and h.eccentricity < 0.5
        r0, c0, r1, c1 = h.bbox
        assert (h.coords[:, 0].min(), h.coords[:, 1].min()) == (r0, c0)
        assert (h.coords[:, 0].max() + 1, h.coords[:, 1].max() + 1) == (r1, c1)
    # reading order: row by row (rounded), then by column
    keys = [(round(h.row), h.col) for h in holes]
    assert keys == sorted(keys)
    assert plausible_field(holes)


def test_no_holes_in_flat_noise_or_tiny_images() -> None:
    rng = np.random.default_rng(0)
    assert detect_holes(0.5 + rng.normal(0, 0.02, (200, 260)), WINDOW) == []
    assert detect_holes(np.full((200, 260), 0.5), WINDOW) == []
    assert detect_holes(np.zeros((6, 100)), WINDOW) == []
    assert detect_holes(np.zeros((10, 10, 3)), WINDOW) == []


def test_shapes_that_are_not_holes_are_rejected() -> None:
    img, centres = _field(9.0, rim=False)
    yy, xx = np.mgrid[0:200, 0:260]
    img = img.copy()
    img[95:101, 10:250] = 50 / 255  # a trench across the field: too long
    img[np.hypot(yy - 10, xx - 130) < 2.5] = 50 / 255  # a speck: too small
    holes = detect_holes(img, WINDOW)
    found = np.array([[h.row, h.col] for h in holes])
    assert all(not (90 <= h.row <= 106 and h.diameter_px > 20) for h in holes)
    assert not any(abs(h.row - 10) < 3 and abs(h.col - 130) < 3 for h in holes)
    away = [(r, c) for r, c in centres if abs(r - 98) > 15]  # holes the trench did not cut
    for r, c in away:
        assert np.hypot(found[:, 0] - r, found[:, 1] - c).min() < 0.5


def test_size_limits_follow_the_window() -> None:
    img, _ = _field(12.0, rim=False)  # 24-px holes
    assert len(detect_holes(img, WINDOW)) == 12
    assert detect_holes(img, (20, 20)) == []  # at most 0.9 x 20 = 18 px
    assert len(detect_holes(img, WINDOW, max_diameter=20.0)) == 0
    assert len(detect_holes(img, WINDOW, min_diameter=30.0)) == 0


def _cand(d: float) -> HoleCandidate:
    return HoleCandidate(0.0, 0.0, 1, d, 0.0, (0, 0, 1, 1), np.zeros((1, 2), np.int64))


def test_plausible_field_needs_three_of_one_size_class() -> None:
    assert not plausible_field([_cand(20), _cand(20)])
    assert plausible_field([_cand(20), _cand(21), _cand(19)])
    # median 20: 13.4-30 px counts as the same class; 3 of 5 similar = 60 %
    assert plausible_field([_cand(20), _cand(20), _cand(20), _cand(5), _cand(90)])
    assert not plausible_field([_cand(20), _cand(20), _cand(20), _cand(5), _cand(90), _cand(4)])
    assert not plausible_field([_cand(10), _cand(20), _cand(40)])  # no size class


def test_fill_holes_equals_scipy() -> None:
    from scipy import ndimage as ndi

    from core.inference.holes import fill_holes

    rng = np.random.default_rng(0)
    for _ in range(30):
        m = rng.random((40, 50)) < rng.uniform(0.2, 0.8)
        assert np.array_equal(fill_holes(m), ndi.binary_fill_holes(m))
    assert not fill_holes(np.zeros((5, 5), bool)).any()
    assert fill_holes(np.ones((5, 5), bool)).all()
