"""The lab's own MIB (lab/LAB-MIB.md) through the profiles: microwave, VSAT and DC power.

The lab's .snmprec files (lab/snmprec/) are served by our own snmpsim; `profile: auto` must
pick the matching profile and the values must come out in base units.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator

import pytest
from servers import REPO_ROOT, Snmpsim, free_udp_port, start_snmpsim

from borderwatch.collector.poller import Poller
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.topology_spec import DeviceSpec

LAB_FILES = ("huawei-rtn905", "idirect-iq200", "huawei-etp48200")


def lab_value(name: str, oid: str) -> tuple[float, float]:
    """(centre, bound) of a lab record: a plain value, or numeric's initial ± |scale|+deviation."""
    for line in (REPO_ROOT / "lab" / "snmprec" / f"{name}.snmprec").read_text().splitlines():
        if line.startswith(oid + "|"):
            _, tag, value = line.split("|", 2)
            if ":numeric" not in tag:
                return float(value), 0.0
            settings = dict(item.split("=") for item in value.split(","))
            spread = abs(float(settings.get("scale", 0))) + float(settings.get("deviation", 0))
            return float(settings["initial"]), spread
    raise KeyError(oid)


@pytest.fixture(scope="module")
def lab_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    tmp = tmp_path_factory.mktemp("lab-mib")
    data = tmp / "data"
    data.mkdir()
    for name in LAB_FILES:
        shutil.copy(REPO_ROOT / "lab" / "snmprec" / f"{name}.snmprec", data)
    sim = start_snmpsim(data, tmp / "cache", [("127.0.0.1", free_udp_port())],
                        probe_community=LAB_FILES[0], log_path=tmp / "snmpsim.log", timeout=60)
    try:
        yield sim
    finally:
        sim.stop()



async def poll_lab(sim: Snmpsim, transport: SnmpTransport, name: str, poller: Poller):
    settings = SessionSettings(sim.address, sim.port, community=Secret(name), timeout=3.0)
    result = await poller.poll(DeviceSpec(name, "lab"), open_session(settings, transport),
                               asyncio.get_running_loop().time() + 20)
    assert result.ok, result.error
    assert result.problems == [] and result.bad_varbinds == 0
    return {(s.metric, s.labels): s.value for s in result.samples}


def check(values: dict, name: str, metric: str, oid: str, scale: float, labels=()) -> None:
    centre, spread = lab_value(name, oid)
    assert values[metric, labels] == pytest.approx(centre * scale, abs=spread * scale + 1e-9)


async def test_microwave_radio(lab_agent, transport) -> None:
    poller = Poller()
    name = "huawei-rtn905"
    values = await poll_lab(lab_agent, transport, name, poller)
    assert poller.auto_choice(name) == ("if-mib", "microwave-radio")
    radio = (("ifIndex", "1"), ("radio", "radio-1"))
    col = "1.3.6.1.4.1.32473.1.1.1.{}.1"
    check(values, name, "borderwatch_radio_signal_dbm", col.format(3), 0.1, radio)
    check(values, name, "borderwatch_radio_transmit_power_dbm", col.format(4), 0.1, radio)
    check(values, name, "borderwatch_radio_snr_db", col.format(5), 0.1, radio)
    check(values, name, "borderwatch_radio_mse_db", col.format(6), 0.1, radio)
    check(values, name, "borderwatch_radio_nominal_signal_dbm", col.format(8), 0.1, radio)
    check(values, name, "borderwatch_radio_capacity_bits_per_second", col.format(9), 1000,
          radio)
    modulation = int(lab_value(name, col.format(7))[0])
    bits = {1: 2, 2: 4, 3: 5, 4: 6, 5: 7, 6: 8, 7: 9, 8: 10, 9: 11, 10: 12}[modulation]
    assert values["borderwatch_radio_modulation", radio] == bits


async def test_vsat_modem(lab_agent, transport) -> None:
    poller = Poller()
    name = "idirect-iq200"
    values = await poll_lab(lab_agent, transport, name, poller)
    assert poller.auto_choice(name) == ("if-mib", "vsat-modem")
    check(values, name, "borderwatch_vsat_receive_esno_db", "1.3.6.1.4.1.32473.2.1.0", 0.1)
    check(values, name, "borderwatch_vsat_transmit_power_dbm", "1.3.6.1.4.1.32473.2.2.0", 0.1)
    assert values["borderwatch_vsat_locked", ()] == 1
    assert values["borderwatch_vsat_network_accepted", ()] == 1


async def test_dc_power(lab_agent, transport) -> None:
    poller = Poller()
    name = "huawei-etp48200"
    values = await poll_lab(lab_agent, transport, name, poller)
    assert poller.auto_choice(name) == ("dc-power", "if-mib")
    oid = "1.3.6.1.4.1.32473.3.{}.0"
    assert values["borderwatch_power_mains_ok", ()] == 1
    check(values, name, "borderwatch_power_battery_voltage_volts", oid.format(2), 0.01)
    check(values, name, "borderwatch_power_battery_current_amperes", oid.format(3), 0.01)
    check(values, name, "borderwatch_power_battery_temperature_celsius", oid.format(4), 0.1)
    check(values, name, "borderwatch_power_battery_runtime_seconds", oid.format(5), 60)
    check(values, name, "borderwatch_power_load_current_amperes", oid.format(6), 0.01)
    check(values, name, "borderwatch_power_rectifier_alarms", oid.format(7), 1)

