"""Points a REAL InfluxDB 1.6 refuses (issue 11, point 6): a batch mixing good points with
points the server refuses (a field type conflict with an earlier write, and counters in a
form 1.6 cannot parse). Each refused point is found, quarantined with its reason and
counted by cause; every other point is stored; `points_written` is exactly what the server
stored.

influxd 1.6 has no /api/v2/write (1.8 added it), so the writer reaches it through a tiny
loopback proxy that maps the v2 path and parameters onto /write?db=&precision= and relays
the body, status and error text unchanged: every accept and refusal is influxd's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from influx_helpers import fast_settings, polls, started_writer
from influxd_server import Influxd, start_influxd

from borderwatch.exporters.line_protocol import encode_result

SITE = "s1"


@pytest.fixture
def influxd(tmp_path) -> Iterator[Influxd]:
    server = start_influxd(tmp_path / "influxd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def v2_proxy(influxd) -> AsyncIterator[str]:
    async with aiohttp.ClientSession() as session:
        async def write(request: web.Request) -> web.Response:
            params = {"db": request.query["bucket"],
                      "precision": request.query.get("precision", "ns")}
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() in ("content-encoding", "content-type")}
            body = await request.content.read()  # still gzip: relayed as sent
            async with session.post(f"{influxd.url}/write", params=params, data=body,
                                    headers=headers) as resp:
                return web.Response(status=resp.status, body=await resp.read(),
                                    content_type="application/json")

        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/api/v2/write", write)
        runner = web.AppRunner(app, auto_decompress=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


def stored_interface_ups(influxd: Influxd) -> set[tuple[str, int]]:
    rows = influxd.series('SELECT "up" FROM "interface" GROUP BY "device", "ifIndex"')
    return {(s["tags"]["device"], t) for s in rows for t, _ in s["values"]}


async def test_refused_points_are_found_one_by_one_and_the_rest_written(
        influxd, v2_proxy, tmp_path) -> None:
    # An earlier writer stored interface `up` as an integer: every float `up` conflicts.
    results = polls(12, devices=2, interfaces=2)
    t0 = round(results[0].started * 1000)  # 1.x keeps field types per shard: same shard
    influxd.write([f"interface,device=other,ifIndex=9,site=s1 up=1i {t0}".encode()])
    lines = [x for r in results for x in encode_result(r, SITE).lines]
    # device lines are good; interface lines carry a float `up` (type conflict) and an
    # unsigned counter (1.6 parses no `u`): refused for either reason, one by one
    bad = [x for x in lines if x.startswith(b"interface,")]
    good = [x for x in lines if not x.startswith(b"interface,")]
    assert bad and good
    writer = await started_writer(fast_settings(v2_proxy, tmp_path / "spool",
                                                bucket=influxd.database, batch_size=len(lines),
                                                flush_interval=5.0))
    for r in results:
        writer.submit(r, SITE)
    await writer.close()
    dropped = writer.stats.dropped
    refused = sum(dropped.values())
    assert refused == len(bad)
    assert set(dropped) <= {"rejected_parse_error", "rejected_field_type_conflict"}
    assert writer.stats.points_written == len(good)
    assert writer.stats.points_written + refused == writer.stats.points_submitted
    # what influxd holds: every device point, no interface point of ours
    (series,) = influxd.series('SELECT count("up") FROM "device"')
    assert series["values"][0][1] == len(good)
    assert stored_interface_ups(influxd) == {("other", t0)}
    # quarantined, each with its reason, nothing else
    kept = (tmp_path / "spool" / "rejected.lp").read_bytes().splitlines()
    quarantined = [x for x in kept if not x.startswith(b"#")]
    assert sorted(quarantined) == sorted(bad)
    reasons = [x for x in kept if x.startswith(b"#")]
    assert len(reasons) == len(bad)
    assert all(b"rejected_" in x and b"HTTP 400" in x for x in reasons)


async def test_a_type_conflict_alone_is_named_as_such(influxd, v2_proxy, tmp_path) -> None:
    """Only conflicting points (no parse error): the cause is the type conflict."""
    results = polls(4, devices=2, interfaces=0)  # device lines only: varbinds=…i
    t0 = round(results[0].started * 1000) - 1  # same shard (1.x types are per shard)
    influxd.write([f"device,device=other,site=s1 varbinds=1.5 {t0}".encode()])
    writer = await started_writer(fast_settings(v2_proxy, tmp_path / "spool",
                                                bucket=influxd.database, batch_size=100,
                                                flush_interval=5.0))
    for r in results:
        writer.submit(r, SITE)
    await writer.close()
    # the measurement `device` holds a float varbinds now: every integer one conflicts
    assert writer.stats.dropped == {"rejected_field_type_conflict": 8}
    assert writer.stats.points_written == 0
