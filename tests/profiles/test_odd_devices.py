"""Odd but real devices: "unknown" sentinels and impossible values are absent, and labels
fall back as documented (docs/metrics.md), for every profile.

Each device is a crafted .snmprec served by a real snmpsim: a UPS reporting -1 ("unknown")
runtime and charge, IF-MIB agents without ifXTable or with an empty ifName, ifSpeed's
4294967295 and 0, sensors and radios out of their range. Every test also checks that the
valid values next to the refused ones are still exported, so "absent" is not "nothing".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Snmpsim
from snmprec_files import COUNTER32, GAUGE32, INTEGER, OCTET_STRING, start_agent, system_group

from borderwatch.collector.poller import Poller
from borderwatch.collector.samples import Sample
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.topology_spec import DeviceSpec

UPS = "1.3.6.1.2.1.33.1"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
SENSOR = "1.3.6.1.2.1.99.1.1.1"
ENT_NAME, ENT_DESCR = "1.3.6.1.2.1.47.1.1.1.1.7", "1.3.6.1.2.1.47.1.1.1.1.2"
HR_LOAD = "1.3.6.1.2.1.25.3.3.1.2"
RADIO = "1.3.6.1.4.1.32473.1.1.1"


def _ups() -> dict:
    return {**system_group("UPS", "ups-1"),
            f"{UPS}.2.1.0": (INTEGER, 2),            # upsBatteryStatus normal
            f"{UPS}.2.2.0": (INTEGER, 0),            # upsSecondsOnBattery
            f"{UPS}.2.3.0": (INTEGER, -1),           # upsEstimatedMinutesRemaining unknown
            f"{UPS}.2.4.0": (INTEGER, -1),           # upsEstimatedChargeRemaining unknown
            f"{UPS}.2.5.0": (INTEGER, 545),          # upsBatteryVoltage 54.5 V
            f"{UPS}.2.7.0": (INTEGER, 2147483647),   # upsBatteryTemperature: no sensor
            f"{UPS}.4.1.0": (INTEGER, 3),            # upsOutputSource normal
            f"{UPS}.3.3.1.2.1": (INTEGER, 500),      # upsInputFrequency 50.0 Hz
            f"{UPS}.3.3.1.3.1": (INTEGER, 231),      # upsInputVoltage
            f"{UPS}.4.4.1.5.1": (INTEGER, 250),      # upsOutputPercentLoad beyond 0..200
            f"{UPS}.4.4.1.5.2": (INTEGER, 40)}


def _interface(index: int, descr: str, speed: int, oper: int) -> dict:
    return {f"{IF}.1.{index}": (INTEGER, index), f"{IF}.2.{index}": (OCTET_STRING, descr),
            f"{IF}.5.{index}": (GAUGE32, speed), f"{IF}.7.{index}": (INTEGER, 1),
            f"{IF}.8.{index}": (INTEGER, oper), f"{IF}.10.{index}": (COUNTER32, 1000 * index),
            f"{IF}.16.{index}": (COUNTER32, 2000 * index)}


def _no_ifxtable() -> dict:
    """An old agent (like the airMAX radios): ifTable only, so no ifName at all."""
    return {**system_group("old switch", "sw-old"), "1.3.6.1.2.1.2.1.0": (INTEGER, 3),
            **_interface(1, "eth0", 4294967295, 1),   # faster than 4.29 Gbit/s: unknown
            **_interface(2, "eth1", 100_000_000, 9),  # ifOperStatus 9 does not exist
            **_interface(3, "", 0, 2)}                # no ifDescr, no bandwidth


def _empty_ifname() -> dict:
    out = {**system_group("switch", "sw-new"), "1.3.6.1.2.1.2.1.0": (INTEGER, 4),
           **_interface(1, "GigabitEthernet0/1", 1_000_000_000, 1),
           **_interface(2, "GigabitEthernet0/2", 0, 1),
           **_interface(3, "GigabitEthernet0/3", 0, 1),
           **_interface(4, "FastEthernet0/4", 100_000_000, 1)}
    for index, name, high in ((1, "", 0), (2, " \t ", 0), (3, "Gi0/3", 1000),
                              (4, "Fa0/4", 4294967295)):
        out[f"{IFX}.1.{index}"] = (OCTET_STRING, name)
        out[f"{IFX}.15.{index}"] = (GAUGE32, high)
        out[f"{IFX}.18.{index}"] = (OCTET_STRING, "")
    return out


def _sensors() -> dict:
    out = {**system_group("router", "rt-1")}
    for row, load in ((1, 37), (2, 150), (3, -1)):
        out[f"{HR_LOAD}.{row}"] = (INTEGER, load)
    # (index, entPhysicalName, entPhysicalDescr, value, scale, precision)
    for index, name, descr, value, scale, precision in ((1, "", "CPU", 452, 9, 1),
                                                        (2, "PSU", "psu", 32767, 9, 1),
                                                        (3, "Inlet", "inlet", -1000, 9, 0),
                                                        (4, "", "", 300, 9, 1),
                                                        (5, "Fan", "fan", 452, 9, 100),
                                                        (6, "Board", "b", 30, 99, 0)):
        out[f"{SENSOR}.1.{index}"] = (INTEGER, 8)   # celsius
        out[f"{SENSOR}.2.{index}"] = (INTEGER, scale)  # 9 units; 99 is no SensorDataScale
        out[f"{SENSOR}.3.{index}"] = (INTEGER, precision)
        out[f"{SENSOR}.4.{index}"] = (INTEGER, value)
        out[f"{SENSOR}.5.{index}"] = (INTEGER, 1)   # ok
        out[f"{ENT_NAME}.{index}"] = (OCTET_STRING, name)
        out[f"{ENT_DESCR}.{index}"] = (OCTET_STRING, descr)
    # a microwave radio whose RSL reads -3276.8 dBm (no signal measured) but SNR is fine
    out |= {f"{RADIO}.2.1": (OCTET_STRING, "radio-1"), f"{RADIO}.3.1": (INTEGER, -32768),
            f"{RADIO}.5.1": (INTEGER, 380), f"{RADIO}.7.1": (INTEGER, 0)}
    return out


@pytest.fixture(scope="module")
def odd_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    sim = start_agent(tmp_path_factory.mktemp("odd-devices"),
                      {"ups-unknown": _ups(), "no-ifxtable": _no_ifxtable(),
                       "empty-ifname": _empty_ifname(), "sensors": _sensors()})
    try:
        yield sim
    finally:
        sim.stop()


async def poll(sim: Snmpsim, transport: SnmpTransport, community: str,
               profiles: list[str]) -> dict[tuple[str, tuple], Sample]:
    settings = SessionSettings(sim.address, sim.port, community=Secret(community), timeout=3.0)
    spec = DeviceSpec(community, "lab", profiles=profiles)
    result = await Poller().poll(spec, open_session(settings, transport),
                                 asyncio.get_running_loop().time() + 20)
    assert result.ok, result.error
    return {(s.metric, s.labels): s for s in result.samples}


def values(samples: dict, metric: str, key: str | None = None) -> dict:
    """metric's values by one label (or () for a scalar)."""
    return {dict(labels).get(key, "") if key else labels: s.value
            for (name, labels), s in samples.items() if name == metric}


