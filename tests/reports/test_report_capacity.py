"""The streamed p95 of hourly utilisation: within half a percent of the exact percentile,
never below it, and an observed value."""

from __future__ import annotations

import math
import random

import pytest

from history.reader import LinkHour
from reports.capacity import CapacityAccumulator


@pytest.mark.parametrize("seed", range(5))
def test_p95_is_close_to_the_exact_percentile(seed: int) -> None:
    rng = random.Random(seed)
    values = [min(1.0, rng.betavariate(2, 5) * 1.4) for _ in range(rng.randint(20, 3000))]
    acc = CapacityAccumulator()
    acc.add_link_hours(LinkHour("L1", 3600.0 * i, None, None, v) for i, v in enumerate(values))
    exact = sorted(values)[math.ceil(0.95 * len(values)) - 1]
    got = acc.loads["L1"].p95()
    assert got in values
    assert exact <= got <= exact + 1 / 200
