"""The profile engine on recorded walks of real dumps, checked against the dump files."""

from __future__ import annotations

from decimal import Decimal

import pytest
from walks import dump_values, load

from borderwatch.collector.mapper import Mapping, compile_profile
from borderwatch.collector.profiles import builtin_profiles
from borderwatch.collector.samples import Kind, Sample
from borderwatch.collector.snmp.types import BadValue, Tag, VarBind, parse_oid

IF_HC_IN, IF_IN = "1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.2.2.1.10"
IF_HC_OUT, IF_OUT = "1.3.6.1.2.1.31.1.1.1.10", "1.3.6.1.2.1.2.2.1.16"


def map_recorded(name: str, profile: str) -> list[Sample]:
    """Samples of one profile over a recorded dump (all columns, fallbacks included)."""
    walks, gets = load(name)
    plan = compile_profile(builtin_profiles()[profile])
    out = Mapping()
    plan.scalars.map(gets, out)
    for table in plan.tables:
        rows: dict = {}
        for column in (*table.columns, *(fb for fb, _, _ in table.fallbacks)):
            table.add_column(rows, column, walks.get(column, []))
        table.map_rows(rows, out)
    assert not out.bad, f"real dump {name} had values refused: {out.bad}"
    return out.samples


def by_metric(samples: list[Sample], metric: str) -> dict[tuple, Sample]:
    return {s.labels: s for s in samples if s.metric == metric}


def label(sample: Sample, name: str) -> str:
    return dict(sample.labels)[name]


@pytest.mark.parametrize("dump", [
    "network/switch/cisco-c3560",  # HC everywhere but Null0 (ifIndex 10501)
    "network/router/cisco-unmarked-0",  # HC on 1 of 28 interfaces
    "network/wifi/ubiquiti-m5",  # no ifXTable at all
])
def test_if_mib_counters_follow_the_dump_with_per_interface_fallback(dump: str) -> None:
    oracle = dump_values(dump)
    samples = map_recorded(dump.rsplit("/", 1)[-1], "if-mib")
    indexes = [oid.rsplit(".", 1)[1] for oid in oracle if oid.startswith("1.3.6.1.2.1.2.2.1.8.")]
    assert indexes
    for metric, hc, low in (("borderwatch_interface_receive_bytes_total", IF_HC_IN, IF_IN),
                            ("borderwatch_interface_transmit_bytes_total", IF_HC_OUT, IF_OUT)):
        got = {label(s, "ifIndex"): s for s in by_metric(samples, metric).values()}
        assert set(got) == set(indexes)
        for index in indexes:
            expect = oracle.get(f"{hc}.{index}")
            bits = 64
            if expect is None:
                expect, bits = oracle[f"{low}.{index}"], 32
            assert (got[index].value, got[index].counter_bits) == (expect[1], bits), index
            assert got[index].kind is Kind.COUNTER
    ups = {label(s, "ifIndex"): s.value for s in
           by_metric(samples, "borderwatch_interface_up").values()}
    for index in indexes:
        status = oracle[f"1.3.6.1.2.1.2.2.1.8.{index}"][1]
        assert ups[index] == (1 if status == 1 else 0)
        sample = next(s for s in samples if label(s, "ifIndex") == index)
        descr = oracle[f"1.3.6.1.2.1.2.2.1.2.{index}"][1].decode()
        name = oracle.get(f"1.3.6.1.2.1.31.1.1.1.1.{index}", (4, b""))[1].decode()
        # the documented label rule: ifName, else ifDescr, else the ifIndex
        assert label(sample, "ifName") == (name.strip() or descr.strip() or index)
        assert label(sample, "ifDescr") == descr


def test_fallback_is_per_interface_on_the_c3560() -> None:
    samples = map_recorded("cisco-c3560", "if-mib")
    bits = {label(s, "ifIndex"): s.counter_bits for s in
            by_metric(samples, "borderwatch_interface_receive_bytes_total").values()}
    assert bits.pop("10501") == 32  # Null0 has no ifHCInOctets in the dump
    assert set(bits.values()) == {64}


def test_speed_uses_ifhighspeed_and_falls_back_to_ifspeed() -> None:
    oracle = dump_values("network/switch/cisco-c3560")
    speeds = {label(s, "ifIndex"): s.value for s in by_metric(
        map_recorded("cisco-c3560", "if-mib"), "borderwatch_interface_speed_bytes").values()}
    for index, value in speeds.items():
        high = oracle[f"1.3.6.1.2.1.31.1.1.1.15.{index}"][1]
        expect = high * 1_000_000 / 8 if high else oracle[f"1.3.6.1.2.1.2.2.1.5.{index}"][1] / 8
        assert value == expect, index


