"""borderwatch's line protocol in a real InfluxDB engine, read back through InfluxQL.

The VictoriaMetrics tests prove delivery; this one proves the schema where InfluxDB's own
parser and storage judge it: real polls of three snmpsim dumps (airMAX radio, UPS, sensor)
are encoded by exporters/line_protocol.py and posted to a real influxd (Debian's 1.6.7,
/write?db=&precision=ms). Every point must come back from `SELECT * ... GROUP BY *` with
the measurement, tags (escaped values intact), fields, values and millisecond timestamps
the polls had, and `SHOW FIELD KEYS` must give each field the type the design states.

InfluxDB 1.x parses no `u` (unsigned) suffix: lines with counters are refused as they are
("invalid number") and accepted with the counters as integers; the test asserts that this
is the only refusal. 2.x/3.x take the lines unchanged (not installable here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from dump_polls import poll_dump
from influxd_server import Influxd, start_influxd, to_influxdb1, write_lines

from borderwatch.collector.poller import Poller
from borderwatch.collector.samples import Kind, PollResult
from borderwatch.exporters.line_protocol import (
    RESERVED_TAGS,
    encode_result,
    line_times,
    measurement_field,
    timestamp_ms,
)

SITE = "huu-nghi"
DUMPS = ("ubiquiti-m5", "eaton-93e-80", "geist-temperature-sensor")
DEVICE_INTEGERS = ("varbinds", "requests")


@pytest.fixture
def influxd(tmp_path) -> Iterator[Influxd]:
    server = start_influxd(tmp_path / "influxd")
    try:
        yield server
    finally:
        server.stop()


def _expected(results: list[PollResult]) -> tuple[dict[tuple, dict[str, Any]], dict]:
    """({(measurement, tags, ts): {field: value}}, {(measurement, field): InfluxDB type}).

    Built from the PollResults, not from the encoder's output: the design of docs/influx.md
    (tags site/device + labels, exported_ renaming, empty tags left out, line breaks in
    tag values as spaces; counters integer, gauges float, varbinds/requests integer).
    """
    points: dict[tuple, dict[str, Any]] = {}
    types: dict[tuple[str, str], str] = {}
    for r in results:
        ts = timestamp_ms(r.started)
        base = {"device": r.device_id, "site": SITE}
        own = points.setdefault(("device", tuple(sorted(base.items())), ts), {})
        own.update({"up": 1.0, "poll_duration_seconds": round(r.duration, 6),
                    "varbinds": r.varbinds, "requests": r.requests})
        types |= {("device", f): "float" for f in ("up", "poll_duration_seconds")}
        types |= {("device", f): "integer" for f in DEVICE_INTEGERS}
        for s, ts in zip(r.samples, line_times(r), strict=True):  # per answer
            measurement, field = measurement_field(s.metric)
            tags = dict(base)
            for k, v in s.labels:
                if v != "":
                    tags[f"exported_{k}" if k in RESERVED_TAGS else k] = \
                        re.sub(r"[\r\n\t]", " ", v)
            key = (measurement, tuple(sorted(tags.items())), ts)
            counter = s.kind is Kind.COUNTER
            points.setdefault(key, {})[field] = int(s.value) if counter else float(s.value)
            types[(measurement, field)] = "integer" if counter else "float"
    return points, types


def _stored(server: Influxd, measurements: set[str]) -> dict[tuple, dict[str, Any]]:
    stored: dict[tuple, dict[str, Any]] = {}
    for m in sorted(measurements):
        for s in server.series(f'SELECT * FROM "{m}" GROUP BY *'):
            # GROUP BY * gives every tag key of the measurement; "" = the point has none.
            tags = tuple(sorted((k, v) for k, v in s["tags"].items() if v != ""))
            fields = s["columns"][1:]
            for row in s["values"]:
                values = {f: v for f, v in zip(fields, row[1:], strict=True) if v is not None}
                stored[(m, tags, row[0])] = values
    return stored


async def test_polled_lines_read_back_exactly_through_influxql(influxd, snmpsim_dumps,
                                                               transport) -> None:
    poller = Poller()
    results = []
    for _ in range(2):
        for dump in DUMPS:
            results.append(await poll_dump(poller, snmpsim_dumps, transport, dump, SITE))
    lines = [ln for r in results for ln in encode_result(r, SITE).lines]
    verbatim, rewritten = write_lines(influxd, lines)
    assert rewritten == sum(1 for ln in lines if to_influxdb1(ln) != ln) > 0
    assert verbatim == len(lines) - rewritten > 0

    expected, types = _expected(results)
    stored = _stored(influxd, {k[0] for k in expected})
    missing = expected.keys() - stored.keys()
    extra = stored.keys() - expected.keys()
    assert not missing, f"{len(missing)} of {len(expected)} points missing, e.g. {min(missing)}"
    assert not extra, f"{len(extra)} unexpected points, e.g. {min(extra)}"
    wrong = {k: (v, stored[k]) for k, v in expected.items() if stored[k] != v}
    assert not wrong, f"{len(wrong)} points differ, e.g. {next(iter(wrong.items()))}"

    got_types = {(s["name"], f): t for s in influxd.series("SHOW FIELD KEYS")
                 for f, t in s["values"]}
    assert got_types == types
    # What the dashboards and a Flux/InfluxQL user look for, from three kinds of device.
    assert {("interface", "receive_bytes"), ("radio", "signal_dbm"),
            ("ups", "battery_charge_ratio"), ("device", "uptime_seconds")} <= types.keys()
    tag_keys = {k for s in influxd.series('SHOW TAG KEYS FROM "interface"')
                for (k,) in s["values"]}
    assert {"site", "device", "ifIndex", "ifDescr"} <= tag_keys  # these dumps have no ifXTable


async def test_a_counter_above_2_63_cannot_go_to_influxdb_1(influxd) -> None:
    line = b"interface,device=d,site=s receive_bytes=9223372036854775808u 1700000000000"
    with pytest.raises(ValueError, match="does not fit"):
        write_lines(influxd, [line])
    # The largest one that fits goes in exactly.
    write_lines(influxd, [line.replace(b"808u", b"807u")])
    (s,) = influxd.series('SELECT "receive_bytes" FROM "interface"')
    assert s["values"] == [[1700000000000, 2**63 - 1]]