def if_names(samples: dict) -> dict[str, str]:
    """ifName label by ifIndex, over every interface series."""
    return {d["ifIndex"]: d["ifName"] for d in (dict(labels) for _, labels in samples)
            if "ifIndex" in d}


async def test_ups_unknown_runtime_and_charge_are_absent(odd_agent, transport) -> None:
    got = await poll(odd_agent, transport, "ups-unknown", ["ups-mib"])
    for metric in ("borderwatch_ups_battery_runtime_seconds",
                   "borderwatch_ups_battery_charge_ratio",
                   "borderwatch_ups_battery_temperature_celsius"):
        assert values(got, metric) == {}, metric
    assert values(got, "borderwatch_ups_battery_status") == {(): 2}
    assert values(got, "borderwatch_ups_battery_voltage_volts") == {(): pytest.approx(54.5)}
    assert values(got, "borderwatch_ups_on_battery") == {(): 0}
    assert values(got, "borderwatch_ups_output_load_ratio", "line") == {"2": 0.4}
    assert values(got, "borderwatch_ups_input_voltage_volts", "line") == {"1": 231}


async def test_device_without_ifname_falls_back_to_ifdescr_then_ifindex(odd_agent,
                                                                      transport) -> None:
    got = await poll(odd_agent, transport, "no-ifxtable", ["if-mib"])
    names = if_names(got)
    assert names == {"1": "eth0", "2": "eth1", "3": "3"}
    # 4294967295 ("see ifHighSpeed", which it lacks) and 0 ("no bandwidth") are no speed
    assert values(got, "borderwatch_interface_speed_bytes", "ifIndex") == {"2": 12_500_000}
    # ifOperStatus 9 is not a status: neither oper_status nor up, for that interface only
    assert values(got, "borderwatch_interface_oper_status", "ifIndex") == {"1": 1, "3": 2}
    assert values(got, "borderwatch_interface_up", "ifIndex") == {"1": 1, "3": 0}
    assert set(values(got, "borderwatch_interface_receive_bytes_total", "ifIndex")) == \
        {"1", "2", "3"}