def test_airmax_radio_values() -> None:
    oracle = dump_values("network/wifi/ubiquiti-m5")
    samples = map_recorded("ubiquiti-m5", "airmax")
    col = "1.3.6.1.4.1.41112.1.4.5.1.{}.1"
    expect = {
        "borderwatch_radio_signal_dbm": oracle[col.format(5)][1],
        "borderwatch_radio_noise_dbm": oracle[col.format(8)][1],
        "borderwatch_radio_ccq_ratio": oracle[col.format(7)][1] / 100,
        "borderwatch_radio_transmit_rate_bits_per_second": oracle[col.format(9)][1] * 1000,
        "borderwatch_radio_receive_rate_bits_per_second": oracle[col.format(10)][1] * 1000,
        "borderwatch_radio_airmax_quality_ratio":
            oracle["1.3.6.1.4.1.41112.1.4.6.1.3.1"][1] / 100,
    }
    got = {s.metric: s for s in samples}
    for metric, value in expect.items():
        assert got[metric].value == pytest.approx(value), metric
    assert dict(got["borderwatch_radio_signal_dbm"].labels) == {"radio": "1",
                                                                 "ssid": "patrikeevo"}


def test_ups_values_and_on_battery() -> None:
    oracle = dump_values("UPS/eaton-93e-80")
    got = {s.metric: s.value for s in map_recorded("eaton-93e-80", "ups-mib") if not s.labels}
    battery = "1.3.6.1.2.1.33.1.2.{}.0"
    assert got == pytest.approx({
        "borderwatch_ups_battery_status": oracle[battery.format(1)][1],
        "borderwatch_ups_seconds_on_battery": oracle[battery.format(2)][1],
        "borderwatch_ups_on_battery": 0,  # 0 s on battery, output source normal(3)
        "borderwatch_ups_battery_runtime_seconds": oracle[battery.format(3)][1] * 60,
        "borderwatch_ups_battery_charge_ratio": oracle[battery.format(4)][1] / 100,
        "borderwatch_ups_battery_voltage_volts": oracle[battery.format(5)][1] / 10,
        "borderwatch_ups_battery_current_amperes": oracle[battery.format(6)][1] / 10,
        "borderwatch_ups_battery_temperature_celsius": oracle[battery.format(7)][1],
        "borderwatch_ups_output_source": oracle["1.3.6.1.2.1.33.1.4.1.0"][1],
    })
    lines = {label(s, "line"): s.value for s in map_recorded("eaton-93e-80", "ups-mib")
             if s.metric == "borderwatch_ups_input_voltage_volts"}
    assert lines == {n: oracle[f"1.3.6.1.2.1.33.1.3.3.1.3.{n}"][1] for n in ("1", "2", "3")}


def test_entity_sensor_temperatures_scaled_and_named() -> None:
    oracle = dump_values("cloud/arista-dcs-7150s-52-cl")
    got = {label(s, "index"): s for s in map_recorded("arista-dcs-7150s-52-cl", "entity-sensor")}
    col = "1.3.6.1.2.1.99.1.1.1.{}.{}"
    expected = {}
    for oid, (_, value) in oracle.items():
        if oid.startswith("1.3.6.1.2.1.99.1.1.1.1.") and value == 8:
            index = oid.rsplit(".", 1)[1]
            if oracle[col.format(5, index)][1] != 1:
                continue
            exponent = 3 * (oracle[col.format(2, index)][1] - 9) - oracle[col.format(3, index)][1]
            expected[index] = Decimal(oracle[col.format(4, index)][1]).scaleb(exponent)
    assert expected and set(got) == set(expected)
    for index, value in expected.items():
        assert got[index].value == pytest.approx(float(value)), index
        name = oracle[f"1.3.6.1.2.1.47.1.1.1.1.7.{index}"][1] or \
            oracle[f"1.3.6.1.2.1.47.1.1.1.1.2.{index}"][1]
        assert label(got[index], "sensor") == name.decode()


def test_host_resources_cpu_load() -> None:
    oracle = dump_values("network/router/vyatta-unknown")
    got = {label(s, "index"): s.value for s in map_recorded("vyatta-unknown", "host-resources")}
    prefix = "1.3.6.1.2.1.25.3.3.1.2."
    expect = {oid[len(prefix):]: v / 100 for oid, (_, v) in oracle.items()
              if oid.startswith(prefix)}
    assert got == pytest.approx(expect) and got


