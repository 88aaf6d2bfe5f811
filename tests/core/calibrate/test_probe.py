"""Reading a point reference from a depth map (core/calibrate/probe.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.calibrate.probe import default_top_half, make_probe, probe_depth_du, probe_torch


def hole_map(depth: float = 60.0, top: float = 160.0) -> np.ndarray:
    rr, cc = np.mgrid[:72, :48]
    m = np.full((72, 48), top)
    m[np.hypot(rr - 30, cc - 20) <= 6] = top - depth
    return m


def test_depth_below_the_local_top_at_a_hole() -> None:
    m = hole_map()
    p = make_probe(m.shape, 20, 30, top_half_px=36)
    assert probe_depth_du(m, p) == pytest.approx(60.0)
    assert int(p.disk.sum()) == 13  # pixel centres within 2 px: 1 + 4 + 4 + 4
    # the level of the top does not matter, only the depth below it
    assert probe_depth_du(hole_map(top=200.0), p) == pytest.approx(60.0)
    # on the flat top: no depth
    assert probe_depth_du(m, make_probe(m.shape, 40, 60, top_half_px=36)) == pytest.approx(0.0)


def test_disk_radius_and_subpixel_points() -> None:
    m = hole_map()
    p = make_probe(m.shape, 20.3, 30.2, top_half_px=36, disk_px=0.1)
    assert int(p.disk.sum()) == 1  # no centre within 0.1 px: the nearest pixel
    p = make_probe(m.shape, 20.5, 30.5, top_half_px=36, disk_px=0.1)
    assert int(p.disk.sum()) == 4  # ... or the nearest ones, when they tie
    edge = make_probe(m.shape, 26, 30, top_half_px=36)  # on the rim: part hole, part top
    assert 0.0 < probe_depth_du(m, edge) < 60.0


def test_points_outside_the_image_are_refused() -> None:
    with pytest.raises(ValueError, match=r"point \(48, 3\) is outside the 48x72 px image"):
        make_probe((72, 48), 48, 3, top_half_px=36)
    make_probe((72, 48), -0.5, 71.5, top_half_px=36)  # the outer pixel edges are inside


def test_torch_probe_matches_numpy() -> None:
    maps = np.stack(
        [hole_map(60.0), hole_map(30.0) + np.random.default_rng(0).normal(0, 1, (72, 48))]
    )
    probes = [
        make_probe((72, 48), 20, 30, top_half_px=10),
        make_probe((72, 48), 21.3, 29, top_half_px=10),
    ]
    t = torch.tensor(maps[:, None], dtype=torch.float64, requires_grad=True)
    got = probe_torch(t, probes)
    want = [probe_depth_du(a, p) for a, p in zip(maps, probes, strict=True)]
    assert got.detach().numpy() == pytest.approx(want)
    got.sum().backward()
    assert t.grad is not None and float(t.grad.abs().sum()) > 0


def test_default_top_half() -> None:
    assert default_top_half((72, 48)) == 36
    assert default_top_half((5, 3)) == 4


def test_on_simulated_maps_a_centre_point_reads_the_hole_depth() -> None:
    """What a cross-section measures (the simulator's hole depth: top minus deepest point)
    is what the probe reads at the hole's centre of the true map, within a few DU."""
    from core.synth import render_crops

    cb = render_crops(3, list(range(12)), ["Case_1"], families=["analytic"])
    errors = []
    for k, params in enumerate(cb.params):
        if cb.hole_depth_du[k] < 10:  # closed or barely etched: no hole to point at
            continue
        p = make_probe(cb.depth_du[k].shape, params.center_col, params.center_row, top_half_px=36)
        errors.append(probe_depth_du(cb.depth_du[k], p) - float(cb.hole_depth_du[k]))
    assert len(errors) >= 8
    assert float(np.sqrt(np.mean(np.square(errors)))) < 4.0
