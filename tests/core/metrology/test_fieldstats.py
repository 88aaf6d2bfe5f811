"""Field statistics and histograms by hand."""

from __future__ import annotations

import math

import pytest

from core.metrology.fieldstats import field_stats, histogram


def test_field_stats_by_hand() -> None:
    s = field_stats([1.0, 2.0, 3.0, 6.0, None, math.nan])
    assert s.count == 4 and s.mean == 3.0
    assert s.sigma == pytest.approx(math.sqrt((4 + 1 + 0 + 9) / 3))
    assert s.three_sigma == pytest.approx(3 * s.sigma)
    assert (s.min, s.max) == (1.0, 6.0)
    one = field_stats([5.0])
    assert one.count == 1 and one.sigma is None and one.three_sigma is None
    assert field_stats([]).count == 0 and field_stats([]).mean is None


def test_histogram_counts_every_value_once() -> None:
    h = histogram([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert len(h.counts) == 5  # ceil(sqrt(11)) = 4 -> at least 5 bins
    assert h.edges == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert h.counts == [2, 2, 2, 2, 3]  # the last bin is closed
    single = histogram([3.0])
    assert single.edges[0] == 2.5 and single.edges[-1] == 3.5 and sum(single.counts) == 1
    assert histogram([]).counts == []
    assert len(histogram(list(range(1000))).counts) == 20