def test_system_profile_uptime_and_info() -> None:
    oracle = dump_values("network/switch/cisco-c3560")
    samples = {s.metric: s for s in map_recorded("cisco-c3560", "system")}
    assert samples["borderwatch_device_uptime_seconds"].value == \
        oracle["1.3.6.1.2.1.1.3.0"][1] / 100
    info = dict(samples["borderwatch_device_info"].labels)
    assert info["sysObjectID"] == oracle["1.3.6.1.2.1.1.2.0"][1]
    assert info["sysName"] == oracle["1.3.6.1.2.1.1.5.0"][1].decode()


# ----------------------------------------------------------------------------- A12 and rules


def _if_plan():
    return compile_profile(builtin_profiles()["if-mib"]).tables[0]


def _vb(oid: str, tag: Tag, value: object) -> VarBind:
    return VarBind(parse_oid(oid), tag, value)


@pytest.mark.parametrize(("column", "bad"), [
    (IF_HC_IN, (Tag.OCTET_STRING, b"12345")),  # ifHCInOctets as an OCTET STRING
    (IF_HC_IN, (Tag.BAD_VALUE, BadValue(0x46, "Counter64 out of range (9 bytes)"))),
    (IF_HC_IN, (Tag.OBJECT_IDENTIFIER, (1, 3, 6))),
    ("1.3.6.1.2.1.31.1.1.1.15", (Tag.OBJECT_IDENTIFIER, (1, 3))),  # an OID for a Gauge
])
def test_type_confusion_is_counted_per_varbind_and_the_rest_is_kept(column, bad) -> None:
    table = _if_plan()
    rows: dict = {}
    for idx in (1, 2):
        table.add_column(rows, parse_oid("1.3.6.1.2.1.2.2.1.8"),
                         [_vb(f"1.3.6.1.2.1.2.2.1.8.{idx}", Tag.INTEGER, 1)])
        table.add_column(rows, parse_oid(IF_HC_IN),
                         [_vb(f"{IF_HC_IN}.{idx}", Tag.COUNTER64, 1000 * idx)])
        table.add_column(rows, parse_oid(IF_IN),
                         [_vb(f"{IF_IN}.{idx}", Tag.COUNTER32, 7 * idx)])
        table.add_column(rows, parse_oid("1.3.6.1.2.1.31.1.1.1.15"),
                         [_vb(f"1.3.6.1.2.1.31.1.1.1.15.{idx}", Tag.GAUGE32, 100)])
    table.add_column(rows, parse_oid(column), [_vb(f"{column}.2", *bad)])
    out = Mapping()
    table.map_rows(rows, out)
    assert list(out.bad) == [parse_oid(f"{column}.2")]  # once, though two metrics may read it
    rx = {label(s, "ifIndex"): (s.value, s.counter_bits) for s in
          by_metric(out.samples, "borderwatch_interface_receive_bytes_total").values()}
    assert rx["1"] == (1000, 64)
    if column == IF_HC_IN:
        assert rx["2"] == (14, 32)  # the refused 64-bit value falls back to ifInOctets
    else:
        assert rx["2"] == (2000, 64)
    assert {label(s, "ifIndex") for s in out.samples
            if s.metric == "borderwatch_interface_up"} == {"1", "2"}


def test_a_string_label_sent_as_integer_is_refused_and_counted() -> None:
    plan = compile_profile(builtin_profiles()["system"])
    gets = {vb.oid: vb for vb in [
        _vb("1.3.6.1.2.1.1.5.0", Tag.INTEGER, 42),  # sysName as an INTEGER (A12)
        _vb("1.3.6.1.2.1.1.2.0", Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 9)),
        _vb("1.3.6.1.2.1.1.1.0", Tag.OCTET_STRING, b"box"),
        _vb("1.3.6.1.2.1.1.3.0", Tag.TIMETICKS, 12345)]}
    out = Mapping()
    plan.scalars.map(gets, out)
    assert list(out.bad) == [parse_oid("1.3.6.1.2.1.1.5.0")]
    got = {s.metric: s for s in out.samples}
    assert dict(got["borderwatch_device_info"].labels) == {
        "sysName": "", "sysObjectID": "1.3.6.1.4.1.9", "sysDescr": "box"}
    assert got["borderwatch_device_uptime_seconds"].value == 123.45