async def test_empty_or_blank_ifname_falls_back(odd_agent, transport) -> None:
    got = await poll(odd_agent, transport, "empty-ifname", ["if-mib"])
    names = if_names(got)
    assert names == {"1": "GigabitEthernet0/1", "2": "GigabitEthernet0/2", "3": "Gi0/3",
                     "4": "Fa0/4"}
    # ifHighSpeed 0 asks ifSpeed; ifSpeed 0 too: no speed at all rather than 0; ifHighSpeed
    # at Gauge32's top is a sentinel too, so ifSpeed answers
    assert values(got, "borderwatch_interface_speed_bytes", "ifIndex") == \
        {"1": 125_000_000, "3": 125_000_000, "4": 12_500_000}


async def test_out_of_range_sensors_radios_and_cpu_are_absent(odd_agent, transport) -> None:
    got = await poll(odd_agent, transport, "sensors",
                     ["host-resources", "entity-sensor", "microwave-radio"])
    assert values(got, "borderwatch_cpu_load_ratio", "index") == {"1": 0.37}
    # PSU 3276.7 °C and Inlet -1000 °C are broken sensors; Fan's precision 100 (-8..9) and
    # Board's scale 99 (1..17) would turn any reading into a plausible-looking 0.0 °C
    assert values(got, "borderwatch_sensor_temperature_celsius", "sensor") == \
        {"CPU": pytest.approx(45.2), "4": pytest.approx(30.0)}
    assert values(got, "borderwatch_radio_signal_dbm", "radio") == {}
    assert values(got, "borderwatch_radio_snr_db", "radio") == {"radio-1": pytest.approx(38.0)}
    assert values(got, "borderwatch_radio_modulation", "radio") == {}  # 0 is no modulation


def test_profile_rules_are_checked(tmp_path: Path) -> None:
    """A bad `valid` / `absent_when` / label fallback names the key, like every profile error."""
    from borderwatch.collector.profiles import ProfileError, load_profile

    path = tmp_path / "bad.yaml"
    path.write_text("""\
profile: bad
description: broken rules
tables:
  - name: t
    index: [ifIndex]
    labels:
      ifName: {oid: 1.3.6.1.2.1.31.1.1.1.1, fallback: [1.3.6.1.2.1.2.2.1.2, port]}
    metrics:
      - metric: borderwatch_x
        help: x
        type: gauge
        oid: 1.3.6.1.2.1.2.2.1.8
        valid: {min: 7, max: 1}
        absent_when: [one]
""")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert err.value.problems == [
        "bad.yaml: tables[0].labels.ifName.fallback[1]: 'port' is not an index label of "
        "this table (index: ifIndex)",
        "bad.yaml: tables[0].metrics[0].valid: min 7 is above max 1",
        "bad.yaml: tables[0].metrics[0].absent_when[0]: must be a number, not 'one'",
        "bad.yaml: tables[0].metrics[0].absent_when: must be a non-empty list of numbers",
    ]
