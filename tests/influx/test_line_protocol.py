"""Line protocol of a poll: measurement/tag/field names, value types that never change,
escaping, exact 64-bit counters (A27), failed polls."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderwatch.collector.profiles import metric_catalog
from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.exporters.line_protocol import (
    encode_result,
    escape_key,
    format_float,
    format_unsigned,
    measurement_field,
    tag_set,
    timestamp_ms,
)

T = 1_700_000_000.1234


@pytest.mark.parametrize(("metric", "measurement", "field"), [
    ("borderwatch_interface_receive_bytes_total", "interface", "receive_bytes"),
    ("borderwatch_interface_up", "interface", "up"),
    ("borderwatch_interface_speed_bytes", "interface", "speed_bytes"),
    ("borderwatch_device_uptime_seconds", "device", "uptime_seconds"),
    ("borderwatch_device_info", "device", "info"),
    ("borderwatch_radio_signal_dbm", "radio", "signal_dbm"),
    ("borderwatch_ups_battery_charge_ratio", "ups", "battery_charge_ratio"),
    ("borderwatch_power_mains_ok", "power", "mains_ok"),
    ("borderwatch_vsat_receive_esno_db", "vsat", "receive_esno_db"),
    ("borderwatch_cpu_load_ratio", "cpu", "load_ratio"),
    ("borderwatch_sensor_temperature_celsius", "sensor", "temperature_celsius"),
    ("borderwatch_total", "borderwatch", "total"),  # not our shape: kept whole
])
def test_measurement_and_field_names(metric, measurement, field) -> None:
    assert measurement_field(metric) == (measurement, field)


def test_every_profile_metric_maps_to_a_distinct_field() -> None:
    catalog = metric_catalog()
    mapped = {measurement_field(name) for name in catalog}
    assert len(mapped) == len(catalog)
    # the device fields written from the PollResult itself do not clash with profile ones
    own = {("device", f) for f in ("up", "poll_duration_seconds", "varbinds", "requests")}
    assert not own & mapped


def test_a_poll_becomes_one_line_per_measurement_and_labels() -> None:
    if1 = (("ifAlias", ""), ("ifDescr", "Gi0/1"), ("ifIndex", "1"), ("ifName", "Gi0/1"))
    if2 = (("ifAlias", "to Hữu Nghị"), ("ifDescr", "Gi0/2"), ("ifIndex", "2"),
           ("ifName", "Gi0/2"))
    result = PollResult("core-sw1", T, 0.25, True, varbinds=42, requests=3, samples=[
        Sample("borderwatch_device_uptime_seconds", (), 1234.5),
        Sample("borderwatch_interface_up", if1, 1),
        Sample("borderwatch_interface_receive_bytes_total", if1, 2**63 + 7, Kind.COUNTER, 64),
        Sample("borderwatch_interface_up", if2, 0),
        Sample("borderwatch_interface_receive_bytes_total", if2, 4294967295, Kind.COUNTER, 32),
        Sample("borderwatch_interface_speed_bytes", if2, 125000000.0),
    ])
    encoded = encode_result(result, "lang-son-core")
    ts = "1700000000123"
    assert encoded.ts_ms == int(ts)
    assert [x.decode() for x in encoded.lines] == [
        "device,device=core-sw1,site=lang-son-core up=1.0,poll_duration_seconds=0.25,"
        f"varbinds=42i,requests=3i,uptime_seconds=1234.5 {ts}",
        "interface,device=core-sw1,ifDescr=Gi0/1,ifIndex=1,ifName=Gi0/1,site=lang-son-core "
        f"up=1.0,receive_bytes=9223372036854775815u {ts}",
        r"interface,device=core-sw1,ifAlias=to\ Hữu\ Nghị,ifDescr=Gi0/2,ifIndex=2,"
        "ifName=Gi0/2,site=lang-son-core "
        f"up=0.0,receive_bytes=4294967295u,speed_bytes=125000000.0 {ts}",
    ]


def test_points_carry_the_arrival_of_their_answers() -> None:
    # Issue 11: the poll began at steady 500.0 (wall T). Interface 1's counters came in
    # two answers 50 ms apart, 0.2 s in; interface 2's transmit counter after a retry,
    # 2.5 s in; the uptime with the first GET, 5 ms in.
    if1 = (("ifIndex", "1"),)
    if2 = (("ifIndex", "2"),)
    rx = "borderwatch_interface_receive_bytes_total"
    tx = "borderwatch_interface_transmit_bytes_total"
    result = PollResult("sw", T, 2.6, True, started_steady=500.0, samples=[
        Sample("borderwatch_device_uptime_seconds", (), 12.0, t=500.005),
        Sample("borderwatch_interface_up", if1, 1, t=500.1),
        Sample(rx, if1, 10, Kind.COUNTER, 64, t=500.2),
        Sample(tx, if1, 11, Kind.COUNTER, 64, t=500.25),  # within SAME_POINT_MS: joins
        Sample("borderwatch_interface_up", if2, 1, t=500.1),
        Sample(rx, if2, 20, Kind.COUNTER, 64, t=500.2),
        Sample(tx, if2, 21, Kind.COUNTER, 64, t=502.5),  # 2.3 s later: a point of its own
    ])
    start, first, late = 1700000000123, 1700000000323, 1700000002623
    encoded = encode_result(result, "s")
    assert [x.decode().rsplit(" ", 2)[1:] for x in encoded.lines] == [
        ["up=1.0,poll_duration_seconds=2.6,varbinds=0i,requests=0i,uptime_seconds=12.0",
         str(start)],
        ["up=1.0,receive_bytes=10u,transmit_bytes=11u", str(first)],
        ["up=1.0,receive_bytes=20u", str(first)],
        ["transmit_bytes=21u", str(late)],
    ]
    assert (encoded.ts_ms, encoded.max_ts_ms) == (start, late)
    assert result.wall_time(502.5) == pytest.approx(T + 2.5)


def test_a_failed_poll_writes_only_its_device_line() -> None:
    result = PollResult("bts-7", T, 3.0, False, error="timeout", requests=2)
    lines = encode_result(result, "s").lines
    assert lines == [b"device,device=bts-7,site=s up=0.0,poll_duration_seconds=3.0,"
                     b"varbinds=0i,requests=2i 1700000000123"]


def test_field_types_depend_on_the_metric_not_the_value() -> None:
    # a gauge that happens to be an int is still a float; a counter as float still unsigned
    result = PollResult("d", T, 0.1, True, samples=[
        Sample("borderwatch_interface_oper_status", (("ifIndex", "1"),), 2),
        Sample("borderwatch_interface_transmit_bytes_total", (("ifIndex", "1"),), 10.0,
               Kind.COUNTER, 64),
    ])
    line = encode_result(result, "s").lines[1]
    assert b"oper_status=2.0," in line and b"transmit_bytes=10u " in line


@pytest.mark.parametrize(("value", "text"), [
    (0, "0u"), (2**64 - 1, "18446744073709551615u"), (2**63 + 1, "9223372036854775809u"),
    (5.0, "5u"), (-1, None), (2**64, None), (1.5, None),
])
def test_unsigned_counters_are_exact(value, text) -> None:
    assert format_unsigned(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (-64.0, "-64.0"), (1e-05, "1e-05"), (3, "3.0"),
    (float("nan"), None), (float("inf"), None), (float("-inf"), None),
])
def test_floats(value, text) -> None:
    assert format_float(value) == text


def test_values_line_protocol_cannot_hold_are_left_out() -> None:
    result = PollResult("d", T, 0.1, True, samples=[
        Sample("borderwatch_radio_signal_dbm", (("radio", "1"),), float("nan")),
        Sample("borderwatch_ups_battery_voltage_volts", (), 54.1),
    ])
    lines = encode_result(result, "s").lines
    assert len(lines) == 2  # the radio line had no value left: not written
    assert lines[1].startswith(b"ups,device=d,site=s battery_voltage_volts=54.1 ")


@pytest.mark.parametrize(("raw", "escaped"), [
    ("a b,c=d", r"a\ b\,c\=d"), ("line\nbreak\ttab\rcr", r"line\ break\ tab\ cr"),
    ("Đồng Đăng", r"Đồng\ Đăng"),
    # issue 11: a backslash next to a separator, a quote, another backslash or the end
    # cannot be read back the same by every server; it is written as U+FF3C
    ("ends\\", "ends\uff3c"), (r"x\,injected\=evil", "x\uff3c\\,injected\uff3c\\=evil"),
    (r"a\ b", "a\uff3c\\ b"), (r"C:\\dir", "C:\uff3c\\dir"), (r"Gi0\1", r"Gi0\1"),
    ('say \\"hi\\"', 'say\\ \uff3c"hi\uff3c"'),
])
def test_escaping(raw, escaped) -> None:
    assert escape_key(raw) == escaped


def test_tags_sorted_empty_left_out_and_ours_never_overwritten() -> None:
    tags = tag_set("s1", "d1", (("site", "from-profile"), ("device", "x"), ("zz", ""),
                                ("a", "1")))
    assert tags == ",a=1,device=d1,exported_device=x,exported_site=from-profile,site=s1"


def test_timestamp_rounds_to_the_millisecond() -> None:
    assert timestamp_ms(1.0004) == 1000 and timestamp_ms(1.0006) == 1001


def test_docs_table_lists_every_field_of_every_profile() -> None:
    """docs/influx.md's measurement table stays true to the profiles (drift check)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "influx.md").read_text()
    rows: dict[str, str] = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = rows.get(cells[1].strip("`"), "") + cells[3]
    missing = [f"{m}.{f}" for m, f in map(measurement_field, metric_catalog())
               if f"`{f}`" not in rows.get(m, "")]
    assert not missing, f"docs/influx.md lacks {missing}"
    for own in ("up", "poll_duration_seconds", "varbinds", "requests"):
        assert f"`{own}`" in rows["device"]
