"""Escaping read back from REAL servers (issue 11, point 6): hostile strings (arbitrary
Unicode, backslashes, commas, equals signs, spaces, quotes, line breaks) as measurement,
tag keys, tag values, field keys and string field values, written to VictoriaMetrics and
InfluxDB 1.6 and read back: every point is there, equal to what was meant (after the
documented replacements: line breaks and tabs become spaces, a backslash next to a
separator, quote, backslash or the end becomes U+FF3C), and no tag is forged."""

from __future__ import annotations

import itertools
import time
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from influxd_server import Influxd, start_influxd
from vm_server import VictoriaMetrics, start_victoria_metrics

from borderwatch.exporters.line_protocol import (
    escape_field_key,
    escape_measurement,
    escape_string,
    stored_as,
    tag_set,
)

HOSTILE = "\\\\\\,= \"'\n\r\t#{}Đồ\u0301"
text = st.text(alphabet=st.one_of(st.sampled_from(HOSTILE), st.characters(
    blacklist_categories=("Cs",))), max_size=16)
# Measurement, tag and field names are borderwatch's own (profile metric and label names),
# not the network's; they get a fixed first character so that none is a comment line
# (`#`), an InfluxDB 2.x reserved name (`_…`) or `time`, which InfluxDB refuses as a key.
point = st.tuples(text.map("m".__add__), st.dictionaries(text.map("k".__add__), text,
                                                         max_size=3),
                  text.map("f".__add__), text)
_ids = itertools.count()


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[tuple[VictoriaMetrics, Influxd]]:
    base = tmp_path_factory.mktemp("lp-servers")
    vm = start_victoria_metrics(base / "vm")
    try:
        influxd = start_influxd(base / "influxd")
        try:
            yield vm, influxd
        finally:
            influxd.stop()
    finally:
        vm.stop()


def post(url: str, lines: list[str]) -> None:
    body = ("\n".join(lines) + "\n").encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"),
                                timeout=10) as resp:
        assert resp.status == 204


def vm_points(vm: VictoriaMetrics, device: str) -> set[tuple]:
    got = set()
    for row in vm.export(f'{{device="{device}"}}'):
        metric = dict(row["metric"])
        name = metric.pop("__name__")
        for t, v in zip(row["timestamps"], row["values"], strict=True):
            got.add((name, tuple(sorted(metric.items())), t, v))
    return got


# No shrinking: every try of a failing example waits out the VictoriaMetrics read.
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(point, min_size=1, max_size=4))
def test_hostile_strings_read_back_equal(servers, points) -> None:
    vm, influxd = servers
    device = f"d{next(_ids)}"
    ts = int(time.time() * 1000) - 60_000
    vm_lines, influx_lines, expected = [], [], []
    for i, (measurement, tags, field, note) in enumerate(points):
        head = escape_measurement(measurement) + tag_set("s", device, tuple(tags.items()))
        t = ts + i
        fields = f"{escape_field_key(field)}={i}.5"
        vm_lines.append(f"{head} {fields} {t}")
        influx_lines.append(f"{head} {fields},note={escape_string(note)} {t}")
        labels = {stored_as(k): stored_as(v) for k, v in tags.items() if v != ""}
        labels |= {"site": "s", "device": device}
        expected.append((stored_as(measurement), labels, stored_as(field, field_key=True),
                         i + 0.5, t, note.replace("\n", " ").replace("\r", " ").replace("\t", " ")))
    post(f"{vm.url}/write?precision=ms", vm_lines)
    post(f"{influxd.url}/write?db={influxd.database}&precision=ms", influx_lines)

    # VictoriaMetrics: name measurement_field, tags as labels, one sample per point
    want_vm = {(f"{m}_{f}", tuple(sorted(labels.items())), t, v)
               for m, labels, f, v, t, _ in expected}
    deadline = time.monotonic() + 5
    while True:  # force_flush makes points searchable "within about a second"
        got_vm = vm_points(vm, device)
        if got_vm == want_vm or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got_vm == want_vm

    # InfluxDB 1.6: measurement, tags (absent ones come back as ""), fields, string field
    got_influx = set()
    for series in influxd.series(f"SELECT * FROM /.*/ WHERE \"device\" = '{device}' "
                                 "GROUP BY *"):
        tags = tuple(sorted((k, v) for k, v in series["tags"].items() if v != ""))
        for row in series["values"]:
            values = dict(zip(series["columns"], row, strict=True))
            t, note = values.pop("time"), values.pop("note")
            for f, v in values.items():
                if v is not None:
                    got_influx.add((series["name"], tags, f, v, t, note))
    want_influx = {(m, tuple(sorted(labels.items())), f, v, t, note)
                   for m, labels, f, v, t, note in expected}
    assert got_influx == want_influx
