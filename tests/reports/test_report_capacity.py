"""The streamed p95 of hourly utilisation: within half a percent of the exact percentile,
never below it, and an observed value."""

from __future__ import annotations

import math
import random

import pytest

from borderwatch.history.reader import LinkHour
from borderwatch.reports.capacity import CapacityAccumulator


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


def test_sql_summary_equals_the_row_api(tmp_path) -> None:
    """The capacity figures summed in SQLite equal those built from the reader's rows, on a
    history written by the real writer; with the same file twice, nothing counts twice."""
    from report_history import DAY_END, T0, small_world

    from borderwatch.history.reader import HistoryReader
    from borderwatch.reports.rollups import summarise

    path = small_world(tmp_path / "history.sqlite")
    rows = CapacityAccumulator()
    with HistoryReader.open([path]) as reader:
        rows.add_link_hours(reader.link_hours(T0, DAY_END))
        rows.add_radio_hours(reader.radio_hours(T0, DAY_END))
        rows.add_power_hours(reader.power_hours(T0, DAY_END))
    assert rows.loads and rows.radio and rows.power
    for paths in ([path], [path, path]):
        sql = CapacityAccumulator()
        summarise(paths, T0, DAY_END, sql)
        assert {k: v.figures() for k, v in sql.loads.items()} == {
            k: v.figures() for k, v in rows.loads.items()}
        assert sql.radio == rows.radio
        assert sql.power == rows.power
