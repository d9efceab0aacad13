"""ICMP fields of the inventory: pinged by default, `icmp: false`, ICMP-only devices."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventory_helpers import problems, write

from borderwatch.collector.inventory import load_inventory

BASE = """\
schema_version: 1
credentials:
  c: {{version: 2c, community_env: BW_C}}
defaults: {{icmp: {{{icmp}}}}}
sites:
  - id: s1
    name: Đồn Biên phòng Bảo Lâm
    kind: border_post
    devices:
      - {{id: sw1, address: 127.0.0.10, credential: c}}
      - {{id: cam1, address: 127.0.0.11{device}}}
"""
ENV = {"BW_C": "cnry-COMM-7f3a9c"}


@pytest.mark.parametrize(("icmp", "device", "expected"), [
    pytest.param("", ", snmp: false", [], id="icmp-only"),
    pytest.param("enabled: false", ", snmp: false, icmp: true", [], id="icmp-only-explicit"),
    pytest.param("", "", [(11, "sites[s1].devices[cam1].credential", "a credential is "
                          "required (a key of `credentials`), or `snmp: false` for a device "
                          "that is only pinged")], id="snmp-needs-credential"),
    pytest.param("", ", snmp: false, icmp: false",
                 [(11, "sites[s1].devices[cam1].icmp", "device is neither polled (snmp: "
                   "false) nor pinged (icmp: false); remove it or enable one")],
                 id="neither"),
    pytest.param("", ", snmp: false, sim_profile: custom/x",
                 [(11, "sites[s1].devices[cam1].sim_profile", "the lab simulates SNMP agents; "
                   "an ICMP-only device (snmp: false) has none")], id="sim-profile"),
    pytest.param("interval: 5, count: 3, timeout: 2", ", snmp: false",
                 [(4, "defaults.icmp.interval", "interval 5 s is shorter than count × timeout "
                   "= 3 × 2 = 6 s; raise interval or lower count/timeout")], id="icmp-timing"),
    pytest.param("socket: ping", ", snmp: false",
                 [(4, "defaults.icmp.socket", "'ping' is not allowed; allowed: auto, raw, "
                   "unprivileged")], id="icmp-socket"),
])
def test_icmp_fields(tmp_path: Path, icmp: str, device: str, expected: list) -> None:
    path = write(tmp_path, BASE.format(icmp=icmp, device=device))
    assert problems(path, env=ENV) == expected


@pytest.mark.parametrize(("icmp", "device", "pinged"), [
    pytest.param("", "", {"sw1": True, "cam1": True}, id="pinged-by-default"),
    pytest.param("enabled: false", "", {"sw1": False, "cam1": False}, id="off-for-all"),
    pytest.param("", ", icmp: false", {"sw1": True, "cam1": False}, id="off-for-one"),
    pytest.param("enabled: false", ", icmp: true", {"sw1": False, "cam1": True},
                 id="on-for-one"),
])
def test_who_is_pinged(tmp_path: Path, icmp: str, device: str, pinged: dict) -> None:
    inv = load_inventory(write(tmp_path, BASE.format(icmp=icmp, device=", credential: c"
                                                     + device)), env=ENV)
    assert {d.id: inv.effective(d).icmp for d in inv.devices} == pinged


def test_icmp_only_device_takes_the_ping_interval(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, BASE.format(icmp="interval: 20",
                                                     device=", snmp: false")), env=ENV)
    cam = inv.effective("cam1")
    assert (cam.snmp, cam.icmp, cam.credential, cam.interval) == (False, True, None, 20.0)


def test_lab_simulated_devices_are_pinged_only_when_asked(tmp_path: Path) -> None:
    text = BASE.format(icmp="", device=", credential: c, sim_profile: custom/x")
    inv = load_inventory(write(tmp_path, text), env=ENV)
    assert (inv.effective("sw1").icmp, inv.effective("cam1").icmp) == (True, False)
    text = BASE.format(icmp="", device=", credential: c, sim_profile: custom/x, icmp: true")
    assert load_inventory(write(tmp_path, text), env=ENV).effective("cam1").icmp is True
