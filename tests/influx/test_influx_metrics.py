"""The writer's self-metrics as Prometheus exposition: names, types, values from a real
writer that lived through a failing store (the aiohttp fake) and a real spool."""

from __future__ import annotations

from pathlib import Path

from fake_influx import fake_server  # noqa: F401  (the `fake` fixture)
from influx_helpers import fast_settings, polls, started_writer, wait_until
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from borderwatch.exporters.influx import InfluxStats
from borderwatch.exporters.influx_metrics import DROP_REASONS, influx_families


class _View:
    def __init__(self, stats, clock) -> None:
        self.stats, self.clock = stats, clock

    def collect(self):
        return influx_families(self.stats, self.clock)


def scrape(stats, clock) -> dict[str, dict]:
    registry = CollectorRegistry()
    registry.register(_View(stats, clock))
    text = generate_latest(registry).decode()
    out: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


async def test_self_metrics_follow_the_writer(fake, tmp_path) -> None:
    # a refused batch of 3 is halved until each refused point stands alone: 5 requests
    fake.script = [(503, {}, "")] + [(400, {}, '{"message":"bad"}')] * 5
    fake.default = (503, {}, "")
    writer = await started_writer(fast_settings(fake.url, tmp_path / "spool", batch_size=3))
    results = polls(4)  # 12 points, 3 per poll
    for r in results:
        writer.submit(r, "s1")
    await wait_until(lambda: writer.stats.spool_points == 12, what="spooled")
    oldest = min(r.started for r in results)
    m = scrape(writer.stats, lambda: oldest + 100.0)
    assert m["borderwatch_influx_up"][()] == 0
    assert m["borderwatch_influx_points_submitted_total"][()] == 12
    assert m["borderwatch_influx_points_spooled_total"][()] == 12
    assert m["borderwatch_influx_spool_points"][()] == 12
    assert 0 < m["borderwatch_influx_spool_bytes"][()] \
        <= m["borderwatch_influx_spool_max_bytes"][()]
    assert abs(m["borderwatch_influx_spool_oldest_age_seconds"][()] - 100.0) < 0.01
    assert m["borderwatch_influx_write_requests_total"][(("result", "retry"),)] >= 1
    dropped = m["borderwatch_influx_points_dropped_total"]
    assert {dict(k)["reason"] for k in dropped} == set(DROP_REASONS)
    assert all(v == 0 for v in dropped.values())
    fake.default = None  # the store is back; the first replayed batch is refused (400)
    await wait_until(lambda: writer.stats.spool_points == 0, what="replayed")
    await writer.close()
    m = scrape(writer.stats, lambda: oldest + 100.0)
    assert m["borderwatch_influx_up"][()] == 1
    assert m["borderwatch_influx_spool_points"][()] == 0
    assert m["borderwatch_influx_spool_oldest_age_seconds"][()] == 0
    assert m["borderwatch_influx_points_dropped_total"][(("reason", "http_400"),)] == 3
    assert m["borderwatch_influx_points_written_total"][()] == 9
    assert m["borderwatch_influx_points_replayed_total"][()] == 9
    assert m["borderwatch_influx_write_requests_total"][(("result", "rejected"),)] == 5


def test_docs_list_every_self_metric() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "influx.md").read_text()
    stats = InfluxStats(backend_up=True)
    names = set()
    for family in influx_families(stats):
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"docs/influx.md lacks {missing}"
