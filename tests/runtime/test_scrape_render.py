"""Single flight of /metrics renders (exporters/scrape_render.py): concurrent scrapes of one
variant share one render of the current state; a scrape after it gets a new render; a
scrape that gives up does not cancel the render the others wait for."""

from __future__ import annotations

import asyncio
import gzip

from prometheus_client import CollectorRegistry, Gauge

from borderwatch.exporters.scrape_render import RenderStats, ScrapeRenderer

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


async def test_concurrent_scrapes_share_one_render_of_the_current_state() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("bw_test_value", "a value", registry=registry)
    stats = RenderStats()
    renderer = ScrapeRenderer(registry, stats)
    gauge.set(1)
    same = await asyncio.gather(*(renderer.exposition([], "") for _ in range(10)))
    assert stats.renders == 1
    assert all(e is same[0] for e in same)
    assert b"bw_test_value 1.0" in same[0].plain
    # Variants are rendered apart: another format, another name[] filter.
    om, only = await asyncio.gather(renderer.exposition([], OPENMETRICS),
                                    renderer.exposition(["bw_test_value"], ""))
    assert stats.renders == 3
    assert om.plain.endswith(b"# EOF\n") and b"borderwatch_exposition_series" not in only.plain
    # After the render ended, a scrape sees the state as it is now: a new render (which
    # starts RENDER_GAP after the previous one; scrapes arriving meanwhile join it).
    gauge.set(2)
    later, joined = await asyncio.gather(renderer.exposition([], ""),
                                         renderer.exposition([], ""))
    assert stats.renders == 4 and b"bw_test_value 2.0" in later.plain and joined is later
    # gzip: made once per render, for every scrape that asks.
    packed = await asyncio.gather(*(later.gzipped() for _ in range(5)))
    assert all(p is packed[0] for p in packed)
    assert gzip.decompress(packed[0]) == later.plain


async def test_a_scrape_that_gives_up_does_not_cancel_the_shared_render() -> None:
    renderer = ScrapeRenderer(CollectorRegistry(), RenderStats())
    first = asyncio.create_task(renderer.exposition([], ""))
    second = asyncio.create_task(renderer.exposition([], ""))
    await asyncio.sleep(0)  # both joined the one render in flight
    first.cancel()
    exposition = await second
    assert b"borderwatch_exposition_series" in exposition.plain
    await renderer.close()