@pytest.mark.parametrize(("seconds", "source", "expect"), [
    (0, 3, 0), (120, 3, 1), (0, 5, 1), (None, 5, 1), (None, 3, 0), (None, None, None),
])
def test_ups_on_battery_any_of(seconds, source, expect) -> None:
    plan = compile_profile(builtin_profiles()["ups-mib"])
    gets = {}
    if seconds is not None:
        gets[parse_oid("1.3.6.1.2.1.33.1.2.2.0")] = _vb("1.3.6.1.2.1.33.1.2.2.0", Tag.INTEGER,
                                                         seconds)
    if source is not None:
        gets[parse_oid("1.3.6.1.2.1.33.1.4.1.0")] = _vb("1.3.6.1.2.1.33.1.4.1.0", Tag.INTEGER,
                                                         source)
    out = Mapping()
    plan.scalars.map(gets, out)
    got = [s.value for s in out.samples if s.metric == "borderwatch_ups_on_battery"]
    assert got == ([] if expect is None else [expect])


def test_missing_objects_give_no_sample_not_zero() -> None:
    plan = compile_profile(builtin_profiles()["ups-mib"])
    gets = {parse_oid(o): _vb(o, tag, None) for o, tag in (
        ("1.3.6.1.2.1.33.1.2.1.0", Tag.NO_SUCH_OBJECT),
        ("1.3.6.1.2.1.33.1.2.3.0", Tag.NO_SUCH_INSTANCE),
        ("1.3.6.1.2.1.33.1.2.4.0", Tag.NULL))}
    out = Mapping()
    plan.scalars.map(gets, out)
    assert out.samples == [] and not out.bad


@pytest.mark.parametrize(("raw", "expect"), [(1, [2]), (6, [8]), (10, [12]), (11, [])])
def test_modulation_enum_map(raw, expect) -> None:
    table = compile_profile(builtin_profiles()["microwave-radio"]).tables[0]
    rows: dict = {}
    col = "1.3.6.1.4.1.32473.1.1.1.7"
    table.add_column(rows, parse_oid(col), [_vb(f"{col}.5", Tag.INTEGER, raw)])
    out = Mapping()
    table.map_rows(rows, out)
    assert [s.value for s in out.samples if s.metric == "borderwatch_radio_modulation"] == expect


def test_entity_sensor_rows_filtered_by_type_and_status() -> None:
    table = compile_profile(builtin_profiles()["entity-sensor"]).tables[0]
    rows: dict = {}
    base = "1.3.6.1.2.1.99.1.1.1"
    for idx, (stype, scale, precision, value, status) in {
            1: (8, 9, 1, 253, 1),  # 25.3 °C
            2: (8, 8, 0, 41000, 1),  # milli: 41 °C
            3: (3, 9, 0, 12, 1),  # volts: not a temperature
            4: (8, 9, 0, 30, 2)}.items():  # unavailable
        for col, v in ((1, stype), (2, scale), (3, precision), (4, value), (5, status)):
            table.add_column(rows, parse_oid(f"{base}.{col}"),
                             [_vb(f"{base}.{col}.{idx}", Tag.INTEGER, v)])
    out = Mapping()
    table.map_rows(rows, out)
    assert {label(s, "index"): s.value for s in out.samples} == {"1": 25.3, "2": 41.0}


def test_each_value_carries_the_arrival_of_its_own_answer() -> None:
    # Issue 11: a column of 3 rows came in two answers (the second after a retry, 2 s
    # later); the fallback column's instance with a GET at 9.0.
    table = compile_profile(builtin_profiles()["if-mib"]).tables[0]
    rows: dict = {}
    column = [VarBind(parse_oid(f"{IF_HC_IN}.{i}"), Tag.COUNTER64, 100 * i) for i in (1, 2, 3)]
    table.add_column(rows, parse_oid(IF_HC_IN), column, pages=[(0, 5.0), (2, 7.0)])
    table.add_column(rows, parse_oid("1.3.6.1.2.1.2.2.1.8"), [
        VarBind(parse_oid(f"1.3.6.1.2.1.2.2.1.8.{i}"), Tag.INTEGER, 1) for i in (1, 2, 3, 4)],
        pages=[(0, 4.0)])
    table.add_instances(rows, [VarBind(parse_oid(f"{IF_IN}.4"), Tag.COUNTER32, 9)], 9.0)
    out = Mapping()
    table.map_rows(rows, out)
    times = {(s.metric, dict(s.labels)["ifIndex"]): s.t for s in out.samples}
    rx = "borderwatch_interface_receive_bytes_total"
    assert [times[(rx, i)] for i in "1234"] == [5.0, 5.0, 7.0, 9.0]
    assert times[("borderwatch_interface_up", "3")] == 4.0
